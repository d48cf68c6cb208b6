package dataplane

import (
	"fmt"
	"slices"
)

// canonMemo remembers, between one Writer's calls, the canonical form of
// each chain and set it was given, so that a desired state that is mostly
// the same as the last one (every state the compiler produces) costs a
// comparison per chain rather than a parse per rule. A nil memo
// canonicalises everything.
type canonMemo struct {
	chains, nextChains map[string]memoChain
	sets, nextSets     map[string]memoSet
	// seed is what the cache file says about chains a fresh Writer has
	// not canonicalised: a chain whose rules, as given, have the digest
	// raw is canonically the cached one and needs no parsing.
	seed map[string]seedChain
}

type seedChain struct {
	raw, digest, sums string
	rules             []string // canonical, for chains the cache keeps rules of
}

type memoChain struct {
	raw       []string   // the rules as given
	infos     []ruleInfo // their canonical forms
	out       Chain      // canonical
	refs      []ruleRef
	digest    string
	rawDigest string // digest of raw
	sums      string // ruleSums of the canonical rules, for chains below editMin
	// seeded marks an entry taken from the cache file: its canonical
	// rules may be unknown (nil), so it serves only the call that seeded
	// it (the state diffed against that same cache), never a later call.
	seeded bool
}

type memoSet struct {
	raw []string
	out IPSet
}

func newCanonMemo() *canonMemo { return &canonMemo{} }

// chain returns the canonical form of a chain (already checked: name and
// key agree), from the memo when its rules are unchanged.
func (m *canonMemo) chain(key string, ch Chain, canon ruleFunc) (memoChain, error) {
	if m != nil {
		if m.nextChains == nil {
			m.nextChains = make(map[string]memoChain, len(m.chains))
		}
		if old, ok := m.chains[key]; ok && !old.seeded && slices.Equal(old.raw, ch.Rules) {
			m.nextChains[key] = old
			return old, nil
		}
		if s, ok := m.seed[key]; ok {
			if rd := digest(ch.Rules); rd == s.raw {
				c := memoChain{out: Chain{Table: ch.Table, Family: ch.Family, Name: ch.Name, Rules: s.rules},
					raw: slices.Clone(ch.Rules), digest: s.digest, rawDigest: rd, sums: s.sums, seeded: true}
				m.nextChains[key] = c
				return c, nil
			}
		}
	}
	c := memoChain{out: Chain{Table: ch.Table, Family: ch.Family, Name: ch.Name}}
	if len(ch.Rules) > 0 {
		c.out.Rules = make([]string, len(ch.Rules))
		c.infos = make([]ruleInfo, len(ch.Rules))
	}
	// Rules kept from the last call (a dispatch chain gaining or losing a
	// jump keeps all others) are not canonicalised again.
	var old memoChain
	if m != nil {
		old = m.chains[key]
		if old.seeded {
			old = memoChain{} // seeded from the cache: no per-rule forms
		}
	}
	j := 0
	for i, r := range ch.Rules {
		for j < len(old.raw) && old.raw[j] != r && len(old.raw)-j > len(ch.Rules)-i {
			j++ // skip rules deleted since, while enough old rules remain
		}
		var info ruleInfo
		if j < len(old.raw) && old.raw[j] == r {
			info = old.infos[j]
			j++
		} else {
			var err error
			if info, err = canon(ch.Family, r); err != nil {
				return memoChain{}, fmt.Errorf("chain %s rule %d %q: %w", key, i+1, r, err)
			}
		}
		c.infos[i] = info
		c.out.Rules[i] = info.text
		if ref, ok := refOf(key, i, ch.Family, ch.Table, info); ok {
			c.refs = append(c.refs, ref)
		}
	}
	if m != nil {
		c.raw = slices.Clone(ch.Rules)
		c.digest = digest(c.out.Rules)
		c.rawDigest = digest(c.raw)
		if len(c.out.Rules) < editMin {
			c.sums = ruleSums(c.out.Rules)
		}
		m.nextChains[key] = c
	}
	return c, nil
}

