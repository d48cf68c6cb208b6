package masq

import (
	"context"
	"net"
	"testing"

	"github.com/weirnet/weir/internal/sandbox"
)

// natRules returns the sandbox's nat table for family f.
func natRules(t *testing.T, f Family) sandbox.Rules {
	t.Helper()
	return sandbox.SaveRules(t, f.prefix()+"-save", "nat")
}

func TestKernelSetupTeardown(t *testing.T) {
	sandbox.Require(t)
	ctx := context.Background()
	m := New()
	a := Attachment{Network: "kernel-net", ContainerID: "ctr-1", IfName: "eth0"}
	ch := a.Chain()
	addrs := []net.IPNet{cidr(t, "10.77.0.5/24"), cidr(t, "fd00:77::5/64")}

	if err := m.Setup(ctx, a, addrs); err != nil {
		t.Fatalf("setup: %v", err)
	}
	// Twice: the second run must replace, not duplicate.
	if err := m.Setup(ctx, a, addrs); err != nil {
		t.Fatalf("second setup: %v", err)
	}
	v4 := natRules(t, IPv4)
	wantV4 := []string{
		`-A POSTROUTING -s 10.77.0.5/32 -m comment --comment "weir: net=kernel-net id=ctr-1 if=eth0" -j ` + ch,
		`-A ` + ch + ` -d 10.77.0.0/24 -m comment --comment "weir: net=kernel-net id=ctr-1 if=eth0" -j ACCEPT`,
		`-A ` + ch + ` ! -d 224.0.0.0/4 -m comment --comment "weir: net=kernel-net id=ctr-1 if=eth0" -j MASQUERADE`,
	}
	for _, w := range wantV4 {
		if n := v4.Count(w); n != 1 {
			t.Errorf("iptables has %d copies of %q, want 1; rules:\n%s", n, w, v4)
		}
	}
	v6 := natRules(t, IPv6)
	if n := v6.Count("-A POSTROUTING -s fd00:77::5/128 "); n != 1 {
		t.Errorf("ip6tables has %d jumps for fd00:77::5, want 1:\n%s", n, v6)
	}
	if err := m.Check(ctx, a, addrs); err != nil {
		t.Errorf("check after setup: %v", err)
	}

	// The container's address changes: the old jump must go.
	moved := []net.IPNet{cidr(t, "10.77.0.6/24")}
	if err := m.Setup(ctx, a, moved); err != nil {
		t.Fatal(err)
	}
	v4 = natRules(t, IPv4)
	if v4.Count("10.77.0.5/32") != 0 || v4.Count("-s 10.77.0.6/32") != 1 {
		t.Errorf("after re-setup with a new address:\n%s", v4)
	}

	// Teardown with the known address deletes exactly Setup's rules.
	if err := m.Teardown(ctx, a, moved); err != nil {
		t.Fatalf("teardown with known addresses: %v", err)
	}
	if rules := natRules(t, IPv4); rules.Count(ch) != 0 {
		t.Errorf("IPv4 still has %s after teardown with known addresses:\n%s", ch, rules)
	}
	if err := m.Setup(ctx, a, moved); err != nil {
		t.Fatal(err)
	}
	// Teardown knows no addresses, yet removes both families.
	if err := m.Teardown(ctx, a, nil); err != nil {
		t.Fatalf("teardown: %v", err)
	}
	for _, f := range families {
		if rules := natRules(t, f); rules.Count(ch) != 0 {
			t.Errorf("%s still has %s after teardown:\n%s", f, ch, rules)
		}
	}
	if err := m.Teardown(ctx, a, nil); err != nil {
		t.Errorf("second teardown: %v", err)
	}
	if err := m.Check(ctx, a, moved); err == nil {
		t.Error("check passes after teardown")
	}
}

func TestKernelGC(t *testing.T) {
	sandbox.Require(t)
	ctx := context.Background()
	m := New()
	keep := Attachment{Network: "gc-net", ContainerID: "keep", IfName: "eth0"}
	stale := Attachment{Network: "gc-net", ContainerID: "stale", IfName: "eth0"}
	foreign := Attachment{Network: "gc-other", ContainerID: "stale", IfName: "eth0"}
	for i, a := range []Attachment{keep, stale, foreign} {
		ip := net.IPv4(10, 78, 0, byte(2+i))
		if err := m.Setup(ctx, a, []net.IPNet{{IP: ip, Mask: net.CIDRMask(24, 32)}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.GC(ctx, "gc-net", []Attachment{keep}); err != nil {
		t.Fatalf("gc: %v", err)
	}
	v4 := natRules(t, IPv4)
	if v4.Count(stale.Chain()) != 0 {
		t.Errorf("stale chain survived GC:\n%s", v4)
	}
	if v4.Count("-j "+keep.Chain()) != 1 || v4.Count("-j "+foreign.Chain()) != 1 {
		t.Errorf("GC removed a valid or another network's chain:\n%s", v4)
	}
	for _, a := range []Attachment{keep, foreign} {
		if err := m.Teardown(ctx, a, nil); err != nil {
			t.Fatal(err)
		}
	}
}
