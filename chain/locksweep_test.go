package chain

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/weirnet/weir/internal/flock"
)

// TestSweepLocks: the lock file of a container without records goes; one
// whose container has records, one held right now, and the GC locks stay.
func TestSweepLocks(t *testing.T) {
	dir := t.TempDir()
	r := &Runner{StateDir: dir}
	locks := filepath.Join(dir, "locks")
	for _, id := range []string{"orphan", "recorded", "held"} {
		l, err := flock.Acquire(context.Background(), filepath.Join(locks, id))
		if err != nil {
			t.Fatal(err)
		}
		l.Release()
	}
	if err := (Store{Dir: dir}).Save(&Record{Network: "n", ContainerID: "recorded", IfName: "eth0", State: "added", Config: []byte(`{"cniVersion":"1.1.0","name":"n","plugins":[]}`)}); err != nil {
		t.Fatal(err)
	}
	held, err := flock.Acquire(context.Background(), filepath.Join(locks, "held"))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()
	gc, err := lockForGC(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	gc()
	removed, err := r.SweepLocks(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(removed, []string{filepath.Join(locks, "orphan")}) {
		t.Fatalf("removed %v", removed)
	}
	for _, name := range []string{"recorded", "held", gcLockDir} {
		if _, err := os.Stat(filepath.Join(locks, name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(locks, "orphan")); !os.IsNotExist(err) {
		t.Errorf("orphan lock: %v", err)
	}
	// Nothing to sweep without a locks directory at all.
	if removed, err := (&Runner{StateDir: t.TempDir()}).SweepLocks(context.Background()); err != nil || removed != nil {
		t.Fatalf("empty state: %v, %v", removed, err)
	}
}
