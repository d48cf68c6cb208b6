package isolator

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/containernetworking/cni/libcni"

	"github.com/weirnet/weir/chain"
)

// RecoverReport says what Recover found and did.
type RecoverReport struct {
	Kept    []*ContainerStatus `json:"kept"`    // containers whose completed attaches were kept
	Undone  []string           `json:"undone"`  // "id/network" attaches that were half done and undone
	Cleaned []string           `json:"cleaned"` // containers cleaned up: orphans, or unknown to the containerizer
}

// Recover brings the host back in line with the records after a crash at
// any point: a container in orphans, or missing from known (when known is
// not nil), is cleaned up; of the others, every attach that completed is
// kept and every half-done one undone. It returns every failure, after
// trying everything.
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
		if drop[id] || (known != nil && !keep[id]) {
			if err := iso.Cleanup(ctx, id); err != nil {
				errs = append(errs, err)
				continue
			}
			rep.Cleaned = append(rep.Cleaned, id)
			continue
		}
		undone, err := iso.undoPartial(ctx, id)
		rep.Undone = append(rep.Undone, undone...)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		st, err := iso.Status(id)
		if errors.Is(err, ErrUnknownContainer) {
			continue // a directory with nothing in it: Cleanup removed it meanwhile
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		rep.Kept = append(rep.Kept, st)
	}
	iso.log().Info("recovered", "kept", len(rep.Kept), "undone", len(rep.Undone), "cleaned", len(rep.Cleaned), "errors", len(errs))
	return rep, errors.Join(errs...)
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
	return iso.Runner.GC(ctx, defs)
}
