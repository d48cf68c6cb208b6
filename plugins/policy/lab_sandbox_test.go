package policy_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
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
	"github.com/weirnet/weir/policy/enforce"
)

// container is one labelled test container with TCP servers on its lab's
// ports.
type container struct {
	name     string
	labels   map[string]string
	ns       ns.NetNS
	ip       netip.Addr
	hostVeth string // the host end of its veth; "" on macvlan
	// forgotten marks a container the engine no longer knows (GC,
	// Orphans) while it still has its network: policy sees it as an
	// address outside weir.
	forgotten bool
	deleted   bool // its DEL ran
}

// lab is a network with policy and the containers on it. Every plugin runs
// in-process through the chain runner, as in weir's own binary.
type lab struct {
	t         *testing.T
	runner    *chain.Runner
	list      *libcni.NetworkConfigList
	policyDir string
	stateDir  string
	ports     []int // every container listens on these

	mu         sync.Mutex
	containers []*container
}

func newLab(t *testing.T, conflist string) *lab {
	t.Helper()
	reg := pluginkit.Registry{"flannel": flannel.New(), "bridge": bridge.New(), "host-local": hostlocal.New(),
		"macvlan": macvlan.New(), "policy": policyplugin.New()}
	dir, exec := sandbox.PluginDir(t, reg)
	l := &lab{t: t, policyDir: t.TempDir(), stateDir: t.TempDir(), ports: []int{80, 5432}}
	l.runner = &chain.Runner{Exec: exec, Path: []string{dir}, StateDir: l.stateDir, Timeout: 30 * time.Second}
	l.list = l.parse(conflist)
	return l
}

// sibling returns a lab on another network that shares l's policy files,
// state directory and plugins: one engine enforces both, as on a host.
func (l *lab) sibling(conflist string) *lab {
	s := &lab{t: l.t, runner: l.runner, policyDir: l.policyDir, stateDir: l.stateDir, ports: l.ports}
	s.list = s.parse(conflist)
	return s
}

func (l *lab) parse(conflist string) *libcni.NetworkConfigList {
	l.t.Helper()
	conflist = strings.NewReplacer("{{policyDir}}", l.policyDir, "{{stateDir}}", l.stateDir).Replace(conflist)
	list, err := libcni.ConfListFromBytes([]byte(conflist))
	if err != nil {
		l.t.Fatal(err)
	}
	return list
}

// bridgeList is a bridge network with host-local addresses and policy;
// policyKeys are extra keys of the policy plugin, such as
// `,"defaultAction":"deny"`.
func bridgeList(name, bridge, subnet, policyKeys string) string {
	return fmt.Sprintf(`{"cniVersion":"1.1.0","name":%q,"plugins":[
  {"type":"bridge","bridge":%q,"isGateway":true,
   "ipam":{"type":"host-local","subnet":%q,"dataDir":"{{stateDir}}/ipam"}},
  {"type":"policy","policyDir":"{{policyDir}}","stateDir":"{{stateDir}}"%s}]}`, name, bridge, subnet, policyKeys)
}

// macvlanList is a macvlan network on master with host-local addresses and
// policy, which is then enforced inside each container's namespace.
func macvlanList(name, master, subnet string) string {
	return fmt.Sprintf(`{"cniVersion":"1.1.0","name":%q,"plugins":[
  {"type":"macvlan","master":%q,
   "ipam":{"type":"host-local","subnet":%q,"dataDir":"{{stateDir}}/ipam"}},
  {"type":"policy","policyDir":"{{policyDir}}","stateDir":"{{stateDir}}"}]}`, name, master, subnet)
}

func (l *lab) engine() *enforce.Engine { return enforce.New(l.stateDir, nil) }

// render re-renders every endpoint from the current policy files, as
// `weir policy apply` does.
func (l *lab) render() {
	l.t.Helper()
	if _, err := l.engine().Render(context.Background()); err != nil {
		l.t.Fatalf("rendering policy: %v", err)
	}
}

func (l *lab) writePolicies(content string) {
	l.t.Helper()
	if err := os.WriteFile(filepath.Join(l.policyDir, "policies.toml"), []byte(content), 0o644); err != nil {
		l.t.Fatal(err)
	}
}

// prepare makes a container's namespace and servers without attaching it.
func (l *lab) prepare(name string, labels map[string]string) *container {
	l.t.Helper()
	c := &container{name: name, labels: labels, ns: sandbox.NewNS(l.t)}
	for _, p := range l.ports {
		sandbox.Listen(l.t, c.ns, fmt.Sprintf(":%d", p))
	}
	// Registered after the namespace's own clean-up, so it runs first:
	// whatever the test left attached is detached while the namespace is
	// still there.
	l.t.Cleanup(func() {
		if !c.deleted {
			_ = l.detach(c)
		}
	})
	return c
}

// attach runs the network's ADD for c. It is safe to call from several
// goroutines at once.
func (l *lab) attach(c *container) error {
	res, err := l.runner.Add(context.Background(), l.list, chain.Attachment{
		ContainerID: c.name, NetNS: c.ns.Path(), IfName: "eth0", ConfigArgs: chain.LabelArgs(l.list.Name, c.labels)})
	if err != nil {
		return fmt.Errorf("attaching %s: %w", c.name, err)
	}
	cur, err := current.NewResultFromResult(res)
	if err != nil || len(cur.IPs) == 0 {
		return fmt.Errorf("result of %s: %v %v", c.name, res, err)
	}
	c.ip, _ = netip.AddrFromSlice(cur.IPs[0].Address.IP.To4())
	for _, i := range cur.Interfaces {
		if i.Sandbox != "" {
			continue
		}
		if link, err := netlink.LinkByName(i.Name); err == nil && link.Type() == "veth" {
			c.hostVeth = i.Name
		}
	}
	l.mu.Lock()
	l.containers = append(l.containers, c)
	l.mu.Unlock()
	return nil
}

func (l *lab) add(name string, labels map[string]string) *container {
	l.t.Helper()
	c := l.prepare(name, labels)
	if err := l.attach(c); err != nil {
		l.t.Fatal(err)
	}
	return c
}

// detach runs the network's DEL for c; safe from several goroutines.
func (l *lab) detach(c *container) error {
	if err := l.runner.Del(context.Background(), l.list.Name, chain.Attachment{ContainerID: c.name}, nil); err != nil {
		return fmt.Errorf("detaching %s: %w", c.name, err)
	}
	c.deleted = true
	return nil
}

func (l *lab) del(c *container) {
	l.t.Helper()
	if err := l.detach(c); err != nil {
		l.t.Fatal(err)
	}
}

func (l *lab) delAll() {
	l.t.Helper()
	for _, c := range l.live() {
		l.del(c)
	}
}

// live returns the containers whose DEL has not run, in the order they
// were attached.
func (l *lab) live() []*container {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*container
	for _, c := range l.containers {
		if !c.deleted {
			out = append(out, c)
		}
	}
	return out
}

// check runs the chain's CHECK for c (every plugin's, the policy plugin's
// last).
func (l *lab) check(c *container) error {
	return l.runner.Check(context.Background(), l.list.Name, c.name)
}

// endpointNames returns the engine's endpoints as "network/id/ifname".
func (l *lab) endpointNames() []string {
	l.t.Helper()
	eps, err := l.engine().Endpoints()
	if err != nil {
		l.t.Fatal(err)
	}
	var out []string
	for _, ep := range eps {
		out = append(out, enforce.Key(ep.Network, ep.ID, ep.IfName))
	}
	return out
}
