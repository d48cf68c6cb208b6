package enforce

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/hashicorp/go-hclog"
)

// Reconciler keeps the host's policy true while weir serve runs: a change
// in a watched policy directory is applied within the debounce delay, and
// every RepairEvery the whole dataplane is read back and repaired and
// endpoints whose enforcement point vanished are forgotten.
type Reconciler struct {
	Engine *Engine
	// Dirs are policy directories to watch besides those the endpoints
	// use (e.g. --policy-dir, before any endpoint exists).
	Dirs        []string
	RepairEvery time.Duration // default 60s
	Debounce    time.Duration // quiet time after a change before applying; default 20ms
	// LinkExists tells whether a host interface still exists (orphans).
	LinkExists func(name string) bool
	Log        hclog.Logger
	// Applied, when set, is called after every render caused by a file
	// change, with what it did (for metrics and tests).
	Applied func(Report, error)
}

// Run watches and repairs until ctx ends.
func (r *Reconciler) Run(ctx context.Context) error {
	log := r.Log
	if log == nil {
		log = hclog.NewNullLogger()
	}
	every, debounce := r.RepairEvery, r.Debounce
	if every <= 0 {
		every = 60 * time.Second
	}
	if debounce <= 0 {
		debounce = 20 * time.Millisecond
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer w.Close()
	watched := map[string]bool{}
	r.watch(w, watched, log)

	repair := time.NewTicker(every)
	defer repair.Stop()
	var pending <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			log.Debug("policy file changed", "path", ev.Name, "op", ev.Op.String())
			r.watch(w, watched, log) // a policy directory may just have been created
			pending = time.After(debounce)
		case err, ok := <-w.Errors:
			if ok {
				log.Warn("watching policy files", "error", err)
			}
		case <-pending:
			pending = nil
			rep, err := r.Engine.Render(ctx)
			if err != nil {
				log.Error("applying changed policy", "error", err)
			} else {
				log.Info("applied changed policy", "endpoints", rep.Endpoints, "writes", rep.Writes(), "duration", rep.Duration)
			}
			if r.Applied != nil {
				r.Applied(rep, err)
			}
		case <-repair.C:
			r.watch(w, watched, log)
			if r.LinkExists != nil {
				if _, err := r.Engine.Orphans(ctx, r.LinkExists); err != nil {
					log.Error("removing orphaned endpoints", "error", err)
				}
			}
			rep, err := r.Engine.Repair(ctx)
			if err != nil {
				log.Error("repairing policy", "error", err)
			} else if rep.Writes() > 0 {
				log.Warn("repaired policy drift", "writes", rep.Writes())
			}
		}
	}
}

// watch adds every policy directory in use to the watcher, or its parent
// while it does not exist yet, so that its creation is noticed.
func (r *Reconciler) watch(w *fsnotify.Watcher, watched map[string]bool, log hclog.Logger) {
	dirs := append([]string(nil), r.Dirs...)
	if eps, err := r.Engine.Endpoints(); err == nil {
		for _, ep := range eps {
			dirs = append(dirs, ep.PolicyDir)
		}
	}
	sort.Strings(dirs)
	for _, d := range dirs {
		p := d
		if _, err := os.Stat(d); err != nil {
			p = filepath.Dir(d)
		}
		if watched[p] {
			continue
		}
		if err := w.Add(p); err != nil {
			log.Warn("cannot watch policy directory", "dir", p, "error", err)
			continue
		}
		watched[p] = true
	}
}
