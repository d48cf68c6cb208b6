package isolator

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// DefaultSettle is a StatusCache's Settle when it sets none.
const DefaultSettle = time.Second

// StatusCache keeps the containers' statuses between calls of Status, for
// a process that answers many status queries (the daemon). An entry is
// used only while every file and directory its status was read from is as
// it was read: before answering from it, Status stats them (the
// container's directory, config.json, ns, each network's directory and
// network.conf, each interface's directory and network.info) and compares
// device, inode, size, mtime and ctime. Every change to the records — by
// this process or by any other, such as the CLI attaching, detaching or
// adding a network without the daemon — creates, renames (atomicfile) or
// removes a file in one of those directories, or rewrites one of those
// files, and so changes at least one of those stamps.
//
// File times have the kernel's clock tick (a few milliseconds) for
// granularity, so a change made in the same tick as a stat could leave
// the stamps as they were. A status is therefore kept only when every
// stamp it was read under is older than Settle before the read began (the
// rule git uses for its index): a later change then gets a later time. A
// container whose records changed in the last Settle is read from disk.
//
// The zero value is ready to use; a StatusCache must not be copied after
// first use. The isolator forgets a container when it prepares, isolates,
// cleans up or recovers it; List drops containers that are gone.
type StatusCache struct {
	// Settle is how old the files a status was read from must be for the
	// status to be kept: longer than the file system's timestamp
	// granularity (ext4, xfs, btrfs and tmpfs stamp with the clock tick,
	// at most 10 ms). Zero means DefaultSettle.
	Settle time.Duration

	mu      sync.Mutex
	entries map[string]*cacheEntry

	hits, misses atomic.Uint64
}

// NewStatusCache returns an empty cache with the default Settle.
func NewStatusCache() *StatusCache { return &StatusCache{} }

type cacheEntry struct {
	st     *ContainerStatus
	stamps []fileStamp

	encode sync.Once
	json   []byte // st encoded by encodeStatus, once asked for
	err    error
}

// encoded returns the entry's status encoded by encodeStatus.
func (e *cacheEntry) encoded() ([]byte, error) {
	e.encode.Do(func() { e.json, e.err = encodeStatus(e.st) })
	return e.json, e.err
}

// fileStamp is what a stat says of one path; a missing path is a stamp
// too (exists false), so that its creation is a change.
type fileStamp struct {
	path         string
	exists       bool
	dev, ino     uint64
	size         int64
	mtime, ctime int64 // nanoseconds since the epoch
}

// Lookups reports how many Status calls were answered from the cache
// (hits) and how many read the records (misses).
func (c *StatusCache) Lookups() (hits, misses uint64) {
	return c.hits.Load(), c.misses.Load()
}

// Forget drops the container's entry.
func (c *StatusCache) Forget(id string) {
	c.mu.Lock()
	delete(c.entries, id)
	c.mu.Unlock()
}

