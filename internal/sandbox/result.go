package sandbox

import (
	"encoding/json"
	"testing"

	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"
)

// ParseResult decodes a plugin's ADD output written in CNI version ver and
// converts it to the current version, failing the test when either step
// fails.
func ParseResult(t testing.TB, ver string, out []byte) *current.Result {
	t.Helper()
	r, err := version.NewResult(ver, out)
	if err != nil {
		t.Fatalf("decoding %s result %s: %v", ver, out, err)
	}
	cur, err := current.NewResultFromResult(r)
	if err != nil {
		t.Fatalf("converting %s result %s: %v", ver, out, err)
	}
	return cur
}

// WithKey returns the JSON object conf with the top-level key set to value
// (a json.RawMessage, such as ADD's output for "prevResult", goes in as it
// is). The other keys keep their raw values.
func WithKey(t testing.TB, conf []byte, key string, value any) []byte {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(conf, &m); err != nil {
		t.Fatalf("decoding configuration %s: %v", conf, err)
	}
	raw, err := json.Marshal(value)
	if err != nil {
		t.Fatalf("encoding %s: %v", key, err)
	}
	m[key] = raw
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatalf("encoding configuration: %v", err)
	}
	return out
}

// WithPrevResult returns conf with prevResult set to a plugin's raw ADD
// output, as a runtime passes it to CHECK (and to DEL or a chained plugin).
func WithPrevResult(t testing.TB, conf, out []byte) []byte {
	t.Helper()
	return WithKey(t, conf, "prevResult", json.RawMessage(out))
}
