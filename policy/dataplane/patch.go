package dataplane

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"
)

// ErrNotPatchable is returned by Patch when the change is not the local one
// it describes against what the cache says the kernel holds (or there is
// no cache to trust): the caller then Applies the whole state. Nothing was
// written.
var ErrNotPatchable = errors.New("the change is not a patch of the cached state")

// Patch is a change to existing objects only, the whole of what one
// endpoint joining or leaving changes when nothing else does (see
// policy/compile.Delta): chains given with all their new rules, members
// joining or leaving sets.
type Patch struct {
	// Chains must exist; they get exactly these rules.
	Chains []Chain
	// Before, when given, has for each of Chains its rules before the
	// change, as given then: when they are what the cache says was
	// given, the rules they share with Chains are not canonicalised
	// again (a bucket of hundreds of rules gaining one).
	Before [][]string
	// Required sets must exist; their members are added (Remove false) or
	// removed (Remove true). Removing may not empty a set.
	Required map[string][]string
	// Optional sets get the same change when they exist.
	Optional map[string][]string
	// Exist are ChainKeys of chains that must exist.
	Exist  []string
	Remove bool
}

// Patch writes p into the calling thread's namespace from the cache alone,
// in the same batches Apply would write for the same change, and updates
// the cache. It refuses with ErrNotPatchable, writing nothing, when the
// cache is not to be trusted or p does not fit it (a chain or required set
// missing, a required set emptied). If the kernel refuses the write the
// cache is marked unknown, so the next Apply reads back.
func (w *Writer) Patch(ctx context.Context, p Patch) (st Stats, err error) {
	start := time.Now()
	defer func() { st.Duration = time.Since(start) }()
	id, end, err := w.begin(ctx, &st)
	if err != nil {
		return st, err
	}
	defer end()
	if w.cfg.NoCache || id.cookie == 0 {
		return st, ErrNotPatchable
	}
	path := cachePathFor(w.cfg.CacheDir, id.ino)
	c := w.recent.load(path)
	cur, ok := c.current(id, w.backend)
	if !ok {
		return st, ErrNotPatchable
	}
	st.FromCache = true
	for k, v := range c.Aliases {
		if w.aliases[k] != v {
			w.aliases[k] = v
			w.memo.reset()
		}
	}
	next, pl, err := w.patchPlan(cur, c, p)
	if err != nil {
		return st, err
	}
	if pl.empty() {
		return st, nil
	}
	meta := cacheFile{Backend: w.backend, Cookie: id.cookie, Generation: c.Generation, Aliases: w.aliases}
	if err := w.recent.store(path, meta, current{}, false); err != nil {
		return st, err
	}
	if err := w.execute(ctx, pl, &st); err != nil {
		meta.Generation++
		_ = w.recent.store(path, meta, current{}, false)
		return st, fmt.Errorf("patching dataplane: %w", err)
	}
	meta.Generation++
	st.Generation = meta.Generation
	meta.Raw, meta.Sums = next.raw, next.sums
	if err := w.recent.store(path, meta, next.cur, true); err != nil {
		return st, err
	}
	return st, nil
}

// patched is the cache's content after a patch.
type patched struct {
	cur       current
	raw, sums map[string]string
}

