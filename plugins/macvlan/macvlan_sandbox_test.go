package macvlan_test

import (
	"fmt"
	"net"
	"reflect"
	"strings"
	"testing"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/containernetworking/plugins/pkg/testutils"
	"github.com/vishvananda/netlink"

	"github.com/weirnet/weir/internal/sandbox"
)

// ADD → CHECK → DEL → DEL for every spec version, asserting the kernel
// state and the IPAM reservation at each step.
func TestAddCheckDelAllVersions(t *testing.T) {
	sandbox.Require(t)
	h := newHarness(t)
	master := newMaster(t, "mvall0")
	for i, ver := range testutils.AllSpecVersions {
		t.Run(ver, func(t *testing.T) {
			dataDir := t.TempDir()
			subnet := fmt.Sprintf("10.77.%d.0/24", i)
			wantIP := fmt.Sprintf("10.77.%d.2/24", i)
			wantGW := fmt.Sprintf("10.77.%d.1", i)
			cfg := conf(ver, "mvnet", "mvall0", `"mtu": 1400,`, subnet, dataDir)
			n := sandbox.NewNS(t)
			c := call{id: "ctr-" + ver, netns: n.Path(), ifName: "eth0", conf: cfg}

			res, raw := h.add(t, ver, c)
			if len(res.IPs) != 1 || res.IPs[0].Address.String() != wantIP || res.IPs[0].Gateway.String() != wantGW {
				t.Fatalf("result IPs = %+v, want %s via %s", res.IPs, wantIP, wantGW)
			}
			link := sandbox.FindLink(t, n, "eth0")
			if link == nil {
				t.Fatal("no eth0 in the container namespace after ADD")
			}
			mv, ok := link.(*netlink.Macvlan)
			if !ok {
				t.Fatalf("eth0 is a %s link, want macvlan", link.Type())
			}
			if mv.Mode != netlink.MACVLAN_MODE_BRIDGE {
				t.Errorf("mode = %d, want bridge", mv.Mode)
			}
			if mv.MTU != 1400 {
				t.Errorf("MTU = %d, want 1400", mv.MTU)
			}
			if mv.ParentIndex != master.Attrs().Index {
				t.Errorf("parent index = %d, want master's %d", mv.ParentIndex, master.Attrs().Index)
			}
			if mv.Flags&net.FlagUp == 0 {
				t.Error("eth0 is down")
			}
			if got := sandbox.Addrs(t, n, "eth0"); !reflect.DeepEqual(got, []string{wantIP}) {
				t.Errorf("eth0 addresses = %v, want [%s]", got, wantIP)
			}
			if ver >= "0.3.0" {
				if len(res.Interfaces) != 1 {
					t.Fatalf("result interfaces = %+v, want one", res.Interfaces)
				}
				i := res.Interfaces[0]
				if i.Name != "eth0" || i.Sandbox != n.Path() || i.Mac != mv.HardwareAddr.String() {
					t.Errorf("result interface = %+v, want eth0 in %s with MAC %s", i, n.Path(), mv.HardwareAddr)
				}
				if res.IPs[0].Interface == nil || *res.IPs[0].Interface != 0 {
					t.Errorf("IP interface index = %v, want 0", res.IPs[0].Interface)
				}
			}
			if err := sandbox.RouteVia(n, "0.0.0.0/0", wantGW); err != nil {
				t.Fatal(err)
			}
			if got := reserved(t, dataDir, "mvnet"); !reflect.DeepEqual(got, []string{strings.TrimSuffix(wantIP, "/24")}) {
				t.Errorf("reserved = %v, want [%s]", got, wantIP)
			}
			if strings.Contains(strings.Join(sandbox.LinkNames(t, nil), " "), "mvtmp") {
				t.Errorf("temporary link left in the host namespace: %v", sandbox.LinkNames(t, nil))
			}

			if ver >= "0.4.0" {
				c.cmd, c.conf = "CHECK", sandbox.WithPrevResult(t, cfg, raw)
				if _, err := h.run(c); err != nil {
					t.Fatalf("CHECK: %v", err)
				}
				// CHECK can fail: a configuration asking for another mode.
				c.conf = sandbox.WithPrevResult(t, conf(ver, "mvnet", "mvall0", `"mtu": 1400, "mode": "private",`, subnet, dataDir), raw)
				_, err := h.run(c)
				if err == nil || !strings.Contains(err.Error(), "interface eth0 has macvlan mode bridge, want private") {
					t.Fatalf("CHECK with mode private: %v, want a mode mismatch", err)
				}
				// ... and a lost address.
				if err := n.Do(func(ns.NetNS) error {
					a, _ := netlink.ParseAddr(wantIP)
					return netlink.AddrDel(link, a)
				}); err != nil {
					t.Fatal(err)
				}
				c.conf = sandbox.WithPrevResult(t, cfg, raw)
				_, err = h.run(c)
				if err == nil || !strings.Contains(err.Error(), "interface eth0 lacks address "+wantIP) {
					t.Fatalf("CHECK without the address: %v, want a missing address", err)
				}
			}

			c.cmd, c.conf = "DEL", cfg
			if _, err := h.run(c); err != nil {
				t.Fatalf("DEL: %v", err)
			}
			if l := sandbox.FindLink(t, n, "eth0"); l != nil {
				t.Fatalf("eth0 still in the container namespace after DEL")
			}
			if got := reserved(t, dataDir, "mvnet"); len(got) != 0 {
				t.Errorf("reserved after DEL = %v, want none", got)
			}
			if _, err := h.run(c); err != nil {
				t.Fatalf("second DEL: %v", err)
			}
		})
	}
}

