package isolator_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/weirnet/weir/chain"
	"github.com/weirnet/weir/isolator"
	"github.com/weirnet/weir/plugins/pluginkit"
)

// Unprivileged tests of the status cache and the sweeping of temporary
// files run the chain runner for real, with a plugin that touches nothing.

// fakePlugin hands out 10.9.0.1, 10.9.0.2, ... and touches nothing on the
// host: the records the chain runner writes around it are real.
type fakePlugin struct{ n atomic.Int32 }

func (p *fakePlugin) Add(_ context.Context, _ *pluginkit.Env, a *skel.CmdArgs) (types.Result, error) {
	idx := 0
	ip := net.IPv4(10, 9, 0, byte(p.n.Add(1)))
	return &current.Result{CNIVersion: current.ImplementedSpecVersion,
		Interfaces: []*current.Interface{{Name: a.IfName, Sandbox: a.Netns}},
		IPs:        []*current.IPConfig{{Address: net.IPNet{IP: ip, Mask: net.CIDRMask(24, 32)}, Interface: &idx}}}, nil
}
func (p *fakePlugin) Del(context.Context, *pluginkit.Env, *skel.CmdArgs) error    { return nil }
func (p *fakePlugin) Check(context.Context, *pluginkit.Env, *skel.CmdArgs) error  { return nil }
func (p *fakePlugin) GC(context.Context, *pluginkit.Env, *skel.CmdArgs) error     { return nil }
func (p *fakePlugin) Status(context.Context, *pluginkit.Env, *skel.CmdArgs) error { return nil }

// cacheHost is a state directory with two networks of the fake plugin, and
// two isolators on it: the daemon's, with a status cache, and the CLI's
// (another process in real life), without one.
type cacheHost struct {
	daemon, cli *isolator.Isolator
	cache       *isolator.StatusCache
}

// settle is the tests' StatusCache.Settle.
const settle = 30 * time.Millisecond

func newCacheHost(t *testing.T) *cacheHost {
	t.Helper()
	bin, state, conf := t.TempDir(), t.TempDir(), t.TempDir()
	self := filepath.Join(bin, "weir")
	if err := os.WriteFile(self, []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("weir", filepath.Join(bin, "fake")); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"n1", "n2"} {
		c := fmt.Sprintf(`{"cniVersion":"1.1.0","name":%q,"plugins":[{"type":"fake"}]}`, n)
		if err := os.WriteFile(filepath.Join(conf, n+".conflist"), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	exec := &pluginkit.Exec{Self: self, Plugins: pluginkit.Registry{"fake": &fakePlugin{}}}
	runner := func() *chain.Runner {
		return &chain.Runner{Exec: exec, Path: []string{bin}, StateDir: state, Timeout: 10 * time.Second}
	}
	h := &cacheHost{cache: &isolator.StatusCache{Settle: settle}}
	h.daemon = &isolator.Isolator{Runner: runner(), ConfDir: conf, Cache: h.cache}
	h.cli = &isolator.Isolator{Runner: runner(), ConfDir: conf}
	return h
}

// netAdd is `weir net add NET ID` by the CLI: a record written by the
// chain runner, no isolator involved.
func (h *cacheHost) netAdd(t *testing.T, network, id, ifName string) {
	t.Helper()
	set, err := chain.LoadDir(h.cli.ConfDir, h.cli.Runner.Path)
	if err != nil {
		t.Fatal(err)
	}
	def, err := set.Get(network)
	if err != nil {
		t.Fatal(err)
	}
	list, err := def.ConfList()
	if err != nil {
		t.Fatal(err)
	}
	a := chain.Attachment{ContainerID: id, NetNS: "/nonexistent/ns", IfName: ifName}
	if _, err := h.cli.Runner.Add(context.Background(), list, a); err != nil {
		t.Fatal(err)
	}
}

func (h *cacheHost) netDel(t *testing.T, network, id string) {
	t.Helper()
	if err := h.cli.Runner.Del(context.Background(), network, chain.Attachment{ContainerID: id}, nil); err != nil {
		t.Fatal(err)
	}
}

// status is GET /v1/containers/{id}: the daemon's Status, summarised.
func (h *cacheHost) status(t *testing.T, id string) string {
	t.Helper()
	st, err := h.daemon.Status(id)
	if errors.Is(err, isolator.ErrUnknownContainer) {
		return "unknown"
	}
	if err != nil {
		t.Fatal(err)
	}
	s := st.State
	for _, n := range st.NetworkInfos {
		s += " " + n.Name + "=" + st.Interfaces[n.Name]
		for _, a := range n.IPAddresses {
			s += "," + a.IPAddress
		}
	}
	return s
}

// cached makes sure id's status is in the cache (the records settled, the
// status read once since) and answers from it.
func (h *cacheHost) cached(t *testing.T, id, want string) {
	t.Helper()
	time.Sleep(2 * settle)
	if got := h.status(t, id); got != want {
		t.Fatalf("status of %s = %q, want %q", id, got, want)
	}
	hits, _ := h.cache.Lookups()
	if got := h.status(t, id); got != want {
		t.Fatalf("status of %s from the cache = %q, want %q", id, got, want)
	}
	if h2, _ := h.cache.Lookups(); h2 != hits+1 {
		t.Fatalf("status of %s with settled records was not answered from the cache (hits %d, then %d)", id, hits, h2)
	}
}

// expect asserts the daemon's next status of id, right after a change.
func (h *cacheHost) expect(t *testing.T, step, id, want string) {
	t.Helper()
	if got := h.status(t, id); got != want {
		t.Fatalf("%s: the daemon's status of %s = %q, want %q", step, id, got, want)
	}
}

func config1(nets ...string) *isolator.ContainerConfig {
	var infos []isolator.NetworkInfo
	for _, n := range nets {
		infos = append(infos, isolator.NetworkInfo{Name: n})
	}
	return &isolator.ContainerConfig{ContainerInfo: &isolator.ContainerInfo{NetworkInfos: infos}}
}
