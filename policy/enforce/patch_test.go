package enforce

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/weirnet/weir/policy/compile"
	"github.com/weirnet/weir/policy/dataplane"
)

// countingRunner counts the tools' batches.
type countingRunner struct {
	nopRunner
	rules, sets int
	last        string
}

func (r *countingRunner) Restore(_ context.Context, f dataplane.Family, b []byte) error {
	r.rules++
	r.last = string(f) + "\n" + string(b)
	return nil
}

func (r *countingRunner) IPSetRestore(_ context.Context, b []byte) error {
	r.sets++
	r.last = string(b)
	return nil
}

// TestPatchEqualsRender: through random attaches and detaches of host
// endpoints (shared and new label sets, IPv4 and dual-stack, no address,
// ports sharing buckets), policy file edits and an in-namespace endpoint
// now and then, each by a new engine as the plugin runs them, whatever the
// engine writes — patches or full renders — leaves the cache exactly as a
// full compilation of the index wants it: Applying that writes nothing.
// Most steps are patches.
func TestPatchEqualsRender(t *testing.T) {
	h := &benchHost{stateDir: filepath.Join(t.TempDir(), "state"), policyDir: filepath.Join(t.TempDir(), "policies")}
	if err := os.MkdirAll(h.policyDir, 0o755); err != nil {
		t.Fatal(err)
	}
	policies := []string{benchPolicies(0, benchDNSPorts), benchPolicies(8443, benchDNSPorts)}
	h.writePolicies(t, policies[0])
	writer := func(r dataplane.Runner) *dataplane.Writer {
		return dataplane.New(dataplane.Config{Runner: r, Backend: dataplane.NFT,
			LockPath: filepath.Join(h.stateDir, "dataplane.lock"), CacheDir: filepath.Join(h.stateDir, "policy")})
	}
	engine := func() *Engine {
		e := New(h.stateDir, nil)
		e.Writer = writer(&countingRunner{})
		return e
	}
	rnd := rand.New(rand.NewPCG(7, 11))
	live := map[string]compile.Endpoint{}
	next := 0
	newEndpoint := func() compile.Endpoint {
		i := next
		next++
		ep := h.endpoint(rnd.IntN(300)) // labels (and the rest) of one of 300
		ep.ID = fmt.Sprintf("p-%04d", i)
		ep.HostIface = benchVeth(ep.ID)
		ep.IPs = []netip.Addr{netip.AddrFrom4([4]byte{10, 65, byte(i / 250), byte(i%250 + 2)})}
		switch rnd.IntN(8) {
		case 0:
			ep.IPs = append(ep.IPs, netip.MustParseAddr(fmt.Sprintf("fd00:65::%x", i+2)))
		case 1:
			ep.IPs = nil
		case 2:
			ep.Labels = map[string]string{"app": fmt.Sprintf("solo-%d", i)} // a class of its own
		case 3:
			if rnd.IntN(4) == 0 {
				ep.Mode, ep.HostIface, ep.NetNS = compile.NetNS, "", "/run/netns/none-"+ep.ID
			}
		}
		return ep
	}
	ctx := context.Background()
	patched := 0
	for step := 0; step < 300; step++ {
		var rep Report
		var err error
		switch k := rnd.IntN(20); {
		case k < 11 || step < 60: // the first steps fill the host (and its port buckets)
			ep := newEndpoint()
			live[ep.ID] = ep
			rep, err = engine().Attach(ctx, ep)
		case k < 19:
			for id, ep := range live {
				delete(live, id)
				rep, err = engine().Detach(ctx, ep.Network, ep.ID, ep.IfName)
				break
			}
		default:
			// An edit: the host is stale until something renders (the
			// daemon's reconcile loop; here the next attach or detach).
			h.writePolicies(t, policies[rnd.IntN(len(policies))])
			continue
		}
		if err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		if rep.Patched {
			patched++
		}
		// What a full compilation of the index wants is what the cache
		// says the kernel holds.
		e := New(h.stateDir, nil)
		idx, err := e.readIndex()
		if err != nil {
			t.Fatal(err)
		}
		eps := idx.list()
		sets, _, err := e.loadPolicies(eps)
		if err != nil {
			t.Fatal(err)
		}
		out, err := compile.Compile(sets, eps)
		if err != nil {
			t.Fatal(err)
		}
		if len(eps) == 0 || len(out.Host.Chains) == 0 {
			continue
		}
		r := &countingRunner{}
		st, err := writer(r).Apply(ctx, out.Host)
		if err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		if !st.FromCache || r.rules+r.sets != 0 {
			t.Fatalf("step %d (patched: %v): the cache differs from a full compilation: from cache %v, %d rule and %d set batches, the last:\n%s",
				step, rep.Patched, st.FromCache, r.rules, r.sets, r.last)
		}
	}
	if patched < 100 {
		t.Errorf("only %d of 300 steps were patches", patched)
	}
	t.Logf("%d of 300 steps patched", patched)
}

// TestPatchNeedsTheStamp: a patch is only taken after a completed render
// of the same policy files; a policy edit since makes the next attach a
// full render, which stamps again.
func TestPatchNeedsTheStamp(t *testing.T) {
	h := &benchHost{stateDir: filepath.Join(t.TempDir(), "state"), policyDir: filepath.Join(t.TempDir(), "policies")}
	if err := os.MkdirAll(h.policyDir, 0o755); err != nil {
		t.Fatal(err)
	}
	h.writePolicies(t, benchPolicies(0, benchDNSPorts))
	e := New(h.stateDir, nil)
	e.Writer = dataplane.New(dataplane.Config{Runner: &countingRunner{}, Backend: dataplane.NFT,
		LockPath: filepath.Join(h.stateDir, "dataplane.lock"), CacheDir: filepath.Join(h.stateDir, "policy")})
	ctx := context.Background()
	attach := func(i int) Report {
		t.Helper()
		ep := h.endpoint(i % 60)
		ep.ID = fmt.Sprintf("s-%d", i)
		ep.HostIface = "vethaaaa" + fmt.Sprintf("%07d", i) // one bucket
		ep.IPs = []netip.Addr{netip.AddrFrom4([4]byte{10, 66, 0, byte(i + 2)})}
		rep, err := e.Attach(ctx, ep)
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	attach(0)
	if rep := attach(60); !rep.Patched {
		t.Fatal("an attach of an existing class into an existing bucket was not patched")
	}
	h.writePolicies(t, benchPolicies(8443, benchDNSPorts))
	if rep := attach(120); rep.Patched {
		t.Fatal("an attach after a policy edit was patched")
	}
	if rep := attach(180); !rep.Patched {
		t.Fatal("the render after the edit left no stamp")
	}
	if err := os.Remove(e.stampPath()); err != nil {
		t.Fatal(err)
	}
	if rep := attach(240); rep.Patched {
		t.Fatal("an attach without a stamp was patched")
	}
}
