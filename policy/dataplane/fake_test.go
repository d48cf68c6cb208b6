package dataplane

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// fakeRunner is a Runner for unprivileged tests: Save answers from saves,
// keyed like "ipv4/filter" (the text iptables-save prints for that table),
// IPSetSave from ipsets; every call is recorded, restores with their
// input. failRestores makes the next restores fail.
type fakeRunner struct {
	saves        map[string]string
	ipsets       string
	calls        []string
	failRestores int
}

var _ Runner = (*fakeRunner)(nil)

func newFake() *fakeRunner { return &fakeRunner{saves: map[string]string{}} }

func (f *fakeRunner) Save(_ context.Context, fam Family, table Table) ([]byte, error) {
	f.calls = append(f.calls, fmt.Sprintf("save %s %s", fam, table))
	if table != "" {
		return []byte(f.saves[string(fam)+"/"+string(table)]), nil
	}
	var b strings.Builder
	for _, t := range tableOrder {
		b.WriteString(f.saves[string(fam)+"/"+string(t)])
	}
	return []byte(b.String()), nil
}

func (f *fakeRunner) Restore(_ context.Context, fam Family, input []byte) error {
	f.calls = append(f.calls, fmt.Sprintf("restore %s\n%s", fam, input))
	if f.failRestores > 0 {
		f.failRestores--
		return &ToolError{Tool: "iptables-restore", Line: 2, Text: "-D FORWARD x", Err: fmt.Errorf("exit status 1")}
	}
	return nil
}

func (f *fakeRunner) IPSetSave(context.Context) ([]byte, error) {
	f.calls = append(f.calls, "ipset save")
	return []byte(f.ipsets), nil
}

func (f *fakeRunner) IPSetRestore(_ context.Context, input []byte) error {
	f.calls = append(f.calls, "ipset restore\n"+string(input))
	return nil
}

// take returns the calls recorded since the last take.
func (f *fakeRunner) take() []string {
	c := f.calls
	f.calls = nil
	return c
}

// fakeWriter is a Writer over a fake runner with its lock and cache in a
// temporary directory.
func fakeWriter(t *testing.T, f *fakeRunner) *Writer {
	t.Helper()
	dir := t.TempDir()
	return New(Config{Runner: f, Backend: "fake", LockPath: filepath.Join(dir, "lock"), CacheDir: filepath.Join(dir, "cache"), Tables: allTables})
}

// checkCalls compares recorded calls with the expected ones, exactly.
func checkCalls(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "\n--\n") != strings.Join(want, "\n--\n") {
		t.Fatalf("runner calls:\n%s\n\nwant:\n%s", strings.Join(got, "\n--\n"), strings.Join(want, "\n--\n"))
	}
}
