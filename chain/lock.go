package chain

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/weirnet/weir/internal/flock"
)

// containerLock serialises operations on one container across goroutines and
// processes (the CLI and the daemon may run together): an exclusive flock on
// <state>/locks/<id>, removed by the last holder when the container is gone.
type containerLock struct{ l *flock.Lock }

func lockContainer(ctx context.Context, stateDir, id string) (*containerLock, error) {
	l, err := flock.Acquire(ctx, filepath.Join(stateDir, "locks", id))
	if err != nil {
		return nil, fmt.Errorf("locking container %s: %w", id, err)
	}
	return &containerLock{l: l}, nil
}

// unlock releases the lock; with remove it first deletes the lock file (the
// container is gone), so waiters take a fresh one.
func (c *containerLock) unlock(remove bool) {
	if remove {
		c.l.ReleaseAndRemove()
		return
	}
	c.l.Release()
}
