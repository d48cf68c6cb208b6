package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"

	"github.com/weirnet/weir/internal/sandbox"
)

// startContainer starts a container's first process: sleep in a network
// namespace of its own (cloned with the process, as a containerizer does).
// It is killed when the test ends.
func startContainer(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting a container process: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd.Process.Pid
}

// nsOf opens the network namespace of a process.
func nsOf(t *testing.T, pid int) ns.NetNS {
	t.Helper()
	n, err := ns.GetNS(fmt.Sprintf("/proc/%d/ns/net", pid))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// ipsIn returns the addresses (without prefix length) of ifName in n.
func ipsIn(t *testing.T, n ns.NetNS, ifName string) []string {
	t.Helper()
	addrs, err := sandbox.AddrsIn(n, ifName)
	if err != nil {
		t.Fatalf("addresses of %s in %s: %v", ifName, n.Path(), err)
	}
	var out []string
	for _, a := range addrs {
		out = append(out, strings.Split(a, "/")[0])
	}
	return out
}

// containerStatus is the part of an isolator.ContainerStatus the tests read.
type containerStatus struct {
	ContainerID  string `json:"container_id"`
	State        string `json:"state"`
	NetNS        string `json:"netns"`
	NetworkInfos []struct {
		Name        string `json:"name"`
		IPAddresses []struct {
			IPAddress string `json:"ip_address"`
		} `json:"ip_addresses"`
	} `json:"network_infos"`
	Interfaces map[string]string `json:"interfaces"`
	Usage      []struct {
		Interface string `json:"interface"`
		TxPackets uint64 `json:"tx_packets"`
		RxPackets uint64 `json:"rx_packets"`
	} `json:"usage"`
}

// ips lists the status's addresses in network order.
func (s containerStatus) ips() []string {
	var out []string
	for _, n := range s.NetworkInfos {
		for _, a := range n.IPAddresses {
			out = append(out, a.IPAddress)
		}
	}
	return out
}

// syncBuffer collects a process's output while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// daemon is a running `weir serve` and an HTTP client on its socket.
type daemon struct {
	cmd    *exec.Cmd
	logs   *syncBuffer
	socket string
	client *http.Client
	done   chan error
}

// startDaemon runs `weir serve` with args and waits until it answers on
// <state>/weir.sock. It is stopped with SIGTERM when the test ends, and
// must then exit cleanly.
func startDaemon(t *testing.T, bin, state string, args ...string) *daemon {
	t.Helper()
	d := &daemon{logs: &syncBuffer{}, socket: filepath.Join(state, "weir.sock"), done: make(chan error, 1)}
	d.cmd = exec.Command(filepath.Join(bin, "weir"), append([]string{"serve", "--state-dir", state, "--log-level", "debug"}, args...)...)
	d.cmd.Stderr = d.logs
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.done <- d.cmd.Wait() }()
	d.client = &http.Client{
		Timeout: 60 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var dl net.Dialer
			return dl.DialContext(ctx, "unix", d.socket)
		}},
	}
	t.Cleanup(func() { d.stop(t) })
	if _, ok := waitFor(15*time.Second, func() bool {
		resp, err := d.client.Get("http://weir/v1/containers")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	}); !ok {
		t.Fatalf("weir serve did not answer on %s\n%s", d.socket, d.logs.String())
	}
	return d
}

// stop sends SIGTERM and waits for a clean exit; a second call does nothing.
func (d *daemon) stop(t *testing.T) {
	t.Helper()
	if d.cmd.ProcessState != nil || d.done == nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.done:
		if err != nil {
			t.Errorf("weir serve did not stop cleanly on SIGTERM: %v\n%s", err, d.logs.String())
		}
	case <-time.After(40 * time.Second):
		_ = d.cmd.Process.Kill()
		t.Errorf("weir serve did not stop within 40s of SIGTERM\n%s", d.logs.String())
	}
	d.done = nil
}

// do sends a request with a raw path (escapes kept as written) and returns
// the status code and body.
func (d *daemon) do(t *testing.T, method, path, body string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://weir"+path, rd)
	if err != nil {
		t.Fatalf("building %s %s: %v", method, path, err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := d.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", method, path, err, d.logs.String())
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

// decode unmarshals a response body or fails the test.
func decode(t *testing.T, body []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("decoding %s: %v", body, err)
	}
}

// attachBody is a POST /v1/containers/{id} body for a process on networks.
func attachBody(pid int, labels map[string]string, nets ...string) string {
	type label struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	}
	var infos []map[string]any
	for _, n := range nets {
		info := map[string]any{"name": n}
		if len(labels) > 0 {
			var ls []label
			for k, v := range labels {
				ls = append(ls, label{k, v})
			}
			info["labels"] = map[string]any{"labels": ls}
		}
		infos = append(infos, info)
	}
	b, _ := json.Marshal(map[string]any{
		"container_config": map[string]any{"container_info": map[string]any{"type": "MESOS", "network_infos": infos}},
		"pid":              pid,
	})
	return string(b)
}

// mounted reports whether anything is mounted under dir.
func mounted(t *testing.T, dir string) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Contains(string(b), dir+"/")
}
