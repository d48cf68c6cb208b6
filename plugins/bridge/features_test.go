package bridge

import (
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/vishvananda/netlink"

	"github.com/weirnet/weir/internal/sandbox"
)

// TestLinkOptions checks mtu (bridge, both veth ends), hairpin mode on the
// port and promiscuous mode on the bridge.
func TestLinkOptions(t *testing.T) {
	h := newHarness(t)
	o := h.newNet("opts", "bropts", "10.70.0.0/24")
	o.extra = `"mtu":1400,"hairpinMode":true,`
	conf := o.conf("1.1.0")
	netns := sandbox.NewNS(t)
	_, raw := h.add("1.1.0", conf, "ctr-o", netns.Path())
	host := mustLink(t, hostVeth("opts", "ctr-o"))
	if m := mustLink(t, "bropts").Attrs().MTU; m != 1400 {
		t.Errorf("bridge mtu %d, want 1400", m)
	}
	if m := host.Attrs().MTU; m != 1400 {
		t.Errorf("host veth mtu %d, want 1400", m)
	}
	inNS(t, netns.Path(), func() error {
		if m := mustLink(t, "eth0").Attrs().MTU; m != 1400 {
			t.Errorf("container eth0 mtu %d, want 1400", m)
		}
		return nil
	})
	pi, err := netlinksafe.LinkGetProtinfo(host)
	if err != nil {
		t.Fatal(err)
	}
	if !pi.Hairpin {
		t.Error("hairpin mode is off on the port")
	}
	if err := h.check(conf, raw, "ctr-o", netns.Path()); err != nil {
		t.Errorf("CHECK: %v", err)
	}
	if err := netlink.LinkSetHairpin(host, false); err != nil {
		t.Fatal(err)
	}
	if err := h.check(conf, raw, "ctr-o", netns.Path()); err == nil || !strings.Contains(err.Error(), "hairpin mode false") {
		t.Errorf("CHECK with hairpin turned off: %v", err)
	}
	h.del(conf, "ctr-o", netns.Path())

	p := h.newNet("promisc", "brpromisc", "10.71.0.0/24")
	p.extra = `"promiscMode":true,`
	pconf := p.conf("1.1.0")
	ns2 := sandbox.NewNS(t)
	h.add("1.1.0", pconf, "ctr-p", ns2.Path())
	if mustLink(t, "brpromisc").Attrs().Promisc == 0 {
		t.Error("bridge is not promiscuous")
	}
	if pi, _ := netlinksafe.LinkGetProtinfo(mustLink(t, hostVeth("promisc", "ctr-p"))); pi.Hairpin {
		t.Error("hairpin mode is on without hairpinMode")
	}
	h.del(pconf, "ctr-p", ns2.Path())
}

// TestVlan puts the port in VLAN 100 as its untagged PVID. A kernel built
// without bridge VLAN filtering must fail the ADD cleanly instead.
func TestVlan(t *testing.T) {
	h := newHarness(t)
	o := h.newNet("vlan", "brvlan", "10.72.0.0/24")
	o.extra = `"vlan":100,`
	conf := o.conf("1.1.0")
	netns := sandbox.NewNS(t)
	out, err := h.call("ADD", conf, "ctr-v", netns.Path(), "eth0")
	if err != nil {
		if !strings.Contains(err.Error(), "the kernel lacks bridge VLAN filtering") {
			t.Fatalf("ADD with vlan: %v", err)
		}
		if sandbox.HasLink(t, nil, hostVeth("vlan", "ctr-v")) || sandbox.HasLink(t, nil, "brvlan") || sandbox.HasLink(t, netns, "eth0") {
			t.Error("the failed vlan ADD left links behind")
		}
		// Nothing was allocated either: a plain ADD on the same IPAM
		// store gets the first address.
		o.extra = ""
		res, _ := h.add("1.1.0", o.conf("1.1.0"), "ctr-v", netns.Path())
		if got := res.IPs[0].Address.IP.String(); got != "10.72.0.2" {
			t.Errorf("address after the failed vlan ADD: %s", got)
		}
		t.Skipf("this kernel has no bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING); ADD failed cleanly: %v", err)
	}
	host := mustLink(t, hostVeth("vlan", "ctr-v"))
	br, err := bridgeByName("brvlan")
	if err != nil {
		t.Fatal(err)
	}
	if br.VlanFiltering == nil || !*br.VlanFiltering {
		t.Error("bridge does not filter VLANs")
	}
	vlans, err := netlinksafe.BridgeVlanList()
	if err != nil {
		t.Fatal(err)
	}
	port := vlans[int32(host.Attrs().Index)]
	if len(port) != 1 || port[0].Vid != 100 || !port[0].PortVID() || !port[0].EngressUntag() {
		t.Errorf("port VLANs %v, want only 100 as untagged PVID", port)
	}
	if err := h.check(conf, out, "ctr-v", netns.Path()); err != nil {
		t.Errorf("CHECK: %v", err)
	}
	h.del(conf, "ctr-v", netns.Path())
}