// Two containers on one master talk to each other: TCP both ways and ping.
func TestTwoContainersReachEachOther(t *testing.T) {
	sandbox.Require(t)
	h := newHarness(t)
	newMaster(t, "mvpair0")
	dataDir := t.TempDir()
	cfg := conf("1.0.0", "pairnet", "mvpair0", "", "10.78.0.0/24", dataDir)
	a, b := sandbox.NewNS(t), sandbox.NewNS(t)
	resA, _ := h.add(t, "1.0.0", call{id: "ctr-a", netns: a.Path(), ifName: "eth0", conf: cfg})
	resB, _ := h.add(t, "1.0.0", call{id: "ctr-b", netns: b.Path(), ifName: "eth0", conf: cfg})
	ipA, ipB := resA.IPs[0].Address.IP.String(), resB.IPs[0].Address.IP.String()
	if ipA != "10.78.0.2" || ipB != "10.78.0.3" {
		t.Fatalf("addresses = %s, %s, want 10.78.0.2, 10.78.0.3", ipA, ipB)
	}
	if resA.Interfaces[0].Mac == resB.Interfaces[0].Mac {
		t.Fatalf("both containers got MAC %s", resA.Interfaces[0].Mac)
	}

	if peer := sandbox.MustExchange(t, b, a, net.JoinHostPort(ipB, "0")); peer != ipA {
		t.Fatalf("B saw the connection from %s, want A's %s", peer, ipA)
	}
	if peer := sandbox.MustExchange(t, a, b, net.JoinHostPort(ipA, "0")); peer != ipB {
		t.Fatalf("A saw the connection from %s, want B's %s", peer, ipB)
	}
	if err := sandbox.Ping(a.Path(), ipB); err != nil {
		t.Fatal(err)
	}
	if err := sandbox.Ping(b.Path(), ipA); err != nil {
		t.Fatal(err)
	}

	// After B's DEL, A can no longer reach it.
	if _, err := h.run(call{cmd: "DEL", id: "ctr-b", netns: b.Path(), ifName: "eth0", conf: cfg}); err != nil {
		t.Fatalf("DEL b: %v", err)
	}
	if err := sandbox.Ping(a.Path(), ipB); err == nil {
		t.Fatalf("ping %s succeeded after its container's DEL", ipB)
	}
	if _, err := h.run(call{cmd: "DEL", id: "ctr-a", netns: a.Path(), ifName: "eth0", conf: cfg}); err != nil {
		t.Fatalf("DEL a: %v", err)
	}
}

// The seed's macvlan network, verbatim: master eth0 (here a veth end in the
// sandbox), cniVersion absent (0.1.0) and CNI_ARGS="IP=172.17.20.20".
func TestSeedConfig(t *testing.T) {
	sandbox.Require(t)
	seedConfig(t, newHarness(t), "/run/weir/ipam")
}

// The same with the reference host-local binary as IPAM: the exec path
// gives the same result as the in-process one.
func TestSeedConfigReferenceHostLocal(t *testing.T) {
	sandbox.Require(t)
	seedConfig(t, newRefHarness(t), "/var/lib/cni/networks")
}

// seedConfig runs the seed's network through h; dataDir is its IPAM
// plugin's default store.
func seedConfig(t *testing.T, h *harness, dataDir string) {
	const seed = `{
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
}`
	master := newMaster(t, "eth0")
	n := sandbox.NewNS(t)
	c := call{id: "1d7a448c5de37308", netns: n.Path(), ifName: "eth0", cniArgs: "IP=172.17.20.20", conf: []byte(seed)}
	res, raw := h.add(t, "0.1.0", c)
	if !strings.Contains(string(raw), `"ip4"`) {
		t.Errorf("result is not in the 0.1.0 format: %s", raw)
	}
	if len(res.IPs) != 1 || res.IPs[0].Address.String() != "172.17.20.20/16" {
		t.Fatalf("result IPs = %+v, want 172.17.20.20/16", res.IPs)
	}
	if got := sandbox.Addrs(t, n, "eth0"); !reflect.DeepEqual(got, []string{"172.17.20.20/16"}) {
		t.Fatalf("eth0 addresses in the container = %v, want exactly [172.17.20.20/16]", got)
	}
	link := sandbox.FindLink(t, n, "eth0")
	if link.Attrs().ParentIndex != master.Attrs().Index || link.Attrs().Flags&net.FlagUp == 0 {
		t.Fatalf("container eth0: parent %d up=%v, want parent %d and up", link.Attrs().ParentIndex, link.Attrs().Flags&net.FlagUp != 0, master.Attrs().Index)
	}
	if got := sandbox.LinkNames(t, n); !reflect.DeepEqual(got, []string{"eth0", "lo"}) {
		t.Errorf("container links = %v, want [eth0 lo]", got)
	}
	if got := reserved(t, dataDir, "mynet"); !reflect.DeepEqual(got, []string{"172.17.20.20"}) {
		t.Errorf("reserved in %s = %v, want [172.17.20.20]", dataDir, got)
	}
	c.cmd, c.cniArgs = "DEL", ""
	if _, err := h.run(c); err != nil {
		t.Fatalf("DEL: %v", err)
	}
	if sandbox.FindLink(t, n, "eth0") != nil {
		t.Fatal("eth0 still in the container after DEL")
	}
	if got := reserved(t, dataDir, "mynet"); len(got) != 0 {
		t.Fatalf("reserved after DEL = %v, want none", got)
	}
}
