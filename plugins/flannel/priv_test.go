package flannel

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/containernetworking/plugins/pkg/testutils"
	"github.com/vishvananda/netlink"

	"github.com/weirnet/weir/internal/sandbox"
	hostlocal "github.com/weirnet/weir/plugins/host-local"
)

// Privileged tests: they run only inside scripts/sandbox, where /run,
// /var/lib/cni and /etc/cni are private tmpfs and every link is made in the
// sandbox's own network namespace or in test namespaces inside it.

func TestPrivAddCheckDelAllVersions(t *testing.T) {
	sandbox.Require(t)
	for i, ver := range testutils.AllSpecVersions {
		t.Run(ver, func(t *testing.T) {
			n := newPrivNet(t, ver, fmt.Sprintf("flver%d", i))
			target := sandbox.NewNS(t)
			id := "ctr-" + strings.ReplaceAll(ver, ".", "")

			res, out := n.add(id, target)
			checkResult(t, res, "192.168.22.130")
			mustLink(t, target, "eth0", 1450, "192.168.22.130/26")
			if err := sandbox.RouteVia(target, "192.168.0.0/16", "192.168.22.129"); err != nil {
				t.Fatal(err)
			}
			mustLink(t, nil, n.bridge, 1450, "192.168.22.129/26")
			if !exists(t, n.saved(id)) || !exists(t, n.allocation("192.168.22.130")) {
				t.Fatal("ADD left no saved configuration or no IPAM allocation")
			}

			if ge, _ := version.GreaterThanOrEqualTo(ver, "0.4.0"); ge {
				withPrev := sandbox.WithPrevResult(t, n.confJSON, out)
				if _, err := n.invoke("CHECK", id, target, withPrev); err != nil {
					t.Fatalf("CHECK: %v", err)
				}
				// CHECK notices a missing address.
				if err := target.Do(func(ns.NetNS) error {
					l, err := netlink.LinkByName("eth0")
					if err != nil {
						return err
					}
					a, _ := netlink.ParseAddr("192.168.22.130/26")
					return netlink.AddrDel(l, a)
				}); err != nil {
					t.Fatal(err)
				}
				if _, err := n.invoke("CHECK", id, target, withPrev); err == nil {
					t.Fatal("CHECK passed although eth0 lost its address")
				}
			}

			n.del(id, target)
			if sandbox.FindLink(t, target, "eth0") != nil {
				t.Fatal("eth0 still exists after DEL")
			}
			if exists(t, n.saved(id)) || exists(t, n.allocation("192.168.22.130")) {
				t.Fatal("DEL left the saved configuration or the IPAM allocation")
			}
			n.del(id, target)
			n.del(id, nil)
		})
	}
}

// The seed's Flannel section, verbatim: its subnet.env at the default path
// (a tmpfs inside the sandbox), its configuration without cniVersion, the
// default bridge cni0 and the default state and IPAM directories.
func TestPrivSeedVerbatim(t *testing.T) {
	sandbox.Require(t)
	if err := os.MkdirAll("/run/flannel", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(DefaultSubnetFile, []byte(seedSubnetEnv), 0o644); err != nil {
		t.Fatal(err)
	}
	// A fresh host: the seed's .130 is the first address of a new store.
	// These are the sandbox's own tmpfs directories.
	stateDirs := []string{filepath.Join(DefaultDataDir, "mynet"), filepath.Join(hostlocal.DefaultDataDir, "mynet")}
	for _, d := range stateDirs {
		if err := os.RemoveAll(d); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		_ = os.Remove(DefaultSubnetFile)
		for _, d := range stateDirs {
			_ = os.RemoveAll(d)
		}
	})
	sandbox.CleanupLink(t, "cni0")
	conf := []byte(`{
    "name": "mynet",
"type": "flannel"
}
`)
	plugins := privPlugins(t)
	target := sandbox.NewNS(t)
	const id = "6e3b681a422f5174"
	call := sandbox.Call{ContainerID: id, NetNS: target.Path(), IfName: "eth0", Conf: conf}

	rulesBefore := sandbox.SaveRules(t, "iptables-save", "")
	call.Command = "ADD"
	out, err := plugins.Run(call)
	if err != nil {
		t.Fatalf("ADD: %v", err)
	}
	checkResult(t, sandbox.ParseResult(t, "0.1.0", out), "192.168.22.130")
	mustLink(t, target, "eth0", 1450, "192.168.22.130/26")
	mustLink(t, nil, "cni0", 1450, "192.168.22.129/26")
	saved := filepath.Join(DefaultDataDir, "mynet", id+"@eth0.json")
	allocation := filepath.Join(hostlocal.DefaultDataDir, "mynet", "192.168.22.130")
	if !exists(t, saved) || !exists(t, allocation) {
		t.Fatal("ADD left no saved configuration or no IPAM allocation")
	}
	// FLANNEL_IPMASQ=false: the bridge masquerades for the container, a
	// member (commented with it) of the network's masquerade set.
	rulesAdded := sandbox.SaveRules(t, "iptables-save", "")
	if !rulesAdded.Has("MASQUERADE") || !rulesAdded.Has(`--comment "weir: net=mynet masquerade"`) {
		t.Fatalf("no masquerade rule of the network after ADD:\n%s", rulesAdded)
	}
	if sets := ipsetList(t); !strings.Contains(sets, `192.168.22.130 comment "weir: net=mynet id=`+id+` if=eth0"`) {
		t.Fatalf("no masquerade set member naming the container after ADD:\n%s", sets)
	}

	call.Command = "DEL"
	if _, err := plugins.Run(call); err != nil {
		t.Fatalf("DEL: %v", err)
	}
	if exists(t, saved) || exists(t, allocation) {
		t.Fatal("DEL left the saved configuration or the IPAM allocation")
	}
	if rules := sandbox.SaveRules(t, "iptables-save", ""); rules.Has(id) || rules.Has("weir: net=mynet") {
		t.Fatalf("DEL left rules naming the container or (its only one) the network:\n%s\n(before ADD:\n%s)", rules, rulesBefore)
	}
	if sets := ipsetList(t); strings.Contains(sets, id) || strings.Contains(sets, "weir-nat-") {
		t.Fatalf("DEL left masquerade sets:\n%s", sets)
	}
	if _, err := plugins.Run(call); err != nil {
		t.Fatalf("second DEL: %v", err)
	}
}

