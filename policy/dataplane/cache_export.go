package dataplane

import (
	"fmt"
	"os"
)

// CachedState is what a Writer's cache file says one namespace's kernel
// holds, for tools that check it against the kernel (the chaos suite's
// invariants): a cache marked valid must equal what Read returns.
type CachedState struct {
	Valid   bool
	Backend Backend
	Cookie  uint64              // SO_NETNS_COOKIE of the namespace it is about
	Sets    map[string][]string // set name -> members (canonical)
	Chains  map[string]string   // ChainKey -> RulesDigest of the canonical rules
	Hooks   []Hook
}

// ReadCache reads the cache file the Writer configured with cacheDir keeps
// for the namespace with inode ino.
func ReadCache(cacheDir string, ino uint64) (CachedState, error) {
	path := cachePathFor(cacheDir, ino)
	data, err := os.ReadFile(path)
	if err != nil {
		return CachedState{}, fmt.Errorf("reading dataplane cache: %w", err)
	}
	c, err := decodeCache(data)
	if err != nil {
		return CachedState{}, fmt.Errorf("%s: %w", path, err)
	}
	out := CachedState{Valid: c.Valid, Backend: c.Backend, Cookie: c.Cookie, Chains: c.Chains, Sets: map[string][]string{}}
	for name, s := range c.Sets {
		out.Sets[name] = s.Members
	}
	for _, h := range c.Hooks {
		out.Hooks = append(out.Hooks, Hook(h))
	}
	return out, nil
}

// RulesDigest is the digest the cache keeps of a chain's canonical rules.
func RulesDigest(rules []string) string { return digest(rules) }
