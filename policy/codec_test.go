package policy

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestSetBinaryRoundTrip: every policy file of the repository's configs
// and testdata survives encoding: the decoded set encodes to the same
// bytes and gives the same verdicts; damaged data is refused.
func TestSetBinaryRoundTrip(t *testing.T) {
	var dirs []string
	for _, pattern := range []string{"testdata", "../configs/policies"} {
		if st, err := os.Stat(pattern); err == nil && st.IsDir() {
			dirs = append(dirs, pattern)
		}
	}
	n := 0
	for _, dir := range dirs {
		files, _ := filepath.Glob(filepath.Join(dir, "*.toml"))
		for _, f := range files {
			s, err := LoadFiles(f)
			if err != nil {
				continue // testdata holds broken files on purpose
			}
			n++
			data := s.MarshalBinary()
			back, err := UnmarshalSet(data)
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if again := back.MarshalBinary(); !bytes.Equal(again, data) {
				t.Errorf("%s: the decoded set encodes differently", f)
			}
			if len(back.Policies) != len(s.Policies) {
				t.Fatalf("%s: %d policies back, want %d", f, len(back.Policies), len(s.Policies))
			}
			for i, p := range s.Policies {
				q := back.Policies[i]
				for _, labels := range []map[string]string{{"app": "db", "env": "prod"}, {"app": "web"}, {}} {
					if p.Matches(labels) != q.Matches(labels) {
						t.Errorf("%s: policy %s matches %v differently after decoding", f, p.Name, labels)
					}
				}
			}
			for _, bad := range [][]byte{nil, data[:len(data)-1], append(append([]byte{}, data...), 0)} {
				if _, err := UnmarshalSet(bad); err == nil {
					t.Errorf("%s: damaged data (%d bytes) decoded", f, len(bad))
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no policy file found to encode")
	}
}
