package dataplane

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// hostLock is a flock on the host-wide lock file. Every weir process that
// writes the dataplane (CNI plugin runs, the daemon's reconcile loop, the
// CLI) takes it exclusively around read, diff and write; Read takes it
// shared. flock locks belong to the open file, so two goroutines of one
// process exclude each other as two processes do.
type hostLock struct{ f *os.File }

// lockHost takes the lock (how is unix.LOCK_EX or unix.LOCK_SH), waiting
// until ctx ends.
func lockHost(ctx context.Context, path string, how int) (*hostLock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("creating lock directory for %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening lock %s: %w", path, err)
	}
	fd := int(f.Fd())
	err = unix.Flock(fd, how|unix.LOCK_NB)
	if err == nil {
		return &hostLock{f}, nil
	}
	if !errors.Is(err, unix.EWOULDBLOCK) {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	// Wait in a blocking flock on another goroutine, so a waiter is woken
	// the moment the holder lets go; if ctx ends first, the lock is
	// released as soon as that goroutine gets it.
	done := make(chan error, 1)
	go func() {
		for {
			err := unix.Flock(fd, how)
			if !errors.Is(err, unix.EINTR) {
				done <- err
				return
			}
		}
	}()
	select {
	case err := <-done:
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		return &hostLock{f}, nil
	case <-ctx.Done():
		go func() {
			<-done
			f.Close()
		}()
		return nil, fmt.Errorf("waiting for lock %s: %w", path, ctx.Err())
	}
}

func (l *hostLock) unlock() { _ = l.f.Close() }
