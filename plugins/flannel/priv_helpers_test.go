package flannel

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"

	"github.com/weirnet/weir/internal/sandbox"
	"github.com/weirnet/weir/plugins/bridge"
	hostlocal "github.com/weirnet/weir/plugins/host-local"
	"github.com/weirnet/weir/plugins/pluginkit"
)

// privPlugins returns a CNI_PATH and invoker in which flannel and its
// delegates (weir's bridge and host-local) run in-process, as they do in the
// multi-call binary.
func privPlugins(t *testing.T) (string, *pluginkit.Exec) {
	return sandbox.PluginDir(t, pluginkit.Registry{"flannel": New(), "bridge": bridge.New(), "host-local": hostlocal.New()})
}

// privNet is one flannel network in a test: the seed's lease in a temporary
// subnet file, state and IPAM in temporary directories, its own bridge.
type privNet struct {
	t          *testing.T
	path       string
	exec       *pluginkit.Exec
	ver        string
	bridge     string
	subnetFile string
	dataDir    string
	ipamDir    string
	confJSON   []byte
}

func newPrivNet(t *testing.T, ver, bridge string) *privNet {
	t.Helper()
	path, exec := privPlugins(t)
	tmp := t.TempDir()
	subnetFile := filepath.Join(tmp, "subnet.env")
	if err := os.WriteFile(subnetFile, []byte(seedSubnetEnv), 0o644); err != nil {
		t.Fatal(err)
	}
	deleteLinkAtCleanup(t, bridge)
	n := &privNet{t: t, path: path, exec: exec, ver: ver, bridge: bridge, subnetFile: subnetFile,
		dataDir: filepath.Join(tmp, "flannel"), ipamDir: filepath.Join(tmp, "ipam")}
	n.confJSON = []byte(fmt.Sprintf(`{"cniVersion":%q,"name":"mynet","type":"flannel","subnetFile":%q,"dataDir":%q,"delegate":{"bridge":%q,"ipam":{"dataDir":%q}}}`,
		ver, subnetFile, n.dataDir, bridge, n.ipamDir))
	return n
}

func (n *privNet) invoke(cmd, id string, netns ns.NetNS, conf []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := sandbox.Call{Command: cmd, Type: "flannel", Path: n.path, ContainerID: id, IfName: "eth0", Conf: conf}
	if netns != nil {
		c.NetNS = netns.Path()
	}
	return sandbox.Invoke(ctx, n.exec, c)
}

func (n *privNet) add(id string, netns ns.NetNS) (*current.Result, []byte) {
	n.t.Helper()
	out, err := n.invoke("ADD", id, netns, n.confJSON)
	if err != nil {
		n.t.Fatalf("ADD %s (%s): %v", id, n.ver, err)
	}
	return parseResult(n.t, n.ver, out), out
}

func (n *privNet) del(id string, netns ns.NetNS) {
	n.t.Helper()
	if _, err := n.invoke("DEL", id, netns, n.confJSON); err != nil {
		n.t.Fatalf("DEL %s (%s): %v", id, n.ver, err)
	}
}

func (n *privNet) saved(id string) string { return filepath.Join(n.dataDir, "mynet", id+"@eth0.json") }

func (n *privNet) allocation(ip string) string { return filepath.Join(n.ipamDir, "mynet", ip) }

// withKey returns a JSON object with one more key.
func withKey(conf []byte, key string, raw []byte) []byte {
	i := bytes.LastIndexByte(conf, '}')
	return []byte(fmt.Sprintf("%s,%q:%s}", conf[:i], key, bytes.TrimSpace(raw)))
}

func parseResult(t *testing.T, ver string, out []byte) *current.Result {
	t.Helper()
	r, err := version.NewResult(ver, out)
	if err != nil {
		t.Fatalf("decoding %s result %s: %v", ver, out, err)
	}
	cur, err := current.NewResultFromResult(r)
	if err != nil {
		t.Fatalf("converting %s result: %v", ver, err)
	}
	return cur
}

func deleteLinkAtCleanup(t *testing.T, name string) {
	t.Cleanup(func() {
		if l, err := netlink.LinkByName(name); err == nil {
			_ = netlink.LinkDel(l)
		}
	})
}

// linkState is what a test checks of an interface.
type linkState struct {
	mtu   int
	addrs []string // IPv4, CIDR notation
}

