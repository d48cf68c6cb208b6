package portmap

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/hashicorp/go-hclog"

	"github.com/weirnet/weir/plugins/internal/masq"
	"github.com/weirnet/weir/plugins/pluginkit"
)

// undoTimeout bounds the removal of a failed ADD's rules, which must run
// even when the ADD's own context is what failed.
const undoTimeout = 30 * time.Second

// writeRules records pl and makes its rules in each of its families, and
// removes the rules of the families an earlier ADD of the attachment (old,
// its record) had and pl has not; it returns the families it touched. The
// record goes first, so that a crash part way leaves something DEL and GC
// find. A failure undoes all of it.
//
// Without an earlier ADD each family is one restore of freshBatch, which
// reads nothing. A family whose fresh batch is refused (the table is not
// as predicted), and every family of a re-ADD, is read with iptables-save
// and written with setupBatch, which replaces whatever the attachment had.
func writeRules(ctx context.Context, run masq.Runner, st store, pl, old *plan, log hclog.Logger) ([]masq.Family, error) {
	name := attachmentName(pl.Network, pl.ContainerID, pl.IfName)
	fams := pl.families()
	touched := slices.Clone(fams)
	if old != nil {
		for _, f := range old.families() {
			if !slices.Contains(touched, f) {
				touched = append(touched, f)
			}
		}
	}
	if len(touched) == 0 {
		return nil, nil
	}
	if len(fams) > 0 {
		if err := st.save(pl); err != nil {
			return nil, pluginkit.Errorf(types.ErrIOFailure, "recording port mappings of %s: %w", name, err)
		}
	}
	success := false
	defer func() {
		if !success {
			undoRules(ctx, run, st, pl, touched, log)
		}
	}()
	var inUse map[masq.Family]sharedChains
	if old == nil {
		inUse = st.sharedUse(pl.Network, pl.ContainerID, pl.IfName, fams, pl.SNAT)
	}
	dn, sn := pl.chains()
	mine := func(*masq.Table) []string { return []string{dn, sn} }
	for _, f := range touched {
		if !slices.Contains(fams, f) {
			// An earlier ADD of this attachment had this family; this one
			// has nothing for it.
			if err := removeChains(ctx, run, f, mine); err != nil {
				return nil, kernelError("removing stale "+f.String()+" port mappings of "+name, err)
			}
			continue
		}
		if old == nil {
			err := run.Restore(ctx, f, freshBatch(pl, f, inUse[f]))
			if err == nil {
				continue
			}
			log.Debug("the batch for a new attachment was refused; reading the nat table",
				"attachment", name, "family", f.String(), "error", err)
		}
		t, err := readNat(ctx, run, f)
		if err != nil {
			return nil, kernelError("reading the "+f.String()+" nat table", err)
		}
		if err := run.Restore(ctx, f, setupBatch(t, pl, f)); err != nil {
			return nil, kernelError("writing "+f.String()+" port mappings of "+name, err)
		}
	}
	if len(fams) == 0 {
		if err := st.remove(pl.Network, pl.ContainerID, pl.IfName); err != nil {
			return nil, pluginkit.Errorf(types.ErrIOFailure, "removing the portmap record of %s: %w", name, err)
		}
	}
	success = true
	return touched, nil
}

// undoRules removes a failed ADD's rules from the families it touched, and
// its record. It reads the tables: a failure is no common path.
func undoRules(ctx context.Context, run masq.Runner, st store, pl *plan, touched []masq.Family, log hclog.Logger) {
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
	defer cancel()
	dn, sn := pl.chains()
	var errs []error
	for _, f := range touched {
		errs = append(errs, removeChains(uctx, run, f, func(*masq.Table) []string { return []string{dn, sn} }))
	}
	errs = append(errs, st.remove(pl.Network, pl.ContainerID, pl.IfName))
	if err := errors.Join(errs...); err != nil {
		log.Error("undoing a failed portmap ADD", "attachment", attachmentName(pl.Network, pl.ContainerID, pl.IfName), "error", err)
	}
}

// removeRules removes the attachment's rules from fams; old is its record
// (of that attachment: Del checks), or nil. With a record each family is first one restore of
// knownTeardownBatch, which reads nothing. Without one, or when that batch
// is refused (the rules were changed or are gone, or another attachment
// still uses a shared chain the records said was free), the family's nat
// table is read and the attachment's chains and every jump to them are
// removed (removeChains). Either way a shared chain left empty goes too,
// with its hooks.
func removeRules(ctx context.Context, run masq.Runner, st store, network, containerID, ifName string, old *plan, fams []masq.Family, log hclog.Logger) error {
	var inUse map[masq.Family]sharedChains
	if old != nil {
		inUse = st.sharedUse(network, containerID, ifName, fams, old.SNAT)
	}
	dn, sn := Chains(network, containerID, ifName)
	var errs []error
	for _, f := range fams {
		if old != nil {
			err := run.Restore(ctx, f, knownTeardownBatch(old, f, inUse[f]))
			if err == nil {
				continue
			}
			log.Debug("the batch removing a recorded attachment was refused; reading the nat table",
				"attachment", attachmentName(network, containerID, ifName), "family", f.String(), "error", err)
		}
		if err := removeChains(ctx, run, f, func(*masq.Table) []string { return []string{dn, sn} }); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f, err))
		}
	}
	return errors.Join(errs...)
}
