package enforce

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

const goodPolicy = `[[policy]]
name = "db"
selector = "app == 'db'"
[[policy.ingress]]
action = "allow"
protocol = "tcp"
ports = [5432]
`

func writePolicy(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestLastGoodCopy: a copy is kept of what loaded; a broken edit falls
// back to it; the copy is replaced whole (a link swapped by rename), and
// what a killed snapshot or an older weir left is cleaned up.
func TestLastGoodCopy(t *testing.T) {
	dir, engineDir := filepath.Join(t.TempDir(), "policies"), t.TempDir()
	root := filepath.Join(engineDir, "lastgood")
	log := hclog.NewNullLogger()
	writePolicy(t, dir, "10-db.toml", goodPolicy)
	writePolicy(t, dir, "20-web.toml", strings.ReplaceAll(goodPolicy, "db", "web"))
	if s, _, err := loadWithFallback(dir, engineDir, log); err != nil || s.Len() != 2 {
		t.Fatalf("load: %v", err)
	}
	entries, _ := os.ReadDir(root)
	if len(entries) != 2 { // the link and its version
		t.Fatalf("lastgood holds %v", entries)
	}
	// A broken edit: the copy stays in force, both policies.
	writePolicy(t, dir, "20-web.toml", "[[policy]]\nname = \"web\nbroken")
	s, _, err := loadWithFallback(dir, engineDir, log)
	if err != nil || s.Len() != 2 {
		t.Fatalf("fallback: %v (%v policies)", err, s)
	}
	// A file removed and the rest loading: the copy follows, whole.
	if err := os.Remove(filepath.Join(dir, "20-web.toml")); err != nil {
		t.Fatal(err)
	}
	if s, _, err := loadWithFallback(dir, engineDir, log); err != nil || s.Len() != 1 {
		t.Fatalf("load after removal: %v", err)
	}
	writePolicy(t, dir, "10-db.toml", "broken = ")
	if s, _, err := loadWithFallback(dir, engineDir, log); err != nil || s.Len() != 1 {
		t.Fatalf("fallback to the new copy: %v", err)
	}
	entries, _ = os.ReadDir(root)
	if len(entries) != 2 {
		t.Fatalf("old versions are left: %v", entries)
	}
}

// TestSnapshotKeepsTheLoadedBytes: the copy is what was parsed, not the
// file as it is when the copy is written.
func TestSnapshotKeepsTheLoadedBytes(t *testing.T) {
	snap := filepath.Join(t.TempDir(), "lastgood", "abc")
	if err := snapshotOf(snap, map[string][]byte{"10-db.toml": []byte(goodPolicy)}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(snap, "10-db.toml"))
	if err != nil || string(got) != goodPolicy {
		t.Fatalf("copy %q, %v", got, err)
	}
	// A killed snapshot's version and link, and a copy of an older weir
	// (a plain directory), are replaced.
	root := filepath.Dir(snap)
	if err := os.MkdirAll(filepath.Join(root, "abc.v999"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("abc.v999", filepath.Join(root, ".abc.link")); err != nil {
		t.Fatal(err)
	}
	if err := snapshotOf(snap, map[string][]byte{"10-db.toml": []byte(goodPolicy + "\n")}); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(root)
	if len(entries) != 2 {
		t.Fatalf("left over: %v", entries)
	}
	old := filepath.Join(t.TempDir(), "abc")
	writePolicy(t, old, "10-db.toml", "stale")
	if err := snapshotOf(old, map[string][]byte{"10-db.toml": []byte(goodPolicy)}); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Lstat(old); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("an older copy was not replaced by a link: %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(old, "10-db.toml")); string(got) != goodPolicy {
		t.Fatalf("copy %q", got)
	}
}

// snapshotOf is snapshot with the sources' own manifest.
func snapshotOf(snap string, srcs map[string][]byte) error {
	return snapshot(snap, srcs, manifestOf(srcs))
}
