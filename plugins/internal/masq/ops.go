package masq

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/weirnet/weir/internal/flock"
)

// destroyWait bounds how long destroySet waits for the kernel to let go of
// a set whose last rule was just deleted.
const destroyWait = 2 * time.Second

// lock takes the host-wide masq lock. Every check and change of a group,
// and every member change, is made under it, so a group is never removed
// while another Setup is adding to it.
func (m *Masq) lock(ctx context.Context) (*flock.Lock, error) {
	return flock.Acquire(ctx, m.lockPath)
}

// isMasqSet tells masq's sets from every other.
func isMasqSet(name string) bool { return strings.HasPrefix(name, SetPrefix) }

// ensureGroup makes sure the group's set exists and its chain and jump
// match on it. The set's reference count says whether a rule matches on
// it: weir's jump is the only one, made in one batch with the chain, so a
// referenced set has its group and the common case costs one header
// listing. A set nothing references is either new or left by a crash
// after it was made; either way the chain and jump are made now.
func (m *Masq) ensureGroup(ctx context.Context, g group) error {
	info, err := m.sets.Header(g.set())
	switch {
	case err == nil && info.References > 0:
		return nil
	case errors.Is(err, ErrSetMissing):
		if err := m.sets.Create(g.set(), g.family); err != nil {
			return err
		}
	case err != nil:
		return err
	}
	err = m.run.Restore(ctx, g.family, createBatch(g))
	if err == nil || errors.Is(err, ErrNotInstalled) {
		return err
	}
	// The chain exists (a crash, or someone's hand): rebuild it from
	// what is there.
	t, err := m.table(ctx, g.family)
	if err != nil {
		return err
	}
	return m.run.Restore(ctx, g.family, repairBatch(t, g))
}

// dropMembers deletes the members of set name whose comment pick chooses.
// It returns how many it deleted and the set as it is left (nil when the
// set does not exist).
func (m *Masq) dropMembers(name string, pick func(comment string) bool) (int, *SetInfo, error) {
	s, err := m.sets.List(name)
	if errors.Is(err, ErrSetMissing) {
		return 0, nil, nil
	}
	if err != nil {
		return 0, nil, err
	}
	kept := s.Members[:0:0]
	n := 0
	for _, mem := range s.Members {
		if !pick(mem.Comment) {
			kept = append(kept, mem)
			continue
		}
		if _, err := m.sets.Del(name, mem.IP); err != nil {
			return n, nil, err
		}
		n++
	}
	s.Members, s.Entries = kept, len(kept)
	return n, &s, nil
}

// removeGroup removes the group of set (of network, family f): its jump
// and chain in one iptables-restore batch, then the set. When the exact
// batch does not apply (the group is partly gone, or was changed), the
// chain and every jump to it are removed from what the table holds.
func (m *Masq) removeGroup(ctx context.Context, set, network string, f Family) error {
	err := m.run.Restore(ctx, f, removeBatch(set, network))
	if err != nil && !errors.Is(err, ErrNotInstalled) {
		t, err := m.table(ctx, f)
		if err != nil {
			return fmt.Errorf("removing masquerade group %s: %w", set, err)
		}
		if batch := teardownBatch(t, []string{chainOfSet(set)}); batch != nil {
			if err := m.run.Restore(ctx, f, batch); err != nil {
				return fmt.Errorf("removing masquerade group %s: %w", set, err)
			}
		}
	}
	return m.destroySet(ctx, set)
}

// destroySet destroys the set, a missing one being success. The kernel may
// release a deleted rule's hold on the set a moment after the commit that
// deleted it, so a set in use is tried again for a while.
func (m *Masq) destroySet(ctx context.Context, name string) error {
	deadline := time.Now().Add(destroyWait)
	delay := time.Millisecond
	for {
		err := m.sets.Destroy(name)
		if !errors.Is(err, ErrSetInUse) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("destroying ipset %s: %w", name, ctx.Err())
		case <-time.After(delay):
		}
		if delay < 50*time.Millisecond {
			delay *= 2
		}
	}
}
