package dataplane

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
)

// Prefixes and limits of the names weir owns.
const (
	ChainPrefix  = "WEIR-"
	SetPrefix    = "weir-"
	MaxChainName = 28 // iptables' limit on chain names
	MaxSetName   = 31 // IPSET_MAXNAMELEN - 1
)

// MasqSetPrefix starts the ipsets of the bridge plugin's masquerade
// (plugins/internal/masq.SetPrefix): weir's, but not this Writer's. Reads
// skip them, so the Writer never destroys them.
const MasqSetPrefix = "weir-nat-"

// HostportSetPrefix starts the ipsets of the portmap plugin's hairpin and
// localhost masquerade (plugins/portmap.SetPrefix): weir's, but not this
// Writer's. Reads skip them, so the Writer never destroys them.
const HostportSetPrefix = "weir-hp-"

// builtinChains are the built-in chains of each table, where hooks go.
var builtinChains = map[Table][]string{
	Filter: {"INPUT", "FORWARD", "OUTPUT"},
	Nat:    {"PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"},
	Mangle: {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"},
	Raw:    {"PREROUTING", "OUTPUT"},
}

// tableOrder is the order tables appear in batches.
var tableOrder = []Table{Filter, Mangle, Raw, Nat}

func isBuiltin(t Table, chain string) bool {
	for _, c := range builtinChains[t] {
		if c == chain {
			return true
		}
	}
	return false
}

func validName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '-' || c == '_' || c == '.' || c == ':' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
			return false
		}
	}
	return s != ""
}

// Validate checks a desired state without touching the kernel: names carry
// weir's prefixes and fit the kernel's limits, map keys match, tables,
// families and set types are known, members parse for their set, rules
// parse, every WEIR- chain a rule jumps to and every weir- set it matches
// is part of the state, and hooks sit in built-in chains and jump into
// weir's chains.
func (s State) Validate() error {
	_, _, err := canonicalState(s, analyseRule, nil)
	return err
}

// Canonical returns the state as Read would return it once applied: rules
// in iptables-save's form (see CanonicalRule), set members canonical,
// sorted and without duplicates, empty lists nil. It validates as
// Validate does.
func (s State) Canonical() (State, error) {
	c, _, err := canonicalState(s, analyseRule, nil)
	return c, err
}

// ruleRef is what a rule refers to, checked once the whole state is
// known: the key of the WEIR- chain it jumps to and the weir- sets it
// matches.
type ruleRef struct {
	chain  string // ChainKey of the rule's chain, or "" for hook number index+1
	index  int
	fam    Family
	target string // ChainKey of a WEIR- jump target, or ""
	sets   []string
}

func (r ruleRef) where() string {
	if r.chain == "" {
		return fmt.Sprintf("hook %d", r.index+1)
	}
	return fmt.Sprintf("chain %s rule %d", r.chain, r.index+1)
}

func refOf(chain string, index int, f Family, t Table, info ruleInfo) (ruleRef, bool) {
	r := ruleRef{chain: chain, index: index, fam: f}
	if strings.HasPrefix(info.jump, ChainPrefix) {
		r.target = ChainKey(t, f, info.jump)
	}
	for _, s := range info.sets {
		if strings.HasPrefix(s, SetPrefix) {
			r.sets = append(r.sets, s)
		}
	}
	return r, r.target != "" || len(r.sets) > 0
}

// ruleFunc canonicalises one rule.
type ruleFunc func(Family, string) (ruleInfo, error)

// canonicalState validates s and canonicalises it with canon. With a
// memo, chains and sets equal to the last call's are not looked at again,
// and the digests of the chains are returned too.
func canonicalState(s State, canon ruleFunc, memo *canonMemo) (State, map[string]string, error) {
	out, err := canonicalize(s, canon, memo)
	if err != nil {
		memo.abort()
		return State{}, nil, err
	}
	return out, memo.done(), nil
}

func canonicalize(s State, canon ruleFunc, memo *canonMemo) (State, error) {
	out := State{Sets: make(map[string]IPSet, len(s.Sets)), Chains: make(map[string]Chain, len(s.Chains))}
	var refs []ruleRef
	for key, set := range s.Sets {
		if key != set.Name {
			return State{}, fmt.Errorf("ipset %q is stored under key %q", set.Name, key)
		}
		c, err := memo.set(set)
		if err != nil {
			return State{}, err
		}
		out.Sets[key] = c
	}
	for key, ch := range s.Chains {
		if err := checkChainName(ch.Table, ch.Family, ch.Name); err != nil {
			return State{}, err
		}
		if key != ChainKey(ch.Table, ch.Family, ch.Name) {
			return State{}, fmt.Errorf("chain %s is stored under key %q, want %q", ch.Name, key, ChainKey(ch.Table, ch.Family, ch.Name))
		}
		m, err := memo.chain(key, ch, canon)
		if err != nil {
			return State{}, err
		}
		out.Chains[key] = m.out
		refs = append(refs, m.refs...)
	}
	seen := map[string]bool{}
	for i, h := range s.Hooks {
		if err := checkTableFamily(h.Table, h.Family); err != nil {
			return State{}, fmt.Errorf("hook %d: %w", i+1, err)
		}
		if !isBuiltin(h.Table, h.Chain) {
			return State{}, fmt.Errorf("hook %d: %q is not a built-in chain of table %s", i+1, h.Chain, h.Table)
		}
		info, err := canon(h.Family, h.Rule)
		if err != nil {
			return State{}, fmt.Errorf("hook %d %q: %w", i+1, h.Rule, err)
		}
		if !strings.HasPrefix(info.jump, ChainPrefix) {
			return State{}, fmt.Errorf("hook %d %q does not jump to a %s chain", i+1, h.Rule, ChainPrefix)
		}
		ref, _ := refOf("", i, h.Family, h.Table, info)
		refs = append(refs, ref)
		h.Rule = info.text
		k := string(h.Family) + "/" + string(h.Table) + "/" + h.Chain + " " + h.Rule
		if seen[k] {
			return State{}, fmt.Errorf("hook %d %q is given twice", i+1, h.Rule)
		}
		seen[k] = true
		out.Hooks = append(out.Hooks, h)
	}
	return out, out.checkReferences(refs)
}

