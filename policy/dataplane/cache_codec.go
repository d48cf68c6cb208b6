package dataplane

import (
	"errors"
	"fmt"

	"github.com/weirnet/weir/internal/bincodec"
)

// The cache file is read and written on every Apply, and at 1,000
// endpoints it holds ~20,000 rules: as JSON its decoding and encoding cost
// more than compiling the policy (~30 ms of a ~85 ms attach). It is
// therefore in the binary encoding of internal/bincodec: a magic line,
// then each field in a fixed order. Nothing but this package reads it.

// cacheMagic starts every cache file; it changes with cacheVersion.
const cacheMagic = "weir dataplane cache 2\n"

// errCacheFormat is any cache file that is not one this version wrote.
var errCacheFormat = errors.New("not a dataplane cache file of this version")

// encodeCache renders c in the cache file format.
func encodeCache(c *cacheFile) []byte {
	n := 64
	for _, rs := range c.Rules {
		for _, r := range rs {
			n += len(r) + 2
		}
	}
	e := &bincodec.Encoder{B: make([]byte, 0, n+64*(len(c.Chains)+len(c.Raw)+len(c.Sums)))}
	e.B = append(e.B, cacheMagic...)
	e.Str(string(c.Backend))
	e.Uint(c.Cookie)
	e.Uint(c.Generation)
	e.Bool(c.Valid)
	e.Uint(uint64(len(c.Sets)))
	for name, s := range c.Sets {
		e.Str(name)
		e.Str(s.Type)
		e.Str(string(s.Family))
		e.Strs(s.Members)
	}
	e.StrMap(c.Chains)
	e.Uint(uint64(len(c.Rules)))
	for k, rs := range c.Rules {
		e.Str(k)
		e.Strs(rs)
	}
	e.Uint(uint64(len(c.Hooks)))
	for _, h := range c.Hooks {
		e.Str(string(h.Table))
		e.Str(string(h.Family))
		e.Str(h.Chain)
		e.Str(h.Rule)
	}
	e.StrMap(c.Aliases)
	e.StrMap(c.Raw)
	e.StrMap(c.Sums)
	return e.B
}

// decodeCache parses a cache file. The result shares data's memory: data
// must not be modified afterwards.
func decodeCache(data []byte) (*cacheFile, error) {
	if len(data) < len(cacheMagic) || string(data[:len(cacheMagic)]) != cacheMagic {
		return nil, errCacheFormat
	}
	d := &bincodec.Decoder{B: data[len(cacheMagic):], Alias: true}
	c := &cacheFile{Version: cacheVersion}
	c.Backend = Backend(d.Str())
	c.Cookie = d.Uint()
	c.Generation = d.Uint()
	c.Valid = d.Bool()
	if n := d.Count(); n > 0 {
		c.Sets = make(map[string]cachedSet, n)
		for range n {
			name := d.Str()
			c.Sets[name] = cachedSet{Type: d.Str(), Family: Family(d.Str()), Members: d.Strs()}
		}
	}
	c.Chains = d.StrMap()
	if n := d.Count(); n > 0 {
		c.Rules = make(map[string][]string, n)
		for range n {
			k := d.Str()
			c.Rules[k] = d.Strs()
		}
	}
	for n := d.Count(); n > 0; n-- {
		c.Hooks = append(c.Hooks, cachedHook{Table: Table(d.Str()), Family: Family(d.Str()), Chain: d.Str(), Rule: d.Str()})
	}
	c.Aliases = d.StrMap()
	c.Raw = d.StrMap()
	c.Sums = d.StrMap()
	if err := d.Finish(); err != nil {
		return nil, fmt.Errorf("decoding dataplane cache: %w: %w", errCacheFormat, err)
	}
	return c, nil
}
