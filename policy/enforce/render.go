package enforce

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/weirnet/weir/policy/compile"
	"github.com/weirnet/weir/policy/dataplane"
)

// Report says what a render did.
type Report struct {
	Endpoints int
	Patched   bool // only the endpoint's own part was written (see patch.go)
	Host      dataplane.Stats
	NetNS     map[string]dataplane.Stats
	Duration  time.Duration
}

// Writes is the number of kernel objects written in all namespaces.
func (r Report) Writes() int {
	n := r.Host.Writes()
	for _, s := range r.NetNS {
		n += s.Writes()
	}
	return n
}

// render compiles every endpoint of idx under its current policy files and
// applies the result: the host's state, then each in-namespace endpoint's.
// Policy files that do not load are replaced by their last good version
// (see lastgood.go); with none, the render fails and changes nothing: an
// endpoint never runs with half a policy.
func (e *Engine) render(ctx context.Context, idx *index, repair bool) (Report, error) {
	start := time.Now()
	eps := idx.list()
	rep := Report{Endpoints: len(eps), NetNS: map[string]dataplane.Stats{}}
	// A render that does not complete leaves no stamp: the next attach
	// renders whole (see patch.go).
	e.writeStamp("")
	sets, policies, err := e.loadPolicies(eps)
	if err != nil {
		return rep, err
	}
	memo := e.compileMemo()
	before := memo.Len()
	out, err := compile.CompileMemo(sets, eps, memo)
	if err != nil {
		return rep, fmt.Errorf("compiling policy: %w", err)
	}
	if memo.Misses > 0 || memo.Len() != before {
		e.saveMemo(memo)
	}
	apply, applyNS := e.Writer.Apply, e.Writer.ApplyInNetNS
	if repair {
		apply, applyNS = e.Writer.Repair, e.Writer.RepairInNetNS
	}
	var errs []error
	if rep.Host, err = apply(ctx, out.Host); err != nil {
		errs = append(errs, fmt.Errorf("applying host policy: %w", err))
	}
	paths := make([]string, 0, len(out.NetNS))
	for p := range out.NetNS {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			e.Log.Warn("endpoint namespace is gone; its policy waits for DEL or GC", "netns", p)
			continue
		}
		st, err := applyNS(ctx, p, out.NetNS[p])
		rep.NetNS[p] = st
		if err != nil {
			errs = append(errs, fmt.Errorf("applying policy in %s: %w", p, err))
		}
	}
	rep.Duration = time.Since(start)
	e.Log.Debug("rendered policy", "endpoints", rep.Endpoints, "writes", rep.Writes(), "duration", rep.Duration)
	if len(errs) == 0 {
		e.writeStamp(e.renderStamp(policies))
	}
	return rep, errors.Join(errs...)
}
