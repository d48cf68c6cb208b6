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

// writeRules records pl and makes its rules and set members in each of its
// families, and removes those of the families an earlier ADD of the
// attachment (old, its record) had and pl has not; it returns the
// families it touched. The record goes first, so that a crash part way
// leaves something DEL and GC find. A failure undoes all of it.
//
// Without an earlier ADD each family is addFast: a header listing, the
// members added over netlink and one restore of freshBatch, reading no
// table. A family whose fast ADD fails (the table is not as predicted),
// and every family of a re-ADD, is addSlow, which reads iptables-save and
// replaces whatever the attachment had.
func writeRules(ctx context.Context, k kernel, st store, pl, old *plan, log hclog.Logger) ([]masq.Family, error) {
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
			undoRules(ctx, k, st, pl, touched, log)
		}
	}()
	var inUse map[masq.Family]sharedChains
	if old == nil {
		inUse = st.sharedUse(pl.Network, pl.ContainerID, pl.IfName, fams, false)
	}
	for _, f := range touched {
		if !slices.Contains(fams, f) {
			// An earlier ADD of this attachment had this family; this one
			// has nothing for it.
			if err := k.removeSlow(ctx, f, attachmentChains(pl), ownedBy(pl.comment())); err != nil {
				return nil, kernelError("removing stale "+f.String()+" port mappings of "+name, err)
			}
			continue
		}
		if old == nil {
			err := k.addFast(ctx, pl, f, inUse[f].hostports)
			if err == nil {
				continue
			}
			log.Debug("the fast ADD of a new attachment failed; reading the nat table",
				"attachment", name, "family", f.String(), "error", err)
		}
		if err := k.addSlow(ctx, pl, f); err != nil {
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

// addFast adds pl's rules and members of family f for an attachment that
// has none, reading no table: when the hairpin set is not referenced the
// sets are made and the batch makes MasqChain with its shared rules;
// the members go in before the batch, so that the published port
// masquerades from its first packet.
func (k kernel) addFast(ctx context.Context, pl *plan, f masq.Family, hostportsInUse bool) error {
	newMasq := false
	if pl.SNAT {
		newMasq = !k.masqUp(f)
		if newMasq {
			if err := k.createSets(f); err != nil {
				return err
			}
		}
	}
	if err := k.addMembers(pl, f); err != nil {
		return err
	}
	return k.run.Restore(ctx, f, freshBatch(pl, f, hostportsInUse, newMasq))
}

// addSlow makes pl's rules and members of family f whatever the
// attachment had: the attachment's members (found by comment) are
// replaced, and the rules written with setupBatch from iptables-save.
func (k kernel) addSlow(ctx context.Context, pl *plan, f masq.Family) error {
	if pl.SNAT {
		if err := k.createSets(f); err != nil {
			return err
		}
	}
	if err := k.dropMembers(f, ownedBy(pl.comment())); err != nil {
		return err
	}
	if err := k.addMembers(pl, f); err != nil {
		return err
	}
	empty := false
	if !pl.SNAT {
		var err error
		if empty, err = k.setsEmpty(f); err != nil {
			return err
		}
	}
	t, err := readNat(ctx, k.run, f)
	if err != nil {
		return err
	}
	batch, masqGone := setupBatch(t, pl, f, empty)
	if err := k.run.Restore(ctx, f, batch); err != nil {
		return err
	}
	if masqGone {
		return k.destroySets(ctx, f, true)
	}
	return nil
}

// attachmentChains returns a pick function of removeSlow for one
// attachment's chains: its DNAT chain and an older weir's masquerade
// chain.
func attachmentChains(p *plan) func(*masq.Table) []string {
	dn, sn := p.chains()
	return func(*masq.Table) []string { return []string{dn, sn} }
}

// removeSlow removes from family f the set members whose comment owned
// chooses, the attachment chains pick chooses with every rule jumping to
// them, the shared chains' rules owned chooses, and any shared chain left
// without an attachment's rule, with its hooks (and, for MasqChain, the
// sets): one listing per set, one save, and one restore when there is
// something to remove. A family whose iptables tools are not installed
// has no rules to remove.
func (k kernel) removeSlow(ctx context.Context, f masq.Family, pick func(*masq.Table) []string, owned func(string) bool) error {
	if err := k.dropMembers(f, owned); err != nil {
		return err
	}
	empty, err := k.setsEmpty(f)
	if err != nil {
		return err
	}
	t, err := readNat(ctx, k.run, f)
	if errors.Is(err, masq.ErrNotInstalled) {
		return nil
	}
	if err != nil {
		return err
	}
	batch, masqGone := teardownBatch(t, pick(t), owned, empty)
	if batch != nil {
		if err := k.run.Restore(ctx, f, batch); err != nil {
			return err
		}
	}
	switch {
	case masqGone:
		return k.destroySets(ctx, f, true)
	case empty && !t.Chains[MasqChain]:
		// Sets a crash left before their rules were made: nothing
		// matches on them (or, if something does, they stay).
		return k.destroySets(ctx, f, false)
	}
	return nil
}

// undoRules removes a failed ADD's rules and members from the families it
// touched, and its record. It reads the tables: a failure is no common
// path.
func undoRules(ctx context.Context, k kernel, st store, pl *plan, touched []masq.Family, log hclog.Logger) {
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
	defer cancel()
	var errs []error
	for _, f := range touched {
		errs = append(errs, k.removeSlow(uctx, f, attachmentChains(pl), ownedBy(pl.comment())))
	}
	errs = append(errs, st.remove(pl.Network, pl.ContainerID, pl.IfName))
	if err := errors.Join(errs...); err != nil {
		log.Error("undoing a failed portmap ADD", "attachment", attachmentName(pl.Network, pl.ContainerID, pl.IfName), "error", err)
	}
}

// removeRules removes the attachment's rules and members from fams; old is
// its record (of that attachment: Del checks), or nil. With a record of
// this weir's layout each family is first delFast, which reads no table.
// Without one, with an older weir's record, or when the fast DEL fails
// (the rules were changed or are gone, or another attachment still uses a
// shared chain the records said was free), the family is removeSlow: the
// members found by comment, the nat table read, the attachment's chains
// and every jump to them removed. Either way a shared chain left without
// an attachment's rule goes too, with its hooks.
func removeRules(ctx context.Context, k kernel, st store, network, containerID, ifName string, old *plan, fams []masq.Family, log hclog.Logger) error {
	fast := old != nil && old.Layout >= layoutSets
	var inUse map[masq.Family]sharedChains
	if fast {
		inUse = st.sharedUse(network, containerID, ifName, fams, old.SNAT)
	}
	a := masq.Attachment{Network: network, ContainerID: containerID, IfName: ifName}
	dn, sn := Chains(network, containerID, ifName)
	var errs []error
	for _, f := range fams {
		if fast {
			err := k.delFast(ctx, old, f, inUse[f])
			if err == nil {
				continue
			}
			log.Debug("the fast DEL of a recorded attachment failed; reading the nat table",
				"attachment", attachmentName(network, containerID, ifName), "family", f.String(), "error", err)
		}
		pick := func(*masq.Table) []string { return []string{dn, sn} }
		if err := k.removeSlow(ctx, f, pick, ownedBy(a.Comment())); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f, err))
		}
	}
	return errors.Join(errs...)
}

// delFast removes old's rules and members of family f as its record says,
// reading no table: the members are deleted over netlink, then one
// restore of knownTeardownBatch, which also takes WEIR-HOSTPORTS when
// inUse says nobody else has it, and MasqChain when inUse says no other
// attachment masquerades and the family's sets are now empty; the sets go
// after their rules.
func (k kernel) delFast(ctx context.Context, old *plan, f masq.Family, inUse sharedChains) error {
	if err := k.delMembers(old, f); err != nil {
		return err
	}
	dropMasq := false
	if old.SNAT && !inUse.masq {
		var err error
		if dropMasq, err = k.setsEmpty(f); err != nil {
			return err
		}
	}
	if err := k.run.Restore(ctx, f, knownTeardownBatch(old, f, !inUse.hostports, dropMasq)); err != nil {
		return err
	}
	if dropMasq {
		return k.destroySets(ctx, f, true)
	}
	return nil
}
