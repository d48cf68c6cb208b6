package dataplane

import (
	"context"
	"fmt"
	"time"
)

// execute writes a plan: the growing ipset batch, one iptables-restore per
// family, and the shrinking ipset batch; replaced sets add a swap batch
// and a second rules batch in between. Each phase runs only when it has
// something to do.
func (w *Writer) execute(ctx context.Context, p *plan, st *Stats) error {
	grow, shrink := renderSetsGrow(p), renderSetsShrink(p)
	merged := len(p.tables) == 0 && len(p.replace) == 0
	if merged {
		// No rule changes: nothing can refer to what shrinking removes, so
		// one ipset batch does both (the common case: peers join or leave).
		grow, shrink = append(grow, shrink...), nil
	}
	if len(grow) > 0 {
		if err := w.ipsetRestore(ctx, st, grow); err != nil {
			return fmt.Errorf("creating ipsets and adding members: %w", err)
		}
		st.SetsCreated += len(p.create)
		for _, s := range p.create {
			st.MembersAdded += len(s.Members)
		}
		for _, m := range p.add {
			st.MembersAdded += len(m)
		}
		if merged {
			countShrink(p, st)
		}
	}
	if err := w.writeRules(ctx, st, p.tables, p.substitute(), nil); err != nil {
		return err
	}
	if swap := renderSetsSwap(p); len(swap) > 0 {
		if err := w.ipsetRestore(ctx, st, swap); err != nil {
			return fmt.Errorf("re-creating ipsets with a new type: %w", err)
		}
		st.SetsCreated += len(p.replace)
		st.SetsDestroyed += len(p.replace)
		for _, r := range p.replace {
			st.MembersAdded += len(r.set.Members)
		}
		if err := w.writeRules(ctx, st, p.swapBack, nil, p.substitute()); err != nil {
			return err
		}
	}
	if len(shrink) > 0 {
		if err := w.ipsetRestore(ctx, st, shrink); err != nil {
			return fmt.Errorf("deleting ipset members and destroying ipsets: %w", err)
		}
		countShrink(p, st)
	}
	return nil
}

// countShrink counts what the shrinking batch removed (temporary sets of
// replaced sets are not counted).
func countShrink(p *plan, st *Stats) {
	st.SetsDestroyed += len(p.destroy)
	for _, m := range p.del {
		st.MembersRemoved += len(m)
	}
}

// writeRules runs one iptables-restore per family with changes in tables.
func (w *Writer) writeRules(ctx context.Context, st *Stats, tables map[famTable]*tablePlan, write, del func(string) string) error {
	for _, f := range []Family{IPv4, IPv6} {
		b := renderRules(tables, f, write, del)
		if len(b) == 0 {
			continue
		}
		if err := w.restore(ctx, st, f, b); err != nil {
			return err
		}
		for ft, tp := range tables {
			if ft.fam != f {
				continue
			}
			st.ChainsCreated += tp.created
			st.ChainsWritten += len(tp.write)
			for _, c := range tp.write {
				st.RulesWritten += len(c.Rules)
			}
			st.ChainsEdited += len(tp.edit)
			for _, e := range tp.edit {
				st.RulesWritten += len(e.ins)
				st.RulesDeleted += len(e.del)
			}
			st.ChainsDeleted += len(tp.remove)
			st.HooksInserted += len(tp.hookIns)
			st.HooksDeleted += len(tp.hookDel)
		}
	}
	return nil
}

func (w *Writer) ipsetRestore(ctx context.Context, st *Stats, batch []byte) error {
	st.Restores++
	st.Forks++
	start := time.Now()
	err := w.runner.IPSetRestore(ctx, batch)
	w.log.Debug("ran ipset restore", "bytes", len(batch), "duration", time.Since(start), "error", err)
	return err
}

func (w *Writer) restore(ctx context.Context, st *Stats, f Family, batch []byte) error {
	st.Restores++
	st.Forks++
	start := time.Now()
	err := w.runner.Restore(ctx, f, batch)
	w.log.Debug("ran iptables-restore", "family", f, "bytes", len(batch), "duration", time.Since(start), "error", err)
	return err
}

// verify reads back the families Repair just wrote and compares the
// chains and hooks it wrote with what it rendered. A rule printed
// differently (in the same place of a chain of the same length) is a rule
// shape CanonicalRule does not know; its printed text is remembered as
// the rule's alias. It reports whether anything was learned.
func (w *Writer) verify(ctx context.Context, p *plan, desired, want State, st *Stats) (bool, error) {
	obs, n, err := readBack(ctx, w.runner, p.families(), false, w.tables)
	st.Reads += n
	st.Forks += n
	if err != nil {
		return false, fmt.Errorf("verifying rules written: %w", err)
	}
	learned := false
	learn := func(f Family, raw, rendered, printed string) {
		if rendered == printed {
			return
		}
		info, err := w.canonRule(f, raw)
		if err != nil {
			return
		}
		c := info.text
		w.log.Warn("iptables prints a rule differently than weir renders it; remembering its form",
			"family", f, "rendered", rendered, "printed", printed)
		w.aliases[string(f)+" "+c] = printed
		st.Relearned++
		learned = true
	}
	for ft, tp := range p.tables {
		names := make([]string, 0, len(tp.write)+len(tp.edit))
		for _, c := range tp.write {
			names = append(names, c.Name)
		}
		for _, e := range tp.edit {
			names = append(names, e.name)
		}
		for _, name := range names {
			key := ChainKey(ft.table, ft.fam, name)
			rendered := want.Chains[key].Rules
			got := obs.Chains[key].Rules
			raw := desired.Chains[key].Rules
			if len(got) != len(rendered) || len(raw) != len(rendered) {
				w.log.Warn("chain reads back with another number of rules", "chain", key,
					"written", len(rendered), "read", len(got))
				continue
			}
			for i := range got {
				learn(ft.fam, raw[i], rendered[i], got[i])
			}
		}
	}
	// Hooks, per built-in chain: desired, want and obs list them in order.
	type pair struct{ raw, rendered string }
	wanted := map[hookGroup][]pair{}
	for i, h := range want.Hooks {
		wanted[groupOf(h)] = append(wanted[groupOf(h)], pair{desired.Hooks[i].Rule, h.Rule})
	}
	got := map[hookGroup][]string{}
	for _, h := range obs.Hooks {
		got[groupOf(h)] = append(got[groupOf(h)], h.Rule)
	}
	for g, ps := range wanted {
		if tp := p.tables[famTable{g.Family, g.Table}]; tp == nil || len(tp.hookIns) == 0 || len(got[g]) != len(ps) {
			continue
		}
		for i, pr := range ps {
			learn(g.Family, pr.raw, pr.rendered, got[g][i])
		}
	}
	return learned, nil
}
