package policy_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/vishvananda/netlink"

	"github.com/weirnet/weir/internal/sandbox"
	"github.com/weirnet/weir/policy"
)

// Removing the policy files leaves only default-action chains; deleting
// every container then leaves nothing of weir's on the host or in any
// container's namespace, in either family.
func TestPolicyCleanup(t *testing.T) {
	sandbox.Require(t)
	sandbox.Veth(t, "mvcln0", "mvcln0p", nil)
	br := newLab(t, bridgeList("cleanbr", "polbr12", "10.210.12.0/24", ""))
	mv := br.sibling(macvlanList("cleanmv", "mvcln0", "10.212.0.0/24"))
	br.writePolicies(matrixPolicies)
	br.add("web", app("web"))
	br.add("db", app("db"))
	br.add("other", app("other"))
	mweb, mdb := mv.add("mweb", app("web")), mv.add("mdb", app("db"))
	br.checkMatrix(policy.Allow)
	mv.matrix(mv.live(), policy.TCP, mv.ports, policy.Allow)
	if len(weirLeft(t, "")) == 0 || len(weirLeft(t, mdb.ns.Path())) == 0 {
		t.Fatal("no policy was programmed")
	}

	// No files: no policy chains or selector sets anywhere, all allowed.
	if err := os.Remove(filepath.Join(br.policyDir, "policies.toml")); err != nil {
		t.Fatal(err)
	}
	br.render()
	for _, where := range []string{"", mweb.ns.Path(), mdb.ns.Path()} {
		for _, line := range weirLeft(t, where) {
			if strings.Contains(line, "WEIR-PI-") || strings.Contains(line, "WEIR-PE-") || strings.Contains(line, "weir-s4-") {
				t.Errorf("policy object left in %q without policy files: %s", where, line)
			}
		}
	}
	for _, l := range []*lab{br, mv} {
		if _, denied := l.matrix(l.live(), policy.TCP, l.ports, policy.Allow); denied != 0 {
			t.Errorf("without policy files %d probes on %s are denied", denied, l.list.Name)
		}
	}

	// The macvlan containers first: the last DEL is a host endpoint's.
	mv.delAll()
	br.delAll()
	br.render()
	for _, where := range []string{"", mweb.ns.Path(), mdb.ns.Path()} {
		if left := weirLeft(t, where); len(left) > 0 {
			t.Errorf("weir state left in %q after every DEL:\n%s", where, strings.Join(left, "\n"))
		}
	}
	if eps := br.endpointNames(); len(eps) != 0 {
		t.Errorf("the engine still has endpoints %v", eps)
	}
}

