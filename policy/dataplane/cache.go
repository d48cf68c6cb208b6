package dataplane

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/weirnet/weir/internal/atomicfile"
)

// cacheVersion changes when the cache's meaning changes; other versions
// are ignored.
const cacheVersion = 2

// soNetnsCookie is SO_NETNS_COOKIE (Linux 5.14; asm-generic value, which
// amd64, arm64, riscv64, ppc64 and s390x use).
const soNetnsCookie = 71

// cacheFile is the last state Apply wrote into one network namespace. It
// lets Apply diff without reading the kernel back. It is trusted only for
// the same namespace (netns cookies are never reused, unlike inode numbers)
// and backend; when Valid is false (a write failed) only Generation is
// used.
type cacheFile struct {
	Version    int                  `json:"version"`
	Backend    Backend              `json:"backend"`
	Cookie     uint64               `json:"netnsCookie"`
	Generation uint64               `json:"generation"`
	Valid      bool                 `json:"valid"`
	Sets       map[string]cachedSet `json:"sets,omitempty"`
	Chains     map[string]string    `json:"chains,omitempty"` // ChainKey -> digest of rules
	Rules      map[string][]string  `json:"rules,omitempty"`  // ChainKey -> rules, for chains of editMin rules or more
	Hooks      []cachedHook         `json:"hooks,omitempty"`
	Aliases    map[string]string    `json:"aliases,omitempty"` // see Writer.aliases
	Raw        map[string]string    `json:"raw,omitempty"`     // ChainKey -> digest of the rules as given
	Sums       map[string]string    `json:"sums,omitempty"`    // ChainKey -> ruleSums, for chains the cache keeps no rules of
}

type cachedSet struct {
	Type    string   `json:"type"`
	Family  Family   `json:"family"`
	Members []string `json:"members,omitempty"`
}

type cachedHook struct {
	Table  Table  `json:"table"`
	Family Family `json:"family"`
	Chain  string `json:"chain"`
	Rule   string `json:"rule"`
}

// netnsID identifies the calling thread's network namespace.
type netnsID struct {
	ino    uint64 // names the cache file
	cookie uint64 // proves the file is about this namespace; 0 if unknown
}

// currentNetNS identifies the calling thread's network namespace.
func currentNetNS() (netnsID, error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
		return netnsID{}, fmt.Errorf("identifying network namespace: %w", err)
	}
	id := netnsID{ino: st.Ino}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return id, nil
	}
	defer unix.Close(fd)
	if c, err := unix.GetsockoptUint64(fd, unix.SOL_SOCKET, soNetnsCookie); err == nil {
		id.cookie = c
	}
	return id, nil
}

// cachePathFor returns the cache file of the namespace with inode ino.
func cachePathFor(dir string, ino uint64) string {
	return filepath.Join(dir, fmt.Sprintf("dataplane-%d.cache", ino))
}

// loadCache reads the cache file at path. It returns the file (nil if
// absent or unreadable: the caller then reads the kernel back).
func loadCache(path string) *cacheFile {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	c, err := decodeCache(data)
	if err != nil {
		return nil
	}
	return c
}

// fileStamp tells whether a file was replaced or changed.
type fileStamp struct {
	ino, size uint64
	mtime     int64
}

func stampOf(path string) (fileStamp, bool) {
	var st unix.Stat_t
	if unix.Stat(path, &st) != nil {
		return fileStamp{}, false
	}
	return fileStamp{ino: st.Ino, size: uint64(st.Size), mtime: st.Mtim.Nano()}, true
}

// recentCache is the cache file a Writer last read or wrote, decoded, so
// a long-lived Writer (the daemon) does not decode it again while no one
// else has replaced it (atomicfile always writes a new inode).
type recentCache struct {
	path  string
	stamp fileStamp
	file  *cacheFile
}

// load returns the cache file at path, from memory when unchanged.
func (r *recentCache) load(path string) *cacheFile {
	stamp, ok := stampOf(path)
	if !ok {
		return nil
	}
	if r.file != nil && r.path == path && r.stamp == stamp {
		return r.file
	}
	c := loadCache(path)
	if c != nil {
		r.path, r.stamp, r.file = path, stamp, c
	}
	return c
}

// store writes the cache file and remembers it.
func (r *recentCache) store(path string, c cacheFile, want current, valid bool) error {
	r.file = nil
	written, err := storeCache(path, c, want, valid)
	if err != nil {
		return err
	}
	if stamp, ok := stampOf(path); ok {
		r.path, r.stamp, r.file = path, stamp, written
	}
	return nil
}

// current returns the cached state, if the cache may be trusted for this
// namespace and backend.
func (c *cacheFile) current(id netnsID, b Backend) (current, bool) {
	if c == nil || !c.Valid || id.cookie == 0 || c.Cookie != id.cookie || c.Backend != b {
		return current{}, false
	}
	cur := current{Sets: make(map[string]IPSet, len(c.Sets)), Chains: c.Chains, Rules: c.Rules, Sums: c.Sums}
	if cur.Chains == nil {
		cur.Chains = map[string]string{}
	}
	for name, s := range c.Sets {
		cur.Sets[name] = IPSet{Name: name, Type: s.Type, Family: s.Family, Members: s.Members}
	}
	for _, h := range c.Hooks {
		cur.Hooks = append(cur.Hooks, Hook(h))
	}
	return cur, true
}

// storeCache writes what the kernel now holds (want, canonical) to path.
// With valid false it records only that the kernel state is unknown.
func storeCache(path string, c cacheFile, want current, valid bool) (*cacheFile, error) {
	c.Version, c.Valid = cacheVersion, valid
	c.Sets, c.Chains, c.Rules, c.Hooks = nil, nil, nil, nil
	if !valid {
		c.Raw, c.Sums = nil, nil
	}
	if valid {
		c.Chains, c.Rules = want.Chains, want.Rules
		c.Sets = make(map[string]cachedSet, len(want.Sets))
		for name, s := range want.Sets {
			c.Sets[name] = cachedSet{Type: s.Type, Family: s.Family, Members: s.Members}
		}
		for _, h := range want.Hooks {
			c.Hooks = append(c.Hooks, cachedHook(h))
		}
	}
	data := encodeCache(&c)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("creating cache directory: %w", err)
	}
	if err := atomicfile.WriteFile(path, data, 0o644); err != nil {
		return nil, fmt.Errorf("writing dataplane cache: %w", err)
	}
	c.Aliases = maps.Clone(c.Aliases) // the caller's map keeps changing
	return &c, nil
}

// removeCache deletes a cache file; a missing one is fine.
func removeCache(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing dataplane cache: %w", err)
	}
	return nil
}
