package integration

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"

	"github.com/weirnet/weir/internal/sandbox"
)

// The seed document's files, verbatim.
const (
	seedMynetBridge = `{
    "name": "mynet",
    "type": "bridge",
    "bridge": "cni0",
    "isGateway": true,
    "ipMasq": true,
    "ipam": {
        "type": "host-local",
        "subnet": "10.22.0.0/16",
        "routes": [
            { "dst": "0.0.0.0/0" }
        ]
    }
}
`
	seedLoopback = `{
    "type": "loopback"
}
`
	seedSubnetEnv = `FLANNEL_NETWORK=192.168.0.0/16
FLANNEL_SUBNET=192.168.22.129/26
FLANNEL_MTU=1450
FLANNEL_IPMASQ=false
`
	seedMynetFlannel = `{
    "name": "mynet",
"type": "flannel"
}
`
	seedMynetMacvlan = `{
    "name": "mynet",
    "type": "macvlan",
    "master": "eth0",
    "ipam": {
        "type": "host-local",
        "subnet": "172.17.0.0/16",
        "routes": [
            { "dst": "0.0.0.0/0" }
        ]
    }
}
`
)

// execPlugins does what the seed's exec-plugins.sh does: every config in
// net.d in file-name order, its "type" run from CNI_PATH with the file on
// stdin and CNI_IFNAME eth0, eth1, ...
func execPlugins(t *testing.T, command, netd, cniPath, containerID, netnsPath, cniArgs string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(netd, "*.conf"))
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range files {
		conf, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		typ := jsonType(t, conf)
		out, err := sandbox.Invoke(ctx(t), execer(), sandbox.Call{
			Command: command, Type: typ, Path: cniPath, ContainerID: containerID,
			NetNS: netnsPath, IfName: fmt.Sprintf("eth%d", i), Args: cniArgs, Conf: conf,
		})
		if err != nil {
			t.Fatalf("%s %s (%s): %v", command, filepath.Base(f), typ, err)
		}
		t.Logf("%s %s: %s", command, filepath.Base(f), strings.TrimSpace(string(out)))
	}
}

func jsonType(t *testing.T, conf []byte) string {
	t.Helper()
	i := strings.Index(string(conf), `"type"`)
	if i < 0 {
		t.Fatalf("no type in %s", conf)
	}
	rest := string(conf[i+len(`"type"`):])
	rest = rest[strings.Index(rest, `"`)+1:]
	return rest[:strings.Index(rest, `"`)]
}

func requireAddr(t *testing.T, n ns.NetNS, ifName, want string) {
	t.Helper()
	addrs, err := sandbox.AddrsIn(n, ifName)
	if err != nil {
		t.Fatalf("addresses of %s: %v", ifName, err)
	}
	for _, a := range addrs {
		if a == want {
			return
		}
	}
	t.Fatalf("%s has %v, want %s", ifName, addrs, want)
}

func TestSeedBridgeAndLoopback(t *testing.T) {
	bin := binDir(t)
	netd := "/etc/cni/net.d"
	writeFile(t, filepath.Join(netd, "10-mynet.conf"), seedMynetBridge)
	writeFile(t, filepath.Join(netd, "99-loopback.conf"), seedLoopback)
	t.Cleanup(func() { _ = os.RemoveAll(netd) })
	n := sandbox.NewNS(t)

	execPlugins(t, "ADD", netd, bin, "456a387326754f9", n.Path(), "")
	addrs, err := sandbox.AddrsIn(n, "eth0")
	if err != nil || len(addrs) != 1 {
		t.Fatalf("eth0 addresses %v, %v", addrs, err)
	}
	ip, ipnet, _ := net.ParseCIDR(addrs[0])
	if _, seedNet, _ := net.ParseCIDR("10.22.0.0/16"); !seedNet.Contains(ip) || ipnet.String() != "10.22.0.0/16" {
		t.Errorf("eth0 has %s, want an address in 10.22.0.0/16", addrs[0])
	}
	lo, err := sandbox.LinkIn(n, "lo")
	if err != nil || lo.Attrs().Flags&net.FlagUp == 0 {
		t.Errorf("lo is not up: %v", err)
	}
	if err := sandbox.Ping(n.Path(), "10.22.0.1"); err != nil {
		t.Errorf("container cannot reach its gateway: %v", err)
	}
	if err := sandbox.Ping(n.Path(), "127.0.0.1"); err != nil {
		t.Errorf("container's loopback does not answer: %v", err)
	}

	execPlugins(t, "DEL", netd, bin, "456a387326754f9", n.Path(), "")
	if _, err := sandbox.LinkIn(n, "eth0"); err == nil {
		t.Error("eth0 still exists after DEL")
	}
	execPlugins(t, "DEL", netd, bin, "456a387326754f9", n.Path(), "") // DEL twice is fine
	if out, _ := exec.Command("iptables-save", "-t", "nat").Output(); strings.Contains(string(out), "456a387326754f9") {
		t.Errorf("masquerade rules left after DEL:\n%s", out)
	}
}

