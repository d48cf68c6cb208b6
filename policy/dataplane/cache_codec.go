package dataplane

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The cache file is read and written on every Apply, and at 1,000
// endpoints it holds ~20,000 rules: as JSON its decoding and encoding cost
// more than compiling the policy (~30 ms of a ~85 ms attach). It is
// therefore a plain binary encoding: a magic line, then each field in a
// fixed order; strings, lists and maps as a uvarint count followed by
// their elements. Nothing but this package reads it.

// cacheMagic starts every cache file; it changes with cacheVersion.
const cacheMagic = "weir dataplane cache 2\n"

// errCacheFormat is any cache file that is not one this version wrote.
var errCacheFormat = errors.New("not a dataplane cache file of this version")

type cacheEncoder struct{ b []byte }

func (e *cacheEncoder) uint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }

func (e *cacheEncoder) str(s string) {
	e.uint(uint64(len(s)))
	e.b = append(e.b, s...)
}

func (e *cacheEncoder) strs(l []string) {
	e.uint(uint64(len(l)))
	for _, s := range l {
		e.str(s)
	}
}

func (e *cacheEncoder) strMap(m map[string]string) {
	e.uint(uint64(len(m)))
	for k, v := range m {
		e.str(k)
		e.str(v)
	}
}

// encodeCache renders c in the cache file format.
func encodeCache(c *cacheFile) []byte {
	n := 64
	for _, rs := range c.Rules {
		for _, r := range rs {
			n += len(r) + 2
		}
	}
	e := &cacheEncoder{b: make([]byte, 0, n+64*(len(c.Chains)+len(c.Raw)+len(c.Sums)))}
	e.b = append(e.b, cacheMagic...)
	e.str(string(c.Backend))
	e.uint(c.Cookie)
	e.uint(c.Generation)
	if c.Valid {
		e.uint(1)
	} else {
		e.uint(0)
	}
	e.uint(uint64(len(c.Sets)))
	for name, s := range c.Sets {
		e.str(name)
		e.str(s.Type)
		e.str(string(s.Family))
		e.strs(s.Members)
	}
	e.strMap(c.Chains)
	e.uint(uint64(len(c.Rules)))
	for k, rs := range c.Rules {
		e.str(k)
		e.strs(rs)
	}
	e.uint(uint64(len(c.Hooks)))
	for _, h := range c.Hooks {
		e.str(string(h.Table))
		e.str(string(h.Family))
		e.str(h.Chain)
		e.str(h.Rule)
	}
	e.strMap(c.Aliases)
	e.strMap(c.Raw)
	e.strMap(c.Sums)
	return e.b
}

type cacheDecoder struct {
	b   []byte
	err error
}

func (d *cacheDecoder) uint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errCacheFormat
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a count of elements each at least one byte long, so a
// corrupt count cannot make the decoder allocate more than the file holds.
func (d *cacheDecoder) count() int {
	v := d.uint()
	if v > uint64(len(d.b)) {
		d.err = errCacheFormat
		return 0
	}
	return int(v)
}

func (d *cacheDecoder) str() string {
	n := d.uint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.err = errCacheFormat
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *cacheDecoder) strs() []string {
	n := d.count()
	if n == 0 {
		return nil
	}
	l := make([]string, n)
	for i := range l {
		l[i] = d.str()
	}
	return l
}

func (d *cacheDecoder) strMap() map[string]string {
	n := d.count()
	if n == 0 {
		return nil
	}
	m := make(map[string]string, n)
	for range n {
		k := d.str()
		m[k] = d.str()
	}
	return m
}

// decodeCache parses a cache file.
func decodeCache(data []byte) (*cacheFile, error) {
	if len(data) < len(cacheMagic) || string(data[:len(cacheMagic)]) != cacheMagic {
		return nil, errCacheFormat
	}
	d := &cacheDecoder{b: data[len(cacheMagic):]}
	c := &cacheFile{Version: cacheVersion}
	c.Backend = Backend(d.str())
	c.Cookie = d.uint()
	c.Generation = d.uint()
	c.Valid = d.uint() == 1
	if n := d.count(); n > 0 {
		c.Sets = make(map[string]cachedSet, n)
		for range n {
			name := d.str()
			c.Sets[name] = cachedSet{Type: d.str(), Family: Family(d.str()), Members: d.strs()}
		}
	}
	c.Chains = d.strMap()
	if n := d.count(); n > 0 {
		c.Rules = make(map[string][]string, n)
		for range n {
			k := d.str()
			c.Rules[k] = d.strs()
		}
	}
	for n := d.count(); n > 0; n-- {
		c.Hooks = append(c.Hooks, cachedHook{Table: Table(d.str()), Family: Family(d.str()), Chain: d.str(), Rule: d.str()})
	}
	c.Aliases = d.strMap()
	c.Raw = d.strMap()
	c.Sums = d.strMap()
	if d.err == nil && len(d.b) != 0 {
		d.err = errCacheFormat
	}
	if d.err != nil {
		return nil, fmt.Errorf("decoding dataplane cache: %w", d.err)
	}
	return c, nil
}