// A Docker-like foreign chain hooked into FORWARD, a foreign ipset, and
// the same inside a macvlan container's namespace, all present before weir
// runs, come out of every weir operation exactly as they were.
func TestPolicyLeavesForeignRulesAlone(t *testing.T) {
	sandbox.Require(t)
	sandbox.Veth(t, "mvfor0", "mvfor0p", nil)
	addForeign := func(nsPath string) {
		for _, cmd := range [][]string{
			{"iptables", "-N", "DOCKER-USER"},
			{"iptables", "-A", "DOCKER-USER", "-s", "192.0.2.0/24", "-j", "DROP"},
			{"iptables", "-A", "DOCKER-USER", "-j", "RETURN"},
			{"iptables", "-A", "FORWARD", "-j", "DOCKER-USER"},
			{"iptables", "-A", "INPUT", "-s", "192.0.2.9", "-j", "DROP"},
			{"iptables", "-A", "OUTPUT", "-d", "192.0.2.9", "-j", "DROP"},
			{"ip6tables", "-N", "DOCKER-USER"},
			{"ip6tables", "-A", "FORWARD", "-j", "DOCKER-USER"},
			{"ipset", "create", "docker-foreign", "hash:ip"},
			{"ipset", "add", "docker-foreign", "192.0.2.7"},
		} {
			inNS(t, nsPath, cmd...)
		}
	}
	addForeign("")
	t.Cleanup(func() {
		for _, cmd := range [][]string{
			{"iptables", "-D", "FORWARD", "-j", "DOCKER-USER"}, {"iptables", "-F", "DOCKER-USER"}, {"iptables", "-X", "DOCKER-USER"},
			{"iptables", "-D", "INPUT", "-s", "192.0.2.9", "-j", "DROP"}, {"iptables", "-D", "OUTPUT", "-d", "192.0.2.9", "-j", "DROP"},
			{"ip6tables", "-D", "FORWARD", "-j", "DOCKER-USER"}, {"ip6tables", "-X", "DOCKER-USER"},
			{"ipset", "destroy", "docker-foreign"},
		} {
			_, _ = osExec(cmd[0], cmd[1:]...)
		}
	})
	hostBefore := foreign(t, "")
	for _, want := range []string{"iptables-save: -A FORWARD -j DOCKER-USER", "ip6tables-save: -A FORWARD -j DOCKER-USER",
		"ipset: add docker-foreign 192.0.2.7"} {
		if !slices.Contains(hostBefore, want) {
			t.Fatalf("the foreign snapshot lacks %q:\n%s", want, strings.Join(hostBefore, "\n"))
		}
	}

	l := newLab(t, bridgeList("foreignbr", "polbr13", "10.210.13.0/24", ""))
	mv := l.sibling(macvlanList("foreignmv", "mvfor0", "10.213.0.0/24"))
	l.writePolicies(matrixPolicies)
	m := mv.prepare("mdb", app("db"))
	addForeign(m.ns.Path())
	nsBefore := foreign(t, m.ns.Path())
	intact := func(op string) {
		t.Helper()
		if got := foreign(t, ""); !slices.Equal(got, hostBefore) {
			t.Errorf("after %s the host's foreign rules and sets changed:\n%s", op, lineDiff(hostBefore, got))
		}
		if got := foreign(t, m.ns.Path()); !slices.Equal(got, nsBefore) {
			t.Errorf("after %s the namespace's foreign rules and sets changed:\n%s", op, lineDiff(nsBefore, got))
		}
	}

	web := l.add("web", app("web"))
	intact("ADD web")
	db := l.add("db", app("db"))
	other := l.add("other", app("other"))
	if err := mv.attach(m); err != nil {
		t.Fatal(err)
	}
	intact("ADD")
	expect(t, "enforcement beside DOCKER-USER", pass(tcp(web, db, 5432)), drop(tcp(other, db, 5432)))
	for _, c := range []*container{web, db, other} {
		if err := l.check(c); err != nil {
			t.Errorf("CHECK of %s: %v", c.name, err)
		}
	}
	if err := mv.check(m); err != nil {
		t.Errorf("CHECK of %s: %v", m.name, err)
	}
	intact("CHECK")

	ctx := context.Background()
	l.writePolicies(strings.Replace(matrixPolicies, "app == 'web'", "app in {'web','other'}", 1))
	l.render()
	intact("a render after a file changed")
	run(t, "iptables", "-F", "WEIR-TO")
	inNS(t, m.ns.Path(), "iptables", "-F", endpointChain("WEIR-IN-", "foreignmv", "mdb", "eth0"))
	if _, err := l.engine().Repair(ctx); err != nil {
		t.Fatalf("Repair: %v", err)
	}
	intact("Repair")
	if _, err := l.engine().GC(ctx, "foreignbr", []types.GCAttachment{{ContainerID: "web", IfName: "eth0"}, {ContainerID: "db", IfName: "eth0"}}); err != nil {
		t.Fatalf("GC: %v", err)
	}
	intact("GC")
	if _, err := l.engine().Orphans(ctx, func(name string) bool {
		_, err := netlink.LinkByName(name)
		return err == nil
	}); err != nil {
		t.Fatalf("Orphans: %v", err)
	}
	intact("Orphans")
	expect(t, "after the operations", pass(tcp(web, db, 5432)), drop(tcp(other, db, 5432)), drop(tcp(web, db, 80)))

	l.del(web)
	intact("DEL web")
	l.delAll()
	mv.delAll()
	intact("DEL of every container")
	for _, where := range []string{"", m.ns.Path()} {
		if left := weirLeft(t, where); len(left) > 0 {
			t.Errorf("weir state left in %q after every DEL:\n%s", where, strings.Join(left, "\n"))
		}
	}
}

// lineDiff lists the lines of want missing from got (-) and those of got
// not in want (+), or says the order changed.
func lineDiff(want, got []string) string {
	var d []string
	for _, l := range want {
		if !slices.Contains(got, l) {
			d = append(d, "- "+l)
		}
	}
	for _, l := range got {
		if !slices.Contains(want, l) {
			d = append(d, "+ "+l)
		}
	}
	if len(d) == 0 {
		return "the same lines in another order:\n" + strings.Join(got, "\n")
	}
	return strings.Join(d, "\n")
}
