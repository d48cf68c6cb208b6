package enforce

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/weirnet/weir/policy"
)

// TestParsedCopy: a load keeps the parsed files; the next load of the same
// files takes them from there (a planted copy shows it), giving what
// parsing gives; an edited file is parsed again; a damaged copy is ignored.
func TestParsedCopy(t *testing.T) {
	dir, cache := filepath.Join(t.TempDir(), "policies"), filepath.Join(t.TempDir(), "parsed", "x")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writePolicy(t, dir, "10-bench.toml", benchPolicies(0, benchDNSPorts))
	log := hclog.NewNullLogger()
	first, srcs, err := loadParsed(dir, cache, log)
	if err != nil {
		t.Fatal(err)
	}
	second, _, err := loadParsed(dir, cache, log)
	if err != nil || !bytes.Equal(second.MarshalBinary(), first.MarshalBinary()) || len(first.Policies) < 100 {
		t.Fatalf("the second load (from the copy) differs: %v", err)
	}
	planted := policy.NewSet(&policy.Policy{Name: "from-the-copy"})
	if err := os.WriteFile(cache, append(manifestOf(srcs), planted.MarshalBinary()...), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, _, err := loadParsed(dir, cache, log); err != nil || len(s.Policies) != 1 || s.Policies[0].Name != "from-the-copy" {
		t.Fatalf("a load of the same files did not use the parsed copy: %v", err)
	}
	writePolicy(t, dir, "10-bench.toml", benchPolicies(8443, benchDNSPorts))
	if s, _, err := loadParsed(dir, cache, log); err != nil || len(s.Policies) != len(first.Policies) {
		t.Fatalf("an edited file was not parsed again: %v", err)
	}
	if err := os.WriteFile(cache, append(manifestOf(srcs), 1, 2, 3), 0o600); err != nil {
		t.Fatal(err)
	}
	writePolicy(t, dir, "10-bench.toml", benchPolicies(0, benchDNSPorts))
	if s, _, err := loadParsed(dir, cache, log); err != nil || !bytes.Equal(s.MarshalBinary(), first.MarshalBinary()) {
		t.Fatalf("a damaged copy was not ignored: %v", err)
	}
}
