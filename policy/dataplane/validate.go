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
	_, err := canonicalState(s, CanonicalRule)
	return err
}

// Canonical returns the state as Read would return it once applied: rules
// in iptables-save's form (see CanonicalRule), set members canonical,
// sorted and without duplicates, empty lists nil. It validates as
// Validate does.
func (s State) Canonical() (State, error) {
	return canonicalState(s, CanonicalRule)
}

// canonicalState validates s and canonicalises it with canon.
func canonicalState(s State, canon func(Family, string) (string, error)) (State, error) {
	out := State{Sets: make(map[string]IPSet, len(s.Sets)), Chains: make(map[string]Chain, len(s.Chains))}
	for key, set := range s.Sets {
		if key != set.Name {
			return State{}, fmt.Errorf("ipset %q is stored under key %q", set.Name, key)
		}
		c, err := canonicalSet(set)
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
		c := Chain{Table: ch.Table, Family: ch.Family, Name: ch.Name}
		if len(ch.Rules) > 0 {
			c.Rules = make([]string, len(ch.Rules))
		}
		for i, r := range ch.Rules {
			cr, err := canon(ch.Family, r)
			if err != nil {
				return State{}, fmt.Errorf("chain %s rule %d %q: %w", key, i+1, r, err)
			}
			c.Rules[i] = cr
		}
		out.Chains[key] = c
	}
	seen := map[string]bool{}
	for i, h := range s.Hooks {
		if err := checkTableFamily(h.Table, h.Family); err != nil {
			return State{}, fmt.Errorf("hook %d: %w", i+1, err)
		}
		if !isBuiltin(h.Table, h.Chain) {
			return State{}, fmt.Errorf("hook %d: %q is not a built-in chain of table %s", i+1, h.Chain, h.Table)
		}
		cr, err := canon(h.Family, h.Rule)
		if err != nil {
			return State{}, fmt.Errorf("hook %d %q: %w", i+1, h.Rule, err)
		}
		if t := jumpTarget(cr); !strings.HasPrefix(t, ChainPrefix) {
			return State{}, fmt.Errorf("hook %d %q does not jump to a %s chain", i+1, h.Rule, ChainPrefix)
		}
		h.Rule = cr
		k := string(h.Family) + "/" + string(h.Table) + "/" + h.Chain + " " + cr
		if seen[k] {
			return State{}, fmt.Errorf("hook %d %q is given twice", i+1, h.Rule)
		}
		seen[k] = true
		out.Hooks = append(out.Hooks, h)
	}
	return out, out.checkReferences()
}

// checkReferences makes sure every WEIR- chain and weir- set a rule refers
// to is in the state (iptables-restore would reject the batch otherwise).
func (s State) checkReferences() error {
	check := func(where string, f Family, t Table, rule string) error {
		if target := jumpTarget(rule); strings.HasPrefix(target, ChainPrefix) {
			if _, ok := s.Chains[ChainKey(t, f, target)]; !ok {
				return fmt.Errorf("%s jumps to %s, which is not in the state", where, ChainKey(t, f, target))
			}
		}
		for _, name := range matchSets(rule) {
			if !strings.HasPrefix(name, SetPrefix) {
				continue
			}
			set, ok := s.Sets[name]
			if !ok {
				return fmt.Errorf("%s matches ipset %s, which is not in the state", where, name)
			}
			if set.Family != f {
				return fmt.Errorf("%s is %s but matches %s ipset %s", where, f, set.Family, name)
			}
		}
		return nil
	}
	for key, ch := range s.Chains {
		for i, r := range ch.Rules {
			if err := check(fmt.Sprintf("chain %s rule %d", key, i+1), ch.Family, ch.Table, r); err != nil {
				return err
			}
		}
	}
	for i, h := range s.Hooks {
		if err := check(fmt.Sprintf("hook %d", i+1), h.Family, h.Table, h.Rule); err != nil {
			return err
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
