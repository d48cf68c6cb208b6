package ipset

import (
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/weirnet/weir/internal/sandbox"
)

// ipsetTool runs the ipset tool: an independent reader of what netlink
// made.
func ipsetTool(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ipset", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ipset %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func iptables(t *testing.T, tool string, args ...string) {
	t.Helper()
	if out, err := exec.Command(tool, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v: %s", tool, strings.Join(args, " "), err, out)
	}
}

// TestKernelSets checks Netlink against the kernel and the ipset tool for
// each type and family weir uses: create (again: success), members with
// comments (again: the comment is replaced), a listing too large for one
// netlink message, headers with counts and references, deleting present
// and missing members, destroying a set in use and a missing one.
func TestKernelSets(t *testing.T) {
	sandbox.Require(t)
	s := Netlink{}
	tcp, udp := uint8(unix.IPPROTO_TCP), uint8(unix.IPPROTO_UDP)
	cases := []struct {
		name, typ string
		f         Family
		member    func(i int) Entry
		tool      string // the first member as the ipset tool prints it
	}{{
		name: "weir-t-ip4", typ: HashIP, f: IPv4,
		member: func(i int) Entry { return Entry{IP: net.IPv4(10, 90, byte(i/250), byte(i%250+1))} },
		tool:   "10.90.0.1",
	}, {
		name: "weir-t-ipport4", typ: HashIPPort, f: IPv4,
		member: func(i int) Entry { return Entry{IP: net.IPv4(10, 90, 0, 5), Proto: tcp, Port: uint16(1000 + i)} },
		tool:   "10.90.0.5,tcp:1000",
	}, {
		name: "weir-t-ipportip4", typ: HashIPPortIP, f: IPv4,
		member: func(i int) Entry {
			ip := net.IPv4(10, 90, byte(i/250), byte(i%250+1))
			return Entry{IP: ip, Proto: udp, Port: 53, IP2: ip}
		},
		tool: "10.90.0.1,udp:53,10.90.0.1",
	}, {
		name: "weir-t-ipportip6", typ: HashIPPortIP, f: IPv6,
		member: func(i int) Entry {
			ip := net.ParseIP(fmt.Sprintf("fd00:90::%x", i+1))
			return Entry{IP: ip, Proto: tcp, Port: 80, IP2: ip}
		},
		tool: "fd00:90::1,tcp:80,fd00:90::1",
	}}
	const n = 700
	for _, c := range cases {
		t.Run(c.typ+"/"+c.f.String(), func(t *testing.T) {
			for range 2 {
				if err := s.Create(c.name, c.typ, c.f); err != nil {
					t.Fatalf("create: %v", err)
				}
			}
			for i := range n {
				m := c.member(i)
				m.Comment = fmt.Sprintf("weir: net=n id=ctr-%d if=eth0", i)
				if err := s.Add(c.name, m); err != nil {
					t.Fatal(err)
				}
			}
			first := c.member(0)
			first.Comment = "weir: net=n id=new if=eth0"
			if err := s.Add(c.name, first); err != nil {
				t.Fatalf("adding an existing member: %v", err)
			}
			info, err := s.List(c.name)
			if err != nil {
				t.Fatal(err)
			}
			if info.Type != c.typ || info.Family != c.f || info.Entries != n || len(info.Members) != n || info.References != 0 {
				t.Fatalf("list: type %s family %v entries %d members %d refs %d", info.Type, info.Family, info.Entries, len(info.Members), info.References)
			}
			byKey := map[string]string{}
			for _, m := range info.Members {
				byKey[m.Key()] = m.Comment
			}
			if got := byKey[first.Key()]; got != first.Comment {
				t.Errorf("replaced member %s has comment %q", first, got)
			}
			last := c.member(n - 1)
			if got := byKey[last.Key()]; got != fmt.Sprintf("weir: net=n id=ctr-%d if=eth0", n-1) {
				t.Errorf("last member %s has comment %q", last, got)
			}
			tool := ipsetTool(t, "list", c.name)
			if !strings.Contains(tool, "\n"+c.tool+` comment "weir: net=n id=new if=eth0"`) {
				t.Errorf("the ipset tool does not list %s with its comment:\n%.600s", c.tool, tool)
			}
			if got := strings.Count(tool, ` comment "weir: net=n id=`); got != n {
				t.Errorf("the ipset tool lists %d commented members, want %d", got, n)
			}

			ipt, dir := "iptables", "src"
			if c.f == IPv6 {
				ipt = "ip6tables"
			}
			if c.typ == HashIPPort {
				dir = "dst,dst"
			} else if c.typ == HashIPPortIP {
				dir = "src,dst,dst"
			}
			rule := []string{"POSTROUTING", "-m", "set", "--match-set", c.name, dir, "-j", "RETURN"}
			iptables(t, ipt, append([]string{"-t", "nat", "-A"}, rule...)...)
			h, err := s.Header(c.name)
			if err != nil || h.Entries != n || h.References != 1 || len(h.Members) != 0 {
				t.Errorf("header: %+v %v, want %d entries, 1 reference, no members", h, err, n)
			}
			if err := s.Destroy(c.name); !errors.Is(err, ErrSetInUse) {
				t.Errorf("destroying a set in use: %v, want ErrSetInUse", err)
			}
			iptables(t, ipt, append([]string{"-t", "nat", "-D"}, rule...)...)

			gone := c.member(n + 5)
			if was, err := s.Del(c.name, gone); was || err != nil {
				t.Errorf("deleting a missing member: %v %v, want false and no error", was, err)
			}
			if was, err := s.Del(c.name, first); !was || err != nil {
				t.Fatalf("deleting a member: %v %v", was, err)
			}
			if h, _ := s.Header(c.name); h.Entries != n-1 {
				t.Errorf("%d entries after a delete, want %d", h.Entries, n-1)
			}
			if _, err := s.Del("weir-t-missing", first); !errors.Is(err, ErrSetMissing) {
				t.Errorf("deleting from a missing set: %v, want ErrSetMissing", err)
			}
			if err := s.Add("weir-t-missing", first); !errors.Is(err, ErrSetMissing) {
				t.Errorf("adding to a missing set: %v, want ErrSetMissing", err)
			}
			if _, err := s.Header("weir-t-missing"); !errors.Is(err, ErrSetMissing) {
				t.Errorf("header of a missing set: %v, want ErrSetMissing", err)
			}
			// The kernel may hold the set a moment after the rule went.
			var derr error
			for try := 0; try < 50; try++ {
				if derr = s.Destroy(c.name); !errors.Is(derr, ErrSetInUse) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if derr != nil {
				t.Errorf("destroy: %v", derr)
			}
			if err := s.Destroy(c.name); err != nil {
				t.Errorf("destroying a missing set: %v", err)
			}
		})
	}
	if err := s.Create("weir-t-clash", HashIP, IPv4); err != nil {
		t.Fatal(err)
	}
	if err := s.Create("weir-t-clash", HashIPPort, IPv4); err == nil {
		t.Error("creating a set of another type under an existing name succeeded")
	}
	all, err := s.Headers()
	if err != nil || len(all) != 1 || all[0].Name != "weir-t-clash" || all[0].Type != HashIP {
		t.Errorf("headers: %+v %v", all, err)
	}
	if err := s.Destroy("weir-t-clash"); err != nil {
		t.Fatal(err)
	}
}
