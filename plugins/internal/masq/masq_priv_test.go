package masq

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/weirnet/weir/internal/sandbox"
	"github.com/weirnet/weir/policy/dataplane"
)

// natRules returns the sandbox's nat table for family f.
func natRules(t *testing.T, f Family) sandbox.Rules {
	t.Helper()
	return sandbox.SaveRules(t, f.prefix()+"-save", "nat")
}

// ipsetList runs the ipset tool: an independent reader of what netlink
// made.
func ipsetList(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ipset", append([]string{"list"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ipset list %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// requireNothingOfWeir fails unless the nat tables of both families and
// the ipsets hold nothing of weir's.
func requireNothingOfWeir(t *testing.T) {
	t.Helper()
	for _, f := range families {
		if rules := natRules(t, f); rules.Has("WEIR-") || rules.Has("weir") {
			t.Errorf("%s nat table still has weir's rules:\n%s", f, rules)
		}
	}
	if sets := ipsetList(t, "-n"); strings.Contains(sets, "weir-") {
		t.Errorf("ipsets of weir left:\n%s", sets)
	}
}

// lab is the sandbox's namespace as a host with a bridge (10.77.0.1/24,
// fd00:77::1/64) for containers and a veth to a namespace "outside"
// (192.168.77.2/24 and fd00:78::2/64 there, .1 and ::1 here), which has no
// route back to the containers unless returns is set: only masqueraded
// connections reach it, seen from the host's address.
type lab struct {
	t       *testing.T
	outside ns.NetNS
}

func addAddr(name, cidr string) error {
	l, err := netlinksafe.LinkByName(name)
	if err != nil {
		return err
	}
	a, err := netlink.ParseAddr(cidr)
	if err != nil {
		return err
	}
	a.Flags = unix.IFA_F_NODAD
	return netlink.AddrAdd(l, a)
}

func newLab(t *testing.T) *lab {
	t.Helper()
	for _, knob := range []string{"/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv6/conf/all/forwarding"} {
		if err := os.WriteFile(knob, []byte("1"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "wmbr0"}}
	if err := netlink.LinkAdd(br); err != nil {
		t.Fatal(err)
	}
	sandbox.CleanupLink(t, "wmbr0")
	if err := netlink.LinkSetUp(br); err != nil {
		t.Fatal(err)
	}
	out := sandbox.NewNS(t)
	sandbox.Veth(t, "wmout0", "eth0", out)
	for _, a := range []string{"10.77.0.1/24", "fd00:77::1/64"} {
		if err := addAddr("wmbr0", a); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range []string{"192.168.77.1/24", "fd00:78::1/64"} {
		if err := addAddr("wmout0", a); err != nil {
			t.Fatal(err)
		}
	}
	if err := out.Do(func(ns.NetNS) error {
		for _, a := range []string{"192.168.77.2/24", "fd00:78::2/64"} {
			if err := addAddr("eth0", a); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return &lab{t: t, outside: out}
}

// container makes a namespace on the bridge with addrs (CIDRs), default
// routes via the bridge, and returns it.
func (l *lab) container(host string, addrs ...string) ns.NetNS {
	t := l.t
	t.Helper()
	c := sandbox.NewNS(t)
	veth := sandbox.Veth(t, host, "eth0", c)
	br, err := netlinksafe.LinkByName("wmbr0")
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetMaster(veth, br); err != nil {
		t.Fatal(err)
	}
	if err := c.Do(func(ns.NetNS) error {
		for _, a := range addrs {
			if err := addAddr("eth0", a); err != nil {
				return err
			}
		}
		eth, err := netlinksafe.LinkByName("eth0")
		if err != nil {
			return err
		}
		for _, gw := range []string{"10.77.0.1", "fd00:77::1"} {
			if err := netlink.RouteAdd(&netlink.Route{LinkIndex: eth.Attrs().Index, Gw: net.ParseIP(gw)}); err != nil {
				return fmt.Errorf("default route via %s: %w", gw, err)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return c
}

// returns gives outside its routes back to the containers, so that
// connections that are not masqueraded reach it too, with their own
// source.
func (l *lab) returns() {
	if err := l.outside.Do(func(ns.NetNS) error {
		eth, err := netlinksafe.LinkByName("eth0")
		if err != nil {
			return err
		}
		for _, r := range []struct{ dst, gw string }{{"10.77.0.0/24", "192.168.77.1"}, {"fd00:77::/64", "fd00:78::1"}} {
			_, dst, _ := net.ParseCIDR(r.dst)
			if err := netlink.RouteAdd(&netlink.Route{LinkIndex: eth.Attrs().Index, Dst: dst, Gw: net.ParseIP(r.gw)}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		l.t.Fatal(err)
	}
}

// seenAs returns the source outside sees a TCP connection from c come
// from, over IPv4 and over IPv6.
func (l *lab) seenAs(c ns.NetNS) (v4, v6 string) {
	l.t.Helper()
	return sandbox.MustExchange(l.t, l.outside, c, "192.168.77.2:0"), sandbox.MustExchange(l.t, l.outside, c, "[fd00:78::2]:0")
}

// TestKernelSharedGroup sets up two dual-stack attachments of one network:
// they share one set, chain and jump per family, and both leave with the
// host's address. Tearing one down keeps the other masqueraded; tearing
// down the last leaves nothing of weir in nat or ipset.
func TestKernelSharedGroup(t *testing.T) {
	sandbox.Require(t)
	m := New()
	l := newLab(t)
	a := Attachment{Network: "kernel-net", ContainerID: "ctr-a", IfName: "eth0"}
	b := Attachment{Network: "kernel-net", ContainerID: "ctr-b", IfName: "eth0"}
	addrsA := []net.IPNet{cidr(t, "10.77.0.5/24"), cidr(t, "fd00:77::5/64")}
	addrsB := []net.IPNet{cidr(t, "10.77.0.6/24"), cidr(t, "fd00:77::6/64")}
	nsA := l.container("wmA", "10.77.0.5/24", "fd00:77::5/64")
	nsB := l.container("wmB", "10.77.0.6/24", "fd00:77::6/64")

	if err := m.Setup(ctx, a, addrsA); err != nil {
		t.Fatalf("setup a: %v", err)
	}
	if err := m.Setup(ctx, b, addrsB); err != nil {
		t.Fatalf("setup b: %v", err)
	}
	// Twice: harmless.
	if err := m.Setup(ctx, b, addrsB); err != nil {
		t.Fatalf("second setup of b: %v", err)
	}
	set4, ch4 := GroupNames("kernel-net", addrsA[0])
	set6, ch6 := GroupNames("kernel-net", addrsA[1])
	v4 := natRules(t, IPv4)
	for _, w := range []string{
		`-A POSTROUTING -m set --match-set ` + set4 + ` src -m comment --comment "weir: net=kernel-net masquerade" -j ` + ch4,
		`-A ` + ch4 + ` -d 10.77.0.0/24 -m comment --comment "weir: net=kernel-net masquerade" -j ACCEPT`,
		`-A ` + ch4 + ` ! -d 224.0.0.0/4 -m comment --comment "weir: net=kernel-net masquerade" -j MASQUERADE`,
	} {
		if n := v4.Count(w); n != 1 {
			t.Errorf("iptables has %d copies of %q, want 1; rules:\n%s", n, w, v4)
		}
	}
	if n := v4.Count("-A "); n != 3 {
		t.Errorf("iptables nat has %d rules for two attachments, want the group's 3:\n%s", n, v4)
	}
	v6 := natRules(t, IPv6)
	for _, w := range []string{
		`-A POSTROUTING -m set --match-set ` + set6 + ` src -m comment --comment "weir: net=kernel-net masquerade" -j ` + ch6,
		`-A ` + ch6 + ` -d fd00:77::/64 -m comment --comment "weir: net=kernel-net masquerade" -j ACCEPT`,
		`-A ` + ch6 + ` ! -d ff00::/8 -m comment --comment "weir: net=kernel-net masquerade" -j MASQUERADE`,
	} {
		if n := v6.Count(w); n != 1 {
			t.Errorf("ip6tables has %d copies of %q, want 1; rules:\n%s", n, w, v6)
		}
	}
	list4 := ipsetList(t, set4)
	for _, w := range []string{"Type: hash:ip", "family inet ", "Number of entries: 2", "References: 1",
		`10.77.0.5 comment "weir: net=kernel-net id=ctr-a if=eth0"`, `10.77.0.6 comment "weir: net=kernel-net id=ctr-b if=eth0"`} {
		if !strings.Contains(list4, w) {
			t.Errorf("ipset list %s lacks %q:\n%s", set4, w, list4)
		}
	}
	if list6 := ipsetList(t, set6); !strings.Contains(list6, "family inet6") || !strings.Contains(list6, `fd00:77::5 comment "weir: net=kernel-net id=ctr-a if=eth0"`) {
		t.Errorf("ipset list %s:\n%s", set6, list6)
	}
	for _, c := range []struct {
		a     Attachment
		addrs []net.IPNet
	}{{a, addrsA}, {b, addrsB}} {
		if err := m.Check(ctx, c.a, c.addrs); err != nil {
			t.Errorf("check of %s: %v", c.a.ContainerID, err)
		}
	}
	for _, c := range []ns.NetNS{nsA, nsB} {
		if s4, s6 := l.seenAs(c); s4 != "192.168.77.1" || s6 != "fd00:78::1" {
			t.Errorf("outside saw a masqueraded container as %s and %s, want the host's 192.168.77.1 and fd00:78::1", s4, s6)
		}
	}

	// a leaves: b keeps its masquerade, a's traffic (now routed back
	// explicitly) arrives with a's own addresses.
	if err := m.Teardown(ctx, a, addrsA); err != nil {
		t.Fatalf("teardown a: %v", err)
	}
	l.returns()
	if s4, s6 := l.seenAs(nsB); s4 != "192.168.77.1" || s6 != "fd00:78::1" {
		t.Errorf("after a's teardown outside saw b as %s and %s, want the host's addresses", s4, s6)
	}
	if s4, s6 := l.seenAs(nsA); s4 != "10.77.0.5" || s6 != "fd00:77::5" {
		t.Errorf("after a's teardown outside saw a as %s and %s, want its own addresses", s4, s6)
	}
	if err := m.Check(ctx, b, addrsB); err != nil {
		t.Errorf("check of b after a's teardown: %v", err)
	}
	if err := m.Check(ctx, a, addrsA); err == nil {
		t.Error("check of a passes after its teardown")
	}

	// b, the last, leaves: nothing remains, and b is no longer
	// masqueraded.
	if err := m.Teardown(ctx, b, addrsB); err != nil {
		t.Fatalf("teardown b: %v", err)
	}
	requireNothingOfWeir(t)
	if s4, s6 := l.seenAs(nsB); s4 != "10.77.0.6" || s6 != "fd00:77::6" {
		t.Errorf("after the last teardown outside saw b as %s and %s, want its own addresses", s4, s6)
	}
	if err := m.Teardown(ctx, b, addrsB); err != nil {
		t.Errorf("second teardown: %v", err)
	}
}

// TestKernelTeardownWithoutAddresses is DEL after the namespace and the
// previous result are gone: the members are found by their comment.
func TestKernelTeardownWithoutAddresses(t *testing.T) {
	sandbox.Require(t)
	m := New()
	a := Attachment{Network: "noaddr", ContainerID: "ctr-1", IfName: "eth0"}
	keep := Attachment{Network: "noaddr", ContainerID: "ctr-2", IfName: "eth0"}
	if err := m.Setup(ctx, a, []net.IPNet{cidr(t, "10.78.0.5/24"), cidr(t, "fd00:78::5/64")}); err != nil {
		t.Fatal(err)
	}
	if err := m.Setup(ctx, keep, []net.IPNet{cidr(t, "10.78.0.6/24")}); err != nil {
		t.Fatal(err)
	}
	if err := m.Teardown(ctx, a, nil); err != nil {
		t.Fatalf("teardown: %v", err)
	}
	set4, _ := GroupNames("noaddr", cidr(t, "10.78.0.5/24"))
	if list := ipsetList(t, set4); strings.Contains(list, "10.78.0.5") || !strings.Contains(list, "10.78.0.6") {
		t.Errorf("after a's teardown:\n%s", list)
	}
	if rules := natRules(t, IPv6); rules.Has("WEIR-") {
		t.Errorf("a's IPv6 group, which only it used, survived:\n%s", rules)
	}
	if err := m.Teardown(ctx, a, nil); err != nil {
		t.Errorf("second teardown: %v", err)
	}
	if err := m.Teardown(ctx, keep, nil); err != nil {
		t.Fatal(err)
	}
	requireNothingOfWeir(t)
}

// TestKernelGC removes the members of attachments that are not valid and
// the groups they leave empty, and leaves other networks alone.
func TestKernelGC(t *testing.T) {
	sandbox.Require(t)
	m := New()
	keep := Attachment{Network: "gc-net", ContainerID: "keep", IfName: "eth0"}
	stale := Attachment{Network: "gc-net", ContainerID: "stale", IfName: "eth0"}
	alone := Attachment{Network: "gc-net", ContainerID: "alone", IfName: "eth0"}
	foreign := Attachment{Network: "gc-other", ContainerID: "stale", IfName: "eth0"}
	for _, s := range []struct {
		a    Attachment
		addr string
	}{{keep, "10.78.0.2/24"}, {stale, "10.78.0.3/24"}, {alone, "fd00:79::3/64"}, {foreign, "10.79.0.3/24"}} {
		if err := m.Setup(ctx, s.a, []net.IPNet{cidr(t, s.addr)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.GC(ctx, "gc-net", []Attachment{keep}); err != nil {
		t.Fatalf("gc: %v", err)
	}
	set, _ := GroupNames("gc-net", cidr(t, "10.78.0.2/24"))
	if list := ipsetList(t, set); strings.Contains(list, "10.78.0.3") || !strings.Contains(list, "10.78.0.2") {
		t.Errorf("GC kept a stale member or lost the valid one:\n%s", list)
	}
	if rules := natRules(t, IPv6); rules.Has("WEIR-") {
		t.Errorf("the IPv6 group GC emptied survived:\n%s", rules)
	}
	for _, s := range []struct {
		a    Attachment
		addr string
	}{{keep, "10.78.0.2/24"}, {foreign, "10.79.0.3/24"}} {
		if err := m.Check(ctx, s.a, []net.IPNet{cidr(t, s.addr)}); err != nil {
			t.Errorf("GC broke %s: %v", s.a.Comment(), err)
		}
	}
	for _, n := range []string{"gc-net", "gc-other"} {
		if err := m.GC(ctx, n, nil); err != nil {
			t.Fatal(err)
		}
	}
	requireNothingOfWeir(t)
}

// TestKernelLegacyChains: the per-attachment chains of an older weir go
// with the attachment's teardown (with or without addresses) and with GC.
func TestKernelLegacyChains(t *testing.T) {
	sandbox.Require(t)
	m := New()
	legacy := func(a Attachment, addr, subnet string) {
		t.Helper()
		ch, c := a.LegacyChain(), quote(a.Comment())
		batch := "*nat\n-N " + ch + "\n" +
			"-A " + ch + " -d " + subnet + " -m comment --comment " + c + " -j ACCEPT\n" +
			"-A " + ch + " ! -d 224.0.0.0/4 -m comment --comment " + c + " -j MASQUERADE\n" +
			"-A POSTROUTING -s " + addr + "/32 -m comment --comment " + c + " -j " + ch + "\nCOMMIT\n"
		if err := (ExecRunner{}).Restore(ctx, IPv4, []byte(batch)); err != nil {
			t.Fatal(err)
		}
	}
	a := Attachment{Network: "legacy", ContainerID: "old-a", IfName: "eth0"}
	b := Attachment{Network: "legacy", ContainerID: "old-b", IfName: "eth0"}
	c := Attachment{Network: "legacy", ContainerID: "old-c", IfName: "eth0"}
	legacy(a, "10.80.0.5", "10.80.0.0/24")
	legacy(b, "10.80.0.6", "10.80.0.0/24")
	legacy(c, "10.80.0.7", "10.80.0.0/24")
	// A new attachment on the same network meanwhile.
	n := Attachment{Network: "legacy", ContainerID: "new", IfName: "eth0"}
	if err := m.Setup(ctx, n, []net.IPNet{cidr(t, "10.80.0.8/24")}); err != nil {
		t.Fatal(err)
	}
	if err := m.Check(ctx, a, []net.IPNet{cidr(t, "10.80.0.5/24")}); err != nil {
		t.Errorf("check of a legacy attachment: %v", err)
	}

	if err := m.Teardown(ctx, a, []net.IPNet{cidr(t, "10.80.0.5/24")}); err != nil {
		t.Fatal(err)
	}
	if err := m.Teardown(ctx, b, nil); err != nil {
		t.Fatal(err)
	}
	rules := natRules(t, IPv4)
	if rules.Has(a.LegacyChain()) || rules.Has(b.LegacyChain()) || !rules.Has(c.LegacyChain()) {
		t.Errorf("after tearing down a and b:\n%s", rules)
	}
	if err := m.Check(ctx, n, []net.IPNet{cidr(t, "10.80.0.8/24")}); err != nil {
		t.Errorf("legacy teardown broke the new attachment: %v", err)
	}
	if err := m.GC(ctx, "legacy", []Attachment{n}); err != nil {
		t.Fatal(err)
	}
	if rules := natRules(t, IPv4); rules.Has(c.LegacyChain()) || rules.Count("-A ") != 3 {
		t.Errorf("after GC, want only the new group's 3 rules:\n%s", rules)
	}
	if err := m.Teardown(ctx, n, nil); err != nil {
		t.Fatal(err)
	}
	requireNothingOfWeir(t)
}

// TestKernelCrashBetweenSetAndRules: a set made by a Setup that died before
// the rules is completed by the next Setup, and removed by GC.
func TestKernelCrashBetweenSetAndRules(t *testing.T) {
	sandbox.Require(t)
	m := New()
	a := Attachment{Network: "crash", ContainerID: "ctr", IfName: "eth0"}
	addrs := []net.IPNet{cidr(t, "10.81.0.5/24")}
	set, _ := GroupNames("crash", addrs[0])
	if err := (NetlinkSets{}).Create(set, IPv4); err != nil {
		t.Fatal(err)
	}
	if err := m.Setup(ctx, a, addrs); err != nil {
		t.Fatal(err)
	}
	if err := m.Check(ctx, a, addrs); err != nil {
		t.Errorf("check after the setup that found a lone set: %v", err)
	}
	if err := m.Teardown(ctx, a, addrs); err != nil {
		t.Fatal(err)
	}
	requireNothingOfWeir(t)

	if err := (NetlinkSets{}).Create(set, IPv4); err != nil {
		t.Fatal(err)
	}
	if err := m.GC(ctx, "some-other-network", nil); err != nil {
		t.Fatal(err)
	}
	requireNothingOfWeir(t)
}

// TestKernelPolicyWriterLeavesMasqSets: the policy engine's dataplane
// writer, repairing the host to a state without sets, destroys weir's
// other sets but not the masquerade's.
func TestKernelPolicyWriterLeavesMasqSets(t *testing.T) {
	sandbox.Require(t)
	m := New()
	a := Attachment{Network: "policy", ContainerID: "ctr", IfName: "eth0"}
	addrs := []net.IPNet{cidr(t, "10.82.0.5/24")}
	if err := m.Setup(ctx, a, addrs); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("ipset", "create", "weir-eps4", "hash:ip").CombinedOutput(); err != nil {
		t.Fatalf("ipset create: %v: %s", err, out)
	}
	dir := t.TempDir()
	w := dataplane.New(dataplane.Config{LockPath: dir + "/dataplane.lock", CacheDir: dir})
	if _, err := w.Repair(ctx, dataplane.NewState()); err != nil {
		t.Fatalf("policy repair: %v", err)
	}
	sets := ipsetList(t, "-n")
	if strings.Contains(sets, "weir-eps4") {
		t.Fatalf("the writer did not remove its own stale set, so this test proves nothing:\n%s", sets)
	}
	if err := m.Check(ctx, a, addrs); err != nil {
		t.Errorf("the policy writer broke the masquerade: %v", err)
	}
	if err := m.Teardown(ctx, a, addrs); err != nil {
		t.Fatal(err)
	}
	requireNothingOfWeir(t)
}

// TestKernelConcurrentSetupTeardown: 20 goroutines set up and tear down
// attachments of two networks at once, sharing groups; afterwards the
// survivors' members, and exactly their groups, are there.
func TestKernelConcurrentSetupTeardown(t *testing.T) {
	sandbox.Require(t)
	m := New()
	const workers, rounds = 20, 6
	addrs := func(i int) []net.IPNet {
		return []net.IPNet{cidr(t, fmt.Sprintf("10.83.0.%d/24", i+2)), cidr(t, fmt.Sprintf("fd00:83::%x/64", i+2))}
	}
	att := func(i int) Attachment {
		return Attachment{Network: fmt.Sprintf("stress%d", i%2), ContainerID: fmt.Sprintf("ctr-%d", i), IfName: "eth0"}
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, ad := att(i), addrs(i)
			for r := range rounds {
				if err := m.Setup(ctx, a, ad); err != nil {
					errs <- fmt.Errorf("setup %d round %d: %w", i, r, err)
					return
				}
				known := ad
				if r%2 == 1 {
					known = nil // as DEL without prevResult
				}
				if err := m.Teardown(ctx, a, known); err != nil {
					errs <- fmt.Errorf("teardown %d round %d: %w", i, r, err)
					return
				}
			}
			// Workers 0-4 stay (both networks); the others end torn down.
			if i < 5 {
				if err := m.Setup(ctx, a, ad); err != nil {
					errs <- fmt.Errorf("final setup %d: %w", i, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i := range workers {
		err := m.Check(ctx, att(i), addrs(i))
		if i < 5 && err != nil {
			t.Errorf("survivor %d: %v", i, err)
		}
		if i >= 5 && err == nil {
			t.Errorf("torn-down attachment %d still checks", i)
		}
	}
	for _, f := range families {
		if n := natRules(t, f).Count("-A POSTROUTING "); n != 2 {
			t.Errorf("%s: %d POSTROUTING jumps, want one per network:\n%s", f, n, natRules(t, f))
		}
	}
	for _, n := range []string{"stress0", "stress1"} {
		for _, f := range []string{"10.83.0.2/24", "fd00:83::2/64"} {
			set, _ := GroupNames(n, cidr(t, f))
			want := map[string]int{"stress0": 3, "stress1": 2}[n] // survivors 0,2,4 and 1,3
			if list := ipsetList(t, set); !strings.Contains(list, fmt.Sprintf("Number of entries: %d\n", want)) {
				t.Errorf("set %s of %s, want %d members:\n%s", set, n, want, list)
			}
		}
	}
	for i := range 5 {
		if err := m.Teardown(ctx, att(i), nil); err != nil {
			t.Fatal(err)
		}
	}
	requireNothingOfWeir(t)
}
