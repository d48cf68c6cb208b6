package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// daemon is a running `weir serve` of a world and an HTTP client on its
// socket.
type daemon struct {
	cmd    *exec.Cmd
	logs   *lockedBuffer
	socket string
	client *http.Client
	done   chan error
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startDaemon runs `weir serve` and waits until it answers. It is stopped
// with SIGTERM when the test ends and must exit cleanly.
func (w *world) startDaemon(t *testing.T, args ...string) *daemon {
	t.Helper()
	d := &daemon{logs: &lockedBuffer{}, socket: filepath.Join(w.state, "weir.sock"), done: make(chan error, 1)}
	d.cmd = exec.Command(filepath.Join(w.bin, "weir"), append(append([]string{"serve", "--log-level", "info"}, args...), w.flags()...)...)
	d.cmd.Stderr = d.logs
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.done <- d.cmd.Wait() }()
	d.client = &http.Client{
		Timeout: 3 * time.Minute,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var dl net.Dialer
			return dl.DialContext(ctx, "unix", d.socket)
		}},
	}
	t.Cleanup(func() { d.stop(t) })
	for end := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if code, _, err := d.do("GET", "/healthz", ""); err == nil && code < 500 {
			return d
		}
		if time.Now().After(end) {
			t.Fatalf("weir serve did not answer on %s\n%s", d.socket, d.logs)
		}
	}
}

// stop sends SIGTERM and waits for a clean exit; a second call does nothing.
func (d *daemon) stop(t *testing.T) {
	t.Helper()
	if d.done == nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.done:
		if err != nil {
			t.Errorf("weir serve did not stop cleanly on SIGTERM: %v\n%s", err, tail(d.logs.String(), 40))
		}
	case <-time.After(60 * time.Second):
		_ = d.cmd.Process.Kill()
		t.Errorf("weir serve did not stop within 60s of SIGTERM\n%s", tail(d.logs.String(), 40))
	}
	d.done = nil
}

// do sends a request with a raw path and returns the status and body.
func (d *daemon) do(method, path, body string) (int, string, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://weir"+path, rd)
	if err != nil {
		return 0, "", err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out), err
}

// attachBody is a POST /v1/containers/{id} body for c.
func attachBody(c *container) string {
	type label struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	}
	var infos []map[string]any
	for i, n := range c.nets {
		info := map[string]any{"name": n}
		if len(c.labels) > 0 {
			keys := make([]string, 0, len(c.labels))
			for k := range c.labels {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			var ls []label
			for _, k := range keys {
				ls = append(ls, label{k, c.labels[k]})
			}
			info["labels"] = map[string]any{"labels": ls}
		}
		if i == 0 && len(c.ports) > 0 {
			var pms []map[string]any
			for _, p := range c.ports {
				var h, ct int
				fmt.Sscanf(p, "%d:%d", &h, &ct)
				pms = append(pms, map[string]any{"host_port": h, "container_port": ct, "protocol": "tcp"})
			}
			info["port_mappings"] = pms
		}
		infos = append(infos, info)
	}
	req := map[string]any{"container_config": map[string]any{"container_info": map[string]any{"type": "MESOS", "network_infos": infos}}}
	if c.proc != nil {
		req["pid"] = c.proc.Process.Pid
	} else {
		req["netns"] = c.nsPath
	}
	b, _ := json.Marshal(req)
	return string(b)
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
