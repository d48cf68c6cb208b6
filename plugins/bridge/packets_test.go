package bridge

import (
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/weirnet/weir/plugins/internal/ifcfg"
)

// Real traffic between test namespaces: ping through nsenter, and TCP
// sockets opened inside a namespace.

// ping sends one echo request from the namespace at path.
func ping(path, dst string) error {
	args := []string{"--net=" + path, "ping", "-c1", "-W2"}
	if strings.Contains(dst, ":") {
		args = append(args, "-6")
	}
	out, err := exec.Command("nsenter", append(args, dst)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ping %s from %s: %v: %s", dst, path, err, out)
	}
	return nil
}

// listen starts a TCP listener on addr inside the namespace at path and
// returns its address and a channel with the remote address of the first
// connection it accepts.
func listen(t *testing.T, path, addr string) (string, <-chan string) {
	t.Helper()
	var ln net.Listener
	inNS(t, path, func() error {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err
	})
	t.Cleanup(func() { ln.Close() })
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(got)
			return
		}
		host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
		got <- host
		c.Close()
	}()
	return ln.Addr().String(), got
}

// dial connects over TCP from the namespace at path.
func dial(path, addr string) error {
	return ifcfg.InNetNS(path, func() error {
		c, err := net.DialTimeout("tcp", addr, 3*time.Second)
		if err != nil {
			return err
		}
		return c.Close()
	})
}

// connectFrom dials a listener in dstNS from srcNS and returns the source
// address the listener saw.
func connectFrom(t *testing.T, srcNS, dstNS, listenAddr string) string {
	t.Helper()
	addr, got := listen(t, dstNS, listenAddr)
	if err := dial(srcNS, addr); err != nil {
		t.Fatalf("connecting to %s: %v", addr, err)
	}
	select {
	case src, ok := <-got:
		if !ok {
			t.Fatal("listener failed")
		}
		return src
	case <-time.After(5 * time.Second):
		t.Fatal("listener saw no connection")
	}
	return ""
}
