package dataplane

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strings"
)

// current is what weir believes the kernel holds: sets in full, chains by
// a digest of their rules (enough to tell whether to rewrite one), hooks in
// kernel order. It comes from the cache or from a read-back.
type current struct {
	Sets      map[string]IPSet
	Chains    map[string]string // ChainKey -> digest of the rules
	Hooks     []Hook
	misplaced map[hookGroup]bool // only known after a read-back
}

// digest identifies a chain's rules.
func digest(rules []string) string {
	h := sha256.New()
	for _, r := range rules {
		h.Write([]byte(r))
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// summarise turns a (canonical or read-back) state into a current.
func summarise(s State, misplaced map[hookGroup]bool) current {
	c := current{Sets: s.Sets, Chains: make(map[string]string, len(s.Chains)), Hooks: s.Hooks, misplaced: misplaced}
	if c.Sets == nil {
		c.Sets = map[string]IPSet{}
	}
	for k, ch := range s.Chains {
		c.Chains[k] = digest(ch.Rules)
	}
	return c
}

// famTable is one table of one family: one section of a restore batch.
type famTable struct {
	fam   Family
	table Table
}

// hookInsert is a hook inserted at a 1-based position of its chain.
type hookInsert struct {
	pos  int
	hook Hook
}

// tablePlan is what changes in one table of one family.
type tablePlan struct {
	write   []Chain  // created, or flushed and rewritten; by name
	created int      // how many of write are new
	remove  []string // flushed, then deleted; by name
	hookDel []Hook
	hookIns []hookInsert
}

// setReplace is a set whose type or family changes: the old one is renamed
// out of the way (rules keep matching it until they are rewritten), a new
// one is made, and the old one is destroyed at the end.
type setReplace struct {
	set       IPSet
	tmp       string
	tmpExists bool
}

// plan is the difference between current and desired, in the three phases
// Apply writes: sets grow, rules change, sets shrink.
type plan struct {
	preDel  map[famTable][]Hook // hooks deleted before any set changes
	create  []IPSet
	replace []setReplace
	add     map[string][]string // set -> members to add
	tables  map[famTable]*tablePlan
	del     map[string][]string // set -> members to delete
	destroy []string
}

func (p *plan) table(f Family, t Table) *tablePlan {
	k := famTable{f, t}
	if p.tables[k] == nil {
		p.tables[k] = &tablePlan{}
	}
	return p.tables[k]
}

// families returns the families whose rules change, in order.
func (p *plan) families() []Family {
	var out []Family
	for _, f := range []Family{IPv4, IPv6} {
		for _, t := range tableOrder {
			if p.tables[famTable{f, t}] != nil {
				out = append(out, f)
				break
			}
		}
	}
	return out
}

// empty reports whether nothing changes.
func (p *plan) empty() bool {
	return len(p.preDel)+len(p.create)+len(p.replace)+len(p.add)+len(p.tables)+len(p.del)+len(p.destroy) == 0
}

// diff computes what to write to turn cur into want (a canonical state).
func diff(cur current, want State) *plan {
	p := &plan{add: map[string][]string{}, del: map[string][]string{}, tables: map[famTable]*tablePlan{},
		preDel: map[famTable][]Hook{}}
	replaced := diffSets(p, cur, want)
	rewrites := func(rule string) bool {
		for _, s := range matchSets(rule) {
			if replaced[s] {
				return true
			}
		}
		return false
	}

	for _, key := range sortedKeys(want.Chains) {
		ch := want.Chains[key]
		old, exists := cur.Chains[key]
		force := false
		for _, r := range ch.Rules {
			force = force || rewrites(r)
		}
		if exists && old == digest(ch.Rules) && !force {
			continue
		}
		tp := p.table(ch.Family, ch.Table)
		tp.write = append(tp.write, ch)
		if !exists {
			tp.created++
		}
	}
	for _, key := range sortedKeys(cur.Chains) {
		if _, ok := want.Chains[key]; ok {
			continue
		}
		parts := strings.SplitN(key, "/", 3)
		if len(parts) != 3 {
			continue
		}
		tp := p.table(Family(parts[0]), Table(parts[1]))
		tp.remove = append(tp.remove, parts[2])
	}
	diffHooks(p, cur, want, rewrites)
	return p
}

// diffSets fills the set phases of p and returns the sets being replaced.
func diffSets(p *plan, cur current, want State) map[string]bool {
	replaced := map[string]bool{}
	for _, name := range sortedKeys(want.Sets) {
		ws := want.Sets[name]
		cs, ok := cur.Sets[name]
		switch {
		case !ok:
			p.create = append(p.create, ws)
		case cs.Type != ws.Type || cs.Family != ws.Family:
			tmp := tmpSetName(name)
			_, exists := cur.Sets[tmp]
			p.replace = append(p.replace, setReplace{set: ws, tmp: tmp, tmpExists: exists})
			replaced[name] = true
		default:
			add, del := memberDiff(cs.Members, ws.Members)
			if len(add) > 0 {
				p.add[name] = add
			}
			if len(del) > 0 {
				p.del[name] = del
			}
		}
	}
	for _, name := range sortedKeys(cur.Sets) {
		if _, ok := want.Sets[name]; ok {
			continue
		}
		skip := false
		for _, r := range p.replace {
			skip = skip || (r.tmp == name && r.tmpExists)
		}
		if !skip {
			p.destroy = append(p.destroy, name)
		}
	}
	return replaced
}

// tmpSetName is where a set being replaced is moved.
func tmpSetName(name string) string {
	sum := sha256.Sum256([]byte(name))
	return SetPrefix + "old-" + hex.EncodeToString(sum[:4])
}

// memberDiff returns the members of want missing from have and those of
// have missing from want (both sorted).
func memberDiff(have, want []string) (add, del []string) {
	h := make(map[string]bool, len(have))
	for _, m := range have {
		h[m] = true
	}
	w := make(map[string]bool, len(want))
	for _, m := range want {
		w[m] = true
		if !h[m] {
			add = append(add, m)
		}
	}
	for _, m := range have {
		if !w[m] {
			del = append(del, m)
		}
	}
	sort.Strings(add)
	sort.Strings(del)
	return add, del
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
		case top && equalHooks(c, d):
			continue
		case top && isSubsequence(c, d):
			tp := p.table(g.Family, g.Table)
			j := 0
			for i, h := range d {
				if j < len(c) && c[j].Rule == h.Rule {
					j++
					continue
				}
				tp.hookIns = append(tp.hookIns, hookInsert{pos: i + 1, hook: h})
			}
		case top && isSubsequence(d, c):
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
			if force {
				// A hook that matches a set being replaced must be deleted
				// before the rename: afterwards its text names the new set
				// and no longer matches the rule in the kernel.
				p.preDel[famTable{g.Family, g.Table}] = append(p.preDel[famTable{g.Family, g.Table}], c...)
			} else {
				tp.hookDel = append(tp.hookDel, c...)
			}
			for i, h := range d {
				tp.hookIns = append(tp.hookIns, hookInsert{pos: i + 1, hook: h})
			}
		}
	}
}

func equalHooks(a, b []Hook) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Rule != b[i].Rule {
			return false
		}
	}
	return true
}

// isSubsequence reports whether a's rules appear in b in order.
func isSubsequence(a, b []Hook) bool {
	j := 0
	for _, h := range b {
		if j < len(a) && a[j].Rule == h.Rule {
			j++
		}
	}
	return j == len(a)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
