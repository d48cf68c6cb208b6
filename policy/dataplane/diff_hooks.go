package dataplane

import (
	"slices"
	"sort"
)

// hookInsert is a hook inserted at a 1-based position of its chain.
type hookInsert struct {
	pos  int
	hook Hook
}

// diffHooks keeps weir's hooks the first rules of their built-in chains, in
// the desired order. Missing hooks are inserted at their place when those
// present are in order at the top; surplus ones are deleted when the rest
// are; otherwise all of weir's hooks in that chain are deleted and
// inserted again in one transaction.
func diffHooks(p *plan, cur current, want State, rewrites func(string) bool) {
	have := map[hookGroup][]Hook{}
	for _, h := range cur.Hooks {
		have[groupOf(h)] = append(have[groupOf(h)], h)
	}
	wanted := map[hookGroup][]Hook{}
	for _, h := range want.Hooks {
		wanted[groupOf(h)] = append(wanted[groupOf(h)], h)
	}
	var groups []hookGroup
	for g := range have {
		groups = append(groups, g)
	}
	for g := range wanted {
		if _, ok := have[g]; !ok {
			groups = append(groups, g)
		}
	}
	sort.Slice(groups, func(i, j int) bool {
		a, b := groups[i], groups[j]
		if a.Family != b.Family {
			return a.Family < b.Family
		}
		if a.Table != b.Table {
			return a.Table < b.Table
		}
		return a.Chain < b.Chain
	})
	for _, g := range groups {
		c, d := have[g], wanted[g]
		force := false
		for _, h := range d {
			force = force || rewrites(h.Rule)
		}
		top := !cur.misplaced[g] && !force
		switch {
		case top && slices.Equal(hookRules(c), hookRules(d)):
			continue
		case top && isSubseq(hookRules(c), hookRules(d)):
			tp := p.table(g.Family, g.Table)
			j := 0
			for i, h := range d {
				if j < len(c) && c[j].Rule == h.Rule {
					j++
					continue
				}
				tp.hookIns = append(tp.hookIns, hookInsert{pos: i + 1, hook: h})
			}
		case top && isSubseq(hookRules(d), hookRules(c)):
			tp := p.table(g.Family, g.Table)
			j := 0
			for _, h := range c {
				if j < len(d) && d[j].Rule == h.Rule {
					j++
					continue
				}
				tp.hookDel = append(tp.hookDel, h)
			}
		default:
			tp := p.table(g.Family, g.Table)
			tp.hookDel = append(tp.hookDel, c...)
			for i, h := range d {
				tp.hookIns = append(tp.hookIns, hookInsert{pos: i + 1, hook: h})
			}
			if force {
				// Rebuilt pointing at the temporary sets; then again
				// pointing back (the deletes are rendered substituted).
				back := tableIn(p.swapBack, g.Family, g.Table)
				back.hookDel = append(back.hookDel, d...)
				for i, h := range d {
					back.hookIns = append(back.hookIns, hookInsert{pos: i + 1, hook: h})
				}
			}
		}
	}
}

func hookRules(hs []Hook) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.Rule
	}
	return out
}
