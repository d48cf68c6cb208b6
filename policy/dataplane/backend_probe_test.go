package dataplane

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestDefaultBackend: the alternatives symlink chain names the backend
// without running anything; any other binary is asked with --version.
func TestDefaultBackend(t *testing.T) {
	dir := t.TempDir()
	script := func(name, version string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\necho '"+version+"'\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	link := func(name, target string) string {
		p := filepath.Join(dir, name)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// The multi-call binaries print the opposite of their names: only the
	// name may decide, or the probe ran them.
	nftMulti := script("xtables-nft-multi", "iptables v1.8.9 (legacy)")
	legacyMulti := script("xtables-legacy-multi", "iptables v1.8.9 (nf_tables)")
	cases := []struct {
		name  string
		bin   string
		want  Backend
		forks int
	}{
		{"nft alternative", link("iptables-a", link("alt-nft", link("iptables-nft", nftMulti))), NFT, 0},
		{"legacy alternative", link("iptables-b", link("iptables-legacy", legacyMulti)), Legacy, 0},
		{"other nft", script("iptables-c", "iptables v1.8.7 (nf_tables)"), NFT, 1},
		{"other legacy", script("iptables-d", "iptables v1.8.7 (legacy)"), Legacy, 1},
		{"before 1.8", script("iptables-e", "iptables v1.6.1"), Legacy, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, forks, err := defaultBackend(context.Background(), c.bin)
			if err != nil || got != c.want || forks != c.forks {
				t.Fatalf("defaultBackend(%s) = %q, %d forks, %v; want %q, %d forks", c.bin, got, forks, err, c.want, c.forks)
			}
		})
	}
	failing := filepath.Join(dir, "iptables-f")
	if err := os.WriteFile(failing, []byte("#!/bin/sh\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, _, err := defaultBackend(context.Background(), failing); err == nil {
		t.Fatal("a failing --version was not an error")
	}
}
