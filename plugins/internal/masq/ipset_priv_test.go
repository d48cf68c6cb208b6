package masq

import (
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/weirnet/weir/internal/sandbox"
)

// TestKernelNetlinkSets checks NetlinkSets against the kernel and the ipset
// tool: create (again: success), members with comments (again: the comment
// is replaced), a listing of a set too large for one netlink message,
// headers with counts and references, deleting a missing member, and
// destroying a set in use and a missing one.
func TestKernelNetlinkSets(t *testing.T) {
	sandbox.Require(t)
	s := NetlinkSets{}
	const name, name6 = "weir-nat-test4", "weir-nat-test6"
	for _, c := range []struct {
		name string
		f    Family
	}{{name, IPv4}, {name, IPv4}, {name6, IPv6}} {
		if err := s.Create(c.name, c.f); err != nil {
			t.Fatalf("create %s: %v", c.name, err)
		}
	}
	const n = 1000
	for i := range n {
		ip := net.IPv4(10, 90, byte(i/250), byte(i%250+1))
		if err := s.Add(name, Member{IP: ip, Comment: fmt.Sprintf("weir: net=n id=ctr-%d if=eth0", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Add(name, Member{IP: net.IPv4(10, 90, 0, 1), Comment: "weir: net=n id=new if=eth0"}); err != nil {
		t.Fatalf("adding an existing member: %v", err)
	}
	if err := s.Add(name6, Member{IP: net.ParseIP("fd00:90::5"), Comment: `weir: net=n id="q" if=eth0`}); err != nil {
		t.Fatal(err)
	}
	// The longest comment an attachment has (Attachment.Comment cuts
	// there) is kept whole.
	long := Attachment{Network: "n", ContainerID: strings.Repeat("c", 300), IfName: "eth0"}.Comment()
	if err := s.Add(name6, Member{IP: net.ParseIP("fd00:90::6"), Comment: long}); err != nil {
		t.Fatalf("adding a member with a %d-byte comment: %v", len(long), err)
	}
	if err := s.Add("weir-nat-missing", Member{IP: net.IPv4(10, 0, 0, 1)}); !errors.Is(err, ErrSetMissing) {
		t.Errorf("add to a missing set: %v, want ErrSetMissing", err)
	}

	start := time.Now()
	info, err := s.List(name)
	listTook := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if info.Family != IPv4 || info.Entries != n || len(info.Members) != n || info.References != 0 {
		t.Fatalf("list: family %v entries %d members %d refs %d, want IPv4, %d, %d, 0", info.Family, info.Entries, len(info.Members), info.References, n, n)
	}
	byIP := map[string]string{}
	for _, m := range info.Members {
		byIP[m.IP.String()] = m.Comment
	}
	if c := byIP["10.90.0.1"]; c != "weir: net=n id=new if=eth0" {
		t.Errorf("replaced member's comment %q", c)
	}
	if c := byIP["10.90.3.250"]; c != "weir: net=n id=ctr-999 if=eth0" {
		t.Errorf("last member's comment %q", c)
	}
	tool, err := exec.Command("ipset", "list", name).CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(string(tool), " comment \"weir: net=n id="); got != n {
		t.Errorf("the ipset tool lists %d commented members, want %d", got, n)
	}
	info6, err := s.List(name6)
	if err != nil || info6.Family != IPv6 || len(info6.Members) != 2 {
		t.Fatalf("IPv6 list: %+v %v", info6, err)
	}
	for _, m := range info6.Members {
		want := map[string]string{"fd00:90::5": `weir: net=n id="q" if=eth0`, "fd00:90::6": long}[m.IP.String()]
		if m.Comment != want {
			t.Errorf("IPv6 member %s has comment %q, want %q", m.IP, m.Comment, want)
		}
	}

	if err := (ExecRunner{}).Restore(ctx, IPv4, []byte("*nat\n-A POSTROUTING -m set --match-set "+name+" src -j RETURN\nCOMMIT\n")); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	h, err := s.Header(name)
	headerTook := time.Since(start)
	if err != nil || h.Entries != n || h.References != 1 || len(h.Members) != 0 {
		t.Errorf("header: %+v %v, want %d entries, 1 reference, no members", h, err, n)
	}
	t.Logf("1,000 members: list %v, header %v", listTook, headerTook)
	all, err := s.Headers()
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, i := range all {
		if i.Name == name || i.Name == name6 {
			found++
		}
	}
	if found != 2 {
		t.Errorf("headers of all sets: %+v", all)
	}
	if _, err := s.Header("weir-nat-missing"); !errors.Is(err, ErrSetMissing) {
		t.Errorf("header of a missing set: %v", err)
	}

	if was, err := s.Del(name, net.IPv4(10, 99, 9, 9)); was || err != nil {
		t.Errorf("deleting a missing member: %v %v, want false and no error", was, err)
	}
	if was, err := s.Del(name, net.IPv4(10, 90, 0, 1)); !was || err != nil {
		t.Fatalf("deleting a member: %v %v", was, err)
	}
	if _, err := s.Del("weir-nat-missing", net.IPv4(10, 90, 0, 1)); !errors.Is(err, ErrSetMissing) {
		t.Errorf("deleting from a missing set: %v, want ErrSetMissing", err)
	}
	if h, _ := s.Header(name); h.Entries != n-1 {
		t.Errorf("%d entries after a delete, want %d", h.Entries, n-1)
	}
	if err := s.Destroy(name); !errors.Is(err, ErrSetInUse) {
		t.Errorf("destroying a set in use: %v, want ErrSetInUse", err)
	}
	if err := (ExecRunner{}).Restore(ctx, IPv4, []byte("*nat\n-D POSTROUTING -m set --match-set "+name+" src -j RETURN\nCOMMIT\n")); err != nil {
		t.Fatal(err)
	}
	if err := (&Masq{sets: s}).destroySet(ctx, name); err != nil {
		t.Errorf("destroying a set just released: %v", err)
	}
	for _, x := range []string{name, name6, "weir-nat-missing"} {
		if err := s.Destroy(x); err != nil {
			t.Errorf("destroy %s: %v", x, err)
		}
	}
	requireNothingOfWeir(t)
}