// TestGCAndStatus: GC keeps the valid attachment's rules and address and
// releases the other's; STATUS asks IPAM.
func TestGCAndStatus(t *testing.T) {
	h := newHarness(t)
	o := h.newNet("gc", "brgc", "10.73.0.0/24")
	o.rangeStart, o.rangeEnd = "10.73.0.10", "10.73.0.11"
	o.extra = `"isGateway":true,"ipMasq":true,`
	conf := o.conf("1.1.0")
	ns1, ns2, ns3 := sandbox.NewNS(t), sandbox.NewNS(t), sandbox.NewNS(t)
	h.add("1.1.0", conf, "ctr-keep", ns1.Path())
	res2, _ := h.add("1.1.0", conf, "ctr-stale", ns2.Path())

	gcConf := sandbox.WithKey(t, conf, "cni.dev/valid-attachments", []types.GCAttachment{{ContainerID: "ctr-keep", IfName: "eth0"}})
	if _, err := h.call("GC", gcConf, "", "", ""); err != nil {
		t.Fatalf("GC: %v", err)
	}
	if got := masqMembers(t, "gc", "ctr-stale"); len(got) != 0 {
		t.Errorf("GC left the stale attachment's masquerade members %v", got)
	}
	if len(masqMembers(t, "gc", "ctr-keep")) != 1 || !natRules(t, "iptables-save").Has(masqJump("gc", "10.73.0.10/24")) {
		t.Errorf("GC removed the valid attachment's masquerade:\n%s", natRules(t, "iptables-save"))
	}
	// The stale address is free again (the range has two).
	res3, _ := h.add("1.1.0", conf, "ctr-new", ns3.Path())
	if !res3.IPs[0].Address.IP.Equal(res2.IPs[0].Address.IP) {
		t.Errorf("new container got %s, want the collected %s", res3.IPs[0].Address.IP, res2.IPs[0].Address.IP)
	}

	// Both addresses are taken now: STATUS passes on IPAM's answer.
	_, err := h.call("STATUS", conf, "", "", "")
	if err == nil || !strings.Contains(err.Error(), "ipam STATUS") {
		t.Errorf("STATUS with a full range: %v, want IPAM's refusal", err)
	}
	for _, c := range []struct{ id, ns string }{{"ctr-keep", ns1.Path()}, {"ctr-stale", ns2.Path()}, {"ctr-new", ns3.Path()}} {
		h.del(conf, c.id, c.ns)
	}
	if _, err := h.call("STATUS", conf, "", "", ""); err != nil {
		t.Errorf("STATUS with free addresses: %v", err)
	}
	if _, err := h.call("STATUS", o.conf("1.0.0"), "", "", ""); err == nil {
		t.Error("STATUS accepted for a 1.0.0 configuration")
	}
}

