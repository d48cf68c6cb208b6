package enforce

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/weirnet/weir/policy/dataplane"
)

// recordingRunner keeps the last restore batch of each family, so two
// engines' kernel writes can be compared without a kernel.
type recordingRunner struct {
	nopRunner
	batches []string
}

func (r *recordingRunner) Restore(_ context.Context, f dataplane.Family, b []byte) error {
	r.batches = append(r.batches, string(f)+"\n"+string(b))
	return nil
}

// TestEngineMemoAcrossProcesses: each plugin call is a new engine; the
// compile memo it leaves in the state directory spares the next one the
// chains of every endpoint already there — and a memo that is damaged,
// or was written by another build, is ignored with the same result.
func TestEngineMemoAcrossProcesses(t *testing.T) {
	h := &benchHost{stateDir: filepath.Join(t.TempDir(), "state"), policyDir: filepath.Join(t.TempDir(), "policies")}
	if err := os.MkdirAll(h.policyDir, 0o755); err != nil {
		t.Fatal(err)
	}
	h.writePolicies(t, benchPolicies(0, benchDNSPorts))
	engine := func() (*Engine, *recordingRunner) {
		r := &recordingRunner{}
		e := New(h.stateDir, nil)
		e.Writer = dataplane.New(dataplane.Config{Runner: r, Backend: dataplane.NFT,
			LockPath: filepath.Join(h.stateDir, "dataplane.lock"), CacheDir: filepath.Join(h.stateDir, "policy")})
		return e, r
	}
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		e, _ := engine()
		if _, err := e.Attach(ctx, h.endpoint(i)); err != nil {
			t.Fatal(err)
		}
		// Two families per endpoint: the ones before came from the memo.
		if e.memo.Hits != 2*i || e.memo.Misses != 2 {
			t.Fatalf("attach %d: %d hits, %d misses", i, e.memo.Hits, e.memo.Misses)
		}
	}
	// The same attach from a memo, from a damaged one and from another
	// build's writes the same batches.
	// attach attaches a sixth endpoint with a new engine and detaches it
	// again; it returns the attach's restore batches and memo hits.
	attach := func(prepare func(e *Engine)) ([]string, int) {
		t.Helper()
		e, r := engine()
		prepare(e)
		if _, err := e.Attach(ctx, h.endpoint(5)); err != nil {
			t.Fatal(err)
		}
		batches, hits := r.batches, e.memo.Hits
		if _, err := e.Detach(ctx, benchNetwork, h.endpoint(5).ID, "eth0"); err != nil {
			t.Fatal(err)
		}
		if e.memo.Hits != 10 || e.memo.Misses != 0 {
			t.Fatalf("detach after attach: %d hits, %d misses", e.memo.Hits, e.memo.Misses)
		}
		return batches, hits
	}
	memoData, err := os.ReadFile(filepath.Join(h.stateDir, "policy", "compile.memo"))
	if err != nil {
		t.Fatal(err)
	}
	restore := func(*Engine) {
		if err := os.WriteFile(filepath.Join(h.stateDir, "policy", "compile.memo"), memoData, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	want, hits := attach(restore)
	if len(want) == 0 || hits != 10 {
		t.Fatalf("the attach from the memo wrote %d batches with %d hits", len(want), hits)
	}
	for name, prepare := range map[string]func(*Engine){
		"damaged": func(*Engine) {
			if err := os.WriteFile(filepath.Join(h.stateDir, "policy", "compile.memo"), memoData[:len(memoData)/2], 0o600); err != nil {
				t.Fatal(err)
			}
		},
		"another build": func(e *Engine) { restore(e); e.stamp = "another build" },
		"no memo": func(*Engine) {
			if err := os.Remove(filepath.Join(h.stateDir, "policy", "compile.memo")); err != nil {
				t.Fatal(err)
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			restore(nil)
			got, hits := attach(prepare)
			if hits != 0 {
				t.Errorf("%d hits from a memo that should be ignored", hits)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("batches differ:\n%q\nwant\n%q", got, want)
			}
		})
	}
}
