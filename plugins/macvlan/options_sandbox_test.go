package macvlan_test

import (
	"fmt"
	"net"
	"reflect"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/vishvananda/netlink"

	"github.com/weirnet/weir/internal/sandbox"
)

// Without "master" the interface of the sandbox's default IPv4 route is the
// master; without a default route ADD fails saying so and STATUS says 50.
func TestDefaultMaster(t *testing.T) {
	sandbox.Require(t)
	h := newHarness(t)
	newMaster(t, "mvother0") // not the default route's: must not be picked
	master := newMaster(t, "mvdef0")
	dataDir := t.TempDir()
	cfg := conf("1.1.0", "defnet", "", "", "10.83.0.0/24", dataDir)

	n := sandbox.NewNS(t)
	_, err := h.run(call{cmd: "ADD", id: "ctr-def", netns: n.Path(), ifName: "eth0", conf: cfg})
	const want = `finding the default master interface: master interface unavailable: "master" is not set and the host namespace has no default IPv4 route to take it from`
	if err == nil || err.Error() != want || cniCode(err) != types.ErrInvalidNetworkConfig {
		t.Fatalf("ADD without a default route: %v (code %d), want (7) %q", err, cniCode(err), want)
	}
	_, err = h.run(call{cmd: "STATUS", conf: cfg})
	if err == nil || err.Error() != want || cniCode(err) != types.ErrPluginNotAvailable {
		t.Fatalf("STATUS without a default route: %v (code %d), want (50) %q", err, cniCode(err), want)
	}
	assertUndone(t, n, dataDir, "defnet", "lo")

	addr, _ := netlink.ParseAddr("192.168.77.1/24")
	if err := netlink.AddrAdd(master, addr); err != nil {
		t.Fatal(err)
	}
	_, dflt, _ := net.ParseCIDR("0.0.0.0/0")
	if err := netlink.RouteAdd(&netlink.Route{LinkIndex: master.Attrs().Index, Dst: dflt, Gw: net.ParseIP("192.168.77.254")}); err != nil {
		t.Fatalf("adding the default route: %v", err)
	}
	if _, err := h.run(call{cmd: "STATUS", conf: cfg}); err != nil {
		t.Fatalf("STATUS with a default route: %v", err)
	}
	_, raw := h.add(t, "1.1.0", call{id: "ctr-def", netns: n.Path(), ifName: "eth0", conf: cfg})
	link := sandbox.FindLink(t, n, "eth0")
	if link == nil || link.Attrs().ParentIndex != master.Attrs().Index {
		t.Fatalf("eth0 = %v, want a macvlan on mvdef0 (index %d)", link, master.Attrs().Index)
	}
	c := call{cmd: "CHECK", id: "ctr-def", netns: n.Path(), ifName: "eth0", conf: sandbox.WithPrevResult(t, cfg, raw)}
	if _, err := h.run(c); err != nil {
		t.Fatalf("CHECK: %v", err)
	}
	c.cmd, c.conf = "DEL", cfg
	if _, err := h.run(c); err != nil {
		t.Fatalf("DEL: %v", err)
	}
}

