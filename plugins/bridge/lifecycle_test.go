package bridge

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"

	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/containernetworking/plugins/pkg/testutils"
	"github.com/vishvananda/netlink"

	"github.com/weirnet/weir/internal/sandbox"
)

// TestAddCheckDelAllVersions runs ADD, CHECK, DEL and DEL again for every
// CNI version, and ADD once more to prove DEL released the (only) address.
func TestAddCheckDelAllVersions(t *testing.T) {
	for i, ver := range testutils.AllSpecVersions {
		t.Run(ver, func(t *testing.T) {
			h := newHarness(t)
			o := h.newNet(fmt.Sprintf("life%d", i), fmt.Sprintf("brlife%d", i), fmt.Sprintf("10.10.%d.0/24", i))
			o.rangeStart = fmt.Sprintf("10.10.%d.10", i)
			o.extra = `"isDefaultGateway":true,"ipMasq":true,`
			conf := o.conf(ver)
			wantAddr := fmt.Sprintf("10.10.%d.10/24", i)
			wantGW := fmt.Sprintf("10.10.%d.1", i)
			netns := sandbox.NewNS(t)
			id := "ctr-life"

			res, raw := h.add(ver, conf, id, netns.Path())
			assertAttached(t, ver, o, res, id, netns, wantAddr, wantGW)
			if got := masqMembers(t, o.name, id); len(got) != 1 || got[0] != fmt.Sprintf("10.10.%d.10", i) {
				t.Errorf("masquerade set members of the container: %v, want its address", got)
			}
			if !natRules(t, "iptables-save").Has(masqJump(o.name, wantAddr)) {
				t.Errorf("no masquerade jump for the container's group:\n%s", natRules(t, "iptables-save"))
			}

			if atLeast(ver, "0.4.0") {
				if err := h.check(conf, raw, id, netns.Path()); err != nil {
					t.Fatalf("CHECK after ADD: %v", err)
				}
				_, err := h.call("CHECK", conf, id, netns.Path(), "eth0")
				if e := cniError(t, err); e.Code != 7 || e.Msg != `invalid field "prevResult": CHECK needs the result of ADD` {
					t.Errorf("CHECK without prevResult: code %d %q", e.Code, e.Msg)
				}
				// CHECK must notice drift: take the address away.
				inNS(t, netns.Path(), func() error {
					l, err := netlinksafe.LinkByName("eth0")
					if err != nil {
						return err
					}
					ip, n, _ := net.ParseCIDR(wantAddr)
					n.IP = ip
					return netlink.AddrDel(l, &netlink.Addr{IPNet: n})
				})
				err = h.check(conf, raw, id, netns.Path())
				if err == nil || !strings.Contains(err.Error(), "eth0 lacks address "+wantAddr) {
					t.Errorf("CHECK after removing the address: %v", err)
				}
			} else if _, err := h.call("CHECK", conf, id, netns.Path(), "eth0"); err == nil {
				t.Errorf("CHECK accepted for version %s", ver)
			}

			h.del(conf, id, netns.Path())
			if sandbox.HasLink(t, nil, hostVeth(o.name, id)) {
				t.Error("host veth survives DEL")
			}
			if sandbox.HasLink(t, netns, "eth0") {
				t.Error("eth0 survives DEL")
			}
			if len(masqMembers(t, o.name, id)) != 0 || masqOfNetwork(t, o.name) {
				t.Error("masquerade survives DEL of the network's only container")
			}
			h.del(conf, id, netns.Path()) // idempotent

			// The range has one address: a new container gets it only if
			// DEL released it.
			netns2 := sandbox.NewNS(t)
			res2, _ := h.add(ver, conf, "ctr-life-2", netns2.Path())
			if got := res2.IPs[0].Address.String(); got != wantAddr {
				t.Errorf("second ADD got %s, want the released %s", got, wantAddr)
			}
			h.del(conf, "ctr-life-2", netns2.Path())
		})
	}
}

