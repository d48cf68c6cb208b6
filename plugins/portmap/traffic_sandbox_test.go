package portmap_test

import (
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
)

// The traffic of the privileged tests: servers in the containers and on
// the host, TCP and UDP clients in any namespace.

func in(n ns.NetNS, fn func() error) error {
	if n == nil {
		return fn()
	}
	return n.Do(func(ns.NetNS) error { return fn() })
}

// serve starts the container's servers in n until the test ends. Each
// family gets its own sockets: Go decides once per process whether
// wildcard sockets can be dual-stack, perhaps in a namespace without IPv6.
func serve(t *testing.T, n ns.NetNS, id string) {
	t.Helper()
	for _, fam := range []string{"4", "6"} {
		var tl net.Listener
		var ul net.PacketConn
		if err := in(n, func() error {
			var err error
			if tl, err = net.Listen("tcp"+fam, ":80"); err != nil {
				return err
			}
			ul, err = net.ListenPacket("udp"+fam, ":53")
			return err
		}); err != nil {
			t.Fatalf("servers of %s: %v", id, err)
		}
		t.Cleanup(func() { _ = tl.Close(); _ = ul.Close() })
		serveConns(id, tl, ul)
	}
}

func serveConns(id string, tl net.Listener, ul net.PacketConn) {
	go func() {
		for {
			c, err := tl.Accept()
			if err != nil {
				return
			}
			fmt.Fprintf(c, "%s saw %s", id, c.RemoteAddr().(*net.TCPAddr).IP)
			_ = c.Close()
		}
	}()
	go func() {
		buf := make([]byte, 512)
		for {
			n, peer, err := ul.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = fmt.Fprintf(writerTo{ul, peer}, "%s from %s saw %s", buf[:n], id, peer.(*net.UDPAddr).IP)
		}
	}()
}

type writerTo struct {
	c    net.PacketConn
	addr net.Addr
}

func (w writerTo) Write(b []byte) (int, error) { return w.c.WriteTo(b, w.addr) }

// hostUDP answers "host" to every datagram to addr in the sandbox's own
// namespace until the returned stop is called (or the test ends).
func hostUDP(t *testing.T, addr string) (stop func()) {
	t.Helper()
	c, err := net.ListenPacket("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			_, peer, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = c.WriteTo([]byte("host"), peer)
		}
	}()
	return func() { _ = c.Close() }
}

// fetch connects from n (nil: the sandbox's namespace) to addr and returns
// what the server said.
func fetch(n ns.NetNS, addr string) (string, error) {
	var out string
	err := in(n, func() error {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(3 * time.Second))
		b, err := io.ReadAll(c)
		out = string(b)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("TCP to %s: %w", addr, err)
	}
	return out, nil
}

// ask sends msg from n, from local port srcPort (0: any), to the UDP
// address addr and returns the reply.
func ask(n ns.NetNS, srcPort int, addr, msg string) (string, error) {
	var out string
	err := in(n, func() error {
		dst, err := net.ResolveUDPAddr("udp", addr)
		if err != nil {
			return err
		}
		fam := "udp4"
		if dst.IP.To4() == nil {
			fam = "udp6"
		}
		// Connected, so that an ICMP port unreachable ends the wait.
		c, err := net.DialUDP(fam, &net.UDPAddr{Port: srcPort}, dst)
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err := c.Write([]byte(msg)); err != nil {
			return err
		}
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 512)
		k, err := c.Read(buf)
		out = string(buf[:k])
		return err
	})
	if err != nil {
		return "", fmt.Errorf("UDP to %s: %w", addr, err)
	}
	return out, nil
}

// reach fails the test unless fetch from n to addr gets want.
func reach(t *testing.T, what string, n ns.NetNS, addr, want string) {
	t.Helper()
	got, err := fetch(n, addr)
	if err != nil {
		t.Errorf("%s: %v", what, err)
	} else if got != want {
		t.Errorf("%s: server said %q, want %q", what, got, want)
	}
}

// noReach fails the test if fetch from n to addr gets an answer.
func noReach(t *testing.T, what string, n ns.NetNS, addr string) {
	t.Helper()
	if got, err := fetch(n, addr); err == nil {
		t.Errorf("%s: %s answered %q", what, addr, got)
	}
}

func hp(host string, port int) string { return net.JoinHostPort(host, fmt.Sprint(port)) }