// set returns the canonical form of a set, from the memo when unchanged.
func (m *canonMemo) set(s IPSet) (IPSet, error) {
	if m != nil {
		if m.nextSets == nil {
			m.nextSets = make(map[string]memoSet, len(m.sets))
		}
		if old, ok := m.sets[s.Name]; ok && old.out.Type == s.Type && old.out.Family == s.Family && slices.Equal(old.raw, s.Members) {
			m.nextSets[s.Name] = old
			return old.out, nil
		}
	}
	c, err := canonicalSet(s)
	if err != nil {
		return IPSet{}, err
	}
	if m != nil {
		m.nextSets[s.Name] = memoSet{raw: slices.Clone(s.Members), out: c}
	}
	return c, nil
}

// done makes this call's entries the memo for the next call (entries of
// chains and sets no longer given are dropped) and returns the digests of
// the chains.
func (m *canonMemo) done() map[string]string {
	if m == nil {
		return nil
	}
	m.chains, m.nextChains = m.nextChains, nil
	m.sets, m.nextSets = m.nextSets, nil
	d := make(map[string]string, len(m.chains))
	for k, c := range m.chains {
		d[k] = c.digest
	}
	return d
}

// abort drops a failed call's entries.
func (m *canonMemo) abort() {
	if m != nil {
		m.nextChains, m.nextSets = nil, nil
	}
}

// reset forgets everything (after learning an alias, canonical texts
// change).
func (m *canonMemo) reset() {
	m.chains, m.nextChains, m.sets, m.nextSets, m.seed = nil, nil, nil, nil, nil
}

// raws returns the raw digests of the chains of the last call, and the
// rule sums of those below editMin.
func (m *canonMemo) raws() (map[string]string, map[string]string) {
	out := make(map[string]string, len(m.chains))
	sums := map[string]string{}
	for k, c := range m.chains {
		out[k] = c.rawDigest
		if c.sums != "" {
			sums[k] = c.sums
		}
	}
	return out, sums
}

// canonical validates desired and renders it canonically, with the
// digests of its chains. Chains and sets equal to the last call's are
// taken from the memo; rules seen before (the compiler emits the same
// rules again and again) from the rule memo, which is rebuilt from the
// current rules when it has grown well past them, so rules of containers
// long gone do not pile up. Learned rules take the kernel's own text.
func (w *Writer) canonical(desired State) (State, map[string]string, error) {
	if w.rules == nil {
		w.rules = map[ruleKey]ruleInfo{}
	}
	s, digests, err := canonicalState(desired, w.finalRule, w.memo)
	if err != nil {
		return State{}, nil, err
	}
	n := len(desired.Hooks)
	for _, c := range desired.Chains {
		n += len(c.Rules)
	}
	if len(w.rules) > 2*n+1024 {
		fresh := make(map[ruleKey]ruleInfo, n)
		keep := func(f Family, r string) {
			if info, ok := w.rules[ruleKey{f, r}]; ok {
				fresh[ruleKey{f, r}] = info
			}
		}
		for _, c := range desired.Chains {
			for _, r := range c.Rules {
				keep(c.Family, r)
			}
		}
		for _, h := range desired.Hooks {
			keep(h.Family, h.Rule)
		}
		w.rules = fresh
	}
	return s, digests, nil
}

// ruleKey is a rule as the caller wrote it, for one family.
type ruleKey struct {
	fam  Family
	rule string
}

// canonRule is analyseRule through the memo.
func (w *Writer) canonRule(f Family, rule string) (ruleInfo, error) {
	key := ruleKey{f, rule}
	if c, ok := w.rules[key]; ok {
		return c, nil
	}
	c, err := analyseRule(f, rule)
	if err == nil && w.rules != nil {
		w.rules[key] = c
	}
	return c, err
}

// finalRule is the rule as weir writes it and expects to read it back.
func (w *Writer) finalRule(f Family, rule string) (ruleInfo, error) {
	c, err := w.canonRule(f, rule)
	if err != nil {
		return ruleInfo{}, err
	}
	if len(w.aliases) > 0 {
		if a, ok := w.aliases[string(f)+" "+c.text]; ok {
			c.text = a
		}
	}
	return c, nil
}
