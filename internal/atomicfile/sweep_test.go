package atomicfile

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestIsTemp(t *testing.T) {
	// Real names first: what WriteFile's and CreateExclusive's pattern
	// gives for a few targets.
	dir := t.TempDir()
	for _, base := range []string{"network.info", "hosts", ".manifest", "c1:eth0.json", "a.tmp-1"} {
		f, err := os.CreateTemp(dir, tempPattern(base))
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		if name := filepath.Base(f.Name()); !IsTemp(name) {
			t.Errorf("IsTemp(%q) = false for a temporary file of %q", name, base)
		}
	}
	for name, want := range map[string]bool{
		".network.info.tmp-1234567": true,
		".x.tmp-0":                  true,
		"..manifest.tmp-42":         true,
		"network.info.tmp-123":      false, // no leading dot
		".tmp-123":                  false, // no target name
		"..tmp-123":                 false,
		".x.tmp-":                   false, // no digits
		".x.tmp-12a":                false,
		".x.tmp-12.json":            false,
		".reserve-12":               false, // host-local's, not ours
		".x.tmp":                    false,
		"network.info":              false,
		"":                          false,
	} {
		if got := IsTemp(name); got != want {
			t.Errorf("IsTemp(%q) = %v, want %v", name, got, want)
		}
	}
}

// sweepTree makes root/... with temporary files old and new, files that
// only look like them, and things that are not files.
func sweepTree(t *testing.T) (root string, old, young, others []string) {
	t.Helper()
	root = t.TempDir()
	long := time.Now().Add(-time.Hour)
	mk := func(rel string, mtime time.Time) string {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		return p
	}
	old = []string{
		mk(".top.tmp-1", long),
		mk("containers/c1/.hosts.tmp-123", long),
		mk("containers/c1/n1/eth0/.network.info.tmp-98765", long),
		mk("policy/lastgood/..manifest.tmp-7", long),
	}
	young = []string{
		mk("containers/c1/.config.json.tmp-555", time.Now()),
		mk("containers/c2/n1/.network.conf.tmp-1", time.Now().Add(-time.Second)),
	}
	others = []string{
		mk("containers/c1/hosts", long),
		mk("containers/c1/n1/eth0/network.info", long),
		mk("containers/c1/network.info.tmp-1", long),
		mk("ipam/n1/.reserve-12", long),
		mk("containers/c1/.x.tmp-12a", long),
	}
	// A directory named like a temporary file, with an old file in it that
	// is not one, and a link named like one, to an old temporary file
	// outside root: neither is removed, the link is not followed.
	d := filepath.Join(root, "containers", ".dir.tmp-1")
	others = append(others, mk("containers/.dir.tmp-1/keep", long), d)
	outside := filepath.Join(t.TempDir(), ".outside.tmp-1")
	if err := os.WriteFile(outside, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(outside, long, long); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(root, "containers", "c1", ".link.tmp-1")
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	others = append(others, link, outside)
	return root, old, young, others
}

func TestSweepTemps(t *testing.T) {
	root, old, young, others := sweepTree(t)
	removed, err := SweepTemps(root, time.Minute)
	if err != nil {
		t.Fatalf("SweepTemps: %v", err)
	}
	slices.Sort(removed)
	want := slices.Sorted(slices.Values(old))
	if !slices.Equal(removed, want) {
		t.Errorf("removed:\n%s\nwant:\n%s", strings.Join(removed, "\n"), strings.Join(want, "\n"))
	}
	for _, p := range old {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s: still there (%v)", p, err)
		}
	}
	for _, p := range append(young, others...) {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s was removed: %v", p, err)
		}
	}

	// Age 0: every temporary file, young ones too; the rest stays.
	removed, err = SweepTemps(root, 0)
	if err != nil {
		t.Fatalf("SweepTemps(0): %v", err)
	}
	slices.Sort(removed)
	if want := slices.Sorted(slices.Values(young)); !slices.Equal(removed, want) {
		t.Errorf("removed with age 0:\n%s\nwant:\n%s", strings.Join(removed, "\n"), strings.Join(want, "\n"))
	}
	for _, p := range others {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s was removed: %v", p, err)
		}
	}
}

func TestSweepTempsMissingRoot(t *testing.T) {
	removed, err := SweepTemps(filepath.Join(t.TempDir(), "nope"), 0)
	if err != nil || removed != nil {
		t.Fatalf("SweepTemps of a missing root = %v, %v; want nothing", removed, err)
	}
}

// TestSweepTempsLeavesNoneOfWriteFile: what a finished WriteFile or
// CreateExclusive leaves is never swept.
func TestSweepTempsLeavesNoneOfWriteFile(t *testing.T) {
	dir := t.TempDir()
	if err := WriteFile(filepath.Join(dir, "a"), []byte("a"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := CreateExclusive(filepath.Join(dir, "b"), []byte("b"), 0o600); err != nil {
		t.Fatal(err)
	}
	removed, err := SweepTemps(dir, 0)
	if err != nil || len(removed) != 0 {
		t.Fatalf("SweepTemps after finished writes: %v %v", removed, err)
	}
	for _, n := range []string{"a", "b"} {
		if data, err := os.ReadFile(filepath.Join(dir, n)); err != nil || string(data) != n {
			t.Errorf("%s: %q %v", n, data, err)
		}
	}
}

func TestRemoveTempsOf(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "c1@eth0[x].json")
	keep := []string{filepath.Join(dir, ".other.json.tmp-1"), filepath.Join(dir, ".c1@eth0[x].json.tmp-x1"), target}
	gone := []string{filepath.Join(dir, ".c1@eth0[x].json.tmp-1"), filepath.Join(dir, ".c1@eth0[x].json.tmp-22")}
	for _, p := range append(append([]string{}, keep...), gone...) {
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	removed, err := RemoveTempsOf(target)
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(removed)
	if !reflect.DeepEqual(removed, gone) {
		t.Fatalf("removed %v, want %v", removed, gone)
	}
	for _, p := range keep {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}
