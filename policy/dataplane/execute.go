package dataplane

import (
	"context"
	"fmt"
)

// execute writes a plan: hooks that must go before sets change (rare),
// then the growing ipset batch, one iptables-restore per family, and the
// shrinking ipset batch. Each phase runs only when it has something to do.
func (w *Writer) execute(ctx context.Context, p *plan, st *Stats) error {
	fams := []Family{IPv4, IPv6}
	for _, f := range fams {
		if b := renderPreDelete(p, f); len(b) > 0 {
			if err := w.restore(ctx, st, f, b); err != nil {
				return err
			}
			for ft, hooks := range p.preDel {
				if ft.fam == f {
					st.HooksDeleted += len(hooks)
				}
			}
		}
	}
	grow, shrink := renderSetsGrow(p), renderSetsShrink(p)
	merged := len(p.tables) == 0 && len(p.preDel) == 0
	if merged {
		// No rule changes: nothing can refer to what shrinking removes, so
		// one ipset batch does both (the common case: peers join or leave).
		grow, shrink = append(grow, shrink...), nil
	}
	if b := grow; len(b) > 0 {
		st.Restores++
		st.Forks++
		if err := w.runner.IPSetRestore(ctx, b); err != nil {
			return fmt.Errorf("creating ipsets and adding members: %w", err)
		}
		st.SetsCreated += len(p.create) + len(p.replace)
		for _, s := range p.create {
			st.MembersAdded += len(s.Members)
		}
		for _, r := range p.replace {
			st.MembersAdded += len(r.set.Members)
		}
		for _, m := range p.add {
			st.MembersAdded += len(m)
		}
		if merged {
			countShrink(p, st)
		}
	}
	for _, f := range fams {
		b := renderRules(p, f)
		if len(b) == 0 {
			continue
		}
		if err := w.restore(ctx, st, f, b); err != nil {
			return err
		}
		for ft, tp := range p.tables {
			if ft.fam != f {
				continue
			}
			st.ChainsCreated += tp.created
			st.ChainsWritten += len(tp.write)
			for _, c := range tp.write {
				st.RulesWritten += len(c.Rules)
			}
			st.ChainsDeleted += len(tp.remove)
			st.HooksInserted += len(tp.hookIns)
			st.HooksDeleted += len(tp.hookDel)
		}
	}
	if b := shrink; len(b) > 0 {
		st.Restores++
		st.Forks++
		if err := w.runner.IPSetRestore(ctx, b); err != nil {
			return fmt.Errorf("deleting ipset members and destroying ipsets: %w", err)
		}
		countShrink(p, st)
	}
	return nil
}

func countShrink(p *plan, st *Stats) {
	st.SetsDestroyed += len(p.destroy) + len(p.replace)
	for _, m := range p.del {
		st.MembersRemoved += len(m)
	}
}

func (w *Writer) restore(ctx context.Context, st *Stats, f Family, batch []byte) error {
	st.Restores++
	st.Forks++
	if err := w.runner.Restore(ctx, f, batch); err != nil {
		return fmt.Errorf("writing %s rules: %w", f, err)
	}
	return nil
}

// verify reads back the families Repair just wrote and compares the
// chains and hooks it wrote with what it rendered. A rule printed
// differently (in the same place of a chain of the same length) is a rule
// shape CanonicalRule does not know; its printed text is remembered as
// the rule's alias. It reports whether anything was learned.
func (w *Writer) verify(ctx context.Context, p *plan, desired, want State, st *Stats) (bool, error) {
	obs, n, err := readBack(ctx, w.runner, p.families(), false)
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
		c, err := w.canonRule(f, raw)
		if err != nil {
			return
		}
		w.log.Warn("iptables prints a rule differently than weir renders it; remembering its form",
			"family", f, "rendered", rendered, "printed", printed)
		w.aliases[string(f)+" "+c] = printed
		st.Relearned++
		learned = true
	}
	for _, tp := range p.tables {
		for _, c := range tp.write {
			key := ChainKey(c.Table, c.Family, c.Name)
			got := obs.Chains[key].Rules
			raw := desired.Chains[key].Rules
			if len(got) != len(c.Rules) || len(raw) != len(c.Rules) {
				w.log.Warn("chain reads back with another number of rules", "chain", key,
					"written", len(c.Rules), "read", len(got))
				continue
			}
			for i := range got {
				learn(c.Family, raw[i], c.Rules[i], got[i])
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
