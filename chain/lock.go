package chain

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/weirnet/weir/internal/flock"
)

// containerLock serialises operations on one container across goroutines and
// processes (the CLI and the daemon may run together): an exclusive flock on
// <state>/locks/<id>, removed by the holder that leaves the container with
// no records, so that failed and finished containers leave no lock file.
// Removing it is safe while others wait: flock.Acquire re-checks, once it
// holds the lock, that the path still names the file it locked.
type containerLock struct{ l *flock.Lock }

func lockContainer(ctx context.Context, stateDir, id string) (*containerLock, error) {
	l, err := flock.Acquire(ctx, filepath.Join(stateDir, "locks", id))
	if err != nil {
		return nil, fmt.Errorf("locking container %s: %w", id, err)
	}
	return &containerLock{l: l}, nil
}

// unlock releases the lock, first deleting the lock file when the container
// has no records left (or never got any: a refused or rolled-back ADD).
func (c *containerLock) unlock(st Store, id string) {
	if left, err := st.Networks(id); err == nil && len(left) == 0 {
		c.l.ReleaseAndRemove()
		return
	}
	c.l.Release()
}

// The GC locks keep GC and ADD apart. GC reads the records, then tells each
// plugin to free whatever no record names; an ADD that saved its record
// after the read and allocated before the plugin's GC would lose its address
// and policy endpoint. So every ADD holds <state>/locks/_gc/gc shared from
// before its record is saved until it returns, and GC holds it exclusive.
// A GC first takes <state>/locks/_gc/intent, which every ADD passes through
// on its way to the shared lock: new ADDs then wait behind the GC instead
// of starving it. (No container id starts with "_", so the directory never
// meets a container's lock file.)
const (
	gcLockDir        = "_gc"
	gcLockName       = "gc"
	gcIntentLockName = "intent"
)

// lockOutGC is taken by an ADD: GC waits until it is released.
func lockOutGC(ctx context.Context, stateDir string) (*flock.Lock, error) {
	dir := filepath.Join(stateDir, "locks", gcLockDir)
	intent, err := flock.Acquire(ctx, filepath.Join(dir, gcIntentLockName))
	if err != nil {
		return nil, fmt.Errorf("waiting for a GC to finish: %w", err)
	}
	defer intent.Release()
	l, err := flock.AcquireShared(ctx, filepath.Join(dir, gcLockName))
	if err != nil {
		return nil, fmt.Errorf("waiting for a GC to finish: %w", err)
	}
	return l, nil
}

// lockForGC is taken by GC: it waits for the ADDs in flight, and keeps new
// ones out until release is called.
func lockForGC(ctx context.Context, stateDir string) (release func(), err error) {
	dir := filepath.Join(stateDir, "locks", gcLockDir)
	intent, err := flock.Acquire(ctx, filepath.Join(dir, gcIntentLockName))
	if err != nil {
		return nil, fmt.Errorf("locking out ADDs for GC: %w", err)
	}
	l, err := flock.Acquire(ctx, filepath.Join(dir, gcLockName))
	if err != nil {
		intent.Release()
		return nil, fmt.Errorf("waiting for ADDs in flight before GC: %w", err)
	}
	return func() { l.Release(); intent.Release() }, nil
}

// SweepLocks removes the lock files of containers that have no records: a
// process killed after taking a container's lock and before saving its
// first record leaves one (a normal operation removes it as it unlocks).
// A lock held right now is left alone; its holder removes it. It returns
// the lock files removed.
func (r *Runner) SweepLocks(ctx context.Context) ([]string, error) {
	dir := filepath.Join(r.StateDir, "locks")
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing container locks: %w", err)
	}
	st := r.store()
	var removed []string
	for _, e := range entries {
		id := e.Name()
		if !e.Type().IsRegular() || ValidateContainerID(id) != nil {
			continue // the GC locks' directory, a temporary file
		}
		if left, err := st.Networks(id); err != nil || len(left) > 0 {
			continue
		}
		tctx, cancel := context.WithCancel(ctx)
		cancel() // only a lock free right now: never wait for an operation
		l, err := flock.Acquire(tctx, filepath.Join(dir, id))
		if err != nil {
			continue
		}
		// Under the lock no operation can be saving a record now.
		if left, err := st.Networks(id); err == nil && len(left) == 0 {
			l.ReleaseAndRemove()
			removed = append(removed, filepath.Join(dir, id))
			continue
		}
		l.Release()
	}
	return removed, nil
}
