package enforce

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/weirnet/weir/internal/atomicfile"
	"github.com/weirnet/weir/policy/compile"
	"github.com/weirnet/weir/policy/dataplane"
)

// An attach or detach usually changes the host's compiled state in one
// place: the endpoint's port guard and its addresses in its classes' and
// peers' sets (compile.Delta). Then the engine writes just that
// (dataplane.Writer.Patch) instead of compiling and diffing the host,
// whose cost grows with the endpoints on it. It may only when the last
// render compiled the same policy files with the same build of weir —
// the render stamp, written by every render that completed — and the
// writer checks the rest against its cache: classes and bucket there, no
// class emptied. Anything else is a full render, which also runs when a
// patch fails.

func (e *Engine) stampPath() string { return filepath.Join(e.dir(), "render.stamp") }

// renderStamp is what a render's result depends on besides the endpoints:
// the build and the policy files loaded.
func (e *Engine) renderStamp(policies string) string { return e.buildStamp() + "\n" + policies + "\n" }

// writeStamp records a completed render's stamp ("" forgets it).
func (e *Engine) writeStamp(stamp string) {
	if stamp == "" {
		if err := os.Remove(e.stampPath()); err != nil && !errors.Is(err, os.ErrNotExist) {
			e.Log.Warn("cannot remove the render stamp", "error", err)
		}
		return
	}
	if err := atomicfile.WriteFile(e.stampPath(), []byte(stamp), 0o600); err != nil {
		e.Log.Warn("cannot write the render stamp", "error", err)
	}
}

// patch writes the change of ep joining (attach) or leaving the host's
// endpoints, idx being the index after the change, when that change is
// local; ok false means a full render is needed (nothing was written).
func (e *Engine) patch(ctx context.Context, idx *index, ep compile.Endpoint, attach bool) (rep Report, ok bool) {
	start := time.Now()
	have, err := os.ReadFile(e.stampPath())
	if err != nil || ep.Mode != compile.Host {
		return rep, false
	}
	eps := idx.list()
	sets, policies, err := e.loadPolicies(append(eps, ep))
	if err != nil || string(have) != e.renderStamp(policies) {
		return rep, false
	}
	d := compile.HostDelta(sets, eps, ep, attach)
	if d == nil {
		return rep, false
	}
	p := dataplane.Patch{Chains: d.Chains, Before: d.Before, Required: d.Required, Optional: d.Optional, Exist: d.Classes, Remove: !attach}
	st, err := e.Writer.Patch(ctx, p)
	if err != nil {
		if !errors.Is(err, dataplane.ErrNotPatchable) {
			e.Log.Warn("patching the host's policy failed; rendering it whole", "error", err)
		}
		return rep, false
	}
	rep = Report{Endpoints: len(eps), Patched: true, Host: st, NetNS: map[string]dataplane.Stats{}}
	// In-namespace endpoints keep their own copies of the peer sets. (A
	// failure here leaves the host patched, which the full render that
	// follows finds already done.)
	for _, path := range netnsPaths(eps) {
		if _, err := os.Stat(path); err != nil {
			e.Log.Warn("endpoint namespace is gone; its policy waits for DEL or GC", "netns", path)
			continue
		}
		st, err := e.Writer.PatchInNetNS(ctx, path, dataplane.Patch{Optional: d.Optional, Remove: !attach})
		rep.NetNS[path] = st
		if err != nil {
			if !errors.Is(err, dataplane.ErrNotPatchable) {
				e.Log.Warn("patching policy in a namespace failed; rendering the host whole", "netns", path, "error", err)
			}
			return rep, false
		}
	}
	rep.Duration = time.Since(start)
	e.Log.Debug("patched policy", "endpoints", rep.Endpoints, "writes", rep.Writes(), "duration", rep.Duration)
	return rep, true
}

// netnsPaths returns the namespaces of the in-namespace endpoints, sorted.
func netnsPaths(eps []compile.Endpoint) []string {
	seen := map[string]bool{}
	var out []string
	for _, ep := range eps {
		if ep.Mode == compile.NetNS && !seen[ep.NetNS] {
			seen[ep.NetNS] = true
			out = append(out, ep.NetNS)
		}
	}
	slices.Sort(out)
	return out
}
