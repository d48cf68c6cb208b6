package dataplane

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// hookGroup names one built-in chain of one table and family.
type hookGroup struct {
	Family Family
	Table  Table
	Chain  string
}

func groupOf(h Hook) hookGroup { return hookGroup{h.Family, h.Table, h.Chain} }

// observed is what a read-back found: weir's objects, and which built-in
// chains have weir's hooks somewhere other than at their top.
type observed struct {
	State
	misplaced map[hookGroup]bool
}

func newObserved() observed {
	return observed{State: NewState(), misplaced: map[hookGroup]bool{}}
}

// readBack reads weir's objects: iptables-save of each family given (the
// tables the Writer owns; nil means every table weir knows), and when sets
// is true, ipset save. Nothing else is read. It returns how many tools it
// ran.
func readBack(ctx context.Context, r Runner, fams []Family, sets bool, tables map[Table]bool) (observed, int, error) {
	obs := newObserved()
	runs := 0
	for _, f := range fams {
		runs++
		out, err := r.Save(ctx, f, "")
		if err != nil {
			if f == IPv6 && errors.Is(err, ErrNotInstalled) {
				continue // no ip6tables: nothing of weir's can be there
			}
			return observed{}, runs, fmt.Errorf("reading %s rules: %w", f, err)
		}
		parseIPTablesSave(f, out, &obs, tables)
	}
	if sets {
		runs++
		out, err := r.IPSetSave(ctx)
		if err != nil {
			return observed{}, runs, fmt.Errorf("reading ipsets: %w", err)
		}
		parseIPSetSave(out, &obs)
	}
	return obs, runs, nil
}

// parseIPTablesSave adds to obs the WEIR- chains with their rules, exactly
// as printed, and the hooks: rules in built-in chains that jump or go to a
// WEIR- chain. Everything else in the output is skipped. A hook group is
// misplaced when a rule that is not a weir hook comes before one that is.
// Only the tables in owned are looked at (nil: every table weir knows):
// other weir components keep WEIR- chains of their own elsewhere (nat:
// masquerade, host ports), and those are not this Writer's to remove.
func parseIPTablesSave(f Family, out []byte, obs *observed, owned map[Table]bool) {
	var table Table
	known := false
	pos := map[string]int{}   // rules seen per built-in chain
	hooks := map[string]int{} // weir hooks seen per built-in chain
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "*"):
			table = Table(strings.TrimSpace(line[1:]))
			_, known = builtinChains[table]
			known = known && (owned == nil || owned[table])
			clear(pos)
			clear(hooks)
		case !known:
		case strings.HasPrefix(line, ":"+ChainPrefix):
			name, _, _ := strings.Cut(line[1:], " ")
			key := ChainKey(table, f, name)
			if _, ok := obs.Chains[key]; !ok {
				obs.Chains[key] = Chain{Table: table, Family: f, Name: name}
			}
		case strings.HasPrefix(line, "-A "):
			chain, rule, _ := strings.Cut(line[3:], " ")
			if strings.HasPrefix(chain, ChainPrefix) {
				key := ChainKey(table, f, chain)
				c := obs.Chains[key]
				c.Table, c.Family, c.Name = table, f, chain
				c.Rules = append(c.Rules, rule)
				obs.Chains[key] = c
				continue
			}
			if !isBuiltin(table, chain) {
				continue
			}
			n := pos[chain]
			pos[chain]++
			if !strings.HasPrefix(jumpTarget(rule), ChainPrefix) {
				continue
			}
			if hooks[chain] != n {
				obs.misplaced[hookGroup{f, table, chain}] = true
			}
			hooks[chain]++
			obs.Hooks = append(obs.Hooks, Hook{Table: table, Family: f, Chain: chain, Rule: rule})
		}
	}
}

// parseIPSetSave adds to obs the sets named weir-* with their members,
// except the masquerade's weir-nat-* sets and portmap's weir-hp-* sets:
// those belong to the bridge plugin (plugins/internal/masq) and the
// portmap plugin, which add and remove their members as containers come
// and go, and a Writer that saw them would destroy them as not part of its
// desired state.
func parseIPSetSave(out []byte, obs *observed) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 || !strings.HasPrefix(fields[1], SetPrefix) {
			continue
		}
		// The plugins' own sets (see above) are not the Writer's.
		if strings.HasPrefix(fields[1], MasqSetPrefix) || strings.HasPrefix(fields[1], HostportSetPrefix) {
			continue
		}
		name := fields[1]
		switch fields[0] {
		case "create":
			set := IPSet{Name: name, Type: fields[2]}
			for i := 3; i+1 < len(fields); i++ {
				if fields[i] == "family" {
					for fam, n := range setFamilies {
						if n == fields[i+1] {
							set.Family = fam
						}
					}
				}
			}
			if old, ok := obs.Sets[name]; ok {
				set.Members = old.Members
			}
			obs.Sets[name] = set
		case "add":
			set := obs.Sets[name]
			set.Name = name
			set.Members = append(set.Members, fields[2])
			obs.Sets[name] = set
		}
	}
	for name, set := range obs.Sets {
		sort.Strings(set.Members)
		obs.Sets[name] = set
	}
}