// TestLayer2Only attaches without IPAM: the interface is up with no
// address, and CHECK and DEL work.
func TestLayer2Only(t *testing.T) {
	h := newHarness(t)
	o := netOpts{name: "l2", bridge: "brl2", noIPAM: true}
	sandbox.CleanupLink(t, "brl2")
	conf := o.conf("1.1.0")
	netns := sandbox.NewNS(t)
	res, raw := h.add("1.1.0", conf, "ctr-l2", netns.Path())
	if len(res.IPs) != 0 || len(res.Interfaces) != 3 {
		t.Fatalf("result: %+v", res)
	}
	inNS(t, netns.Path(), func() error {
		if mustLink(t, "eth0").Attrs().Flags&net.FlagUp == 0 {
			t.Error("eth0 is down")
		}
		return nil
	})
	if got := sandbox.Addrs(t, netns, "eth0"); len(got) != 0 {
		t.Errorf("eth0 has addresses %v", got)
	}
	if err := h.check(conf, raw, "ctr-l2", netns.Path()); err != nil {
		t.Errorf("CHECK: %v", err)
	}
	h.del(conf, "ctr-l2", netns.Path())
	if sandbox.HasLink(t, nil, hostVeth("l2", "ctr-l2")) {
		t.Error("host veth survives DEL")
	}
}

// TestDualStack gives containers an IPv4 and an IPv6 address: both are
// configured, the bridge is the gateway of both, containers talk over IPv6,
// and ip6tables gets (and loses) the masquerade rules.
func TestDualStack(t *testing.T) {
	h := newHarness(t)
	o := h.newNet("dual", "brdual", "10.74.0.0/24")
	o.subnet6 = "fd00:74::/64"
	o.extra = `"isDefaultGateway":true,"ipMasq":true,`
	conf := o.conf("1.1.0")
	nsA, nsB := sandbox.NewNS(t), sandbox.NewNS(t)
	resA, raw := h.add("1.1.0", conf, "ctr-a", nsA.Path())
	resB, _ := h.add("1.1.0", conf, "ctr-b", nsB.Path())
	if len(resA.IPs) != 2 {
		t.Fatalf("want two addresses, got %+v", resA.IPs)
	}
	var v6A, v6B string
	for _, ipc := range resA.IPs {
		if ipc.Address.IP.To4() == nil {
			v6A = ipc.Address.IP.String()
			if !slices.Contains(sandbox.Addrs(t, nsA, "eth0"), ipc.Address.String()) {
				t.Errorf("eth0 lacks %s", ipc.Address.String())
			}
		}
	}
	for _, ipc := range resB.IPs {
		if ipc.Address.IP.To4() == nil {
			v6B = ipc.Address.IP.String()
		}
	}
	brAddrs := sandbox.Addrs(t, nil, "brdual")
	if !slices.Contains(brAddrs, "10.74.0.1/24") || !slices.Contains(brAddrs, "fd00:74::1/64") {
		t.Errorf("bridge addresses %v, want both gateways", brAddrs)
	}
	if err := h.check(conf, raw, "ctr-a", nsA.Path()); err != nil {
		t.Errorf("CHECK: %v", err)
	}
	if src := sandbox.MustExchange(t, nsB, nsA, net.JoinHostPort(v6B, "0")); src != v6A {
		t.Errorf("B saw %s over IPv6, want %s", src, v6A)
	}
	if err := sandbox.Ping(nsA.Path(), "fd00:74::1"); err != nil {
		t.Error(err)
	}
	if rules := natRules(t, "ip6tables-save"); !rules.Has(masqJump("dual", "fd00:74::/64")) || !rules.Has("! -d ff00::/8 ") {
		t.Errorf("ip6tables lacks the masquerade rules of fd00:74::/64:\n%s", rules)
	}
	if got := masqMembers(t, "dual", "ctr-a"); !slices.Contains(got, v6A) || len(got) != 2 {
		t.Errorf("masquerade members of ctr-a: %v, want its two addresses with %s", got, v6A)
	}
	h.del(conf, "ctr-a", nsA.Path())
	if got := masqMembers(t, "dual", "ctr-a"); len(got) != 0 {
		t.Errorf("masquerade members of ctr-a survive its DEL: %v", got)
	}
	if !natRules(t, "ip6tables-save").Has(masqJump("dual", "fd00:74::/64")) || len(masqMembers(t, "dual", "ctr-b")) != 2 {
		t.Error("DEL of ctr-a took ctr-b's masquerade")
	}
	h.del(conf, "ctr-b", nsB.Path())
	if masqOfNetwork(t, "dual") {
		t.Errorf("masquerade rules survive the network's last DEL:\n%s\n%s", natRules(t, "iptables-save"), natRules(t, "ip6tables-save"))
	}
}
