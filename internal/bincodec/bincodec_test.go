package bincodec

import (
	"errors"
	"reflect"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	e := &Encoder{}
	e.Uint(1 << 62)
	e.Bool(true)
	e.Bool(false)
	e.Str("")
	e.Str("weir: ü\x00")
	e.Strs([]string{"a", "", "c"})
	e.Strs(nil)
	e.StrMap(map[string]string{"k": "v", "": "x"})
	e.StrMap(nil)
	for _, alias := range []bool{false, true} {
		buf := append([]byte(nil), e.B...)
		d := &Decoder{B: buf, Alias: alias}
		got := []any{d.Uint(), d.Bool(), d.Bool(), d.Str(), d.Str(), d.Strs(), d.Strs(), d.StrMap(), d.StrMap()}
		want := []any{uint64(1 << 62), true, false, "", "weir: ü\x00", []string{"a", "", "c"}, []string(nil),
			map[string]string{"k": "v", "": "x"}, map[string]string(nil)}
		if err := d.Finish(); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("alias %v: got %#v\nwant %#v", alias, got, want)
		}
		// Copies do not change with the input; aliases share it (which
		// is why an aliased input must never be modified).
		for i := range buf {
			buf[i] = 'X'
		}
		if changed := got[4].(string) != "weir: ü\x00"; changed != alias {
			t.Errorf("alias %v: decoded string changed with its input: %v", alias, changed)
		}
	}
}

func TestMalformed(t *testing.T) {
	e := &Encoder{}
	e.Strs([]string{"abc", "def"})
	full := e.B
	for i := 0; i < len(full); i++ {
		d := &Decoder{B: full[:i]}
		d.Strs()
		if err := d.Finish(); !errors.Is(err, ErrFormat) {
			t.Errorf("truncated to %d bytes: %v", i, err)
		}
	}
	d := &Decoder{B: append(append([]byte{}, full...), 0)}
	d.Strs()
	if err := d.Finish(); !errors.Is(err, ErrFormat) {
		t.Errorf("trailing byte: %v", err)
	}
	// A count far beyond the input is refused before anything is allocated.
	d = &Decoder{B: []byte{0xff, 0xff, 0xff, 0xff, 0x0f, 1}}
	if l := d.Strs(); l != nil || !errors.Is(d.Err, ErrFormat) {
		t.Errorf("huge count: %v, %v", l, d.Err)
	}
	// Reads after an error return zero values.
	if d.Uint() != 0 || d.Str() != "" || d.StrMap() != nil {
		t.Error("reads after an error returned values")
	}
}
