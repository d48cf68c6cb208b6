package bridge

import (
	"net"
	"testing"

	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"

	"github.com/weirnet/weir/internal/sandbox"
	"github.com/weirnet/weir/plugins/internal/masq"
)

// TestTwoContainersTalk puts two containers on one bridge: they reach each
// other (TCP, and ping both ways) and the gateway, and a TCP peer sees the
// other container's own address.
func TestTwoContainersTalk(t *testing.T) {
	h := newHarness(t)
	o := h.newNet("talk", "brtalk", "10.20.0.0/24")
	o.extra = `"isGateway":true,`
	conf := o.conf("1.1.0")
	nsA, nsB := sandbox.NewNS(t), sandbox.NewNS(t)
	resA, _ := h.add("1.1.0", conf, "ctr-a", nsA.Path())
	resB, _ := h.add("1.1.0", conf, "ctr-b", nsB.Path())
	ipA, ipB := resA.IPs[0].Address.IP.String(), resB.IPs[0].Address.IP.String()
	if ipA == ipB {
		t.Fatalf("both containers got %s", ipA)
	}

	if src := sandbox.MustExchange(t, nsB, nsA, net.JoinHostPort(ipB, "0")); src != ipA {
		t.Errorf("B saw the connection from %s, want A's %s", src, ipA)
	}
	for _, p := range []struct{ ns, dst string }{
		{nsA.Path(), ipB}, {nsB.Path(), ipA}, {nsA.Path(), "10.20.0.1"}, {nsB.Path(), "10.20.0.1"},
	} {
		if err := sandbox.Ping(p.ns, p.dst); err != nil {
			t.Error(err)
		}
	}
	// The check can fail: nobody holds this address.
	if err := sandbox.Ping(nsA.Path(), "10.20.0.200"); err == nil {
		t.Error("ping to an unused address succeeded")
	}

	h.del(conf, "ctr-a", nsA.Path())
	if err := sandbox.Ping(nsB.Path(), ipA); err == nil {
		t.Error("A still answers after DEL")
	}
	h.del(conf, "ctr-b", nsB.Path())
}

// addOutside makes a namespace "outside" the container networks, linked to
// the sandbox's own namespace by a veth: 192.168.77.1 on the sandbox side,
// 192.168.77.2 outside.
func addOutside(t *testing.T) ns.NetNS {
	t.Helper()
	out := sandbox.NewNS(t)
	sandbox.Veth(t, "wout0", "eth0", out)
	addAddr := func(name, cidr string) error {
		l, err := netlinksafe.LinkByName(name)
		if err != nil {
			return err
		}
		a, _ := netlink.ParseAddr(cidr)
		return netlink.AddrAdd(l, a)
	}
	if err := addAddr("wout0", "192.168.77.1/24"); err != nil {
		t.Fatal(err)
	}
	inNS(t, out.Path(), func() error { return addAddr("eth0", "192.168.77.2/24") })
	return out
}

