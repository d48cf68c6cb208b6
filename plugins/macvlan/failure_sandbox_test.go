package macvlan_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"

	"github.com/weirnet/weir/internal/sandbox"
)

// A master that does not exist fails ADD with an error naming it, before
// IPAM: no link anywhere, no address held.
func TestMissingMaster(t *testing.T) {
	sandbox.Require(t)
	h := newHarness(t)
	newMaster(t, "mvmiss0")
	dataDir := t.TempDir()
	n := sandbox.NewNS(t)
	hostBefore := sandbox.LinkNames(t, nil)
	_, err := h.run(call{cmd: "ADD", id: "ctr-miss", netns: n.Path(), ifName: "eth0",
		conf: conf("1.0.0", "missnet", "nope0", "", "10.79.0.0/24", dataDir)})
	const want = `master interface unavailable: master "nope0" not found in the host namespace`
	if err == nil || err.Error() != want || cniCode(err) != types.ErrInvalidNetworkConfig {
		t.Fatalf("ADD error = %v (code %d), want (7) %q", err, cniCode(err), want)
	}
	assertUndone(t, n, dataDir, "missnet", "lo")
	if got := sandbox.LinkNames(t, nil); !reflect.DeepEqual(got, hostBefore) {
		t.Errorf("host links after failed ADD = %v, want %v", got, hostBefore)
	}
	res, _ := h.add(t, "1.0.0", call{id: "ctr-miss", netns: n.Path(), ifName: "eth0",
		conf: conf("1.0.0", "missnet", "mvmiss0", "", "10.79.0.0/24", dataDir)})
	if got := res.IPs[0].Address.String(); got != "10.79.0.2/24" {
		t.Fatalf("next ADD got %s, want the first address 10.79.0.2/24", got)
	}
}

// A failure after IPAM (a route the kernel refuses) undoes the link and
// the allocation.
func TestFailedConfigureUndone(t *testing.T) {
	sandbox.Require(t)
	h := newHarness(t)
	newMaster(t, "mvfail0")
	dataDir := t.TempDir()
	n := sandbox.NewNS(t)
	bad := []byte(fmt.Sprintf(`{"cniVersion": "1.0.0", "name": "failnet", "type": "macvlan", "master": "mvfail0",
	"ipam": {"type": "host-local", "subnet": "10.80.0.0/24", "dataDir": %q,
		"routes": [{"dst": "10.99.0.0/16", "gw": "192.0.2.1"}]}}`, dataDir))
	_, err := h.run(call{cmd: "ADD", id: "ctr-fail", netns: n.Path(), ifName: "eth0", conf: bad})
	if err == nil || !strings.Contains(err.Error(), "adding route to 10.99.0.0/16 via 192.0.2.1 on eth0") {
		t.Fatalf("ADD error = %v, want the route failure", err)
	}
	assertUndone(t, n, dataDir, "failnet", "lo")
}

// A CNI_IFNAME already taken in the container fails ADD before IPAM, leaves
// the existing interface alone, and DEL does not delete it either.
func TestIfNameTaken(t *testing.T) {
	sandbox.Require(t)
	h := newHarness(t)
	newMaster(t, "mvtaken0")
	dataDir := t.TempDir()
	n := sandbox.NewNS(t)
	if err := n.Do(func(ns.NetNS) error {
		return netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth0"}, PeerName: "eth0peer"})
	}); err != nil {
		t.Fatal(err)
	}
	cfg := conf("1.0.0", "takennet", "mvtaken0", "", "10.81.0.0/24", dataDir)
	_, err := h.run(call{cmd: "ADD", id: "ctr-taken", netns: n.Path(), ifName: "eth0", conf: cfg})
	if err == nil || !strings.Contains(err.Error(), "to eth0: file exists") {
		t.Fatalf("ADD error = %v, want the rename failure", err)
	}
	assertUndone(t, n, dataDir, "takennet", "eth0", "eth0peer", "lo")
	if _, err := h.run(call{cmd: "DEL", id: "ctr-taken", netns: n.Path(), ifName: "eth0", conf: cfg}); err != nil {
		t.Fatalf("DEL: %v", err)
	}
	if l := sandbox.FindLink(t, n, "eth0"); l == nil || l.Type() != "veth" {
		t.Fatalf("DEL removed a veth it did not make: %v", l)
	}
}

// DEL after the namespace is gone (or with no CNI_NETNS) still releases the
// address: the same requested address can be had again.
func TestDelReleasesWithoutNetns(t *testing.T) {
	sandbox.Require(t)
	h := newHarness(t)
	newMaster(t, "mvgone0")
	dataDir := t.TempDir()
	cfg := conf("1.0.0", "gonenet", "mvgone0", "", "10.82.0.0/24", dataDir)
	for _, mode := range []string{"removed netns", "empty CNI_NETNS"} {
		t.Run(mode, func(t *testing.T) {
			n := sandbox.NewNS(t)
			c := call{id: "ctr-gone", netns: n.Path(), ifName: "eth0", cniArgs: "IP=10.82.0.50", conf: cfg}
			res, _ := h.add(t, "1.0.0", c)
			if got := res.IPs[0].Address.String(); got != "10.82.0.50/24" {
				t.Fatalf("ADD got %s, want 10.82.0.50/24", got)
			}
			path := n.Path()
			sandbox.RemoveNS(t, n)
			c.cmd, c.cniArgs = "DEL", ""
			if mode == "empty CNI_NETNS" {
				c.netns = ""
			}
			if _, err := h.run(c); err != nil {
				t.Fatalf("DEL with %s (%s): %v", mode, path, err)
			}
			if got := reserved(t, dataDir, "gonenet"); len(got) != 0 {
				t.Fatalf("reserved after DEL = %v, want none", got)
			}
			if _, err := h.run(c); err != nil {
				t.Fatalf("second DEL: %v", err)
			}
			n2 := sandbox.NewNS(t)
			res, _ = h.add(t, "1.0.0", call{id: "ctr-new", netns: n2.Path(), ifName: "eth0", cniArgs: "IP=10.82.0.50", conf: cfg})
			if got := res.IPs[0].Address.String(); got != "10.82.0.50/24" {
				t.Fatalf("ADD after DEL got %s, want 10.82.0.50/24 again", got)
			}
			if _, err := h.run(call{cmd: "DEL", id: "ctr-new", netns: n2.Path(), ifName: "eth0", conf: cfg}); err != nil {
				t.Fatal(err)
			}
		})
	}
}
