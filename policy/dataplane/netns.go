package dataplane

import (
	"context"
	"fmt"

	"github.com/containernetworking/plugins/pkg/ns"
	"golang.org/x/sys/unix"
)

// The *InNetNS methods run a whole call with the calling goroutine's
// thread in the network namespace at nsPath (a pinned namespace such as
// /run/netns/x or a container's bind mount), for per-container enforcement
// inside a macvlan container's namespace. The thread is locked for the
// call and switched back before it is unlocked (ns.Do); the tools weir
// runs inherit the thread's namespace. Each namespace has its own cache
// file, named by the namespace's inode and checked against its cookie.

// ApplyInNetNS is Apply inside the network namespace at nsPath.
func (w *Writer) ApplyInNetNS(ctx context.Context, nsPath string, desired State) (Stats, error) {
	var st Stats
	err := ns.WithNetNSPath(nsPath, func(ns.NetNS) error {
		var err error
		st, err = w.Apply(ctx, desired)
		return err
	})
	if err != nil {
		return st, fmt.Errorf("in network namespace %s: %w", nsPath, err)
	}
	return st, nil
}

// PatchInNetNS is Patch inside the network namespace at nsPath.
func (w *Writer) PatchInNetNS(ctx context.Context, nsPath string, p Patch) (Stats, error) {
	var st Stats
	err := ns.WithNetNSPath(nsPath, func(ns.NetNS) error {
		var err error
		st, err = w.Patch(ctx, p)
		return err
	})
	if err != nil {
		return st, fmt.Errorf("in network namespace %s: %w", nsPath, err)
	}
	return st, nil
}

// RepairInNetNS is Repair inside the network namespace at nsPath.
func (w *Writer) RepairInNetNS(ctx context.Context, nsPath string, desired State) (Stats, error) {
	var st Stats
	err := ns.WithNetNSPath(nsPath, func(ns.NetNS) error {
		var err error
		st, err = w.Repair(ctx, desired)
		return err
	})
	if err != nil {
		return st, fmt.Errorf("in network namespace %s: %w", nsPath, err)
	}
	return st, nil
}

// ReadInNetNS is Read inside the network namespace at nsPath.
func (w *Writer) ReadInNetNS(ctx context.Context, nsPath string) (State, error) {
	var s State
	err := ns.WithNetNSPath(nsPath, func(ns.NetNS) error {
		var err error
		s, err = w.Read(ctx)
		return err
	})
	if err != nil {
		return State{}, fmt.Errorf("in network namespace %s: %w", nsPath, err)
	}
	return s, nil
}

// ForgetNetNS removes the cache file of the namespace at nsPath; call it
// when the namespace is torn down. (A stale file is never trusted for
// another namespace, but it takes space until /run is cleared.)
func (w *Writer) ForgetNetNS(nsPath string) error {
	var st unix.Stat_t
	if err := unix.Stat(nsPath, &st); err != nil {
		return fmt.Errorf("forgetting dataplane cache of %s: %w", nsPath, err)
	}
	return removeCache(cachePathFor(w.cfg.CacheDir, st.Ino))
}
