package hostlocal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/weirnet/weir/internal/atomicfile"
	"github.com/weirnet/weir/plugins/pluginkit"
)

// File names in a network's store directory besides the reservations (which
// are named by their address) and the index files (indexPrefix + hash).
const (
	lockName         = "lock"
	lastReservedName = "last_reserved_ip."
	tempPrefix       = "." // temporary files: reservations being made, atomic writes
	reservePrefix    = ".reserve-"
)

// Owner identifies an attachment: a container's interface.
type Owner struct {
	ContainerID string
	IfName      string
}

// content is what a reservation file holds.
func (o Owner) content() []byte {
	return []byte(o.ContainerID + "\n" + o.IfName)
}

func parseOwner(b []byte) Owner {
	id, ifname, _ := bytes.Cut(b, []byte("\n"))
	// Tolerate the reference plugin's "\r\n" separator and a trailing newline.
	return Owner{
		ContainerID: strings.TrimSuffix(string(id), "\r"),
		IfName:      strings.TrimRight(string(ifname), "\r\n"),
	}
}

func (o Owner) String() string { return o.ContainerID + "/" + o.IfName }

// Store is one network's directory of reservations. Changes must be made
// while holding Lock.
type Store struct {
	dir string
}

// OpenStore returns the store of network under dataDir, creating its
// directory when create is set. Without create, a missing directory is
// reported as an error satisfying errors.Is(err, fs.ErrNotExist).
func OpenStore(dataDir, network string, create bool) (*Store, error) {
	dir := filepath.Join(dataDir, network)
	if create {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, pluginkit.Errorf(types.ErrIOFailure, "creating address store %s: %w", dir, err)
		}
	} else if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("opening address store %s: %w", dir, err)
	}
	return &Store{dir: dir}, nil
}

// Dir is the store's directory.
func (s *Store) Dir() string { return s.dir }

func (s *Store) addrPath(a netip.Addr) string { return filepath.Join(s.dir, a.String()) }

// Lock takes the host-wide lock of the store (flock on its lock file) and
// returns the function that releases it. With a cancellable ctx it polls,
// giving up with a try-again-later error when ctx ends.
func (s *Store) Lock(ctx context.Context) (func(), error) {
	f, err := os.OpenFile(filepath.Join(s.dir, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, pluginkit.Errorf(types.ErrIOFailure, "opening store lock: %w", err)
	}
	fd := int(f.Fd())
	unlock := func() {
		_ = syscall.Flock(fd, syscall.LOCK_UN)
		_ = f.Close()
	}
	how := syscall.LOCK_EX | syscall.LOCK_NB
	if ctx.Done() == nil {
		how = syscall.LOCK_EX
	}
	delay := 200 * time.Microsecond
	for {
		err := syscall.Flock(fd, how)
		if err == nil {
			return unlock, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			_ = f.Close()
			return nil, pluginkit.Errorf(types.ErrIOFailure, "locking address store %s: %w", s.dir, err)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			_ = f.Close()
			return nil, pluginkit.Errorf(types.ErrTryAgainLater, "waiting for the lock of address store %s: %w", s.dir, ctx.Err())
		case <-t.C:
		}
		delay = min(2*delay, 5*time.Millisecond)
	}
}

// reservation is a temporary file holding an owner, fully written and
// fsynced, ready to be linked to the names of the addresses it reserves.
type reservation struct {
	s   *Store
	tmp string
}

func (s *Store) newReservation(o Owner) (*reservation, error) {
	f, err := os.CreateTemp(s.dir, reservePrefix+"*")
	if err != nil {
		return nil, pluginkit.Errorf(types.ErrIOFailure, "creating reservation file: %w", err)
	}
	r := &reservation{s: s, tmp: f.Name()}
	_, err = f.Write(o.content())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		r.close()
		return nil, pluginkit.Errorf(types.ErrIOFailure, "writing reservation file %s: %w", r.tmp, err)
	}
	return r, nil
}

// link reserves a by linking the reservation file to a's name; false means
// the address is already reserved.
func (r *reservation) link(a netip.Addr) (bool, error) {
	err := os.Link(r.tmp, r.s.addrPath(a))
	if err == nil {
		return true, nil
	}
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	return false, pluginkit.Errorf(types.ErrIOFailure, "reserving %s: %w", a, err)
}

func (r *reservation) close() {
	_ = os.Remove(r.tmp)
}

