package enforce

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weirnet/weir/policy/dataplane"
)

// recordingRunner keeps the iptables restore batches and counts the ipset
// ones, so an engine's kernel writes can be checked without a kernel.
type recordingRunner struct {
	nopRunner
	batches []string // iptables-restore batches
	sets    int      // ipset restore batches
}

func (r *recordingRunner) IPSetRestore(context.Context, []byte) error {
	r.sets++
	return nil
}

func (r *recordingRunner) Restore(_ context.Context, f dataplane.Family, b []byte) error {
	r.batches = append(r.batches, string(f)+"\n"+string(b))
	return nil
}

// TestEngineAttachWritesItsOwnOnly: each plugin call is a new engine. Once
// an endpoint's classes exist on the host (another endpoint with the same
// policies and default action is there), attaching it and detaching it
// again write its set members (one ipset batch) and its port guard (one
// iptables batch per family, naming it in every rule) and nothing else;
// the compile memo, which serves in-namespace endpoints only, stays empty.
func TestEngineAttachWritesItsOwnOnly(t *testing.T) {
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
	combos := len(benchApps) * len(benchEnvs) // distinct label sets of h.endpoint
	for i := 0; i < 2*combos; i++ {
		e, r := engine()
		if _, err := e.Attach(ctx, h.endpoint(i)); err != nil {
			t.Fatal(err)
		}
		if e.memo != nil && (e.memo.Len() != 0 || e.memo.Misses != 0) {
			t.Fatalf("attach %d: host endpoints in the memo (%d entries)", i, e.memo.Len())
		}
		if i == 0 && (len(r.batches) == 0 || r.sets == 0) {
			t.Fatalf("the first attach wrote %d iptables and %d ipset batches", len(r.batches), r.sets)
		}
		if i >= combos {
			ownOnly(t, fmt.Sprintf("attach %d (its classes exist)", i), h.endpoint(i).ID, r)
		}
	}
	e, r := engine()
	if _, err := e.Detach(ctx, benchNetwork, h.endpoint(2*combos-1).ID, "eth0"); err != nil {
		t.Fatal(err)
	}
	ownOnly(t, "detach of an endpoint whose classes stay", h.endpoint(2*combos-1).ID, r)
}

// ownOnly fails unless r saw one ipset batch and one iptables batch per
// family whose every rule names container id.
func ownOnly(t *testing.T, what, id string, r *recordingRunner) {
	t.Helper()
	if len(r.batches) != 2 || r.sets != 1 {
		t.Fatalf("%s: %d iptables batches, %d ipset batches:\n%s", what, len(r.batches), r.sets, strings.Join(r.batches, "\n"))
	}
	for _, b := range r.batches {
		for _, l := range strings.Split(b, "\n") {
			if (strings.HasPrefix(l, "-") || strings.HasPrefix(l, ":")) && !strings.Contains(l, "id="+id+" ") && !strings.HasPrefix(l, "-D ") {
				t.Fatalf("%s: a line not of %s's own:\n%s\nin\n%s", what, id, l, b)
			}
		}
	}
}
