package integration

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"

	"github.com/weirnet/weir/internal/sandbox"
)

// concCheckAddrs checks that container i's result address is the IPv4
// address of eth0 in nss[i], and counts the addresses that more than one
// container holds (each extra holder is one duplicate).
func concCheckAddrs(nss []ns.NetNS, fromResult []string) (int, []string, error) {
	holders := map[string][]int{}
	for i, n := range nss {
		addrs, err := sandbox.AddrsIn(n, "eth0")
		if err != nil {
			return 0, nil, fmt.Errorf("container %d: %w", i, err)
		}
		var v4 []string
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a); err == nil && p.Addr().Is4() {
				v4 = append(v4, p.Addr().String())
			}
		}
		if len(v4) != 1 || v4[0] != fromResult[i] {
			return 0, nil, fmt.Errorf("container %d: its result says %q, eth0 in its namespace has %q", i, fromResult[i], addrs)
		}
		holders[v4[0]] = append(holders[v4[0]], i)
	}
	dups := 0
	var msgs []string
	for a, hs := range holders {
		if len(hs) > 1 {
			dups += len(hs) - 1
			msgs = append(msgs, fmt.Sprintf("%s held by containers %v", a, hs))
		}
	}
	return dups, msgs, nil
}

// concHostState is what a round must leave as it found: the sandbox's
// links, its iptables rules (without counters) and ipsets, the mounts under
// /run, and the names of the files under roots.
func concHostState(roots []string) (string, error) {
	var b strings.Builder
	links, err := exec.Command("ip", "-o", "link", "show").Output()
	if err != nil {
		return "", fmt.Errorf("ip link show: %w", err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(links)), "\n") {
		if f := strings.Fields(l); len(f) > 1 {
			b.WriteString("link " + strings.TrimSuffix(f[1], ":") + "\n")
		}
	}
	ipt, err := exec.Command("iptables-save").Output()
	if err != nil {
		return "", fmt.Errorf("iptables-save: %w", err)
	}
	for _, l := range strings.Split(string(ipt), "\n") {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if strings.HasPrefix(l, ":") { // ":CHAIN POLICY [packets:bytes]"
			if i := strings.LastIndex(l, " ["); i > 0 {
				l = l[:i]
			}
		}
		b.WriteString("iptables " + l + "\n")
	}
	if sets, err := exec.Command("ipset", "save").Output(); err == nil {
		for _, l := range strings.Split(strings.TrimSpace(string(sets)), "\n") {
			b.WriteString("ipset " + l + "\n")
		}
	}
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	for _, l := range strings.Split(string(mounts), "\n") {
		if f := strings.Fields(l); len(f) > 4 && strings.HasPrefix(f[4], "/run/") && !strings.HasPrefix(f[4], "/run/netns/") {
			b.WriteString("mount " + f[4] + "\n")
		}
	}
	for _, root := range roots {
		err := filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
			if err != nil {
				if errors.Is(err, os.ErrNotExist) {
					return nil
				}
				return err
			}
			if !info.IsDir() && !strings.HasSuffix(p, ".sock") {
				b.WriteString("file " + p + "\n")
			}
			return nil
		})
		if err != nil {
			return "", err
		}
	}
	return b.String(), nil
}

// concHead is the first lines of s.
func concHead(s string, lines int) string {
	ls := strings.Split(strings.TrimSpace(s), "\n")
	if len(ls) > lines {
		ls = append(ls[:lines], fmt.Sprintf("... %d more lines", len(ls)-lines))
	}
	return strings.Join(ls, "\n")
}

// TestConcCheckAddrs: the benchmark's check counts an address held by
// three containers as two duplicates, and refuses a result that is not
// the address in the namespace.
func TestConcCheckAddrs(t *testing.T) {
	sandbox.Require(t)
	addrs := []string{"10.99.0.2", "10.99.0.3", "10.99.0.2", "10.99.0.2"}
	var nss []ns.NetNS
	for i, a := range addrs {
		n := sandbox.NewNS(t)
		sandbox.Veth(t, fmt.Sprintf("cchk%d", i), "eth0", n)
		if err := n.Do(func(ns.NetNS) error {
			l, err := netlink.LinkByName("eth0")
			if err != nil {
				return err
			}
			addr, err := netlink.ParseAddr(a + "/24")
			if err != nil {
				return err
			}
			return netlink.AddrAdd(l, addr)
		}); err != nil {
			t.Fatal(err)
		}
		nss = append(nss, n)
	}
	dups, msgs, err := concCheckAddrs(nss, addrs)
	if err != nil || dups != 2 || len(msgs) != 1 || msgs[0] != "10.99.0.2 held by containers [0 2 3]" {
		t.Errorf("got %d duplicates %q, %v; want 2, 10.99.0.2 held by containers [0 2 3]", dups, msgs, err)
	}
	if dups, _, err := concCheckAddrs(nss[:2], addrs[:2]); err != nil || dups != 0 {
		t.Errorf("two distinct addresses: %d duplicates, %v", dups, err)
	}
	_, _, err = concCheckAddrs(nss[:2], []string{"10.99.0.2", "10.99.0.9"})
	if err == nil || !strings.Contains(err.Error(), `container 1: its result says "10.99.0.9", eth0 in its namespace has ["10.99.0.3/24"]`) {
		t.Errorf("a result that is not the namespace's address: %v", err)
	}
}
