// Package flock takes exclusive, host-wide file locks (flock(2)) that a
// context can give up waiting for, and that stay correct when the lock file
// is removed by its last holder.
package flock

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// Lock is a held lock.
type Lock struct {
	f    *os.File
	path string
}

// Acquire takes an exclusive lock on path (created, with its directory, if
// missing), polling so that ctx can end the wait. A lock file that a holder
// removed while we waited is detected after locking, and the new file is
// locked instead.
func Acquire(ctx context.Context, path string) (*Lock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("creating lock directory for %s: %w", path, err)
	}
	for {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return nil, fmt.Errorf("opening lock %s: %w", path, err)
		}
		if err := wait(ctx, f); err != nil {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		held, err1 := f.Stat()
		now, err2 := os.Stat(path)
		if err1 == nil && err2 == nil && os.SameFile(held, now) {
			return &Lock{f: f, path: path}, nil
		}
		f.Close()
	}
}

func wait(ctx context.Context, f *os.File) error {
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

// Release releases the lock.
func (l *Lock) Release() { _ = l.f.Close() }

// ReleaseAndRemove deletes the lock file, then releases the lock: for a
// lock whose object is gone (a container cleaned up). Waiters notice and
// lock a fresh file.
func (l *Lock) ReleaseAndRemove() {
	_ = os.Remove(l.path)
	_ = l.f.Close()
}