// Mode, MTU and MAC options reach the kernel; an MTU above the master's is
// refused before anything is made.
func TestOptions(t *testing.T) {
	sandbox.Require(t)
	h := newHarness(t)
	master := newMaster(t, "mvopt0")
	dataDir := t.TempDir()
	n := sandbox.NewNS(t)

	_, err := h.run(call{cmd: "ADD", id: "ctr-opt", netns: n.Path(), ifName: "eth0",
		conf: conf("1.0.0", "optnet", "mvopt0", `"mtu": 9000,`, "10.84.0.0/24", dataDir)})
	const want = `invalid field "mtu": 9000 is larger than the MTU 1500 of master "mvopt0"`
	if err == nil || err.Error() != want || cniCode(err) != types.ErrInvalidNetworkConfig {
		t.Fatalf("ADD with mtu 9000: %v, want (7) %q", err, want)
	}
	assertUndone(t, n, dataDir, "optnet", "lo")

	for _, mode := range []struct {
		name string
		want netlink.MacvlanMode
	}{{"private", netlink.MACVLAN_MODE_PRIVATE}, {"vepa", netlink.MACVLAN_MODE_VEPA}, {"passthru", netlink.MACVLAN_MODE_PASSTHRU}} {
		t.Run(mode.name, func(t *testing.T) {
			wantMAC := "0a:58:0a:54:00:09"
			extra := fmt.Sprintf(`"mode": %q, "runtimeConfig": {"mac": %q},`, mode.name, wantMAC)
			if mode.want == netlink.MACVLAN_MODE_PASSTHRU {
				// passthru takes the master's MAC; asking for another is refused.
				_, err := h.run(call{cmd: "ADD", id: "ctr-pt", netns: n.Path(), ifName: "net1", conf: conf("1.0.0", "optnet", "mvopt0", extra, "10.84.0.0/24", dataDir)})
				if err == nil || !strings.Contains(err.Error(), "cannot be set in passthru mode") {
					t.Fatalf("passthru with a MAC: %v, want refusal", err)
				}
				wantMAC = master.Attrs().HardwareAddr.String()
				extra = `"mode": "passthru",`
			}
			cfg := conf("1.0.0", "optnet", "mvopt0", extra, "10.84.0.0/24", dataDir)
			c := call{id: "ctr-" + mode.name, netns: n.Path(), ifName: "net1", conf: cfg}
			res, raw := h.add(t, "1.0.0", c)
			mv, ok := sandbox.FindLink(t, n, "net1").(*netlink.Macvlan)
			if !ok || mv.Mode != mode.want {
				t.Fatalf("net1 = %+v, want a macvlan in mode %s", mv, mode.name)
			}
			if got := mv.HardwareAddr.String(); got != wantMAC || res.Interfaces[0].Mac != got {
				t.Errorf("MAC = %s (result %s), want %s", got, res.Interfaces[0].Mac, wantMAC)
			}
			c.cmd, c.conf = "CHECK", sandbox.WithPrevResult(t, cfg, raw)
			if _, err := h.run(c); err != nil {
				t.Fatalf("CHECK: %v", err)
			}
			c.cmd, c.conf = "DEL", cfg
			if _, err := h.run(c); err != nil {
				t.Fatalf("DEL: %v", err)
			}
			if sandbox.FindLink(t, n, "net1") != nil {
				t.Fatal("net1 left after DEL")
			}
		})
	}
}

// Without an "ipam" section the interface is only brought up (layer 2):
// no addresses, no reservation; CHECK and DEL work the same.
func TestLayer2Only(t *testing.T) {
	sandbox.Require(t)
	h := newHarness(t)
	newMaster(t, "mvl2")
	n := sandbox.NewNS(t)
	cfg := []byte(`{"cniVersion": "1.0.0", "name": "l2net", "type": "macvlan", "master": "mvl2"}`)
	c := call{id: "ctr-l2", netns: n.Path(), ifName: "eth0", conf: cfg}
	res, raw := h.add(t, "1.0.0", c)
	if len(res.IPs) != 0 || len(res.Interfaces) != 1 || res.Interfaces[0].Name != "eth0" {
		t.Fatalf("result = %s, want eth0 and no IPs", raw)
	}
	link := sandbox.FindLink(t, n, "eth0")
	if link == nil || link.Attrs().Flags&net.FlagUp == 0 {
		t.Fatalf("eth0 = %v, want a link that is up", link)
	}
	if got := sandbox.Addrs(t, n, "eth0"); len(got) != 0 {
		t.Errorf("eth0 IPv4 addresses = %v, want none", got)
	}
	c.cmd, c.conf = "CHECK", sandbox.WithPrevResult(t, cfg, raw)
	if _, err := h.run(c); err != nil {
		t.Fatalf("CHECK: %v", err)
	}
	c.cmd, c.conf = "DEL", cfg
	for i := 0; i < 2; i++ {
		if _, err := h.run(c); err != nil {
			t.Fatalf("DEL #%d: %v", i+1, err)
		}
	}
	if sandbox.FindLink(t, n, "eth0") != nil {
		t.Fatal("eth0 left after DEL")
	}
}

