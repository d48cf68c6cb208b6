package isolator

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/weirnet/weir/internal/flock"
)

// busyWait is how long Recover waits for a container's lock before it takes
// the container for one whose operation is in progress in another process.
const busyWait = 200 * time.Millisecond

// errBusy is returned by tryLock when another operation holds the lock.
var errBusy = errors.New("an operation on the container is in progress")

// lockPath is the isolator's lock of one container. It serialises Prepare,
// Isolate, Cleanup and Recover across processes (the daemon and the CLI may
// run together), around the chain runner's own per-container locks. The
// directory's name starts with "_", which no container id does, so it never
// meets the runner's <state>/locks/<id>.
func (iso *Isolator) lockPath(id string) string {
	return filepath.Join(iso.Runner.StateDir, "locks", "_isolator", id)
}

func (iso *Isolator) lock(ctx context.Context, id string) (*flock.Lock, error) {
	l, err := flock.Acquire(ctx, iso.lockPath(id))
	if err != nil {
		return nil, fmt.Errorf("locking container %s: %w", id, err)
	}
	return l, nil
}

// tryLock takes the container's lock, or returns errBusy when another
// operation holds it for longer than busyWait.
func (iso *Isolator) tryLock(ctx context.Context, id string) (*flock.Lock, error) {
	wctx, cancel := context.WithTimeout(ctx, busyWait)
	defer cancel()
	l, err := flock.Acquire(wctx, iso.lockPath(id))
	if err != nil && errors.Is(wctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
		return nil, errBusy
	}
	if err != nil {
		return nil, fmt.Errorf("locking container %s: %w", id, err)
	}
	return l, nil
}

// unlock releases the container's lock and removes the lock file, so that
// no container leaves one behind: not one cleaned up, nor one attached with
// `weir net add` that Recover visited (its directory stays until the
// runtime's `weir net del`, which takes no isolator lock). Removing it is
// safe while others wait: flock.Acquire re-checks, once it holds the lock,
// that the path still names the file it locked.
func (iso *Isolator) unlock(l *flock.Lock, _ string) {
	l.ReleaseAndRemove()
}

// chainBusy reports whether the chain runner's lock of the container
// (<state>/locks/<id>, see package chain) is held: an attach or detach by
// `weir net add|del`, which takes no isolator lock, is in progress, and its
// "adding" record is not a crash's leftover.
func (iso *Isolator) chainBusy(ctx context.Context, id string) (bool, error) {
	path := filepath.Join(iso.Runner.StateDir, "locks", id)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	wctx, cancel := context.WithTimeout(ctx, busyWait)
	defer cancel()
	l, err := flock.Acquire(wctx, path)
	if err != nil {
		if errors.Is(wctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			return true, nil
		}
		return false, fmt.Errorf("probing the chain lock of %s: %w", id, err)
	}
	// Released at once: an attach starting after this finds the record
	// and refuses, so the record Recover reads stays a leftover.
	l.Release()
	return false, nil
}
