package chain

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"

	"github.com/weirnet/weir/plugins/pluginkit"
)

// TestRollbackKeepsRecordOnlyWhileSomethingMayRemain: a failed ADD whose
// rollback DEL fails keeps its record while a plugin that may have created
// something could not be deleted, and drops it when every failing DEL is
// of a plugin that never ran its ADD or that refused its configuration on
// ADD and DEL alike (code 6 or 7).
func TestRollbackKeepsRecordOnlyWhileSomethingMayRemain(t *testing.T) {
	for _, tc := range []struct {
		name    string
		scripts map[string]fakeScript
		kept    bool
	}{
		{"refused config on add and del", map[string]fakeScript{
			"fake-b": {"ADD": {Code: 7, Msg: "bad field x"}, "DEL": {Code: 7, Msg: "bad field x"}}}, false},
		{"decoding failure on add and del", map[string]fakeScript{
			"fake-b": {"ADD": {Code: 6, Msg: "cannot decode"}, "DEL": {Code: 6, Msg: "cannot decode"}}}, false},
		{"a plugin after the failed one cannot delete", map[string]fakeScript{
			"fake-b": {"ADD": {Code: 7, Msg: "bad field x"}}, "fake-c": {"DEL": {Code: 7, Msg: "c refuses"}}}, false},
		{"a plugin whose add succeeded cannot delete", map[string]fakeScript{
			"fake-b": {"ADD": {Code: 7, Msg: "bad field x"}, "DEL": {Code: 7, Msg: "bad field x"}},
			"fake-a": {"DEL": {Code: 7, Msg: "a refuses"}}}, true},
		{"the failed plugin crashed", map[string]fakeScript{
			"fake-b": {"ADD": {CrashExit: 2}, "DEL": {Code: 7, Msg: "bad field x"}}}, true},
		{"the failed plugin cannot delete for another reason", map[string]fakeScript{
			"fake-b": {"ADD": {Code: 7, Msg: "bad field x"}, "DEL": {Code: 5, Msg: "disk full"}}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fe := newFakeEnv(t, "fake-a", "fake-b", "fake-c")
			r := newRunner(fe)
			for name, s := range tc.scripts {
				fe.script(name, s)
			}
			_, err := r.Add(context.Background(), fakeList(t, "net1", "fake-a", "fake-b", "fake-c"), att("c1"))
			if err == nil || !strings.Contains(err.Error(), "plugin fake-b failed (add)") {
				t.Fatalf("Add error = %v, want fake-b's", err)
			}
			_, _, rerr := r.Result("c1", "net1")
			_, lerr := os.Stat(filepath.Join(r.StateDir, "locks", "c1"))
			if tc.kept {
				if rerr != nil {
					t.Fatalf("the record went, though something may remain: %v", rerr)
				}
				if !strings.Contains(err.Error(), "rolling back") {
					t.Errorf("Add error = %v, want the rollback's failure too", err)
				}
				if lerr != nil {
					t.Errorf("the lock file of a container with a record went: %v", lerr)
				}
				return
			}
			if !errors.Is(rerr, ErrNoRecord) {
				t.Fatalf("record = %v, want none: nothing could have been created", rerr)
			}
			if _, err := os.Stat(filepath.Join(r.StateDir, "containers", "c1")); !os.IsNotExist(err) {
				t.Errorf("container directory left: %v", err)
			}
			if !os.IsNotExist(lerr) {
				t.Errorf("lock file left after a failed Add: %v", lerr)
			}
			if strings.Contains(err.Error(), "rolling back") {
				t.Errorf("Add error = %v; DEL failures of plugins that made nothing are noise", err)
			}
		})
	}
}