func TestSeedFlannel(t *testing.T) {
	bin := binDir(t)
	writeFile(t, "/run/flannel/subnet.env", seedSubnetEnv)
	t.Cleanup(func() { _ = os.Remove("/run/flannel/subnet.env") })
	netd := t.TempDir()
	writeFile(t, filepath.Join(netd, "10-mynet.conf"), seedMynetFlannel)
	n := sandbox.NewNS(t)

	execPlugins(t, "ADD", netd, bin, "6e3b681a422f5174", n.Path(), "")
	requireAddr(t, n, "eth0", "192.168.22.130/26")
	eth0, err := sandbox.LinkIn(n, "eth0")
	if err != nil {
		t.Fatal(err)
	}
	if eth0.Attrs().MTU != 1450 {
		t.Errorf("eth0 MTU = %d, want 1450 from subnet.env", eth0.Attrs().MTU)
	}
	if err := sandbox.Ping(n.Path(), "192.168.22.129"); err != nil {
		t.Errorf("flannel container cannot reach its gateway: %v", err)
	}
	execPlugins(t, "DEL", netd, bin, "6e3b681a422f5174", n.Path(), "")
	if _, err := sandbox.LinkIn(n, "eth0"); err == nil {
		t.Error("eth0 still exists after DEL")
	}
}

func TestSeedMacvlanRequestedIP(t *testing.T) {
	bin := binDir(t)
	// The seed's master is "eth0": make one inside the sandbox, a veth end
	// whose peer stays in the sandbox's root namespace.
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth0"}, PeerName: "eth0peer"}); err != nil {
		t.Fatalf("creating master eth0: %v", err)
	}
	t.Cleanup(func() {
		if l, err := netlink.LinkByName("eth0"); err == nil {
			_ = netlink.LinkDel(l)
		}
	})
	for _, name := range []string{"eth0", "eth0peer"} {
		l, _ := netlink.LinkByName(name)
		if err := netlink.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
	}
	netd := t.TempDir()
	writeFile(t, filepath.Join(netd, "10-mynet.conf"), seedMynetMacvlan)
	n := sandbox.NewNS(t)

	execPlugins(t, "ADD", netd, bin, "1d7a448c5de37308", n.Path(), "IP=172.17.20.20")
	requireAddr(t, n, "eth0", "172.17.20.20/16")
	execPlugins(t, "DEL", netd, bin, "1d7a448c5de37308", n.Path(), "IP=172.17.20.20")
	if _, err := sandbox.LinkIn(n, "eth0"); err == nil {
		t.Error("eth0 still exists in the container after DEL")
	}
	// The address was released: the same request succeeds again.
	execPlugins(t, "ADD", netd, bin, "1d7a448c5de37309", n.Path(), "IP=172.17.20.20")
	requireAddr(t, n, "eth0", "172.17.20.20/16")
	execPlugins(t, "DEL", netd, bin, "1d7a448c5de37309", n.Path(), "IP=172.17.20.20")
}
