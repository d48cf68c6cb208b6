package macvlan_test

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/weirnet/weir/internal/sandbox"
)

// TestInterruptedAddLeftover: an ADD killed between creating the device
// (under the attachment's temporary name, "mvtmp" + 10 hex digits of
// sha256(container id NUL ifname)) and renaming it leaves that device in
// the container; the next ADD and a DEL of the attachment remove it.
// Found by the chaos crash suite.
func TestInterruptedAddLeftover(t *testing.T) {
	sandbox.Require(t)
	h := newHarness(t)
	master := newMaster(t, "mvint0")
	dataDir := t.TempDir()
	n := sandbox.NewNS(t)
	sum := sha256.Sum256([]byte("ctr-int\x00eth0"))
	tmpName := "mvtmp" + hex.EncodeToString(sum[:5])
	leftover := func() {
		t.Helper()
		err := netlink.LinkAdd(&netlink.Macvlan{Mode: netlink.MACVLAN_MODE_BRIDGE, LinkAttrs: netlink.LinkAttrs{
			Name: tmpName, ParentIndex: master.Attrs().Index, Namespace: netlink.NsFd(int(n.Fd()))}})
		if err != nil {
			t.Fatal(err)
		}
		if l := sandbox.FindLink(t, n, tmpName); l == nil {
			t.Fatal("the leftover device was not made")
		}
	}
	cfg := conf("1.0.0", "intnet", "mvint0", "", "10.82.0.0/24", dataDir)
	c := call{id: "ctr-int", netns: n.Path(), ifName: "eth0", conf: cfg}

	leftover()
	h.add(t, "1.0.0", c)
	if got := sandbox.LinkNames(t, n); !slices.Equal(got, []string{"eth0", "lo"}) {
		t.Fatalf("after ADD the container has %v", got)
	}
	leftover()
	c.cmd = "DEL"
	if _, err := h.run(c); err != nil {
		t.Fatalf("DEL: %v", err)
	}
	if got := sandbox.LinkNames(t, n); !slices.Equal(got, []string{"lo"}) {
		t.Fatalf("after DEL the container has %v", got)
	}
}