// Reserve reserves a for o; false means a is already reserved.
func (s *Store) Reserve(o Owner, a netip.Addr) (bool, error) {
	r, err := s.newReservation(o)
	if err != nil {
		return false, err
	}
	defer r.close()
	return r.link(a)
}

// Owner returns the owner of a's reservation; false when a is free.
func (s *Store) Owner(a netip.Addr) (Owner, bool, error) {
	b, err := os.ReadFile(s.addrPath(a))
	if errors.Is(err, fs.ErrNotExist) {
		return Owner{}, false, nil
	}
	if err != nil {
		return Owner{}, false, pluginkit.Errorf(types.ErrIOFailure, "reading reservation of %s: %w", a, err)
	}
	return parseOwner(b), true, nil
}

// Release frees a if o holds it; an address that is free or held by someone
// else is left alone (false).
func (s *Store) Release(o Owner, a netip.Addr) (bool, error) {
	got, ok, err := s.Owner(a)
	if err != nil || !ok || got != o {
		return false, err
	}
	if err := os.Remove(s.addrPath(a)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, pluginkit.Errorf(types.ErrIOFailure, "releasing %s: %w", a, err)
	}
	return true, nil
}

// LastReserved returns the address last handed out from range set idx, if
// recorded.
func (s *Store) LastReserved(idx int) netip.Addr {
	b, err := os.ReadFile(filepath.Join(s.dir, lastReservedName+strconv.Itoa(idx)))
	if err != nil {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(strings.TrimSpace(string(b)))
	if err != nil {
		return netip.Addr{}
	}
	return a
}

// SetLastReserved records a as the address last handed out from range set
// idx. The file is replaced by rename, so a killed process leaves the old or
// the new position, but it is not fsynced: it is only a hint, and a position
// lost to a power cut (or an unreadable file) makes the next allocation start
// from the beginning of the range set, which is slower but still correct.
func (s *Store) SetLastReserved(idx int, a netip.Addr) error {
	path := filepath.Join(s.dir, lastReservedName+strconv.Itoa(idx))
	f, err := os.CreateTemp(s.dir, "."+lastReservedName+"*")
	if err != nil {
		return pluginkit.Errorf(types.ErrIOFailure, "recording last reserved address: %w", err)
	}
	_, err = f.WriteString(a.String())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return pluginkit.Errorf(types.ErrIOFailure, "recording last reserved address: %w", err)
	}
	return nil
}

// sync makes the store's directory entries durable.
func (s *Store) sync() error {
	if err := atomicfile.SyncDir(s.dir); err != nil {
		return pluginkit.Errorf(types.ErrIOFailure, "%w", err)
	}
	return nil
}

// Contents is one walk over a store directory.
type Contents struct {
	// Reservations maps each reserved address to its owner.
	Reservations map[netip.Addr]Owner
	// Indexes are the index files' names.
	Indexes []string
	// Temps are leftover temporary files' names.
	Temps []string
}

// Scan walks the store directory. With owners false the reservation files
// are only listed (owners are left zero), which costs no reads.
func (s *Store) Scan(owners bool) (*Contents, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, pluginkit.Errorf(types.ErrIOFailure, "listing address store: %w", err)
	}
	c := &Contents{Reservations: make(map[netip.Addr]Owner, len(ents))}
	for _, e := range ents {
		name := e.Name()
		switch {
		case strings.HasPrefix(name, tempPrefix):
			c.Temps = append(c.Temps, name)
		case strings.HasPrefix(name, indexPrefix):
			c.Indexes = append(c.Indexes, name)
		default:
			a, err := netip.ParseAddr(name)
			if err != nil {
				continue // lock, last_reserved_ip.N, anything else
			}
			var o Owner
			if owners {
				b, err := os.ReadFile(filepath.Join(s.dir, name))
				if errors.Is(err, fs.ErrNotExist) {
					continue
				}
				if err != nil {
					return nil, pluginkit.Errorf(types.ErrIOFailure, "reading reservation of %s: %w", name, err)
				}
				o = parseOwner(b)
			}
			c.Reservations[a] = o
		}
	}
	return c, nil
}

// remove deletes a file of the store by name; a missing file is fine.
func (s *Store) remove(name string) error {
	if err := os.Remove(filepath.Join(s.dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return pluginkit.Errorf(types.ErrIOFailure, "removing %s: %w", name, err)
	}
	return nil
}
