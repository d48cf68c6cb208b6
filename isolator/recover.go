package isolator

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/containernetworking/cni/libcni"

	"github.com/weirnet/weir/chain"
)

// RecoverReport says what Recover found and did.
type RecoverReport struct {
	Kept    []*ContainerStatus `json:"kept"`    // containers whose completed attaches were kept
	Undone  []string           `json:"undone"`  // "id/network" attaches that were half done and undone
	Cleaned []string           `json:"cleaned"` // containers cleaned up: orphans, unknown to the containerizer, or half isolated
	// Busy lists containers another process was working on (an attach or
	// cleanup in progress); Recover left them alone.
	Busy []string `json:"busy,omitempty"`
	// Temps lists the temporary files of interrupted writes removed: all
	// of them in the directories of the containers recovered, and those
	// older than StaleTempAge elsewhere in the state directory.
	Temps []string `json:"temps,omitempty"`
}

// Recover brings the host back in line with the records after a crash at
// any point: a container in orphans, or missing from known (when known is
// not nil), is cleaned up; of the others, every attach that completed is
// kept and every half-done one undone. A container whose Isolate was cut
// short (its namespace pinned or networks recorded, but not every network
// it asked for attached and its files written) is cleaned up as a whole,
// since Isolate fails as a whole. Containers another process holds the lock
// of are skipped. Temporary files that interrupted writes left are removed
// (see RecoverReport.Temps). It returns every failure, after trying
// everything.
func (iso *Isolator) Recover(ctx context.Context, known, orphans []string) (*RecoverReport, error) {
	ids, err := chain.Store{Dir: iso.Runner.StateDir}.Containers()
	if err != nil {
		return nil, err
	}
	sort.Strings(ids)
	keep := map[string]bool{}
	for _, id := range known {
		keep[id] = true
	}
	drop := map[string]bool{}
	for _, id := range orphans {
		drop[id] = true
	}
	rep := &RecoverReport{Kept: []*ContainerStatus{}, Undone: []string{}, Cleaned: []string{}}
	var errs []error
	for _, id := range ids {
		if chain.ValidateContainerID(id) != nil {
			iso.log().Warn("ignoring a directory that is not a container id", "name", id)
			continue
		}
		l, err := iso.tryLock(ctx, id)
		busy := errors.Is(err, errBusy)
		if err == nil {
			if busy, err = iso.chainBusy(ctx, id); busy || err != nil {
				iso.unlock(l, id)
			}
		}
		if busy {
			iso.log().Info("skipping a container whose operation is in progress", "container_id", id)
			rep.Busy = append(rep.Busy, id)
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		err = iso.recoverOne(ctx, id, drop[id] || (known != nil && !keep[id]), known == nil, rep)
		if err == nil {
			var swept []string
			swept, err = iso.sweepContainer(ctx, id)
			rep.Temps = append(rep.Temps, swept...)
		}
		iso.unlock(l, id)
		if err != nil {
			errs = append(errs, err)
		}
	}
	swept, err := iso.sweepState(ctx)
	rep.Temps = append(rep.Temps, swept...)
	if err != nil {
		errs = append(errs, err)
	}
	iso.logSwept(rep.Temps)
	iso.log().Info("recovered", "kept", len(rep.Kept), "undone", len(rep.Undone), "cleaned", len(rep.Cleaned), "busy", len(rep.Busy),
		"temps", len(rep.Temps), "errors", len(errs))
	return rep, errors.Join(errs...)
}

// recoverOne recovers one container, with its lock held.
func (iso *Isolator) recoverOne(ctx context.Context, id string, drop, unvouched bool, rep *RecoverReport) error {
	defer iso.Cache.forget(id)
	if drop {
		if err := iso.cleanup(ctx, id); err != nil {
			return err
		}
		rep.Cleaned = append(rep.Cleaned, id)
		return nil
	}
	undone, err := iso.undoPartial(ctx, id)
	rep.Undone = append(rep.Undone, undone...)
	if err != nil {
		return err
	}
	half, err := iso.halfIsolated(id)
	if err != nil {
		return err
	}
	st, err := iso.Status(id)
	// Prepared but never isolated, and no containerizer vouches for it
	// (weir recover, the daemon's start): the CLI's and the API's attach
	// prepare and isolate in one go, so this is an attach that died before
	// it began to isolate.
	if err == nil && unvouched && st.State == StatePreparing {
		half = true
	}
	if half || errors.Is(err, ErrUnknownContainer) {
		// A cut-short Isolate, or a directory with nothing in it (a
		// Prepare or Cleanup that died midway): nothing worth keeping.
		if err := iso.cleanup(ctx, id); err != nil {
			return err
		}
		if half {
			rep.Cleaned = append(rep.Cleaned, id)
		}
		return nil
	}
	if err != nil {
		return err
	}
	rep.Kept = append(rep.Kept, st)
	return nil
}

// halfIsolated reports whether a prepared container's Isolate started (its
// namespace is pinned or it has records) but did not finish: a network it
// asked for has no completed attach, or its files were never written.
// Containers attached with `weir net add` (records, no config) never are.
func (iso *Isolator) halfIsolated(id string) (bool, error) {
	cfg, err := iso.config(id)
	if errors.Is(err, ErrUnknownContainer) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	store := chain.Store{Dir: iso.Runner.StateDir}
	recorded, err := store.Networks(id)
	if err != nil {
		return false, err
	}
	_, nsErr := os.Stat(iso.NSPath(id))
	if nsErr != nil && len(recorded) == 0 {
		return false, nil // prepared, Isolate not started
	}
	for _, n := range cfg.networks() {
		rec, err := store.Load(id, n.Name)
		if errors.Is(err, chain.ErrNoRecord) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		if rec.State != chain.StateAdded {
			return true, nil
		}
	}
	if _, err := os.Stat(filepath.Join(iso.dir(id), "hosts")); err != nil {
		return true, nil // Isolate died while writing the files
	}
	return false, nil
}

// undoPartial deletes the container's attaches whose record says the ADD
// never finished.
func (iso *Isolator) undoPartial(ctx context.Context, id string) ([]string, error) {
	store := chain.Store{Dir: iso.Runner.StateDir}
	nets, err := store.Networks(id)
	if err != nil {
		return nil, err
	}
	var undone []string
	var errs []error
	for _, n := range nets {
		rec, err := store.Load(id, n)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if rec.State == chain.StateAdded {
			continue
		}
		if err := iso.Runner.Del(ctx, n, chain.Attachment{ContainerID: id}, nil); err != nil {
			errs = append(errs, fmt.Errorf("undoing the half-done attach of %s to %s: %w", id, n, err))
			continue
		}
		undone = append(undone, id+"/"+n)
	}
	return undone, errors.Join(errs...)
}

// GC sends every network a CNI GC with the attachments the records hold,
// so plugins free what leaked (addresses, rules, policy endpoints). Networks
// no longer defined are collected with the configuration a record kept.
// Temporary files of interrupted writes older than StaleTempAge are
// removed from the state directory too.
func (iso *Isolator) GC(ctx context.Context) error {
	lists := map[string]*libcni.NetworkConfigList{}
	set, err := chain.LoadDir(iso.ConfDir, iso.Runner.Path)
	if err == nil {
		for _, d := range set.Definitions() {
			if l, err := d.ConfList(); err == nil {
				lists[d.Name] = l
			}
		}
	}
	recs, err := chain.Store{Dir: iso.Runner.StateDir}.All()
	if err != nil {
		return err
	}
	for _, r := range recs {
		if _, ok := lists[r.Network]; ok {
			continue
		}
		if l, err := libcni.ConfListFromBytes(r.Config); err == nil {
			lists[r.Network] = l
		}
	}
	names := make([]string, 0, len(lists))
	for n := range lists {
		names = append(names, n)
	}
	sort.Strings(names)
	defs := make([]*libcni.NetworkConfigList, 0, len(names))
	for _, n := range names {
		defs = append(defs, lists[n])
	}
	gcErr := iso.Runner.GC(ctx, defs)
	swept, err := iso.sweepState(ctx)
	iso.logSwept(swept)
	return errors.Join(gcErr, err)
}
