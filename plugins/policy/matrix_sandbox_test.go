package policy_test

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"

	"github.com/weirnet/weir/internal/sandbox"
	"github.com/weirnet/weir/policy"
)

const flannelPolicyList = `{"cniVersion":"1.0.0","name":"polnet","plugins":[
  {"type":"flannel","subnetFile":"{{stateDir}}/subnet.env","dataDir":"{{stateDir}}/flannel",
   "delegate":{"bridge":"pol0","ipam":{"dataDir":"{{stateDir}}/ipam"}}},
  {"type":"policy","policyDir":"{{policyDir}}","stateDir":"{{stateDir}}"}]}`

const matrixPolicies = `
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
name = "cache-closed"
order = 200
selector = "app == 'cache'"
types = ["ingress"]

[[policy]]
name = "db-no-egress"
order = 300
selector = "app == 'db'"
types = ["egress"]
`

func TestPolicyMatrixOnFlannelBridge(t *testing.T) {
	sandbox.Require(t)
	l := newLab(t, flannelPolicyList)
	if err := os.WriteFile(filepath.Join(l.stateDir, "subnet.env"), []byte("FLANNEL_NETWORK=10.200.0.0/16\nFLANNEL_SUBNET=10.200.5.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l.writePolicies(matrixPolicies)
	web := l.add("web", map[string]string{"app": "web"})
	db := l.add("db", map[string]string{"app": "db", "env": "prod"})
	l.add("cache", map[string]string{"app": "cache"})
	other := l.add("other", map[string]string{"app": "other"})
	matrixScenario(t, l, web, db, other, "10.200.5.250/24")

	// Everything removed: no weir chain, rule or set is left.
	l.delAll()
	if left := weirLeft(t, ""); len(left) > 0 {
		t.Errorf("weir state left after every container was deleted:\n%s", strings.Join(left, "\n"))
	}
}

// The same matrix on macvlan: the host's packet filter never sees the
// traffic, so each container's policy is enforced inside its namespace.
func TestPolicyMatrixOnMacvlan(t *testing.T) {
	sandbox.Require(t)
	sandbox.Veth(t, "mvpol0", "mvpol0p", nil)
	l := newLab(t, macvlanList("mvpol", "mvpol0", "10.202.0.0/24"))
	l.writePolicies(matrixPolicies)
	web := l.add("web", map[string]string{"app": "web"})
	db := l.add("db", map[string]string{"app": "db", "env": "prod"})
	l.add("cache", map[string]string{"app": "cache"})
	other := l.add("other", map[string]string{"app": "other"})

	if left := weirLeft(t, ""); len(left) > 0 {
		t.Errorf("macvlan endpoints put policy on the host:\n%s", strings.Join(left, "\n"))
	}
	for _, c := range l.live() {
		if c.hostVeth != "" {
			t.Errorf("%s has a host veth %s on macvlan", c.name, c.hostVeth)
		}
		rules := inNS(t, c.ns.Path(), "iptables-save", "-t", "filter")
		in := endpointChain("WEIR-IN-", "mvpol", c.name, "eth0")
		for _, want := range []string{"-A INPUT ", "-j WEIR-INPUT", "-A OUTPUT ", "-j WEIR-OUTPUT", ":" + in + " ", "-g " + in} {
			if !strings.Contains(rules, want) {
				t.Errorf("%s's namespace lacks %q:\n%s", c.name, want, rules)
			}
		}
		if err := l.check(c); err != nil {
			t.Errorf("CHECK of %s: %v", c.name, err)
		}
	}
	matrixScenario(t, l, web, db, other, "10.202.0.250/24")

	l.delAll()
	for _, c := range l.containers {
		if left := weirLeft(t, c.ns.Path()); len(left) > 0 {
			t.Errorf("weir state left in %s's namespace after its DEL:\n%s", c.name, strings.Join(left, "\n"))
		}
	}
	if left := weirLeft(t, ""); len(left) > 0 {
		t.Errorf("weir state left on the host:\n%s", strings.Join(left, "\n"))
	}
}

// matrixScenario checks matrixPolicies on a network with web, db, other and
// cache attached: the matrix, replies, an edit of the files, and a second
// address (spoof, in web's subnet) that web must not send from.
func matrixScenario(t *testing.T, l *lab, web, db, other *container, spoof string) {
	t.Helper()
	l.checkMatrix(policy.Allow)

	// Replies of an allowed connection pass; the reverse direction is refused.
	expect(t, "replies", pass(tcp(web, db, 5432)), drop(tcp(db, web, 5432)))

	// Edit the files and re-render: the matrix follows.
	l.writePolicies(strings.Replace(matrixPolicies, `selector = "app == 'web'"`, `selector = "app in {'web','other'}"`, 1))
	l.render()
	expect(t, "after the edit", pass(tcp(other, db, 5432)))
	l.checkMatrix(policy.Allow)

	// A container that adds a second address and connects from it is dropped.
	if err := web.ns.Do(func(ns.NetNS) error {
		link, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		addr, err := netlink.ParseAddr(spoof)
		if err != nil {
			return err
		}
		return netlink.AddrAdd(link, addr)
	}); err != nil {
		t.Fatal(err)
	}
	src, _, _ := strings.Cut(spoof, "/")
	spoofed := web.ns.Do(func(ns.NetNS) error {
		d := net.Dialer{Timeout: connectTimeout, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		c, err := d.Dial("tcp", net.JoinHostPort(other.ip.String(), "80"))
		if err == nil {
			c.Close()
		}
		return err
	})
	if spoofed == nil {
		t.Errorf("a connection from %s, an address %s was not given, got through", src, web.name)
	}
	expect(t, "the container's own address", pass(tcp(web, other, 80)))
}
