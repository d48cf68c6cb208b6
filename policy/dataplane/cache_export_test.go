package dataplane

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestReadCache(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadCache(dir, 42); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing cache: %v", err)
	}
	c := sampleCache()
	if err := os.WriteFile(cachePathFor(dir, 42), encodeCache(c), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := ReadCache(dir, 42)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Valid || got.Cookie != c.Cookie || got.Backend != NFT || len(got.Hooks) != 2 ||
		len(got.Sets["weir-eps4"]) != 2 || got.Chains["filter/ipv4/WEIR-FORWARD"] != "abc" {
		t.Fatalf("read %+v", got)
	}
	if err := os.WriteFile(filepath.Join(dir, filepath.Base(cachePathFor(dir, 43))), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadCache(dir, 43); !errors.Is(err, errCacheFormat) {
		t.Fatalf("damaged cache: %v", err)
	}
	if RulesDigest([]string{"a", "b"}) == RulesDigest([]string{"ab"}) {
		t.Fatal("digest does not separate rules")
	}
}
