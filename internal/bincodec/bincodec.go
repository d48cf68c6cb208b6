// Package bincodec is the small binary encoding of weir's hot cache files
// (the dataplane cache, the compiler's memo): uvarints and
// length-prefixed strings, written and read in a fixed order by their
// owners. It exists because those files are read and written on every
// attach and hold tens of thousands of rules, where JSON costs more than
// the work they save.
package bincodec

import (
	"encoding/binary"
	"errors"
	"unsafe"
)

// ErrFormat is returned (wrapped) for any input that is not what the
// reader expects: truncated, trailing bytes, counts larger than the input.
var ErrFormat = errors.New("malformed binary cache data")

// Encoder appends values to B.
type Encoder struct{ B []byte }

// Uint appends v.
func (e *Encoder) Uint(v uint64) { e.B = binary.AppendUvarint(e.B, v) }

// Bool appends b as 0 or 1.
func (e *Encoder) Bool(b bool) {
	if b {
		e.Uint(1)
	} else {
		e.Uint(0)
	}
}

// Str appends s with its length.
func (e *Encoder) Str(s string) {
	e.Uint(uint64(len(s)))
	e.B = append(e.B, s...)
}

// Strs appends a list of strings with its count.
func (e *Encoder) Strs(l []string) {
	e.Uint(uint64(len(l)))
	for _, s := range l {
		e.Str(s)
	}
}

// StrMap appends a map of strings with its count, in map order.
func (e *Encoder) StrMap(m map[string]string) {
	e.Uint(uint64(len(m)))
	for k, v := range m {
		e.Str(k)
		e.Str(v)
	}
}

// Decoder reads values from B. The first malformed read sets Err; every
// later read returns a zero value, so a caller reads a whole record and
// checks Err (or Finish) once.
type Decoder struct {
	B   []byte
	Err error
	// Alias makes Str return strings that share B's memory instead of
	// copies: a file of 20,000 rules decodes without 20,000 allocations.
	// The caller must then never modify B (a buffer fresh from
	// os.ReadFile, kept by nothing else, is the intended use).
	Alias bool
}

// Uint reads a uvarint.
func (d *Decoder) Uint() uint64 {
	if d.Err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.B)
	if n <= 0 {
		d.Err = ErrFormat
		return 0
	}
	d.B = d.B[n:]
	return v
}

// Bool reads a Bool.
func (d *Decoder) Bool() bool { return d.Uint() == 1 }

// Count reads the count of a list or map whose elements each take at
// least one byte, so a corrupt count cannot make a reader allocate more
// than the input holds.
func (d *Decoder) Count() int {
	v := d.Uint()
	if v > uint64(len(d.B)) {
		d.Err = ErrFormat
		return 0
	}
	return int(v)
}

// Str reads a string.
func (d *Decoder) Str() string {
	n := d.Uint()
	if d.Err != nil {
		return ""
	}
	if n > uint64(len(d.B)) {
		d.Err = ErrFormat
		return ""
	}
	var s string
	switch {
	case n == 0:
	case d.Alias:
		s = unsafe.String(&d.B[0], int(n))
	default:
		s = string(d.B[:n])
	}
	d.B = d.B[n:]
	return s
}

// Strs reads a list of strings; an empty list is nil.
func (d *Decoder) Strs() []string {
	n := d.Count()
	if n == 0 {
		return nil
	}
	l := make([]string, n)
	for i := range l {
		l[i] = d.Str()
	}
	return l
}

// StrMap reads a map of strings; an empty map is nil.
func (d *Decoder) StrMap() map[string]string {
	n := d.Count()
	if n == 0 {
		return nil
	}
	m := make(map[string]string, n)
	for range n {
		k := d.Str()
		m[k] = d.Str()
	}
	return m
}

// Finish returns the first error, or ErrFormat when input is left over.
func (d *Decoder) Finish() error {
	if d.Err == nil && len(d.B) != 0 {
		d.Err = ErrFormat
	}
	return d.Err
}
