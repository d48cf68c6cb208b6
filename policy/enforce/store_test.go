package enforce

import (
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/weirnet/weir/policy"
	"github.com/weirnet/weir/policy/compile"
)

// TestIndexFile: the endpoints file round-trips every field; a damaged file
// is an error, not an empty host; a missing one says so; the JSON index of
// earlier versions is read, and replaced by the next write.
func TestIndexFile(t *testing.T) {
	eps := map[string]compile.Endpoint{
		Key("n", "c1", "eth0"): {Endpoint: policy.Endpoint{ID: "c1", IfName: "eth0", Network: "n",
			IPs: []netip.Addr{netip.MustParseAddr("10.1.0.2"), netip.MustParseAddr("fd00::2")}, Labels: map[string]string{"app": "db", "env": "prod"}},
			Mode: compile.Host, PolicyDir: "/etc/weir/policies", HostIface: "veth0123456789a", DefaultAction: policy.Allow},
		Key("m", "c2", "eth1"): {Endpoint: policy.Endpoint{ID: "c2", IfName: "eth1", Network: "m"}, // no labels: nil
			Mode: compile.NetNS, PolicyDir: "/p", NetNS: "/run/netns/c2", DefaultAction: policy.Deny},
	}
	dir := t.TempDir()
	path := filepath.Join(dir, IndexFile)
	if _, err := ReadIndexFile(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	if err := WriteIndexFile(path, eps); err != nil {
		t.Fatal(err)
	}
	got, err := ReadIndexFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, eps) {
		t.Fatalf("round trip:\n%+v\nwant\n%+v", got, eps)
	}
	data, _ := os.ReadFile(path)
	for _, bad := range [][]byte{nil, []byte("{}"), data[:len(data)-2], append(append([]byte{}, data...), 1)} {
		if err := os.WriteFile(path, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadIndexFile(path); err == nil {
			t.Errorf("a damaged index (%d bytes) was read", len(bad))
		}
	}

	// An engine finding the JSON index of an earlier version.
	e := New(filepath.Join(t.TempDir(), "state"), nil)
	if e.hasIndex() {
		t.Fatal("a fresh state directory has an index")
	}
	if err := os.MkdirAll(e.dir(), 0o700); err != nil {
		t.Fatal(err)
	}
	legacy := `{"endpoints":{"n/c1/eth0":{"ID":"c1","IfName":"eth0","Network":"n","IPs":["10.1.0.2"],"Labels":{"app":"db"},"Mode":"host","PolicyDir":"/p","HostIface":"veth1","NetNS":"","DefaultAction":"allow"}}}`
	if err := os.WriteFile(filepath.Join(e.dir(), legacyIndexFile), []byte(legacy), 0o600); err != nil {
		t.Fatal(err)
	}
	idx, err := e.readIndex()
	if err != nil || !e.hasIndex() {
		t.Fatalf("reading the legacy index: %v", err)
	}
	if ep := idx.Endpoints["n/c1/eth0"]; ep.HostIface != "veth1" || ep.Labels["app"] != "db" || len(ep.IPs) != 1 {
		t.Fatalf("legacy endpoint: %+v", ep)
	}
	if err := e.writeIndex(idx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(e.dir(), legacyIndexFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the legacy index stayed after a write: %v", err)
	}
	if again, err := e.readIndex(); err != nil || !reflect.DeepEqual(again.Endpoints, idx.Endpoints) {
		t.Errorf("after the rewrite: %v, %+v", err, again)
	}
}
