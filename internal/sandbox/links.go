package sandbox

import (
	"errors"
	"slices"
	"testing"

	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
)

// LinkIn returns the link named name inside the namespace n.
func LinkIn(n ns.NetNS, name string) (netlink.Link, error) {
	var l netlink.Link
	err := in(n, func() error {
		var err error
		l, err = netlinksafe.LinkByName(name)
		return err
	})
	return l, err
}

// AddrsIn returns the IPv4 and IPv6 addresses (with prefix) on the link
// name inside n, leaving out link-local unicast ones.
func AddrsIn(n ns.NetNS, name string) ([]string, error) {
	var out []string
	err := in(n, func() error {
		l, err := netlinksafe.LinkByName(name)
		if err != nil {
			return err
		}
		addrs, err := netlinksafe.AddrList(l, netlink.FAMILY_ALL)
		if err != nil {
			return err
		}
		for _, a := range addrs {
			if a.IP.IsLinkLocalUnicast() {
				continue
			}
			out = append(out, a.IPNet.String())
		}
		return nil
	})
	return out, err
}

// Addrs is AddrsIn failing the test on error (a missing link included).
func Addrs(t testing.TB, n ns.NetNS, name string) []string {
	t.Helper()
	addrs, err := AddrsIn(n, name)
	if err != nil {
		t.Fatalf("listing addresses of %s in %s: %v", name, nsName(n), err)
	}
	return addrs
}

// FindLink returns the link named name inside n, or nil when there is none;
// any other error fails the test.
func FindLink(t testing.TB, n ns.NetNS, name string) netlink.Link {
	t.Helper()
	l, err := LinkIn(n, name)
	var nf netlink.LinkNotFoundError
	if errors.As(err, &nf) {
		return nil
	}
	if err != nil {
		t.Fatalf("looking up %s in %s: %v", name, nsName(n), err)
	}
	return l
}

// HasLink reports whether n has a link named name; an error other than
// "not found" fails the test.
func HasLink(t testing.TB, n ns.NetNS, name string) bool {
	t.Helper()
	return FindLink(t, n, name) != nil
}

// LinkNames returns the names of all links inside n, sorted.
func LinkNames(t testing.TB, n ns.NetNS) []string {
	t.Helper()
	var names []string
	if err := in(n, func() error {
		links, err := netlinksafe.LinkList()
		for _, l := range links {
			names = append(names, l.Attrs().Name)
		}
		return err
	}); err != nil {
		t.Fatalf("listing links in %s: %v", nsName(n), err)
	}
	slices.Sort(names)
	return names
}

// Veth makes a veth pair with both ends up: name in the caller's namespace
// and peer inside peerNS (nil: beside name). It returns the end called name;
// the pair is deleted when the test ends.
func Veth(t testing.TB, name, peer string, peerNS ns.NetNS) netlink.Link {
	t.Helper()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: peer}
	if peerNS != nil {
		veth.PeerNamespace = netlink.NsFd(int(peerNS.Fd()))
	}
	if err := netlink.LinkAdd(veth); err != nil {
		t.Fatalf("creating veth %s/%s: %v", name, peer, err)
	}
	CleanupLink(t, name)
	setUp := func(n ns.NetNS, name string) {
		t.Helper()
		if err := in(n, func() error {
			l, err := netlinksafe.LinkByName(name)
			if err != nil {
				return err
			}
			return netlink.LinkSetUp(l)
		}); err != nil {
			t.Fatalf("setting %s up in %s: %v", name, nsName(n), err)
		}
	}
	setUp(peerNS, peer)
	setUp(nil, name)
	l, err := netlinksafe.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// CleanupLink deletes the link name from the caller's namespace when the
// test ends, if it exists then.
func CleanupLink(t testing.TB, name string) {
	t.Cleanup(func() {
		if l, err := netlinksafe.LinkByName(name); err == nil {
			_ = netlink.LinkDel(l)
		}
	})
}
