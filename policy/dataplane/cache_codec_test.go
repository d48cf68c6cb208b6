package dataplane

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
)

func sampleCache() *cacheFile {
	return &cacheFile{
		Version: cacheVersion, Backend: NFT, Cookie: 1 << 40, Generation: 7, Valid: true,
		Sets: map[string]cachedSet{
			"weir-eps4":  {Type: "hash:ip", Family: IPv4, Members: []string{"10.1.0.2", "10.1.0.3"}},
			"weir-empty": {Type: "hash:net", Family: IPv6},
		},
		Chains: map[string]string{"filter/ipv4/WEIR-FORWARD": "abc", "filter/ipv4/WEIR-X": ""},
		Rules:  map[string][]string{"filter/ipv4/WEIR-FORWARD": {`-m comment --comment "weir: ü" -j ACCEPT`, ""}},
		Hooks: []cachedHook{
			{Table: Filter, Family: IPv4, Chain: "FORWARD", Rule: "-j WEIR-FORWARD"},
			{Table: Filter, Family: IPv6, Chain: "FORWARD", Rule: "-j WEIR-FORWARD"},
		},
		Aliases: map[string]string{"a": "b"},
		Raw:     map[string]string{"filter/ipv4/WEIR-X": "0123"},
		Sums:    map[string]string{"filter/ipv4/WEIR-X": "deadbeef"},
	}
}

func TestCacheCodecRoundTrip(t *testing.T) {
	for name, c := range map[string]*cacheFile{
		"full":    sampleCache(),
		"invalid": {Version: cacheVersion, Backend: Legacy, Generation: 3},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := decodeCache(encodeCache(c))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, c)
			}
		})
	}
}

func TestCacheCodecRejectsDamage(t *testing.T) {
	data := encodeCache(sampleCache())
	cases := map[string][]byte{
		"empty":       nil,
		"json":        []byte(`{"version":1}`),
		"other magic": append([]byte("weir dataplane cache 1\n"), data[len(cacheMagic):]...),
		"trailing":    append(append([]byte{}, data...), 0),
		"huge count":  append([]byte(cacheMagic), 3, 'n', 'f', 't', 0xff, 0xff, 0xff, 0xff, 0x0f),
	}
	// Every truncation of a valid file is refused, never half-read.
	for i := len(cacheMagic); i < len(data); i += 7 {
		cases[fmt.Sprintf("truncated at %d", i)] = data[:i]
	}
	for name, b := range cases {
		if c, err := decodeCache(b); err == nil || !errors.Is(err, errCacheFormat) {
			t.Errorf("%s: decoded %+v, err %v", name, c, err)
		}
	}
}

func FuzzCacheDecode(f *testing.F) {
	f.Add(encodeCache(sampleCache()))
	f.Add([]byte(cacheMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeCache(b)
		if err != nil {
			return
		}
		// Whatever decodes encodes back to something that decodes the same.
		again, err := decodeCache(encodeCache(c))
		if err != nil || !reflect.DeepEqual(again, c) {
			t.Fatalf("re-encoding %+v: %+v, %v", c, again, err)
		}
	})
}
