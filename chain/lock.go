package chain

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// containerLock serialises operations on one container across goroutines and
// processes (the CLI and the daemon may run together): an exclusive flock
// on <state>/locks/<id>. A lock file removed by the last holder (the
// container's cleanup) is detected after locking and taken again.
type containerLock struct {
	f    *os.File
	path string
}

func lockContainer(ctx context.Context, stateDir, id string) (*containerLock, error) {
	dir := filepath.Join(stateDir, "locks")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating lock directory %s: %w", dir, err)
	}
	path := filepath.Join(dir, id)
	for {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return nil, fmt.Errorf("opening lock %s: %w", path, err)
		}
		if err := flockContext(ctx, f); err != nil {
			f.Close()
			return nil, fmt.Errorf("locking container %s: %w", id, err)
		}
		held, err1 := f.Stat()
		now, err2 := os.Stat(path)
		if err1 == nil && err2 == nil && os.SameFile(held, now) {
			return &containerLock{f: f, path: path}, nil
		}
		f.Close() // removed or replaced while we waited: lock the new one
	}
}

// flockContext takes an exclusive lock, polling so that ctx can end the wait.
func flockContext(ctx context.Context, f *os.File) error {
	delay := time.Millisecond
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		if delay < 50*time.Millisecond {
			delay *= 2
		}
	}
}

// unlock releases the lock; with remove it first deletes the lock file (the
// container is gone), so waiters take a fresh one.
func (l *containerLock) unlock(remove bool) {
	if remove {
		_ = os.Remove(l.path)
	}
	_ = l.f.Close()
}