// Len is the number of containers in the cache.
func (c *StatusCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// forget is Forget on a cache that may be nil.
func (c *StatusCache) forget(id string) {
	if c != nil {
		c.Forget(id)
	}
}

// retain drops every container not in ids.
func (c *StatusCache) retain(ids []string) {
	keep := make(map[string]bool, len(ids))
	for _, id := range ids {
		keep[id] = true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for id := range c.entries {
		if !keep[id] {
			delete(c.entries, id)
		}
	}
}

// status answers from the entry of container id, whose directory is dir,
// when its stamps still hold, and otherwise reads the status with read and
// keeps it when it has settled.
func (c *StatusCache) status(id, dir string, read func(string) (*ContainerStatus, error)) (*ContainerStatus, error) {
	e, err := c.lookup(id, dir, read)
	if err != nil {
		return nil, err
	}
	return e.st.clone(), nil
}

// statusJSON is status encoded by encodeStatus: the entry's bytes, shared.
func (c *StatusCache) statusJSON(id, dir string, read func(string) (*ContainerStatus, error)) ([]byte, error) {
	e, err := c.lookup(id, dir, read)
	if err != nil {
		return nil, err
	}
	return e.encoded()
}

// lookup returns the entry of container id, whose directory is dir, when
// its stamps still hold, and otherwise a new one read with read, kept when
// it has settled. Entries are never changed once made (but for their
// encoding, made once).
func (c *StatusCache) lookup(id, dir string, read func(string) (*ContainerStatus, error)) (*cacheEntry, error) {
	c.mu.Lock()
	e := c.entries[id]
	c.mu.Unlock()
	if e != nil && e.current() {
		c.hits.Add(1)
		return e, nil
	}
	c.misses.Add(1)
	began := time.Now()
	st, err := read(id)
	if err != nil {
		c.Forget(id)
		return nil, err
	}
	// Stamped after the read: a change before a stat shows in its stamp
	// (too recent to keep), a change after it makes the stamp stale.
	stamps, err := fingerprint(dir)
	if err != nil {
		c.Forget(id)
		stamps = nil
	}
	e = &cacheEntry{st: st, stamps: stamps}
	settle := c.Settle
	if settle <= 0 {
		settle = DefaultSettle
	}
	if stamps == nil || !settled(stamps, began.Add(-settle)) {
		c.Forget(id)
		return e, nil
	}
	c.mu.Lock()
	if c.entries == nil {
		c.entries = map[string]*cacheEntry{}
	}
	c.entries[id] = e
	c.mu.Unlock()
	return e, nil
}

// encodeStatus is StatusJSON's encoding: indented by two spaces, with a
// final newline (what a json.Encoder with SetIndent("", "  ") writes).
func encodeStatus(st *ContainerStatus) ([]byte, error) {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// current reports whether every stamp of the entry still holds.
func (e *cacheEntry) current() bool {
	for _, s := range e.stamps {
		if stampOf(s.path) != s {
			return false
		}
	}
	return true
}

// settled reports whether every stamp's times are before t.
func settled(stamps []fileStamp, t time.Time) bool {
	limit := t.UnixNano()
	for _, s := range stamps {
		if s.exists && (s.mtime >= limit || s.ctime >= limit) {
			return false
		}
	}
	return true
}

// fingerprint stamps what readStatus reads of the container whose
// directory is dir: the directory, config.json and ns in it, and in every
// subdirectory (a network's: chain.Store) the subdirectory, its
// network.conf, and each of its own subdirectories (an interface's) with
// its network.info. Directories are stamped whether or not they hold a
// record yet, so that a record appearing in them is a change.
func fingerprint(dir string) ([]fileStamp, error) {
	out := []fileStamp{stampOf(dir), stampOf(filepath.Join(dir, "config.json")), stampOf(filepath.Join(dir, "ns"))}
	nets, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	for _, n := range nets {
		if !n.IsDir() {
			continue
		}
		ndir := filepath.Join(dir, n.Name())
		out = append(out, stampOf(ndir), stampOf(filepath.Join(ndir, "network.conf")))
		ifs, err := os.ReadDir(ndir)
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed meanwhile: its stamp says so
		}
		if err != nil {
			return nil, err
		}
		for _, f := range ifs {
			if f.IsDir() {
				idir := filepath.Join(ndir, f.Name())
				out = append(out, stampOf(idir), stampOf(filepath.Join(idir, "network.info")))
			}
		}
	}
	return out, nil
}

// stampOf stats path. An error other than "does not exist" gives a stamp
// that matches no later one, so nothing read under it is used.
func stampOf(path string) fileStamp {
	var st syscall.Stat_t
	err := syscall.Stat(path, &st)
	switch {
	case errors.Is(err, syscall.ENOENT), errors.Is(err, syscall.ENOTDIR):
		return fileStamp{path: path}
	case err != nil:
		// Never equal to another stamp: an mtime in the future.
		return fileStamp{path: path, exists: true, mtime: time.Now().Add(time.Hour).UnixNano(), size: -1}
	}
	return fileStamp{
		path: path, exists: true, dev: uint64(st.Dev), ino: st.Ino, size: st.Size,
		mtime: st.Mtim.Nano(), ctime: st.Ctim.Nano(),
	}
}

// clone copies a status deeply, so that what a caller does with its copy
// never reaches the cache.
func (st *ContainerStatus) clone() *ContainerStatus {
	c := *st
	c.NetworkInfos = make([]NetworkInfo, len(st.NetworkInfos))
	for i, n := range st.NetworkInfos {
		if n.Labels != nil {
			n.Labels = &Labels{Labels: slices.Clone(n.Labels.Labels)}
		}
		n.PortMappings = slices.Clone(n.PortMappings)
		n.IPAddresses = slices.Clone(n.IPAddresses)
		c.NetworkInfos[i] = n
	}
	if st.Interfaces != nil {
		c.Interfaces = make(map[string]string, len(st.Interfaces))
		for k, v := range st.Interfaces {
			c.Interfaces[k] = v
		}
	}
	return &c
}