// TestIPMasq proves masquerading with real packets: a container on an
// ipMasq network reaches a host outside its subnet with the sandbox's
// address, while a container on a network without ipMasq arrives with its
// own. The rules exist while the container does and are gone after DEL.
func TestIPMasq(t *testing.T) {
	h := newHarness(t)
	outside := addOutside(t)

	masqNet := h.newNet("masq", "brmasq", "10.40.0.0/24")
	masqNet.extra = `"isDefaultGateway":true,"ipMasq":true,`
	plainNet := h.newNet("plain", "brplain", "10.41.0.0/24")
	plainNet.extra = `"isDefaultGateway":true,`
	// Only the plain network's replies need a way back.
	inNS(t, outside.Path(), func() error {
		_, dst, _ := net.ParseCIDR("10.41.0.0/24")
		l, err := netlinksafe.LinkByName("eth0")
		if err != nil {
			return err
		}
		return netlink.RouteAdd(&netlink.Route{LinkIndex: l.Attrs().Index, Dst: dst, Gw: net.ParseIP("192.168.77.1")})
	})

	masqConf, plainConf := masqNet.conf("1.1.0"), plainNet.conf("1.1.0")
	nsM, nsP := sandbox.NewNS(t), sandbox.NewNS(t)
	resM, _ := h.add("1.1.0", masqConf, "ctr-m", nsM.Path())
	resP, _ := h.add("1.1.0", plainConf, "ctr-p", nsP.Path())
	ipM, ipP := resM.IPs[0].Address.IP.String(), resP.IPs[0].Address.IP.String()

	rules := natRules(t, "iptables-save")
	_, chain := masq.GroupNames("masq", resM.IPs[0].Address)
	for _, want := range []string{
		masqJump("masq", "10.40.0.0/24"),
		`-A ` + chain + ` -d 10.40.0.0/24 -m comment --comment "weir: net=masq masquerade" -j ACCEPT`,
		`-A ` + chain + ` ! -d 224.0.0.0/4 -m comment --comment "weir: net=masq masquerade" -j MASQUERADE`,
	} {
		if !rules.Has(want) {
			t.Errorf("nat table lacks %q:\n%s", want, rules)
		}
	}
	if got := masqMembers(t, "masq", "ctr-m"); len(got) != 1 || got[0] != ipM {
		t.Errorf("masquerade members of ctr-m: %v, want %s", got, ipM)
	}
	if masqOfNetwork(t, "plain") || len(masqMembers(t, "plain", "ctr-p")) != 0 {
		t.Errorf("the plain network got masquerade rules:\n%s", rules)
	}

	if src := sandbox.MustExchange(t, outside, nsM, "192.168.77.2:0"); src != "192.168.77.1" {
		t.Errorf("outside saw the masqueraded container as %s, want the host's 192.168.77.1", src)
	}
	if src := sandbox.MustExchange(t, outside, nsP, "192.168.77.2:0"); src != ipP {
		t.Errorf("outside saw the plain container as %s, want its own %s", src, ipP)
	}
	// Inside the subnet there is no masquerading.
	if err := sandbox.Ping(nsM.Path(), "10.40.0.1"); err != nil {
		t.Error(err)
	}

	h.del(masqConf, "ctr-m", nsM.Path())
	if rules := natRules(t, "iptables-save"); rules.Has(chain) || len(masqMembers(t, "masq", "ctr-m")) != 0 {
		t.Errorf("masquerade survives DEL:\n%s", rules)
	}
	h.del(plainConf, "ctr-p", nsP.Path())
}

// TestMacSpoofCheck changes the container's MAC: its frames must be dropped
// until the configured MAC is back, while on a network without the check
// the same change goes unpunished.
func TestMacSpoofCheck(t *testing.T) {
	h := newHarness(t)
	o := h.newNet("spoof", "brspoof", "10.50.0.0/24")
	o.extra = `"isGateway":true,"macspoofchk":true,"runtimeConfig":{"mac":"0a:58:0a:32:00:99"},`
	conf := o.conf("1.1.0")
	netns := sandbox.NewNS(t)
	res, raw := h.add("1.1.0", conf, "ctr-s", netns.Path())
	if got := res.Interfaces[2].Mac; got != "0a:58:0a:32:00:99" {
		t.Fatalf("container MAC %s, want the configured 0a:58:0a:32:00:99", got)
	}
	if err := h.check(conf, raw, "ctr-s", netns.Path()); err != nil {
		t.Fatalf("CHECK: %v", err)
	}
	if err := checkSpoofCheck(mustLink(t, hostVeth("spoof", "ctr-s"))); err != nil {
		t.Fatal(err)
	}

	setMAC := func(path, mac string) {
		t.Helper()
		inNS(t, path, func() error {
			l, err := netlinksafe.LinkByName("eth0")
			if err != nil {
				return err
			}
			hw, _ := net.ParseMAC(mac)
			return netlink.LinkSetHardwareAddr(l, hw)
		})
	}
	if err := sandbox.Ping(netns.Path(), "10.50.0.1"); err != nil {
		t.Fatalf("with its own MAC: %v", err)
	}
	setMAC(netns.Path(), "0a:58:0a:32:00:aa")
	if err := sandbox.Ping(netns.Path(), "10.50.0.1"); err == nil {
		t.Error("ping with a spoofed MAC got through")
	}
	setMAC(netns.Path(), "0a:58:0a:32:00:99")
	if err := sandbox.Ping(netns.Path(), "10.50.0.1"); err != nil {
		t.Errorf("with its own MAC again: %v", err)
	}
	h.del(conf, "ctr-s", netns.Path())

	// Control: the same bridge without the check.
	o.extra = `"isGateway":true,`
	plain := o.conf("1.1.0")
	ns2 := sandbox.NewNS(t)
	h.add("1.1.0", plain, "ctr-free", ns2.Path())
	setMAC(ns2.Path(), "0a:58:0a:32:00:bb")
	if err := sandbox.Ping(ns2.Path(), "10.50.0.1"); err != nil {
		t.Errorf("without macspoofchk a changed MAC must still work: %v", err)
	}
	h.del(plain, "ctr-free", ns2.Path())
}