// CHECK notices a macvlan that hangs off another master than the
// configured one.
func TestCheckDetectsWrongMaster(t *testing.T) {
	sandbox.Require(t)
	h := newHarness(t)
	newMaster(t, "mvwrong0")
	other := newMaster(t, "mvwrong1")
	dataDir := t.TempDir()
	n := sandbox.NewNS(t)
	cfg := conf("1.0.0", "wrongnet", "mvwrong0", "", "10.86.0.0/24", dataDir)
	_, raw := h.add(t, "1.0.0", call{id: "ctr-w", netns: n.Path(), ifName: "eth0", conf: cfg})
	c := call{cmd: "CHECK", id: "ctr-w", netns: n.Path(), ifName: "eth0",
		conf: sandbox.WithPrevResult(t, conf("1.0.0", "wrongnet", "mvwrong1", "", "10.86.0.0/24", dataDir), raw)}
	_, err := h.run(c)
	want := fmt.Sprintf(`not master "mvwrong1" (index %d)`, other.Attrs().Index)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("CHECK against the other master: %v, want %q", err, want)
	}
	c.conf = sandbox.WithPrevResult(t, cfg, raw)
	if _, err := h.run(c); err != nil {
		t.Fatalf("CHECK against the right master: %v", err)
	}
	c.cmd, c.conf = "DEL", cfg
	if _, err := h.run(c); err != nil {
		t.Fatal(err)
	}
}

// STATUS reports a missing master with code 50; GC releases the addresses
// of attachments that are no longer valid and keeps the others.
func TestStatusAndGC(t *testing.T) {
	sandbox.Require(t)
	h := newHarness(t)
	newMaster(t, "mvgc0")
	dataDir := t.TempDir()
	cfg := conf("1.1.0", "gcnet", "mvgc0", "", "10.85.0.0/24", dataDir)
	if _, err := h.run(call{cmd: "STATUS", conf: cfg}); err != nil {
		t.Fatalf("STATUS: %v", err)
	}
	_, err := h.run(call{cmd: "STATUS", conf: conf("1.1.0", "gcnet", "nope1", "", "10.85.0.0/24", dataDir)})
	const want = `master interface unavailable: master "nope1" not found in the host namespace`
	if err == nil || err.Error() != want || cniCode(err) != types.ErrPluginNotAvailable {
		t.Fatalf("STATUS without master: %v (code %d), want (50) %q", err, cniCode(err), want)
	}

	n1, n2 := sandbox.NewNS(t), sandbox.NewNS(t)
	h.add(t, "1.1.0", call{id: "ctr-keep", netns: n1.Path(), ifName: "eth0", conf: cfg})
	h.add(t, "1.1.0", call{id: "ctr-stale", netns: n2.Path(), ifName: "eth0", conf: cfg})
	if got := reserved(t, dataDir, "gcnet"); !reflect.DeepEqual(got, []string{"10.85.0.2", "10.85.0.3"}) {
		t.Fatalf("reserved = %v, want both", got)
	}
	gc := []byte(strings.Replace(string(cfg), `"type": "macvlan",`,
		`"type": "macvlan", "cni.dev/valid-attachments": [{"containerID": "ctr-keep", "ifname": "eth0"}],`, 1))
	if _, err := h.run(call{cmd: "GC", conf: gc}); err != nil {
		t.Fatalf("GC: %v", err)
	}
	if got := reserved(t, dataDir, "gcnet"); !reflect.DeepEqual(got, []string{"10.85.0.2"}) {
		t.Fatalf("reserved after GC = %v, want [10.85.0.2]", got)
	}
	// The stale container's DEL still succeeds.
	if _, err := h.run(call{cmd: "DEL", id: "ctr-stale", netns: n2.Path(), ifName: "eth0", conf: cfg}); err != nil {
		t.Fatalf("DEL of a collected attachment: %v", err)
	}
	if _, err := h.run(call{cmd: "DEL", id: "ctr-keep", netns: n1.Path(), ifName: "eth0", conf: cfg}); err != nil {
		t.Fatalf("DEL: %v", err)
	}
	if got := reserved(t, dataDir, "gcnet"); len(got) != 0 {
		t.Fatalf("reserved after DEL = %v, want none", got)
	}
}
