package enforce

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/go-hclog"

	"github.com/weirnet/weir/internal/atomicfile"
	"github.com/weirnet/weir/internal/flock"
	"github.com/weirnet/weir/policy/compile"
	"github.com/weirnet/weir/policy/dataplane"
)

// Engine renders policy for every endpoint on the host.
type Engine struct {
	// StateDir is weir's state directory (/run/weir); the engine keeps its
	// files in StateDir/policy.
	StateDir string
	Writer   *dataplane.Writer
	Log      hclog.Logger

	memo  *compile.Memo // see memo.go
	stamp string        // buildStamp, once known
}

// New returns an engine whose dataplane writer locks and caches under
// stateDir.
func New(stateDir string, log hclog.Logger) *Engine {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Engine{
		StateDir: stateDir,
		Writer: dataplane.New(dataplane.Config{
			LockPath: filepath.Join(stateDir, "dataplane.lock"),
			CacheDir: filepath.Join(stateDir, "policy"),
			Log:      log.Named("dataplane"),
		}),
		Log: log,
	}
}

func (e *Engine) dir() string { return filepath.Join(e.StateDir, "policy") }

// lock serialises the engine's read-modify-render across processes.
func (e *Engine) lock(ctx context.Context) (func(), error) {
	l, err := flock.Acquire(ctx, filepath.Join(e.dir(), "engine.lock"))
	if err != nil {
		return nil, fmt.Errorf("locking the policy engine: %w", err)
	}
	// Every writer of the engine's files (index, last good policies,
	// dataplane caches) holds this lock: temporary files found now are
	// those of a process killed mid-write.
	if removed, err := atomicfile.SweepTemps(e.dir(), 0); err != nil {
		e.Log.Warn("removing temporary files of an interrupted write", "error", err)
	} else if len(removed) > 0 {
		e.Log.Info("removed temporary files of an interrupted write", "files", removed)
	}
	return l.Release, nil
}

// Attach records ep and renders the host, so ep's rules are in place when
// Attach returns.
func (e *Engine) Attach(ctx context.Context, ep compile.Endpoint) (Report, error) {
	unlock, err := e.lock(ctx)
	if err != nil {
		return Report{}, err
	}
	defer unlock()
	idx, err := e.readIndex()
	if err != nil {
		return Report{}, err
	}
	key := Key(ep.Network, ep.ID, ep.IfName)
	old, had := idx.Endpoints[key]
	idx.Endpoints[key] = ep
	// The index is written before the rules: a process killed between the
	// two leaves an endpoint that DEL (or GC) finds and removes, never rules
	// that nothing knows of.
	if err := e.writeIndex(idx); err != nil {
		return Report{}, err
	}
	if !had {
		if rep, ok := e.patch(ctx, idx, ep, true); ok {
			return rep, nil
		}
	}
	rep, err := e.render(ctx, idx, false)
	if err != nil {
		// Undo: the endpoint as it was, and its rules with it.
		if had {
			idx.Endpoints[key] = old
		} else {
			delete(idx.Endpoints, key)
		}
		if werr := e.writeIndex(idx); werr != nil {
			return rep, errors.Join(err, werr)
		}
		if _, rerr := e.render(context.WithoutCancel(ctx), idx, false); rerr != nil {
			return rep, errors.Join(err, fmt.Errorf("undoing: %w", rerr))
		}
		return rep, err
	}
	return rep, nil
}

// Detach forgets the endpoint and renders the host without it. A missing
// endpoint is success. An in-namespace endpoint's rules are removed from
// its namespace when the namespace still exists.
func (e *Engine) Detach(ctx context.Context, network, id, ifName string) (Report, error) {
	return e.DetachIn(ctx, network, id, ifName, "")
}

// DetachIn is Detach for an endpoint whose container namespace is nsPath
// (CNI_NETNS; "" when unknown or gone). A DEL that finds the endpoint
// already forgotten may follow one that was killed between forgetting it
// and rendering, so it renders anyway, and clears nsPath when no endpoint
// is left in it: a repeated DEL finishes what the first began.
func (e *Engine) DetachIn(ctx context.Context, network, id, ifName, nsPath string) (Report, error) {
	if !e.hasIndex() {
		return Report{}, nil // nothing was ever put under policy here (see locked)
	}
	unlock, err := e.lock(ctx)
	if err != nil {
		return Report{}, err
	}
	defer unlock()
	idx, err := e.readIndex()
	if err != nil {
		return Report{}, err
	}
	key := Key(network, id, ifName)
	var errs []error
	if ep, ok := idx.Endpoints[key]; ok {
		delete(idx.Endpoints, key)
		if err := e.writeIndex(idx); err != nil {
			return Report{}, err
		}
		if ep.Mode == compile.NetNS {
			errs = append(errs, e.clearNetNS(ctx, ep.NetNS))
		} else if rep, ok := e.patch(ctx, idx, ep, false); ok {
			return rep, nil
		}
	} else if nsPath != "" && !usesNetNS(idx, nsPath) {
		errs = append(errs, e.clearNetNS(ctx, nsPath))
	}
	rep, err := e.render(ctx, idx, false)
	return rep, errors.Join(append(errs, err)...)
}

// usesNetNS reports whether an endpoint of idx is enforced inside the
// namespace at nsPath (whatever path names it).
func usesNetNS(idx *index, nsPath string) bool {
	want, err := os.Stat(nsPath)
	if err != nil {
		return false
	}
	for _, ep := range idx.Endpoints {
		if ep.Mode != compile.NetNS {
			continue
		}
		if ep.NetNS == nsPath {
			return true
		}
		if st, err := os.Stat(ep.NetNS); err == nil && os.SameFile(st, want) {
			return true
		}
	}
	return false
}

// clearNetNS removes weir's objects from a namespace that no longer has an
// endpoint; a namespace already gone is success.
func (e *Engine) clearNetNS(ctx context.Context, nsPath string) error {
	if _, err := os.Stat(nsPath); err != nil {
		return nil
	}
	if _, err := e.Writer.ApplyInNetNS(ctx, nsPath, dataplane.NewState()); err != nil {
		if _, serr := os.Stat(nsPath); serr != nil {
			return nil // it went away meanwhile
		}
		return fmt.Errorf("removing policy from %s: %w", nsPath, err)
	}
	_ = e.Writer.ForgetNetNS(nsPath)
	return nil
}

// Render re-renders every endpoint from the current policy files
// (`weir policy apply`, a policy file changed).
func (e *Engine) Render(ctx context.Context) (Report, error) { return e.locked(ctx, false) }

// Repair is Render reading the kernel back: it restores whatever drifted
// (chains flushed by hand, hooks deleted, set members removed).
func (e *Engine) Repair(ctx context.Context) (Report, error) { return e.locked(ctx, true) }

func (e *Engine) locked(ctx context.Context, repair bool) (Report, error) {
	// No index: no endpoint was ever put under policy with this state
	// directory. Rendering would write the empty state, removing what an
	// engine with another state directory programmed; there is nothing of
	// ours to render.
	if !e.hasIndex() {
		return Report{}, nil
	}
	unlock, err := e.lock(ctx)
	if err != nil {
		return Report{}, err
	}
	defer unlock()
	idx, err := e.readIndex()
	if err != nil {
		return Report{}, err
	}
	return e.render(ctx, idx, repair)
}

// Endpoints returns every endpoint under policy.
func (e *Engine) Endpoints() ([]compile.Endpoint, error) {
	idx, err := e.readIndex()
	if err != nil {
		return nil, err
	}
	return idx.list(), nil
}
