package flannel

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/plugins/pkg/ns"

	"github.com/weirnet/weir/internal/sandbox"
	"github.com/weirnet/weir/plugins/bridge"
	hostlocal "github.com/weirnet/weir/plugins/host-local"
	"github.com/weirnet/weir/plugins/pluginkit"
)

// privPlugins returns a runner of flannel in which it and its delegates
// (weir's bridge and host-local) run in-process, as they do in the
// multi-call binary.
func privPlugins(t *testing.T) *sandbox.Runner {
	return sandbox.NewRunner(t, "flannel", pluginkit.Registry{"flannel": New(), "bridge": bridge.New(), "host-local": hostlocal.New()})
}

// privNet is one flannel network in a test: the seed's lease in a temporary
// subnet file, state and IPAM in temporary directories, its own bridge.
type privNet struct {
	t          *testing.T
	plugins    *sandbox.Runner
	ver        string
	bridge     string
	subnetFile string
	dataDir    string
	ipamDir    string
	confJSON   []byte
}

func newPrivNet(t *testing.T, ver, bridge string) *privNet {
	t.Helper()
	tmp := t.TempDir()
	subnetFile := filepath.Join(tmp, "subnet.env")
	if err := os.WriteFile(subnetFile, []byte(seedSubnetEnv), 0o644); err != nil {
		t.Fatal(err)
	}
	sandbox.CleanupLink(t, bridge)
	n := &privNet{t: t, plugins: privPlugins(t), ver: ver, bridge: bridge, subnetFile: subnetFile,
		dataDir: filepath.Join(tmp, "flannel"), ipamDir: filepath.Join(tmp, "ipam")}
	n.confJSON = []byte(fmt.Sprintf(`{"cniVersion":%q,"name":"mynet","type":"flannel","subnetFile":%q,"dataDir":%q,"delegate":{"bridge":%q,"ipam":{"dataDir":%q}}}`,
		ver, subnetFile, n.dataDir, bridge, n.ipamDir))
	return n
}

func (n *privNet) invoke(cmd, id string, netns ns.NetNS, conf []byte) ([]byte, error) {
	c := sandbox.Call{Command: cmd, ContainerID: id, IfName: "eth0", Conf: conf}
	if netns != nil {
		c.NetNS = netns.Path()
	}
	return n.plugins.Run(c)
}

func (n *privNet) add(id string, netns ns.NetNS) (*current.Result, []byte) {
	n.t.Helper()
	out, err := n.invoke("ADD", id, netns, n.confJSON)
	if err != nil {
		n.t.Fatalf("ADD %s (%s): %v", id, n.ver, err)
	}
	return sandbox.ParseResult(n.t, n.ver, out), out
}

func (n *privNet) del(id string, netns ns.NetNS) {
	n.t.Helper()
	if _, err := n.invoke("DEL", id, netns, n.confJSON); err != nil {
		n.t.Fatalf("DEL %s (%s): %v", id, n.ver, err)
	}
}

func (n *privNet) saved(id string) string { return filepath.Join(n.dataDir, "mynet", id+"@eth0.json") }

func (n *privNet) allocation(ip string) string { return filepath.Join(n.ipamDir, "mynet", ip) }

// mustLink checks the MTU and the one address of the link name in netns
// (nil: the sandbox's own namespace).
func mustLink(t *testing.T, netns ns.NetNS, name string, mtu int, addr string) {
	t.Helper()
	l := sandbox.FindLink(t, netns, name)
	if l == nil {
		t.Fatalf("no link %s", name)
	}
	addrs := sandbox.Addrs(t, netns, name)
	if l.Attrs().MTU != mtu || len(addrs) != 1 || addrs[0] != addr {
		t.Fatalf("%s: mtu %d addresses %v, want mtu %d address %s", name, l.Attrs().MTU, addrs, mtu, addr)
	}
}

func checkResult(t *testing.T, res *current.Result, ip string) {
	t.Helper()
	if len(res.IPs) != 1 || res.IPs[0].Address.String() != ip+"/26" || res.IPs[0].Gateway.String() != "192.168.22.129" {
		t.Fatalf("result IPs = %v, want %s/26 via 192.168.22.129", res.IPs, ip)
	}
}
