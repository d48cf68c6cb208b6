package bridge

import (
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/weirnet/weir/internal/sandbox"
)

// sysctlIn reads a sysctl in the namespace n (the sandbox's own when nil).
func sysctlIn(t *testing.T, n ns.NetNS, name string) string {
	t.Helper()
	var out string
	read := func() error {
		b, err := os.ReadFile("/proc/sys/" + name)
		out = strings.TrimSpace(string(b))
		return err
	}
	if n == nil {
		if err := read(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	inNS(t, n.Path(), read)
	return out
}

// requireIPv6 skips the test when the kernel has no IPv6.
func requireIPv6(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/proc/sys/net/ipv6"); err != nil {
		t.Skip("no IPv6 in this kernel")
	}
}

// TestHostEndHasNoIPv6: the host end of the veth, a bridge port, has IPv6
// turned off and no IPv6 address; the container's interface, given no IPv6
// address, gets no link-local one either (it sends nothing of IPv6 to
// flood the bridge with) and gets arp_notify; and the container is
// reachable through the port. (A dual-stack container keeps its link-local
// address: TestDualStackAddressUsableAtOnce.)
func TestHostEndHasNoIPv6(t *testing.T) {
	requireIPv6(t)
	h := newHarness(t)
	o := h.newNet("v4only", "brv4only", "10.75.0.0/24")
	o.extra = `"isGateway":true,`
	conf := o.conf("1.1.0")
	nsA := sandbox.NewNS(t)
	res, _ := h.add("1.1.0", conf, "ctr-a", nsA.Path())
	veth := hostVeth("v4only", "ctr-a")

	if got := sysctlIn(t, nil, "net/ipv6/conf/"+veth+"/disable_ipv6"); got != "1" {
		t.Errorf("disable_ipv6 of the host end %s is %s, want 1", veth, got)
	}
	addrs, err := netlinksafe.AddrList(mustLink(t, veth), netlink.FAMILY_V6)
	if err != nil {
		t.Fatal(err)
	}
	if len(addrs) != 0 {
		t.Errorf("the host end %s has IPv6 addresses %v", veth, addrs)
	}

	if got := sysctlIn(t, nsA, "net/ipv4/conf/eth0/arp_notify"); got != "1" {
		t.Errorf("arp_notify of the container's eth0 is %s, want 1", got)
	}
	if got := sysctlIn(t, nsA, "net/ipv6/conf/eth0/addr_gen_mode"); got != "1" {
		t.Errorf("addr_gen_mode of the container's eth0 is %s, want 1 (none)", got)
	}
	if ll := linkLocalOf(t, nsA.Path()); ll != nil {
		t.Errorf("the container's eth0, given no IPv6 address, has the link-local address %s", ll)
	}

	if err := sandbox.Ping(nsA.Path(), "10.75.0.1"); err != nil {
		t.Error(err)
	}
	if len(res.IPs) != 1 {
		t.Fatalf("want one address, got %+v", res.IPs)
	}
	h.del(conf, "ctr-a", nsA.Path())
}

// TestDualStackAddressUsableAtOnce: with an IPv6 address in the result, DAD
// is off on the container's interface, and the address is usable (not
// tentative) well within the second that DAD would take at least.
func TestDualStackAddressUsableAtOnce(t *testing.T) {
	requireIPv6(t)
	h := newHarness(t)
	o := h.newNet("dad", "brdad", "10.77.0.0/24")
	o.subnet6 = "fd00:77::/64"
	conf := o.conf("1.1.0")
	nsA := sandbox.NewNS(t)
	res, _ := h.add("1.1.0", conf, "ctr-a", nsA.Path())
	added := time.Now()
	if got := sysctlIn(t, nsA, "net/ipv6/conf/eth0/accept_dad"); got != "0" {
		t.Errorf("accept_dad of the container's eth0 is %s, want 0", got)
	}
	var v6 net.IP
	for _, ipc := range res.IPs {
		if ipc.Address.IP.To4() == nil {
			v6 = ipc.Address.IP
		}
	}
	if v6 == nil {
		t.Fatalf("no IPv6 address in %+v", res.IPs)
	}
	if linkLocalOf(t, nsA.Path()) == nil {
		t.Error("the dual-stack container's eth0 has no IPv6 link-local address")
	}
	// The kernel clears the tentative flag from a work item as the link
	// comes up; with DAD it would take a probe and a second's wait.
	flags := -1
	for time.Since(added) < 700*time.Millisecond {
		flags = v6Flags(t, nsA, v6)
		if flags >= 0 && flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED) == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if flags < 0 {
		t.Errorf("eth0 lacks %s", v6)
	} else if flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED) != 0 {
		t.Errorf("%s still has flags %#x %v after ADD, want it usable", v6, flags, time.Since(added))
	}
	h.del(conf, "ctr-a", nsA.Path())
}

// v6Flags returns the flags of the address ip on eth0 in the namespace n,
// or -1 when eth0 lacks it.
func v6Flags(t *testing.T, n ns.NetNS, ip net.IP) int {
	t.Helper()
	flags := -1
	inNS(t, n.Path(), func() error {
		l, err := netlinksafe.LinkByName("eth0")
		if err != nil {
			return err
		}
		as, err := netlinksafe.AddrList(l, netlink.FAMILY_V6)
		for _, a := range as {
			if a.IP.Equal(ip) {
				flags = a.Flags
			}
		}
		return err
	})
	return flags
}

// linkLocalOf returns the IPv6 link-local address of eth0 in the namespace
// at path, or nil.
func linkLocalOf(t *testing.T, path string) net.IP {
	t.Helper()
	var ll net.IP
	inNS(t, path, func() error {
		l, err := netlinksafe.LinkByName("eth0")
		if err != nil {
			return err
		}
		as, err := netlinksafe.AddrList(l, netlink.FAMILY_V6)
		for _, a := range as {
			if a.IP.IsLinkLocalUnicast() {
				ll = a.IP
			}
		}
		return err
	})
	return ll
}
