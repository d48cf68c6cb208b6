package sandbox

import (
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
)

// Ping sends one ICMP echo from the namespace at nsPath to ip and reports
// whether a reply came back within two seconds.
func Ping(nsPath, ip string) error {
	out, err := exec.Command("nsenter", "--net="+nsPath, "ping", "-c1", "-W2", ip).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ping %s from %s: %w: %s", ip, nsPath, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Listen opens a TCP listener on addr inside the namespace n that accepts
// and closes connections until the test ends, and returns its address.
func Listen(t testing.TB, n ns.NetNS, addr string) string {
	t.Helper()
	var l net.Listener
	if err := n.Do(func(ns.NetNS) error {
		var err error
		l, err = net.Listen("tcp", addr)
		return err
	}); err != nil {
		t.Fatalf("listening on %s in %s: %v", addr, n.Path(), err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	return l.Addr().String()
}

// Connect opens a TCP connection from the namespace n to addr and closes
// it; an error means no connection within the timeout.
func Connect(n ns.NetNS, addr string, timeout time.Duration) error {
	return n.Do(func(ns.NetNS) error {
		c, err := net.DialTimeout("tcp", addr, timeout)
		if err != nil {
			return fmt.Errorf("connecting to %s from %s: %w", addr, n.Path(), err)
		}
		return c.Close()
	})
}

// LinkIn returns the link named name inside the namespace n.
func LinkIn(n ns.NetNS, name string) (netlink.Link, error) {
	var l netlink.Link
	err := n.Do(func(ns.NetNS) error {
		var err error
		l, err = netlink.LinkByName(name)
		return err
	})
	return l, err
}

// AddrsIn returns the IPv4 and IPv6 addresses (with prefix) on the link
// name inside n.
func AddrsIn(n ns.NetNS, name string) ([]string, error) {
	var out []string
	err := n.Do(func(ns.NetNS) error {
		l, err := netlink.LinkByName(name)
		if err != nil {
			return err
		}
		addrs, err := netlink.AddrList(l, netlink.FAMILY_ALL)
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