// checkReferences makes sure every WEIR- chain and weir- set a rule refers
// to is in the state (iptables-restore would reject the batch otherwise).
func (s State) checkReferences(refs []ruleRef) error {
	for _, r := range refs {
		if r.target != "" {
			if _, ok := s.Chains[r.target]; !ok {
				return fmt.Errorf("%s jumps to %s, which is not in the state", r.where(), r.target)
			}
		}
		for _, name := range r.sets {
			set, ok := s.Sets[name]
			if !ok {
				return fmt.Errorf("%s matches ipset %s, which is not in the state", r.where(), name)
			}
			if set.Family != r.fam {
				return fmt.Errorf("%s is %s but matches %s ipset %s", r.where(), r.fam, set.Family, name)
			}
		}
	}
	return nil
}

func checkTableFamily(t Table, f Family) error {
	if _, ok := builtinChains[t]; !ok {
		return fmt.Errorf("unknown table %q", t)
	}
	if f != IPv4 && f != IPv6 {
		return fmt.Errorf("unknown family %q", f)
	}
	return nil
}

func checkChainName(t Table, f Family, name string) error {
	if err := checkTableFamily(t, f); err != nil {
		return fmt.Errorf("chain %s: %w", name, err)
	}
	if !strings.HasPrefix(name, ChainPrefix) || len(name) > MaxChainName || !validName(name) {
		return fmt.Errorf("chain name %q must start with %s, be at most %d characters of [A-Za-z0-9_.:-]", name, ChainPrefix, MaxChainName)
	}
	return nil
}

// setFamilies maps a Family to ipset's family name.
var setFamilies = map[Family]string{IPv4: "inet", IPv6: "inet6"}

// canonicalSet validates a set and canonicalises its members as ipset
// save prints them: hash:ip members are addresses; hash:net members are
// masked prefixes, a full-length prefix printed as the bare address.
func canonicalSet(set IPSet) (IPSet, error) {
	if !strings.HasPrefix(set.Name, SetPrefix) || len(set.Name) > MaxSetName || !validName(set.Name) {
		return IPSet{}, fmt.Errorf("ipset name %q must start with %s, be at most %d characters of [A-Za-z0-9_.:-]", set.Name, SetPrefix, MaxSetName)
	}
	if set.Type != "hash:ip" && set.Type != "hash:net" {
		return IPSet{}, fmt.Errorf("ipset %s: unsupported type %q (hash:ip or hash:net)", set.Name, set.Type)
	}
	if _, ok := setFamilies[set.Family]; !ok {
		return IPSet{}, fmt.Errorf("ipset %s: unknown family %q", set.Name, set.Family)
	}
	out := IPSet{Name: set.Name, Type: set.Type, Family: set.Family}
	seen := make(map[string]bool, len(set.Members))
	for _, m := range set.Members {
		c, err := canonicalMember(set, m)
		if err != nil {
			return IPSet{}, err
		}
		if !seen[c] {
			seen[c] = true
			out.Members = append(out.Members, c)
		}
	}
	sort.Strings(out.Members)
	return out, nil
}

func canonicalMember(set IPSet, m string) (string, error) {
	m = strings.TrimSpace(m)
	var p netip.Prefix
	var err error
	if strings.Contains(m, "/") {
		p, err = netip.ParsePrefix(m)
	} else {
		var a netip.Addr
		if a, err = netip.ParseAddr(m); err == nil {
			p = netip.PrefixFrom(a, a.BitLen())
		}
	}
	switch {
	case err != nil || p.Addr().Zone() != "":
		return "", fmt.Errorf("ipset %s: bad member %q", set.Name, m)
	case p.Addr().Is4() != (set.Family == IPv4):
		return "", fmt.Errorf("ipset %s: member %q is not %s", set.Name, m, set.Family)
	case set.Type == "hash:ip" && p.Bits() != p.Addr().BitLen():
		return "", fmt.Errorf("ipset %s: hash:ip member %q must be a single address", set.Name, m)
	case p.Bits() == 0:
		return "", fmt.Errorf("ipset %s: member %q: a /0 prefix is not allowed", set.Name, m)
	}
	p = p.Masked()
	if p.Bits() == p.Addr().BitLen() {
		return p.Addr().String(), nil
	}
	return p.String(), nil
}
