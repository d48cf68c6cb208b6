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
	Chains    map[string]string   // ChainKey -> digest of the rules
	Rules     map[string][]string // ChainKey -> rules, where known (see editMin)
	Sums      map[string]string   // ChainKey -> ruleSums of the rules, where Rules is not known
	Hooks     []Hook
	misplaced map[hookGroup]bool // only known after a read-back
}

// digest identifies a chain's rules.
func digest(rules []string) string {
	n := 0
	for _, r := range rules {
		n += len(r) + 1
	}
	b := make([]byte, 0, n)
	for _, r := range rules {
		b = append(append(b, r...), '\n')
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// bigRules returns the rules of the chains of s that the cache keeps.
func bigRules(s State) map[string][]string {
	out := map[string][]string{}
	for k, ch := range s.Chains {
		if len(ch.Rules) >= editMin {
			out[k] = ch.Rules
		}
	}
	return out
}

// summarise turns a (canonical or read-back) state into a current.
func summarise(s State, misplaced map[hookGroup]bool) current {
	c := current{Sets: s.Sets, Chains: make(map[string]string, len(s.Chains)),
		Rules: make(map[string][]string, len(s.Chains)), Hooks: s.Hooks, misplaced: misplaced}
	if c.Sets == nil {
		c.Sets = map[string]IPSet{}
	}
	for k, ch := range s.Chains {
		c.Chains[k] = digest(ch.Rules)
		c.Rules[k] = ch.Rules
	}
	return c
}

// famTable is one table of one family: one section of a restore batch.
type famTable struct {
	fam   Family
	table Table
}

// tablePlan is what changes in one table of one family.
type tablePlan struct {
	write   []Chain     // created, or flushed and rewritten; by name
	edit    []chainEdit // changed in place; by name
	created int         // how many of write are new
	remove  []string    // flushed, then deleted; by name
	hookDel []Hook
	hookIns []hookInsert
}

// plan is the difference between current and desired, in the three phases
// Apply writes: sets grow, rules change, sets shrink. Replacing sets adds
// two phases between the last two (see setReplace).
type plan struct {
	create   []IPSet
	replace  []setReplace
	add      map[string][]string // set -> members to add
	tables   map[famTable]*tablePlan
	swapBack map[famTable]*tablePlan // rules pointed back at replaced sets
	del      map[string][]string     // set -> members to delete
	destroy  []string
}

func tableIn(m map[famTable]*tablePlan, f Family, t Table) *tablePlan {
	k := famTable{f, t}
	if m[k] == nil {
		m[k] = &tablePlan{}
	}
	return m[k]
}

func (p *plan) table(f Family, t Table) *tablePlan { return tableIn(p.tables, f, t) }

// substitute returns a function pointing rules at the temporary sets of
// replaced sets, or nil when no set is replaced.
func (p *plan) substitute() func(string) string {
	if len(p.replace) == 0 {
		return nil
	}
	var pairs []string
	for _, r := range p.replace {
		pairs = append(pairs, "--match-set "+r.set.Name+" ", "--match-set "+r.tmp+" ")
	}
	return strings.NewReplacer(pairs...).Replace
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
	return len(p.create)+len(p.replace)+len(p.add)+len(p.tables)+len(p.del)+len(p.destroy) == 0
}

// diff computes what to write to turn cur into want (a canonical state
// whose chains have the given digests).
func diff(cur current, want State, digests map[string]string) *plan {
	p := &plan{add: map[string][]string{}, del: map[string][]string{}, tables: map[famTable]*tablePlan{},
		swapBack: map[famTable]*tablePlan{}}
	replaced := diffSets(p, cur, want)
	rewrites := func(rule string) bool {
		for name := range replaced {
			if strings.Contains(rule, "--match-set "+name+" ") {
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
		if force {
			tableIn(p.swapBack, ch.Family, ch.Table).write = append(tableIn(p.swapBack, ch.Family, ch.Table).write, ch)
		}
		if exists && old == digests[key] && !force {
			continue
		}
		tp := p.table(ch.Family, ch.Table)
		if oldRules, known := cur.Rules[key]; exists && known && !force {
			if e, ok := editOf(ch.Name, oldRules, ch.Rules); ok {
				tp.edit = append(tp.edit, e)
				continue
			}
		} else if sums, known := cur.Sums[key]; exists && known && !force {
			if e, ok := insertsOf(ch.Name, sums, ch.Rules); ok {
				tp.edit = append(tp.edit, e)
				continue
			}
		}
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

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