func linkIn(t *testing.T, netns ns.NetNS, name string) (linkState, error) {
	t.Helper()
	var st linkState
	get := func() error {
		l, err := netlink.LinkByName(name)
		if err != nil {
			return err
		}
		st.mtu = l.Attrs().MTU
		addrs, err := netlink.AddrList(l, netlink.FAMILY_V4)
		if err != nil {
			return err
		}
		for _, a := range addrs {
			st.addrs = append(st.addrs, a.IPNet.String())
		}
		return nil
	}
	if netns == nil {
		return st, get()
	}
	err := netns.Do(func(ns.NetNS) error { return get() })
	return st, err
}

func mustLink(t *testing.T, netns ns.NetNS, name string, mtu int, addr string) {
	t.Helper()
	st, err := linkIn(t, netns, name)
	if err != nil {
		t.Fatalf("looking up %s: %v", name, err)
	}
	if st.mtu != mtu || len(st.addrs) != 1 || st.addrs[0] != addr {
		t.Fatalf("%s: mtu %d addresses %v, want mtu %d address %s", name, st.mtu, st.addrs, mtu, addr)
	}
}

func routeVia(t *testing.T, netns ns.NetNS, dst, gw string) {
	t.Helper()
	_, want, _ := net.ParseCIDR(dst)
	err := netns.Do(func(ns.NetNS) error {
		routes, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Dst: want}, netlink.RT_FILTER_DST)
		if err != nil {
			return err
		}
		for _, r := range routes {
			if r.Gw.String() == gw {
				return nil
			}
		}
		return fmt.Errorf("no route to %s via %s in %v", dst, gw, routes)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func checkResult(t *testing.T, res *current.Result, ip string) {
	t.Helper()
	if len(res.IPs) != 1 || res.IPs[0].Address.String() != ip+"/26" || res.IPs[0].Gateway.String() != "192.168.22.129" {
		t.Fatalf("result IPs = %v, want %s/26 via 192.168.22.129", res.IPs, ip)
	}
}

// ping sends one echo request from inside netns.
func ping(from ns.NetNS, ip string) error {
	out, err := exec.Command("nsenter", "--net="+from.Path(), "ping", "-c1", "-W2", ip).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ping %s from %s: %v: %s", ip, from.Path(), err, out)
	}
	return nil
}

// tcpExchange listens on addr inside server (nil: the sandbox's own
// namespace), connects from client and checks that a message arrives.
func tcpExchange(t *testing.T, server, client ns.NetNS, ip string) {
	t.Helper()
	var ln net.Listener
	listen := func() (err error) { ln, err = net.Listen("tcp4", net.JoinHostPort(ip, "0")); return err }
	var err error
	if server == nil {
		err = listen()
	} else {
		err = server.Do(func(ns.NetNS) error { return listen() })
	}
	if err != nil {
		t.Fatalf("listening on %s: %v", ip, err)
	}
	defer ln.Close()
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- "accept: " + err.Error()
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		b, _ := io.ReadAll(c)
		got <- string(b)
	}()
	err = client.Do(func(ns.NetNS) error {
		c, err := net.DialTimeout("tcp4", ln.Addr().String(), 3*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte("hello over flannel"))
		return err
	})
	if err != nil {
		t.Fatalf("connecting to %s: %v", ln.Addr(), err)
	}
	select {
	case s := <-got:
		if s != "hello over flannel" {
			t.Fatalf("server on %s received %q", ln.Addr(), s)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("server on %s received nothing", ln.Addr())
	}
}

func linkNames(t *testing.T, netns ns.NetNS) string {
	t.Helper()
	var names []string
	list := func() error {
		links, err := netlink.LinkList()
		for _, l := range links {
			names = append(names, l.Attrs().Name)
		}
		return err
	}
	var err error
	if netns == nil {
		err = list()
	} else {
		err = netns.Do(func(ns.NetNS) error { return list() })
	}
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

func iptablesSave(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("iptables-save").Output()
	if err != nil {
		t.Fatalf("iptables-save: %v", err)
	}
	var keep []string
	for _, l := range strings.Split(string(out), "\n") {
		if !strings.HasPrefix(l, "#") && !strings.HasPrefix(l, ":") { // drop timestamps and counters
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}
