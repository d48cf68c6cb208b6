package policy_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/vishvananda/netlink"

	"github.com/weirnet/weir/internal/sandbox"
	"github.com/weirnet/weir/policy"
	"github.com/weirnet/weir/policy/enforce"
)

const gcPolicies = `
[[policy]]
name = "db-accepts-web"
order = 100
selector = "app == 'db'"
[[policy.ingress]]
action = "allow"
protocol = "tcp"
ports = [5432]
from = { selector = "app == 'web'" }

[[policy]]
name = "other-accepts-db"
order = 100
selector = "app == 'other'"
[[policy.ingress]]
action = "allow"
protocol = "tcp"
from = { selector = "app == 'db'" }

[[policy]]
name = "cache-closed"
order = 200
selector = "app == 'cache'"
types = ["ingress"]
`

// GC with valid attachments naming only some containers forgets the
// others: their chains, rules and set members go, and policy treats them
// as addresses outside weir. Orphans forgets a container whose host veth
// was deleted by hand.
func TestPolicyGCAndOrphans(t *testing.T) {
	sandbox.Require(t)
	l := newLab(t, bridgeList("gcnet", "polbr11", "10.210.11.0/24", ""))
	l.writePolicies(gcPolicies)
	web := l.add("web", app("web"))
	db := l.add("db", app("db"))
	cache := l.add("cache", app("cache"))
	other := l.add("other", app("other"))
	stray := l.add("stray", app("web"))
	l.checkMatrix(policy.Allow)
	expect(t, "before GC", pass(tcp(db, other, 80)), drop(tcp(web, db, 80)), drop(tcp(web, cache, 80)))

	ctx := context.Background()
	e := l.engine()
	valid := []types.GCAttachment{{ContainerID: "web", IfName: "eth0"}, {ContainerID: "other", IfName: "eth0"},
		{ContainerID: "stray", IfName: "eth0"}}
	if _, err := e.GC(ctx, "gcnet", valid); err != nil {
		t.Fatalf("GC: %v", err)
	}
	wantEndpoints(t, l, "after GC", web, other, stray)
	for _, c := range []*container{db, cache} {
		expectForgotten(t, l, c)
		c.forgotten = true
	}
	// db is now an unknown address: other no longer accepts it, and its
	// own ingress policy is gone; cache is open.
	expect(t, "after GC", drop(tcp(db, other, 80)), pass(tcp(web, db, 80)), pass(tcp(web, cache, 80)))
	var matrix []*container
	for _, c := range l.live() {
		if c != stray {
			matrix = append(matrix, c)
		}
	}
	l.matrix(matrix, policy.TCP, l.ports, policy.Allow)

	// stray's host veth deleted by hand: Orphans forgets it and only it.
	link, err := netlink.LinkByName(stray.hostVeth)
	if err != nil {
		t.Fatalf("stray's host veth %q: %v", stray.hostVeth, err)
	}
	if err := netlink.LinkDel(link); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Orphans(ctx, func(name string) bool {
		_, err := netlink.LinkByName(name)
		return err == nil
	}); err != nil {
		t.Fatalf("Orphans: %v", err)
	}
	wantEndpoints(t, l, "after Orphans", web, other)
	expectForgotten(t, l, stray)
	for _, c := range []*container{web, other} {
		if err := l.check(c); err != nil {
			t.Errorf("CHECK of %s after GC and Orphans: %v", c.name, err)
		}
	}
	l.matrix(matrix, policy.TCP, l.ports, policy.Allow)

	// DEL of every container, forgotten or not, succeeds and leaves nothing.
	l.delAll()
	if left := weirLeft(t, ""); len(left) > 0 {
		t.Errorf("weir state left after every DEL:\n%s", strings.Join(left, "\n"))
	}
}

// wantEndpoints checks that the engine's endpoints are exactly cs.
func wantEndpoints(t *testing.T, l *lab, when string, cs ...*container) {
	t.Helper()
	var want []string
	for _, c := range cs {
		want = append(want, enforce.Key(l.list.Name, c.name, "eth0"))
	}
	slices.Sort(want)
	if got := l.endpointNames(); !slices.Equal(got, want) {
		t.Errorf("%s: the engine's endpoints are %v, want %v", when, got, want)
	}
}

// expectForgotten checks that nothing of c is left in the host's packet
// filter or ipsets: no rule naming it or its address (its port guard), no
// set member.
func expectForgotten(t *testing.T, l *lab, c *container) {
	t.Helper()
	rules := run(t, "iptables-save") + run(t, "ip6tables-save")
	for _, s := range []string{"id=" + c.name + " ", c.ip.String() + "/32"} {
		if lines := linesWith(rules, s); len(lines) > 0 {
			t.Errorf("%s is forgotten but the packet filter still has %q:\n%s", c.name, s, strings.Join(lines, "\n"))
		}
	}
	for _, line := range strings.Split(run(t, "ipset", "save"), "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == "add" && f[2] == c.ip.String() {
			t.Errorf("%s is forgotten but its address is still in an ipset: %s", c.name, line)
		}
	}
	if !strings.Contains(rules, "WEIR-FORWARD") {
		t.Error("forgetting one container removed everyone's policy")
	}
}
