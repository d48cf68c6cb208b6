package isolator_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weirnet/weir/internal/flock"
	"github.com/weirnet/weir/isolator"
)

// tempFile makes a file named as an interrupted atomic write leaves one,
// age old.
func tempFile(t *testing.T, path string, age time.Duration) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	when := time.Now().Add(-age)
	if err := os.Chtimes(path, when, when); err != nil {
		t.Fatal(err)
	}
	return path
}

// attachedHost has c1 (prepared, attached to n1, its files written) and c2
// (attached to n1 with `weir net add` alone) on record.
func attachedHost(t *testing.T) (*cacheHost, string) {
	t.Helper()
	h := newCacheHost(t)
	if _, err := h.cli.Prepare("c1", config1("n1")); err != nil {
		t.Fatal(err)
	}
	h.netAdd(t, "n1", "c1", "eth0")
	state := h.cli.Runner.StateDir
	if err := os.WriteFile(filepath.Join(state, "containers", "c1", "hosts"), []byte("127.0.0.1 localhost\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	h.netAdd(t, "n1", "c2", "eth0")
	return h, state
}

func exists(p string) bool { _, err := os.Lstat(p); return err == nil }

// TestRecoverSweepsTemps: Recover removes every temporary file in the
// directories of the containers it recovers, young ones too (it holds
// their locks), and elsewhere only those older than StaleTempAge; records
// and statuses stay as they were.
func TestRecoverSweepsTemps(t *testing.T) {
	h, state := attachedHost(t)
	c := filepath.Join(state, "containers")
	inContainers := []string{
		tempFile(t, filepath.Join(c, "c1", ".hosts.tmp-11"), 0),
		tempFile(t, filepath.Join(c, "c1", ".config.json.tmp-12"), 0),
		tempFile(t, filepath.Join(c, "c1", "n1", "eth0", ".network.info.tmp-13"), time.Second),
		tempFile(t, filepath.Join(c, "c2", "n1", ".network.conf.tmp-14"), 0),
	}
	oldPlugin := tempFile(t, filepath.Join(state, "portmap", ".c1:eth0.json.tmp-15"), isolator.StaleTempAge+time.Minute)
	youngPlugin := tempFile(t, filepath.Join(state, "portmap", ".c2:eth0.json.tmp-16"), time.Minute)
	notTemp := tempFile(t, filepath.Join(state, "portmap", "c1:eth0.json"), time.Hour)
	before := map[string]string{}
	for _, id := range []string{"c1", "c2"} {
		before[id] = h.status(t, id)
	}

	rep, err := h.cli.Recover(context.Background(), nil, nil)
	if err != nil {
		t.Fatalf("Recover: %v", err)
	}
	if len(rep.Kept) != 2 || len(rep.Cleaned) != 0 || len(rep.Undone) != 0 {
		t.Fatalf("Recover: %+v, want c1 and c2 kept", rep)
	}
	want := slices.Sorted(slices.Values(append(slices.Clone(inContainers), oldPlugin)))
	if got := slices.Sorted(slices.Values(rep.Temps)); !slices.Equal(got, want) {
		t.Errorf("RecoverReport.Temps:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, p := range want {
		if exists(p) {
			t.Errorf("%s is still there", p)
		}
	}
	for _, p := range []string{youngPlugin, notTemp} {
		if !exists(p) {
			t.Errorf("%s was removed", p)
		}
	}
	for id, st := range before {
		if got := h.status(t, id); got != st {
			t.Errorf("status of %s after Recover = %q, want %q", id, got, st)
		}
	}
}

// TestRecoverLeavesTempsOfBusyContainers: a container whose chain lock is
// held (a `weir net add` writing its record right now) keeps its young
// temporary files.
func TestRecoverLeavesTempsOfBusyContainers(t *testing.T) {
	h, state := attachedHost(t)
	young := tempFile(t, filepath.Join(state, "containers", "c2", "n1", ".network.info.tmp-21"), 0)
	l, err := flock.Acquire(context.Background(), filepath.Join(state, "locks", "c2"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	rep, err := h.cli.Recover(context.Background(), nil, nil)
	if err != nil {
		t.Fatalf("Recover: %v", err)
	}
	if !slices.Equal(rep.Busy, []string{"c2"}) || len(rep.Temps) != 0 || !exists(young) {
		t.Fatalf("Recover with c2's chain lock held: busy %v, temps %v; %s there: %v", rep.Busy, rep.Temps, young, exists(young))
	}
}

// TestGCSweepsStaleTemps: GC removes temporary files older than
// StaleTempAge anywhere under the state directory, and no younger one.
func TestGCSweepsStaleTemps(t *testing.T) {
	h, state := attachedHost(t)
	old := []string{
		tempFile(t, filepath.Join(state, "containers", "c1", ".hosts.tmp-31"), isolator.StaleTempAge+time.Minute),
		tempFile(t, filepath.Join(state, "ipam", "n1", ".i-c1-eth0.tmp-32"), 2*isolator.StaleTempAge),
	}
	young := []string{
		tempFile(t, filepath.Join(state, "containers", "c1", "n1", "eth0", ".network.info.tmp-33"), 0),
		tempFile(t, filepath.Join(state, "ipam", "n1", ".i-c2-eth0.tmp-34"), isolator.StaleTempAge-time.Minute),
	}
	if err := h.cli.GC(context.Background()); err != nil {
		t.Fatalf("GC: %v", err)
	}
	for _, p := range old {
		if exists(p) {
			t.Errorf("%s is still there", p)
		}
	}
	for _, p := range young {
		if !exists(p) {
			t.Errorf("%s was removed", p)
		}
	}
	if got := h.status(t, "c1"); got != "isolated n1=eth0,10.9.0.1" {
		t.Errorf("status of c1 after GC = %q", got)
	}
}
