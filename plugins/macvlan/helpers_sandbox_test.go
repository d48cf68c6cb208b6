package macvlan_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/containernetworking/plugins/pkg/testutils"
	"github.com/vishvananda/netlink"

	"github.com/weirnet/weir/internal/sandbox"
	hostlocal "github.com/weirnet/weir/plugins/host-local"
	"github.com/weirnet/weir/plugins/macvlan"
	"github.com/weirnet/weir/plugins/pluginkit"
)

// harness runs plugins the way a runtime does: from a CNI_PATH, with
// weir's macvlan and host-local in-process.
type harness struct {
	path string
	exec *pluginkit.Exec
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	dir, ex := sandbox.PluginDir(t, pluginkit.Registry{"macvlan": macvlan.New(), "host-local": hostlocal.New()})
	return &harness{path: dir, exec: ex}
}

// refHostLocal is where the reference plugins' host-local binary may be.
const refHostLocal = "/tmp/refbin/host-local"

// newRefHarness runs weir's macvlan in-process with the reference
// host-local binary as IPAM (the exec path), skipping the test when that
// binary is not installed.
func newRefHarness(t *testing.T) *harness {
	t.Helper()
	if _, err := os.Stat(refHostLocal); err != nil {
		t.Skipf("reference host-local not installed: %v", err)
	}
	dir, ex := sandbox.PluginDir(t, pluginkit.Registry{"macvlan": macvlan.New()})
	return &harness{path: dir + ":" + filepath.Dir(refHostLocal), exec: ex}
}

// call is one invocation's variable part.
type call struct {
	cmd, id, netns, ifName, cniArgs string
	conf                            []byte
}

func (h *harness) run(c call) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return sandbox.Invoke(ctx, h.exec, sandbox.Call{
		Command: c.cmd, Type: "macvlan", Path: h.path, ContainerID: c.id,
		NetNS: c.netns, IfName: c.ifName, Args: c.cniArgs, Conf: c.conf,
	})
}

// add runs ADD and returns the result converted to the current version.
func (h *harness) add(t *testing.T, ver string, c call) (*current.Result, []byte) {
	t.Helper()
	c.cmd = "ADD"
	out, err := h.run(c)
	if err != nil {
		t.Fatalf("ADD (%s) of %s: %v", ver, c.id, err)
	}
	res, err := version.NewResult(ver, out)
	if err != nil {
		t.Fatalf("decoding %s result %s: %v", ver, out, err)
	}
	cur, err := current.NewResultFromResult(res)
	if err != nil {
		t.Fatalf("converting result %s: %v", out, err)
	}
	return cur, out
}

// withPrevResult returns conf with prevResult set to the raw ADD output.
func withPrevResult(t *testing.T, conf, prev []byte) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(conf, &m); err != nil {
		t.Fatal(err)
	}
	m["prevResult"] = json.RawMessage(prev)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newMaster makes a veth pair in the sandbox's root namespace, both ends
// up, and returns the end called name, to serve as a macvlan master.
func newMaster(t *testing.T, name string) netlink.Link {
	t.Helper()
	peer := name + "p"
	if len(peer) > 15 {
		peer = peer[len(peer)-15:]
	}
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: peer}
	if err := netlink.LinkAdd(veth); err != nil {
		t.Fatalf("creating veth %s: %v", name, err)
	}
	t.Cleanup(func() { _ = netlink.LinkDel(veth) })
	for _, n := range []string{name, peer} {
		l, err := netlink.LinkByName(n)
		if err != nil {
			t.Fatal(err)
		}
		if err := netlink.LinkSetUp(l); err != nil {
			t.Fatalf("setting %s up: %v", n, err)
		}
	}
	m, err := netlink.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// removeNS deletes a namespace made by sandbox.NewNS before the test ends.
func removeNS(t *testing.T, n ns.NetNS) {
	t.Helper()
	if err := n.Close(); err != nil {
		t.Fatalf("closing netns: %v", err)
	}
	if err := testutils.UnmountNS(n); err != nil {
		t.Fatalf("removing netns: %v", err)
	}
	if _, err := os.Stat(n.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("netns %s still exists: %v", n.Path(), err)
	}
}

// linkIn returns the link ifName in n, or nil when there is none.
func linkIn(t *testing.T, n ns.NetNS, ifName string) netlink.Link {
	t.Helper()
	var link netlink.Link
	err := n.Do(func(ns.NetNS) error {
		l, err := netlink.LinkByName(ifName)
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		link = l
		return err
	})
	if err != nil {
		t.Fatalf("looking up %s in %s: %v", ifName, n.Path(), err)
	}
	return link
}

// linkNames lists the links of n (nil: the sandbox's root namespace).
func linkNames(t *testing.T, n ns.NetNS) []string {
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
	if n == nil {
		err = list()
	} else {
		err = n.Do(func(ns.NetNS) error { return list() })
	}
	if err != nil {
		t.Fatalf("listing links: %v", err)
	}
	sort.Strings(names)
	return names
}

// addrsOf returns ifName's global addresses in n as "ip/len" strings.
func addrsOf(t *testing.T, n ns.NetNS, ifName string) []string {
	t.Helper()
	var out []string
	err := n.Do(func(ns.NetNS) error {
		l, err := netlink.LinkByName(ifName)
		if err != nil {
			return err
		}
		addrs, err := netlink.AddrList(l, netlink.FAMILY_V4)
		for _, a := range addrs {
			out = append(out, a.IPNet.String())
		}
		return err
	})
	if err != nil {
		t.Fatalf("listing addresses of %s: %v", ifName, err)
	}
	return out
}

// reserved lists the addresses host-local holds for network in dataDir.
func reserved(t *testing.T, dataDir, network string) []string {
	t.Helper()
	entries, err := os.ReadDir(dataDir + "/" + network)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var ips []string
	for _, e := range entries {
		if net.ParseIP(e.Name()) != nil {
			ips = append(ips, e.Name())
		}
	}
	sort.Strings(ips)
	return ips
}

// conf builds a macvlan configuration with host-local IPAM.
func conf(ver, network, master, extra, subnet, dataDir string) []byte {
	m := ""
	if master != "" {
		m = fmt.Sprintf(`"master": %q,`, master)
	}
	return []byte(fmt.Sprintf(`{
	"cniVersion": %q, "name": %q, "type": "macvlan", %s %s
	"ipam": {"type": "host-local", "subnet": %q, "dataDir": %q, "routes": [{"dst": "0.0.0.0/0"}]}
}`, ver, network, m, extra, subnet, dataDir))
}

// ping sends one ICMP echo from inside n to ip.
func ping(n ns.NetNS, ip string) error {
	out, err := exec.Command("nsenter", "--net="+n.Path(), "ping", "-c1", "-W2", ip).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ping %s from %s: %v: %s", ip, n.Path(), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// cniCode returns the CNI error code of err (0 for a non-CNI error).
func cniCode(err error) uint {
	var e *types.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}