// TestLockFileGoesWithTheLastRecord: the chain's lock file of a container
// exists while it has records and goes with the last one, also when an
// ADD is refused or rolled back.
func TestLockFileGoesWithTheLastRecord(t *testing.T) {
	fe := newFakeEnv(t, "fake-a")
	r := newRunner(fe)
	lock := filepath.Join(r.StateDir, "locks", "c1")
	list := fakeList(t, "net1", "fake-a")
	if _, err := r.Add(context.Background(), list, att("c1")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(lock); err != nil {
		t.Fatalf("lock file of an attached container: %v", err)
	}
	if _, err := r.Add(context.Background(), list, att("c1")); err == nil {
		t.Fatal("second Add succeeded")
	}
	if _, err := os.Stat(lock); err != nil {
		t.Fatalf("a refused second Add removed the lock file of an attached container: %v", err)
	}
	if err := r.Del(context.Background(), "net1", att("c1"), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(lock); !os.IsNotExist(err) {
		t.Errorf("lock file after the last Del: %v", err)
	}
	fe.script("fake-a", fakeScript{"ADD": {Code: 5, Msg: "no"}})
	if _, err := r.Add(context.Background(), list, att("c2")); err == nil {
		t.Fatal("Add succeeded")
	}
	if _, err := r.AddAll(context.Background(), []Request{{list, att("c3")}}); err == nil {
		t.Fatal("AddAll succeeded")
	}
	// A DEL of a container never attached, with the definition.
	if err := r.Del(context.Background(), "net1", att("c4"), list); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(filepath.Join(r.StateDir, "locks")); len(ents) != 1 || ents[0].Name() != gcLockDir || !ents[0].IsDir() {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("lock files left: %v, want only the GC locks' directory", names)
	}
}

func TestBadInterfaceNamesAreRefused(t *testing.T) {
	fe := newFakeEnv(t, "fake-a")
	r := newRunner(fe)
	list := fakeList(t, "net1", "fake-a")
	for _, name := range []string{"", "../../../../escape", "a/b", "..", "toolonginterfacename0", "a b"} {
		a := att("c1")
		a.IfName = name
		if _, err := r.Add(context.Background(), list, a); err == nil || !strings.Contains(err.Error(), "interface name") {
			t.Errorf("Add with ifname %q: %v, want an interface name error", name, err)
		}
		if _, err := r.AddAll(context.Background(), []Request{{list, a}}); err == nil || !strings.Contains(err.Error(), "interface name") {
			t.Errorf("AddAll with ifname %q: %v, want an interface name error", name, err)
		}
		if name != "" {
			if err := r.Del(context.Background(), "net1", a, list); err == nil || !strings.Contains(err.Error(), "interface name") {
				t.Errorf("Del with ifname %q: %v, want an interface name error", name, err)
			}
		}
	}
	if short, _ := fe.calls(); len(short) != 0 {
		t.Errorf("plugins ran: %v", short)
	}
	if ents, _ := os.ReadDir(r.StateDir); len(ents) != 0 {
		t.Errorf("the state directory is not empty: %v", ents)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(r.StateDir), "escape")); err == nil {
		t.Errorf("an interface name escaped the state directory")
	}
}

// refuser is an in-process plugin that refuses, in CheckConfig, any
// configuration with "refuse" in it; it must never run.
type refuser struct {
	mu      sync.Mutex
	checked int
}

func (p *refuser) CheckConfig(_ context.Context, _ *pluginkit.Env, a *skel.CmdArgs) error {
	p.mu.Lock()
	p.checked++
	p.mu.Unlock()
	if strings.Contains(string(a.StdinData), "refuse") {
		return pluginkit.ConfigError("refuse", "the test said so")
	}
	return nil
}
func (p *refuser) Add(context.Context, *pluginkit.Env, *skel.CmdArgs) (types.Result, error) {
	return nil, errors.New("ADD ran")
}
func (p *refuser) Del(context.Context, *pluginkit.Env, *skel.CmdArgs) error    { return nil }
func (p *refuser) Check(context.Context, *pluginkit.Env, *skel.CmdArgs) error  { return nil }
func (p *refuser) GC(context.Context, *pluginkit.Env, *skel.CmdArgs) error     { return nil }
func (p *refuser) Status(context.Context, *pluginkit.Env, *skel.CmdArgs) error { return nil }

// TestConfigCheckedBeforeAnyPluginRuns: a configuration a plugin late in
// the chain refuses is refused before the first ADD: no plugin runs, no
// record or lock is left.
func TestConfigCheckedBeforeAnyPluginRuns(t *testing.T) {
	fe := newFakeEnv(t, "fake-a", "fake-check")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ref := &refuser{}
	r := newRunner(fe)
	r.Exec = &pluginkit.Exec{Self: self, Plugins: pluginkit.Registry{"fake-check": ref}}
	list, err := libcni.ConfListFromBytes([]byte(`{"cniVersion":"1.1.0","name":"net1","plugins":[{"type":"fake-a"},{"type":"fake-check","refuse":true}]}`))
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Add(context.Background(), list, att("c1"))
	if err == nil || !strings.Contains(err.Error(), `plugin fake-check failed (add): invalid field "refuse": the test said so`) {
		t.Fatalf("Add error = %v, want the check's refusal", err)
	}
	if ref.checked != 1 {
		t.Errorf("CheckConfig ran %d times, want 1", ref.checked)
	}
	if short, _ := fe.calls(); len(short) != 0 {
		t.Errorf("plugins ran for a refused configuration: %v", short)
	}
	if ents, _ := os.ReadDir(r.StateDir); len(ents) != 1 || ents[0].Name() != "locks" {
		t.Errorf("state left: %v", ents)
	}
	if _, err := os.Stat(filepath.Join(r.StateDir, "locks", "c1")); !os.IsNotExist(err) {
		t.Errorf("lock file left: %v", err)
	}
	// A plugin missing from the path is found missing before any ADD too.
	missing, _ := libcni.ConfListFromBytes([]byte(`{"cniVersion":"1.1.0","name":"net2","plugins":[{"type":"fake-a"},{"type":"fake-nosuch"}]}`))
	if _, err := r.Add(context.Background(), missing, att("c1")); err == nil || !strings.Contains(err.Error(), "fake-nosuch") {
		t.Fatalf("Add with a missing plugin: %v", err)
	}
	if short, _ := fe.calls(); len(short) != 0 {
		t.Errorf("plugins ran though one is missing: %v", short)
	}
}

// TestFailedDelLeavesRecordDeleting: from the first plugin's DEL on, the
// record says the attachment is being deleted, so that a crash or a failed
// DEL is not taken for a complete attach; the retry finishes it.
func TestFailedDelLeavesRecordDeleting(t *testing.T) {
	fe := newFakeEnv(t, "fake-a", "fake-b")
	r := newRunner(fe)
	list := fakeList(t, "net1", "fake-a", "fake-b")
	if _, err := r.Add(context.Background(), list, att("c1")); err != nil {
		t.Fatal(err)
	}
	fe.script("fake-a", fakeScript{"DEL": {Code: 5, Msg: "later"}})
	if err := r.Del(context.Background(), "net1", att("c1"), nil); err == nil {
		t.Fatal("Del succeeded")
	}
	rec, res, err := r.Result("c1", "net1")
	if err != nil || rec.State != StateDeleting || res == nil {
		t.Fatalf("record after a failed Del: %+v %v %v, want state %q with the result", rec, res, err, StateDeleting)
	}
	if err := r.Check(context.Background(), "net1", "c1"); err == nil {
		t.Error("CHECK of an attachment being deleted succeeded")
	}
	fe.script("fake-a", fakeScript{})
	fe.reset()
	if err := r.Del(context.Background(), "net1", att("c1"), nil); err != nil {
		t.Fatalf("retried Del: %v", err)
	}
	_, full := fe.calls()
	if len(full) != 2 || !strings.Contains(string(full[0].Stdin), `"prevResult"`) {
		t.Errorf("the retry did not replay the recorded result: %+v", full)
	}
}

// TestGCWaitsForAddsInFlight: a GC started while an ADD runs waits for it,
// and then counts its attachment as valid (else the plugins would free
// what the ADD had just acquired).
func TestGCWaitsForAddsInFlight(t *testing.T) {
	fe := newFakeEnv(t, "fake-slow")
	r := newRunner(fe)
	fe.script("fake-slow", fakeScript{"ADD": {SleepMS: 400}})
	list := fakeList(t, "net1", "fake-slow")
	done := make(chan error, 1)
	go func() {
		_, err := r.Add(context.Background(), list, att("c1"))
		done <- err
	}()
	for start := time.Now(); ; time.Sleep(5 * time.Millisecond) {
		if short, _ := fe.calls(); len(short) > 0 {
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatal("the ADD never started")
		}
	}
	if err := r.GC(context.Background(), []*libcni.NetworkConfigList{list}); err != nil {
		t.Fatalf("GC: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Add: %v", err)
	}
	short, full := fe.calls()
	if strings.Join(short, ",") != "fake-slow ADD,fake-slow ADD done,fake-slow GC" {
		t.Fatalf("calls = %v, want the GC after the ADD", short)
	}
	if !strings.Contains(string(full[2].Stdin), `"cni.dev/valid-attachments":[{"containerID":"c1","ifname":"eth0"}]`) {
		t.Errorf("GC's valid attachments lack the ADD's: %s", full[2].Stdin)
	}
}