// assertAttached checks an ADD's result and the kernel state it describes.
func assertAttached(t *testing.T, ver string, o netOpts, res *current.Result, id string, netns ns.NetNS, wantAddr, wantGW string) {
	t.Helper()
	if len(res.IPs) != 1 || res.IPs[0].Address.String() != wantAddr || res.IPs[0].Gateway.String() != wantGW {
		t.Fatalf("result IPs: %+v, want %s via %s", res.IPs, wantAddr, wantGW)
	}
	if !slices.Contains(sandbox.Addrs(t, netns, "eth0"), wantAddr) {
		t.Errorf("eth0 has %v, want %s", sandbox.Addrs(t, netns, "eth0"), wantAddr)
	}
	veth := mustLink(t, hostVeth(o.name, id))
	br := mustLink(t, o.bridge)
	if veth.Attrs().MasterIndex != br.Attrs().Index {
		t.Errorf("host veth %s is not on bridge %s", veth.Attrs().Name, o.bridge)
	}
	if veth.Attrs().Flags&net.FlagUp == 0 || br.Attrs().Flags&net.FlagUp == 0 {
		t.Error("host veth or bridge is down")
	}
	_, sub, _ := net.ParseCIDR(wantAddr)
	ones, _ := sub.Mask.Size()
	if gw := fmt.Sprintf("%s/%d", wantGW, ones); !slices.Contains(sandbox.Addrs(t, nil, o.bridge), gw) {
		t.Errorf("bridge has %v, want gateway %s", sandbox.Addrs(t, nil, o.bridge), gw)
	}
	if err := sandbox.RouteVia(netns, "0.0.0.0/0", wantGW); err != nil {
		t.Errorf("container default route: %v", err)
	}
	if !atLeast(ver, "0.3.0") {
		return // no interfaces in old results
	}
	cont, err := sandbox.LinkIn(netns, "eth0")
	if err != nil {
		t.Fatal(err)
	}
	want := []current.Interface{
		{Name: o.bridge, Mac: br.Attrs().HardwareAddr.String()},
		{Name: veth.Attrs().Name, Mac: veth.Attrs().HardwareAddr.String()},
		{Name: "eth0", Mac: cont.Attrs().HardwareAddr.String(), Sandbox: netns.Path()},
	}
	if len(res.Interfaces) != 3 {
		t.Fatalf("result interfaces: %v", res.Interfaces)
	}
	for i, w := range want {
		if *res.Interfaces[i] != w {
			t.Errorf("interface %d: %+v, want %+v", i, *res.Interfaces[i], w)
		}
	}
	if res.IPs[0].Interface == nil || *res.IPs[0].Interface != 2 {
		t.Errorf("IP interface index %v, want 2", res.IPs[0].Interface)
	}
}

// TestDelAfterNetnsGone deletes the container's namespace before DEL: DEL
// must still remove the host veth, the masquerade rules and the address.
func TestDelAfterNetnsGone(t *testing.T) {
	for i, ver := range testutils.AllSpecVersions {
		t.Run(ver, func(t *testing.T) {
			h := newHarness(t)
			o := h.newNet(fmt.Sprintf("gone%d", i), fmt.Sprintf("brgone%d", i), fmt.Sprintf("10.11.%d.0/24", i))
			o.rangeStart = fmt.Sprintf("10.11.%d.10", i)
			o.extra = `"isGateway":true,"ipMasq":true,`
			conf := o.conf(ver)
			netns := sandbox.NewNS(t)
			path := netns.Path()
			h.add(ver, conf, "ctr-gone", path)
			sandbox.RemoveNS(t, netns)

			h.del(conf, "ctr-gone", path)
			if sandbox.HasLink(t, nil, hostVeth(o.name, "ctr-gone")) {
				t.Error("host veth survives DEL after the netns is gone")
			}
			if len(masqMembers(t, o.name, "ctr-gone")) != 0 || masqOfNetwork(t, o.name) {
				t.Errorf("masquerade survives DEL:\n%s", natRules(t, "iptables-save"))
			}
			h.del(conf, "ctr-gone", path)

			netns2 := sandbox.NewNS(t)
			res, _ := h.add(ver, conf, "ctr-next", netns2.Path())
			if got, want := res.IPs[0].Address.IP.String(), o.rangeStart; got != want {
				t.Errorf("next ADD got %s, want the released %s", got, want)
			}
			h.del(conf, "ctr-next", netns2.Path())
		})
	}
}

// TestDelWithoutNetns runs DEL with no CNI_NETNS while the namespace still
// exists: the host veth is found by its stable name alone.
func TestDelWithoutNetns(t *testing.T) {
	h := newHarness(t)
	o := h.newNet("nonetns", "brnonetns", "10.12.0.0/24")
	o.extra = `"isGateway":true,"ipMasq":true,`
	conf := o.conf("1.1.0")
	netns := sandbox.NewNS(t)
	h.add("1.1.0", conf, "ctr-x", netns.Path())
	h.del(conf, "ctr-x", "")
	if sandbox.HasLink(t, nil, hostVeth(o.name, "ctr-x")) {
		t.Error("host veth survives DEL without netns")
	}
	if sandbox.HasLink(t, netns, "eth0") {
		t.Error("the container end survives its host end")
	}
	if len(masqMembers(t, o.name, "ctr-x")) != 0 || masqOfNetwork(t, o.name) {
		t.Error("masquerade survives DEL without netns")
	}
}

