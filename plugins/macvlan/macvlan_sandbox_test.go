package macvlan_test

import (
	"fmt"
	"io"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

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
			link := linkIn(t, n, "eth0")
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
			if got := addrsOf(t, n, "eth0"); !reflect.DeepEqual(got, []string{wantIP}) {
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
			assertDefaultRoute(t, n, wantGW)
			if got := reserved(t, dataDir, "mvnet"); !reflect.DeepEqual(got, []string{strings.TrimSuffix(wantIP, "/24")}) {
				t.Errorf("reserved = %v, want [%s]", got, wantIP)
			}
			if strings.Contains(strings.Join(linkNames(t, nil), " "), "mvtmp") {
				t.Errorf("temporary link left in the host namespace: %v", linkNames(t, nil))
			}

			if ver >= "0.4.0" {
				c.cmd, c.conf = "CHECK", withPrevResult(t, cfg, raw)
				if _, err := h.run(c); err != nil {
					t.Fatalf("CHECK: %v", err)
				}
				// CHECK can fail: a configuration asking for another mode.
				c.conf = withPrevResult(t, conf(ver, "mvnet", "mvall0", `"mtu": 1400, "mode": "private",`, subnet, dataDir), raw)
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
				c.conf = withPrevResult(t, cfg, raw)
				_, err = h.run(c)
				if err == nil || !strings.Contains(err.Error(), "interface eth0 lacks address "+wantIP) {
					t.Fatalf("CHECK without the address: %v, want a missing address", err)
				}
			}

			c.cmd, c.conf = "DEL", cfg
			if _, err := h.run(c); err != nil {
				t.Fatalf("DEL: %v", err)
			}
			if l := linkIn(t, n, "eth0"); l != nil {
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

func assertDefaultRoute(t *testing.T, n ns.NetNS, gw string) {
	t.Helper()
	err := n.Do(func(ns.NetNS) error {
		routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
		if err != nil {
			return err
		}
		for _, r := range routes {
			if (r.Dst == nil || r.Dst.String() == "0.0.0.0/0") && r.Gw.String() == gw {
				return nil
			}
		}
		return fmt.Errorf("no default route via %s in %v", gw, routes)
	})
	if err != nil {
		t.Fatal(err)
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

	tcpExchange(t, b, ipB, a, ipA)
	tcpExchange(t, a, ipA, b, ipB)
	if err := ping(a, ipB); err != nil {
		t.Fatal(err)
	}
	if err := ping(b, ipA); err != nil {
		t.Fatal(err)
	}

	// After B's DEL, A can no longer reach it.
	if _, err := h.run(call{cmd: "DEL", id: "ctr-b", netns: b.Path(), ifName: "eth0", conf: cfg}); err != nil {
		t.Fatalf("DEL b: %v", err)
	}
	if err := ping(a, ipB); err == nil {
		t.Fatalf("ping %s succeeded after its container's DEL", ipB)
	}
	if _, err := h.run(call{cmd: "DEL", id: "ctr-a", netns: a.Path(), ifName: "eth0", conf: cfg}); err != nil {
		t.Fatalf("DEL a: %v", err)
	}
}

// tcpExchange listens in srv on srvIP, connects from cli, sends a line each
// way and checks that the server saw the client's address.
func tcpExchange(t *testing.T, srv ns.NetNS, srvIP string, cli ns.NetNS, cliIP string) {
	t.Helper()
	var ln net.Listener
	if err := srv.Do(func(ns.NetNS) error {
		var err error
		ln, err = net.Listen("tcp4", net.JoinHostPort(srvIP, "0"))
		return err
	}); err != nil {
		t.Fatalf("listening on %s: %v", srvIP, err)
	}
	defer ln.Close()
	type accepted struct {
		peer, msg string
		err       error
	}
	done := make(chan accepted, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			done <- accepted{err: err}
			return
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 64)
		k, err := io.ReadAtLeast(conn, buf, len("hello from client"))
		if err == nil {
			_, err = conn.Write([]byte("hello from server"))
		}
		done <- accepted{peer: conn.RemoteAddr().(*net.TCPAddr).IP.String(), msg: string(buf[:k]), err: err}
	}()
	var reply string
	err := cli.Do(func(ns.NetNS) error {
		conn, err := net.DialTimeout("tcp4", ln.Addr().String(), 3*time.Second)
		if err != nil {
			return err
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := conn.Write([]byte("hello from client")); err != nil {
			return err
		}
		buf := make([]byte, 64)
		k, err := io.ReadAtLeast(conn, buf, len("hello from server"))
		reply = string(buf[:k])
		return err
	})
	if err != nil {
		t.Fatalf("TCP from %s to %s: %v", cliIP, ln.Addr(), err)
	}
	got := <-done
	if got.err != nil || got.peer != cliIP || got.msg != "hello from client" || reply != "hello from server" {
		t.Fatalf("exchange: server saw %q from %s (err %v), client got %q; want client %s", got.msg, got.peer, got.err, reply, cliIP)
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
	if got := addrsOf(t, n, "eth0"); !reflect.DeepEqual(got, []string{"172.17.20.20/16"}) {
		t.Fatalf("eth0 addresses in the container = %v, want exactly [172.17.20.20/16]", got)
	}
	link := linkIn(t, n, "eth0")
	if link.Attrs().ParentIndex != master.Attrs().Index || link.Attrs().Flags&net.FlagUp == 0 {
		t.Fatalf("container eth0: parent %d up=%v, want parent %d and up", link.Attrs().ParentIndex, link.Attrs().Flags&net.FlagUp != 0, master.Attrs().Index)
	}
	if got := linkNames(t, n); !reflect.DeepEqual(got, []string{"eth0", "lo"}) {
		t.Errorf("container links = %v, want [eth0 lo]", got)
	}
	if got := reserved(t, dataDir, "mynet"); !reflect.DeepEqual(got, []string{"172.17.20.20"}) {
		t.Errorf("reserved in %s = %v, want [172.17.20.20]", dataDir, got)
	}
	c.cmd, c.cniArgs = "DEL", ""
	if _, err := h.run(c); err != nil {
		t.Fatalf("DEL: %v", err)
	}
	if linkIn(t, n, "eth0") != nil {
		t.Fatal("eth0 still in the container after DEL")
	}
	if got := reserved(t, dataDir, "mynet"); len(got) != 0 {
		t.Fatalf("reserved after DEL = %v, want none", got)
	}
}
