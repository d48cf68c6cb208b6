package policy_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"

	"github.com/weirnet/weir/chain"
	"github.com/weirnet/weir/internal/sandbox"
	"github.com/weirnet/weir/plugins/bridge"
	"github.com/weirnet/weir/plugins/flannel"
	hostlocal "github.com/weirnet/weir/plugins/host-local"
	"github.com/weirnet/weir/plugins/macvlan"
	"github.com/weirnet/weir/plugins/pluginkit"
	policyplugin "github.com/weirnet/weir/plugins/policy"
	"github.com/weirnet/weir/policy"
	"github.com/weirnet/weir/policy/enforce"
)

// container is one labelled test container with servers on ports 80 and
// 5432.
type container struct {
	name   string
	labels map[string]string
	ns     ns.NetNS
	ip     netip.Addr
}

// lab is a network with policy and a few containers on it.
type lab struct {
	t          *testing.T
	runner     *chain.Runner
	list       *libcni.NetworkConfigList
	policyDir  string
	stateDir   string
	containers []*container
}

func newLab(t *testing.T, conflist string) *lab {
	t.Helper()
	reg := pluginkit.Registry{"flannel": flannel.New(), "bridge": bridge.New(), "host-local": hostlocal.New(),
		"macvlan": macvlan.New(), "policy": policyplugin.New()}
	dir, exec := sandbox.PluginDir(t, reg)
	l := &lab{t: t, policyDir: t.TempDir(), stateDir: t.TempDir()}
	conflist = strings.NewReplacer("{{policyDir}}", l.policyDir, "{{stateDir}}", l.stateDir).Replace(conflist)
	list, err := libcni.ConfListFromBytes([]byte(conflist))
	if err != nil {
		t.Fatal(err)
	}
	l.list = list
	l.runner = &chain.Runner{Exec: exec, Path: []string{dir}, StateDir: l.stateDir, Timeout: 30 * time.Second}
	return l
}

func (l *lab) writePolicies(content string) {
	l.t.Helper()
	if err := os.WriteFile(filepath.Join(l.policyDir, "policies.toml"), []byte(content), 0o644); err != nil {
		l.t.Fatal(err)
	}
}

func (l *lab) add(name string, labels map[string]string) *container {
	l.t.Helper()
	c := &container{name: name, labels: labels, ns: sandbox.NewNS(l.t)}
	res, err := l.runner.Add(context.Background(), l.list, chain.Attachment{
		ContainerID: name, NetNS: c.ns.Path(), IfName: "eth0", ConfigArgs: chain.LabelArgs(l.list.Name, labels)})
	if err != nil {
		l.t.Fatalf("attaching %s: %v", name, err)
	}
	cur, err := current.NewResultFromResult(res)
	if err != nil || len(cur.IPs) == 0 {
		l.t.Fatalf("result of %s: %v %v", name, res, err)
	}
	c.ip, _ = netip.AddrFromSlice(cur.IPs[0].Address.IP.To4())
	sandbox.Listen(l.t, c.ns, ":80")
	sandbox.Listen(l.t, c.ns, ":5432")
	l.containers = append(l.containers, c)
	return c
}

func (l *lab) del(c *container) {
	l.t.Helper()
	if err := l.runner.Del(context.Background(), l.list.Name, chain.Attachment{ContainerID: c.name}, nil); err != nil {
		l.t.Fatalf("detaching %s: %v", c.name, err)
	}
}

// connects reports whether a TCP connection from a to b's port succeeds.
func connects(a, b *container, port int) bool {
	return sandbox.Connect(a.ns, net.JoinHostPort(b.ip.String(), fmt.Sprint(port)), 400*time.Millisecond) == nil
}

// checkMatrix compares every container pair's TCP reachability on 80 and
// 5432 with what the policy files say (policy.Set.Explain, the reference
// semantics).
func (l *lab) checkMatrix(defaultAction policy.Action) {
	l.t.Helper()
	set, err := policy.LoadDir(l.policyDir)
	if err != nil {
		l.t.Fatal(err)
	}
	var wrong []string
	allowed, denied := 0, 0
	for _, a := range l.containers {
		for _, b := range l.containers {
			if a == b {
				continue
			}
			for _, port := range []int{80, 5432} {
				exp := set.Explain(
					policy.Endpoint{ID: a.name, Labels: a.labels, IPs: []netip.Addr{a.ip}},
					policy.Endpoint{ID: b.name, Labels: b.labels, IPs: []netip.Addr{b.ip}},
					policy.Packet{Protocol: policy.TCP, Port: port}, defaultAction)
				got := connects(a, b, port)
				if exp.Allowed {
					allowed++
				} else {
					denied++
				}
				if got != exp.Allowed {
					wrong = append(wrong, fmt.Sprintf("%s -> %s:%d connected=%v, files say %s", a.name, b.name, port, got, exp))
				}
			}
		}
	}
	if len(wrong) > 0 {
		l.t.Errorf("connect matrix differs from the policy files:\n%s", strings.Join(wrong, "\n"))
	}
	if allowed == 0 || denied == 0 {
		l.t.Errorf("the matrix has %d allowed and %d denied pairs: it should exercise both", allowed, denied)
	}
}

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
	l.checkMatrix(policy.Allow)

	// Replies of an allowed connection pass; the reverse direction is refused.
	if !connects(web, db, 5432) || connects(db, web, 5432) {
		t.Error("web->db:5432 must connect and db->web:5432 must not")
	}

	// Edit the files and re-render: the matrix follows.
	l.writePolicies(strings.Replace(matrixPolicies, `selector = "app == 'web'"`, `selector = "app in {'web','other'}"`, 1))
	if _, err := enforce.New(l.stateDir, nil).Render(context.Background()); err != nil {
		t.Fatalf("re-rendering: %v", err)
	}
	if !connects(other, db, 5432) {
		t.Error("after the edit, other->db:5432 must connect")
	}
	l.checkMatrix(policy.Allow)

	// A container that adds a second address and connects from it is dropped.
	if err := web.ns.Do(func(ns.NetNS) error {
		link, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		addr, _ := netlink.ParseAddr("10.200.5.250/24")
		return netlink.AddrAdd(link, addr)
	}); err != nil {
		t.Fatal(err)
	}
	spoofed := web.ns.Do(func(ns.NetNS) error {
		d := net.Dialer{Timeout: 400 * time.Millisecond, LocalAddr: &net.TCPAddr{IP: net.ParseIP("10.200.5.250")}}
		c, err := d.Dial("tcp", net.JoinHostPort(other.ip.String(), "80"))
		if err == nil {
			c.Close()
		}
		return err
	})
	if spoofed == nil {
		t.Error("a connection from an address the container was not given got through")
	}
	if !connects(web, other, 80) {
		t.Error("the container's own address must still connect")
	}

	// Everything removed: no weir chain, rule or set is left.
	for _, c := range l.containers {
		l.del(c)
	}
	rules := sandbox.SaveRules(t, "iptables-save", "filter").String()
	sets, _ := osExec("ipset", "list", "-n")
	if strings.Contains(rules, "WEIR") || strings.Contains(sets, "weir-") {
		t.Errorf("weir state left after every container was deleted:\n%s\n%s", rules, sets)
	}
}
