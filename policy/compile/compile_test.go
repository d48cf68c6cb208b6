package compile

import (
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/weirnet/weir/policy"
	"github.com/weirnet/weir/policy/dataplane"
)

const dir = "/etc/weir/policies"

func loadPolicies(t *testing.T, toml string) map[string]*policy.Set {
	t.Helper()
	d := t.TempDir()
	if err := os.WriteFile(filepath.Join(d, "p.toml"), []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := policy.LoadDir(d)
	if err != nil {
		t.Fatalf("loading policies: %v", err)
	}
	return map[string]*policy.Set{dir: set}
}

func ep(id, ip, iface string, labels map[string]string) Endpoint {
	return Endpoint{
		Endpoint:      policy.Endpoint{ID: id, IfName: "eth0", Network: "net", IPs: []netip.Addr{netip.MustParseAddr(ip)}, Labels: labels},
		Mode:          Host,
		PolicyDir:     dir,
		HostIface:     iface,
		DefaultAction: policy.Allow,
	}
}

const dbPolicy = `
[[policy]]
name = "db-accepts-web"
order = 100
selector = "app == 'db'"
[[policy.ingress]]
action = "allow"
protocol = "tcp"
ports = [5432, "8000-8080"]
from = { selector = "app == 'web'" }
`

func chain(t *testing.T, st dataplane.State, f dataplane.Family, name string) []string {
	t.Helper()
	c, ok := st.Chains[dataplane.ChainKey(dataplane.Filter, f, name)]
	if !ok {
		t.Fatalf("no chain %s/%s", f, name)
	}
	return c.Rules
}

func TestCompileHostEndpoints(t *testing.T) {
	web := ep("web1", "10.22.0.2", "veth0123456789a", map[string]string{"app": "web"})
	db1 := ep("db1", "10.22.0.3", "vethabcdef01234", map[string]string{"app": "db"})
	db2 := ep("db2", "10.22.1.4", "vethabcdef05678", map[string]string{"app": "db"})
	out, err := Compile(loadPolicies(t, dbPolicy), []Endpoint{db2, web, db1})
	if err != nil {
		t.Fatal(err)
	}
	st := out.Host
	// One policy chain, however many endpoints it selects.
	pi := policyChain(dir, "db-accepts-web", true)
	n := 0
	for _, c := range st.Chains {
		if c.Name == pi && c.Family == dataplane.IPv4 {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("policy chain %s generated %d times", pi, n)
	}
	webSet := selectorSet("app == \"web\"", dataplane.IPv4)
	if got := st.Sets[webSet].Members; !reflect.DeepEqual(got, []string{"10.22.0.2"}) {
		t.Errorf("peer set %s = %v (sets: %v)", webSet, got, keys(st.Sets))
	}
	wantPolicy := []string{
		`-p tcp -m multiport --dports 5432,8000:8080 -m set --match-set ` + webSet + ` src -m comment --comment "weir: policy=db-accepts-web ingress[0]" -j MARK --set-xmark 0x200000/0x200000`,
		`-m mark --mark 0x200000/0x200000 -m comment --comment "weir: policy=db-accepts-web" -j RETURN`,
	}
	if got := chain(t, st, dataplane.IPv4, pi); !reflect.DeepEqual(got, wantPolicy) {
		t.Errorf("policy chain:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantPolicy, "\n"))
	}
	// Two ingress classes: db (selected: the policy, then a drop) and web
	// (not selected: default allow), each one chain however many members.
	dbIn := ingressClassChain(hash16(classKey(&db1, policy.Ingress, []*policy.Policy{{Name: "db-accepts-web"}})))
	webIn := ingressClassChain(hash16(classKey(&web, policy.Ingress, nil)))
	if in := chain(t, st, dataplane.IPv4, dbIn); len(in) != 4 || !strings.HasSuffix(in[1], "-j "+pi) || !strings.HasSuffix(in[2], "-j ACCEPT") || !strings.HasSuffix(in[3], "-j DROP") {
		t.Errorf("db's ingress class chain:\n%s", strings.Join(in, "\n"))
	}
	if in := chain(t, st, dataplane.IPv4, webIn); len(in) != 1 || !strings.HasSuffix(in[0], "default allow\" -j ACCEPT") {
		t.Errorf("web's ingress class chain:\n%s", strings.Join(in, "\n"))
	}
	// Ingress dispatch: two /24 buckets, each address to its class.
	if to := chain(t, st, dataplane.IPv4, chainTo); len(to) != 2 {
		t.Errorf("WEIR-TO has %d rules, want one per /24:\n%s", len(to), strings.Join(to, "\n"))
	}
	want0 := []string{
		`-d 10.22.0.2/32 -m comment --comment "weir: id=web1 if=eth0 ingress" -g ` + webIn,
		`-d 10.22.0.3/32 -m comment --comment "weir: id=db1 if=eth0 ingress" -g ` + dbIn,
	}
	if got := chain(t, st, dataplane.IPv4, toBucketChain("10.22.0.0/24")); !reflect.DeepEqual(got, want0) {
		t.Errorf("the 10.22.0.0/24 bucket:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want0, "\n"))
	}
	// Egress dispatch: two port-prefix buckets; in each, an endpoint's
	// guard (anti-spoofing) then its goto to its egress class (one class:
	// nobody selected).
	eg := egressClassChain(hash16(classKey(&web, policy.Egress, nil)))
	if from := chain(t, st, dataplane.IPv4, chainFrom); len(from) != 2 || !strings.Contains(from[1], "--physdev-in vetha+ ") ||
		!strings.HasSuffix(from[1], "-g "+fromBucketChain("vetha")) {
		t.Errorf("WEIR-FROM:\n%s", strings.Join(from, "\n"))
	}
	wantWeb := []string{
		`! -s 10.22.0.2/32 -m physdev --physdev-in veth0123456789a -m comment --comment "weir: id=web1 if=eth0 spoofed" -j DROP`,
		`-m physdev --physdev-in veth0123456789a -m comment --comment "weir: id=web1 if=eth0 egress" -g ` + eg,
	}
	if got := chain(t, st, dataplane.IPv4, fromBucketChain("veth0")); !reflect.DeepEqual(got, wantWeb) {
		t.Errorf("web's port bucket:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantWeb, "\n"))
	}
	// The IPv6 side: no endpoint has an IPv6 address, so every port's
	// guard drops all of it, and there is no class chain or address bucket.
	if g := chain(t, st, dataplane.IPv6, fromBucketChain("veth0")); len(g) != 1 || !strings.HasSuffix(g[0], "no address\" -j DROP") {
		t.Errorf("web's IPv6 port bucket:\n%s", strings.Join(g, "\n"))
	}
	if to6 := chain(t, st, dataplane.IPv6, chainTo); len(to6) != 0 {
		t.Errorf("IPv6 WEIR-TO:\n%s", strings.Join(to6, "\n"))
	}
	// No chain of an endpoint's own: the host's chains do not grow with
	// the endpoints.
	for _, c := range st.Chains {
		if strings.HasPrefix(c.Name, "WEIR-IN-") || strings.HasPrefix(c.Name, "WEIR-EG-") {
			t.Errorf("host endpoint chain %s", c.Name)
		}
	}
	if len(st.Hooks) != 2 || st.Hooks[0].Chain != "FORWARD" {
		t.Errorf("hooks = %+v", st.Hooks)
	}
	if len(out.NetNS) != 0 {
		t.Errorf("host endpoints made namespace states: %v", out.NetNS)
	}
	// Deterministic.
	again, _ := Compile(loadPolicies(t, dbPolicy), []Endpoint{db1, web, db2})
	if !reflect.DeepEqual(again.Host, out.Host) {
		t.Error("the same input compiled to a different state")
	}
}

func TestCompileNetNSEndpointAndDefaults(t *testing.T) {
	m := ep("mv1", "172.17.20.20", "", map[string]string{"app": "db"})
	m.Mode, m.NetNS = NetNS, "/run/netns/mv1"
	other := ep("mv2", "172.17.20.21", "", map[string]string{"app": "other"})
	other.Mode, other.NetNS, other.DefaultAction = NetNS, "/run/netns/mv2", policy.Deny
	out, err := Compile(loadPolicies(t, dbPolicy), []Endpoint{m, other})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Host.Chains) != 0 || len(out.Host.Hooks) != 0 {
		t.Errorf("namespace endpoints put state on the host: %+v", out.Host)
	}
	st := out.NetNS["/run/netns/mv1"]
	if len(st.Hooks) != 4 {
		t.Errorf("hooks = %+v", st.Hooks)
	}
	if in := chain(t, st, dataplane.IPv4, chainInput); !strings.HasPrefix(in[2], "-i eth0 ") {
		t.Errorf("WEIR-INPUT:\n%s", strings.Join(in, "\n"))
	}
	o := out.NetNS["/run/netns/mv2"]
	if in := chain(t, o, dataplane.IPv4, ingressChain(&other)); len(in) != 1 || !strings.HasSuffix(in[0], "default deny\" -j DROP") {
		t.Errorf("deny-by-default ingress:\n%s", strings.Join(in, "\n"))
	}
	if v6 := chain(t, o, dataplane.IPv6, egressChain(&other)); !strings.HasSuffix(v6[0], "no address\" -j DROP") {
		t.Errorf("an IPv4-only endpoint's IPv6 egress must drop:\n%s", strings.Join(v6, "\n"))
	}
}

func TestCompileRejectsBadEndpoints(t *testing.T) {
	e := ep("x", "10.0.0.1", "", nil)
	if _, err := Compile(nil, []Endpoint{e}); err == nil || !strings.Contains(err.Error(), "needs the host-side interface") {
		t.Errorf("error = %v", err)
	}
	e.HostIface, e.DefaultAction = "veth1", "maybe"
	if _, err := Compile(nil, []Endpoint{e}); err == nil || !strings.Contains(err.Error(), `default action "maybe"`) {
		t.Errorf("error = %v", err)
	}
}

func TestPortChunks(t *testing.T) {
	var ports []policy.PortRange
	for i := 1; i <= 20; i++ {
		ports = append(ports, policy.PortRange{From: i, To: i})
	}
	got := portChunks(ports)
	if len(got) != 2 || strings.Count(got[0], ",") != 14 {
		t.Errorf("chunks = %q", got)
	}
}

func keys[V any](m map[string]V) []string { return sortedKeys(m) }