func TestPrivTwoContainersTalk(t *testing.T) {
	sandbox.Require(t)
	n := newPrivNet(t, "1.0.0", "fltalk")
	a, b := sandbox.NewNS(t), sandbox.NewNS(t)
	resA, _ := n.add("ctr-a", a)
	resB, _ := n.add("ctr-b", b)
	checkResult(t, resA, "192.168.22.130")
	checkResult(t, resB, "192.168.22.131")

	for _, p := range []struct {
		from ns.NetNS
		ip   string
	}{{a, "192.168.22.131"}, {b, "192.168.22.130"}, {a, "192.168.22.129"}, {b, "192.168.22.129"}} {
		if err := sandbox.Ping(p.from.Path(), p.ip); err != nil {
			t.Fatal(err)
		}
	}
	// TCP both ways between the containers, and from a to the host's
	// bridge (nil: the sandbox's namespace); each server sees the client's
	// own address.
	for _, c := range []struct {
		server, client ns.NetNS
		ip, from       string
	}{{b, a, "192.168.22.131", "192.168.22.130"}, {a, b, "192.168.22.130", "192.168.22.131"}, {nil, a, "192.168.22.129", "192.168.22.130"}} {
		if peer := sandbox.MustExchange(t, c.server, c.client, net.JoinHostPort(c.ip, "0")); peer != c.from {
			t.Errorf("server on %s saw the client as %s, want %s", c.ip, peer, c.from)
		}
	}

	// The probes can fail: once b is deleted, a no longer reaches it.
	n.del("ctr-b", b)
	if err := sandbox.Ping(a.Path(), "192.168.22.131"); err == nil {
		t.Fatal("ping to a deleted container succeeded")
	}
	n.del("ctr-a", a)
}

func TestPrivMissingSubnetFileCreatesNothing(t *testing.T) {
	sandbox.Require(t)
	n := newPrivNet(t, "1.0.0", "flmissing")
	missing := filepath.Join(t.TempDir(), "subnet.env")
	conf := bytes.Replace(n.confJSON, []byte(n.subnetFile), []byte(missing), 1)
	target := sandbox.NewNS(t)
	before, beforeNS := sandbox.LinkNames(t, nil), sandbox.LinkNames(t, target)
	nat := sandbox.SaveRules(t, "iptables-save", "")

	_, err := n.invoke("ADD", "ctr-x", target, conf)
	assertCNIError(t, err, types.ErrTryAgainLater, "flannel subnet file "+missing+
		` does not exist: flanneld must be running on this host and have written its lease there (or set "subnetFile" to where it writes it)`)
	if after := sandbox.LinkNames(t, nil); !slices.Equal(after, before) {
		t.Fatalf("links changed: %s -> %s", before, after)
	}
	if after := sandbox.LinkNames(t, target); !slices.Equal(after, beforeNS) {
		t.Fatalf("container links changed: %s -> %s", beforeNS, after)
	}
	if after := sandbox.SaveRules(t, "iptables-save", ""); !slices.Equal(after, nat) {
		t.Fatalf("iptables changed:\n%s\n->\n%s", nat, after)
	}
	if exists(t, n.dataDir) || exists(t, n.ipamDir) {
		t.Fatal("failed ADD created state directories")
	}
	if _, err := n.invoke("DEL", "ctr-x", target, conf); err != nil {
		t.Fatalf("DEL after failed ADD: %v", err)
	}
}

// GC removes the state of attachments the runtime no longer lists and has
// the delegate release their addresses; the valid attachment keeps both.
func TestPrivGC(t *testing.T) {
	sandbox.Require(t)
	n := newPrivNet(t, "1.1.0", "flgc")
	a, b := sandbox.NewNS(t), sandbox.NewNS(t)
	n.add("ctr-a", a)
	n.add("ctr-b", b)
	valid := []byte(`[{"containerID":"ctr-a","ifname":"eth0"}]`)
	if _, err := n.invoke("GC", "", nil, sandbox.WithKey(t, n.confJSON, "cni.dev/valid-attachments", json.RawMessage(valid))); err != nil {
		t.Fatalf("GC: %v", err)
	}
	if !exists(t, n.saved("ctr-a")) || !exists(t, n.allocation("192.168.22.130")) {
		t.Fatal("GC removed the valid attachment's state")
	}
	if exists(t, n.saved("ctr-b")) {
		t.Fatal("GC left the stale attachment's saved configuration")
	}
	if exists(t, n.allocation("192.168.22.131")) {
		t.Fatal("GC left the stale attachment's address allocated")
	}
	if _, err := n.invoke("STATUS", "", nil, n.confJSON); err != nil {
		t.Fatalf("STATUS: %v", err)
	}
	n.del("ctr-a", a)
	n.del("ctr-b", b)
}

// ipsetList is what `ipset list` prints.
func ipsetList(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("ipset", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ipset list: %v: %s", err, out)
	}
	return string(out)
}
