package sandbox

import (
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
)

// Every helper that takes a namespace accepts nil for the namespace the
// caller runs in: the sandbox's own, or the current one inside ns.Do.

// in runs fn inside n, or directly when n is nil.
func in(n ns.NetNS, fn func() error) error {
	if n == nil {
		return fn()
	}
	return n.Do(func(ns.NetNS) error { return fn() })
}

// nsName names n in messages.
func nsName(n ns.NetNS) string {
	if n == nil {
		return "the sandbox's namespace"
	}
	return n.Path()
}

// Ping sends one ICMP echo from the namespace at nsPath to ip (IPv4 or
// IPv6) and reports whether a reply came back within two seconds.
func Ping(nsPath, ip string) error {
	args := []string{"--net=" + nsPath, "ping", "-c1", "-W2"}
	if strings.Contains(ip, ":") {
		args = append(args, "-6")
	}
	out, err := exec.Command("nsenter", append(args, ip)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ping %s from %s: %w: %s", ip, nsPath, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Listen opens a TCP listener on addr inside the namespace n that accepts
// and closes connections until the test ends, and returns its address.
func Listen(t testing.TB, n ns.NetNS, addr string) string {
	t.Helper()
	l, err := listen(n, addr)
	if err != nil {
		t.Fatal(err)
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

// listen opens a TCP listener on addr inside n.
func listen(n ns.NetNS, addr string) (net.Listener, error) {
	var l net.Listener
	err := in(n, func() error {
		var err error
		l, err = net.Listen("tcp", addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listening on %s in %s: %w", addr, nsName(n), err)
	}
	return l, nil
}

// Connect opens a TCP connection from the namespace n to addr and closes
// it; an error means no connection within the timeout.
func Connect(n ns.NetNS, addr string, timeout time.Duration) error {
	return in(n, func() error {
		c, err := net.DialTimeout("tcp", addr, timeout)
		if err != nil {
			return fmt.Errorf("connecting to %s from %s: %w", addr, nsName(n), err)
		}
		return c.Close()
	})
}

// exchangeTimeout bounds each step of Exchange.
const exchangeTimeout = 5 * time.Second

// The messages Exchange sends each way.
const (
	exchangeRequest = "weir sandbox: hello from the client\n"
	exchangeReply   = "weir sandbox: hello from the server\n"
)

// Exchange proves a TCP conversation from client to server: it listens on
// listenAddr (host:port, port 0 for any) inside server, connects from
// client, sends a message each way and checks that both arrive intact. It
// returns the client's address as the server saw it (after any NAT). No
// listener, no connection, a lost or garbled message or a step taking
// longer than five seconds is an error.
func Exchange(server, client ns.NetNS, listenAddr string) (string, error) {
	ln, err := listen(server, listenAddr)
	if err != nil {
		return "", err
	}
	defer ln.Close()
	type accepted struct {
		peer string
		err  error
	}
	done := make(chan accepted, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- accepted{err: err}
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(exchangeTimeout))
		a := accepted{peer: c.RemoteAddr().(*net.TCPAddr).IP.String()}
		if a.err = expect(c, exchangeRequest); a.err == nil {
			_, a.err = io.WriteString(c, exchangeReply)
		}
		done <- a
	}()
	if err := in(client, func() error {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), exchangeTimeout)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(exchangeTimeout))
		if _, err := io.WriteString(c, exchangeRequest); err != nil {
			return err
		}
		return expect(c, exchangeReply)
	}); err != nil {
		return "", fmt.Errorf("TCP from %s to %s: %w", nsName(client), ln.Addr(), err)
	}
	select {
	case a := <-done:
		if a.err != nil {
			return "", fmt.Errorf("TCP server %s in %s: %w", ln.Addr(), nsName(server), a.err)
		}
		return a.peer, nil
	case <-time.After(exchangeTimeout):
		return "", fmt.Errorf("TCP server %s in %s: no connection accepted", ln.Addr(), nsName(server))
	}
}

// MustExchange is Exchange failing the test on error.
func MustExchange(t testing.TB, server, client ns.NetNS, listenAddr string) string {
	t.Helper()
	peer, err := Exchange(server, client, listenAddr)
	if err != nil {
		t.Fatal(err)
	}
	return peer
}

// expect reads exactly len(want) bytes from r and checks they are want.
func expect(r io.Reader, want string) error {
	buf := make([]byte, len(want))
	n, err := io.ReadFull(r, buf)
	if err != nil {
		return fmt.Errorf("reading %q: got %q: %w", want, buf[:n], err)
	}
	if string(buf) != want {
		return fmt.Errorf("read %q, want %q", buf, want)
	}
	return nil
}

// RouteVia returns nil when n has a route to dst (a CIDR; 0.0.0.0/0 or ::/0
// is the default route) via the gateway gw, and otherwise an error listing
// n's routes of that family.
func RouteVia(n ns.NetNS, dst, gw string) error {
	_, want, err := net.ParseCIDR(dst)
	if err != nil {
		return err
	}
	family, dflt := netlink.FAMILY_V6, "::/0"
	if want.IP.To4() != nil {
		family, dflt = netlink.FAMILY_V4, "0.0.0.0/0"
	}
	return in(n, func() error {
		routes, err := netlinksafe.RouteList(nil, family)
		if err != nil {
			return err
		}
		for _, r := range routes {
			d := dflt
			if r.Dst != nil {
				d = r.Dst.String()
			}
			if d == want.String() && r.Gw.String() == gw {
				return nil
			}
		}
		return fmt.Errorf("no route to %s via %s in %s: %v", dst, gw, nsName(n), routes)
	})
}