// TestFailedAddExhaustedRange fills a one-address range, then ADDs a
// second container: the failed ADD must leave no veth, no container
// interface and no rules, and must not disturb the first container.
func TestFailedAddExhaustedRange(t *testing.T) {
	for i, ver := range testutils.AllSpecVersions {
		t.Run(ver, func(t *testing.T) {
			h := newHarness(t)
			o := h.newNet(fmt.Sprintf("full%d", i), fmt.Sprintf("brfull%d", i), fmt.Sprintf("10.13.%d.0/30", i))
			o.rangeStart = fmt.Sprintf("10.13.%d.2", i)
			o.extra = `"isGateway":true,"ipMasq":true,"macspoofchk":true,`
			conf := o.conf(ver)
			ns1, ns2 := sandbox.NewNS(t), sandbox.NewNS(t)
			h.add(ver, conf, "ctr-1", ns1.Path())

			_, err := h.call("ADD", conf, "ctr-2", ns2.Path(), "eth0")
			if err == nil {
				t.Fatal("ADD into an exhausted range succeeded")
			}
			if !strings.Contains(err.Error(), "ipam ADD") {
				t.Errorf("error does not name the IPAM step: %v", err)
			}
			if sandbox.HasLink(t, nil, hostVeth(o.name, "ctr-2")) {
				t.Error("failed ADD left its host veth")
			}
			if sandbox.HasLink(t, ns2, "eth0") {
				t.Error("failed ADD left eth0 in the container")
			}
			if got := masqMembers(t, o.name, "ctr-2"); len(got) != 0 {
				t.Errorf("failed ADD left masquerade members %v", got)
			}
			if len(masqMembers(t, o.name, "ctr-1")) != 1 || !natRules(t, "iptables-save").Has(masqJump(o.name, o.rangeStart+"/30")) || !sandbox.HasLink(t, nil, hostVeth(o.name, "ctr-1")) {
				t.Error("failed ADD disturbed the first container")
			}
			h.del(conf, "ctr-1", ns1.Path())
		})
	}
}

// TestFailedAddAfterIPAM makes ADD fail at the last step (the bridge holds
// another address in the gateway's subnet): the veth, the masquerade rules
// and the address must all be released. forceAddress then replaces the
// conflicting address, and leaves addresses in other subnets alone.
func TestFailedAddAfterIPAM(t *testing.T) {
	h := newHarness(t)
	o := h.newNet("conflict", "brconflict", "10.14.0.0/24")
	o.rangeStart = "10.14.0.10"
	o.extra = `"isGateway":true,"ipMasq":true,`
	conf := o.conf("1.1.0")

	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: o.bridge}}
	if err := netlink.LinkAdd(br); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"10.14.0.5/24", "10.99.0.1/24"} {
		addr, _ := netlink.ParseAddr(a)
		if err := netlink.AddrAdd(br, addr); err != nil {
			t.Fatal(err)
		}
	}
	netns := sandbox.NewNS(t)
	_, err := h.call("ADD", conf, "ctr-c", netns.Path(), "eth0")
	want := `bridge "brconflict" already has address 10.14.0.5/24 in the subnet of gateway 10.14.0.1/24 (set forceAddress to replace it)`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("ADD with a conflicting bridge address: %v, want %q", err, want)
	}
	if sandbox.HasLink(t, nil, hostVeth(o.name, "ctr-c")) || sandbox.HasLink(t, netns, "eth0") {
		t.Error("failed ADD left its veth")
	}
	if len(masqMembers(t, o.name, "ctr-c")) != 0 || masqOfNetwork(t, o.name) {
		t.Errorf("failed ADD left masquerade rules:\n%s", natRules(t, "iptables-save"))
	}

	o.extra = `"isGateway":true,"ipMasq":true,"forceAddress":true,`
	conf = o.conf("1.1.0")
	res, _ := h.add("1.1.0", conf, "ctr-c", netns.Path())
	if got := res.IPs[0].Address.String(); got != "10.14.0.10/24" {
		t.Errorf("ADD after the failure got %s: the failed ADD did not release 10.14.0.10", got)
	}
	addrs := sandbox.Addrs(t, nil, o.bridge)
	if !slices.Contains(addrs, "10.14.0.1/24") || slices.Contains(addrs, "10.14.0.5/24") || !slices.Contains(addrs, "10.99.0.1/24") {
		t.Errorf("bridge addresses after forceAddress: %v, want 10.14.0.1/24 and 10.99.0.1/24", addrs)
	}
	h.del(conf, "ctr-c", netns.Path())
}