// patchPlan checks p against the cached state and returns the plan that
// writes it and the state after it. Maps of the cache are copied before
// they change: the recent cache may still hold them.
func (w *Writer) patchPlan(cur current, c *cacheFile, p Patch) (patched, *plan, error) {
	pl := &plan{add: map[string][]string{}, del: map[string][]string{}, tables: map[famTable]*tablePlan{},
		swapBack: map[famTable]*tablePlan{}}
	next := patched{cur: cur, raw: c.Raw, sums: c.Sums}
	for _, k := range p.Exist {
		if _, ok := cur.Chains[k]; !ok {
			return next, nil, fmt.Errorf("%w: chain %s is not there", ErrNotPatchable, k)
		}
	}
	chainsCopied := false
	for n, ch := range p.Chains {
		key := ChainKey(ch.Table, ch.Family, ch.Name)
		if err := checkChainName(ch.Table, ch.Family, ch.Name); err != nil {
			return next, nil, err
		}
		old, ok := cur.Chains[key]
		if !ok {
			return next, nil, fmt.Errorf("%w: chain %s is not there", ErrNotPatchable, key)
		}
		var before, known []string // raw and canonical, when the cache vouches for them
		if n < len(p.Before) && cur.Rules[key] != nil && len(cur.Rules[key]) == len(p.Before[n]) && c.Raw[key] == digest(p.Before[n]) {
			before, known = p.Before[n], cur.Rules[key]
		}
		rules := make([]string, len(ch.Rules))
		j := 0
		for i, r := range ch.Rules {
			for j < len(before) && before[j] != r && len(before)-j > len(ch.Rules)-i {
				j++ // a rule removed since
			}
			if j < len(before) && before[j] == r {
				rules[i] = known[j]
				j++
				continue
			}
			info, err := w.finalRule(ch.Family, r)
			if err != nil {
				return next, nil, fmt.Errorf("chain %s rule %d %q: %w", key, i+1, r, err)
			}
			rules[i] = info.text
		}
		dg := digest(rules)
		if dg == old {
			continue
		}
		var e chainEdit
		switch {
		case cur.Rules[key] != nil:
			e, ok = editOf(ch.Name, cur.Rules[key], rules)
		case cur.Sums[key] != "":
			e, ok = insertsOf(ch.Name, cur.Sums[key], rules)
		default:
			ok = false
		}
		tp := pl.table(ch.Family, ch.Table)
		if ok {
			tp.edit = append(tp.edit, e)
		} else {
			tp.write = append(tp.write, Chain{Table: ch.Table, Family: ch.Family, Name: ch.Name, Rules: rules})
		}
		if !chainsCopied {
			next.cur.Chains, next.cur.Rules, next.cur.Sums = maps.Clone(cur.Chains), maps.Clone(cur.Rules), maps.Clone(cur.Sums)
			next.raw, next.sums = maps.Clone(c.Raw), maps.Clone(c.Sums)
			if next.cur.Rules == nil {
				next.cur.Rules = map[string][]string{}
			}
			if next.raw == nil {
				next.raw = map[string]string{}
			}
			if next.sums == nil {
				next.sums = map[string]string{}
			}
			next.cur.Sums = next.sums
			chainsCopied = true
		}
		next.cur.Chains[key] = dg
		next.raw[key] = digest(ch.Rules)
		if len(rules) >= editMin {
			next.cur.Rules[key] = rules
			delete(next.sums, key)
		} else {
			delete(next.cur.Rules, key)
			next.sums[key] = ruleSums(rules)
		}
	}
	sets := maps.Clone(cur.Sets)
	change := func(name string, members []string, required bool) error {
		s, ok := sets[name]
		if !ok {
			if required {
				return fmt.Errorf("%w: set %s is not there", ErrNotPatchable, name)
			}
			return nil
		}
		have := map[string]bool{}
		for _, m := range s.Members {
			have[m] = true
		}
		var diff []string
		for _, m := range members {
			cm, err := canonicalMember(s, m)
			if err != nil {
				return err
			}
			if have[cm] == !p.Remove {
				continue // already there, or already gone
			}
			have[cm] = !p.Remove
			diff = append(diff, cm)
		}
		if len(diff) == 0 {
			return nil
		}
		kept := make([]string, 0, len(have))
		for m, in := range have {
			if in {
				kept = append(kept, m)
			}
		}
		if p.Remove && required && len(kept) == 0 {
			return fmt.Errorf("%w: set %s would be empty", ErrNotPatchable, name)
		}
		sort.Strings(kept)
		sort.Strings(diff)
		s.Members = kept
		sets[name] = s
		if p.Remove {
			pl.del[name] = diff
		} else {
			pl.add[name] = diff
		}
		return nil
	}
	for _, name := range slices.Sorted(maps.Keys(p.Required)) {
		if err := change(name, p.Required[name], true); err != nil {
			return next, nil, err
		}
	}
	for _, name := range slices.Sorted(maps.Keys(p.Optional)) {
		if err := change(name, p.Optional[name], false); err != nil {
			return next, nil, err
		}
	}
	next.cur.Sets = sets
	if !chainsCopied {
		next.raw, next.sums = c.Raw, c.Sums
	}
	return next, pl, nil
}
