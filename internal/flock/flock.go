// Package flock takes host-wide file locks (flock(2)), exclusive or shared,
// that a context can give up waiting for, and that stay correct when the
// lock file is removed by its last holder.
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
// missing), polling so that ctx can end the wait.
//
// A holder may remove the lock file (ReleaseAndRemove) while others wait
// for it. A waiter that then gets the lock holds it on an inode no longer
// reachable by path, so after locking it checks that path still names the
// inode it locked, and otherwise starts over on the file now at path. Only
// holders remove the file, so two processes never both hold a lock on the
// inode path names.
func Acquire(ctx context.Context, path string) (*Lock, error) {
	return acquire(ctx, path, syscall.LOCK_EX)
}

// AcquireShared takes a shared lock on path: any number of shared holders,
// or one exclusive holder (Acquire). The lock file is never removed by a
// shared holder.
func AcquireShared(ctx context.Context, path string) (*Lock, error) {
	return acquire(ctx, path, syscall.LOCK_SH)
}

func acquire(ctx context.Context, path string, how int) (*Lock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("creating lock directory for %s: %w", path, err)
	}
	for {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return nil, fmt.Errorf("opening lock %s: %w", path, err)
		}
		if err := wait(ctx, f, how); err != nil {
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

func wait(ctx context.Context, f *os.File, how int) error {
	delay := time.Millisecond
	for {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
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

// ReleaseAndRemove deletes the lock file, then releases the lock: for an
// exclusive lock whose object is gone (a container cleaned up). Waiters
// notice and lock a fresh file.
func (l *Lock) ReleaseAndRemove() {
	_ = os.Remove(l.path)
	_ = l.f.Close()
}
