package portmap

import (
	"bufio"
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/weirnet/weir/plugins/internal/ipset"
	"github.com/weirnet/weir/plugins/internal/masq"
)

// fakeNat is a masq.Runner over an in-memory nat table per family that
// applies restore batches as iptables-restore --noflush does on this
// project's hosts (TestKernelRestoreRefusesWholeBatch in masq proves it
// there): all or nothing, refusing -N of an existing chain, -A/-I to a
// missing chain or with a missing target chain or ipset, -D of a missing
// rule, and -X of a chain with rules or jumps. Rules are kept as the text
// the batch gave, which is how iptables-save prints portmap's own rules.
// It is portmap's sets too: a set's references are the rules matching on
// it, and a referenced set cannot be destroyed, as in the kernel. It
// counts the forks a real runner would make and the set listings.
type fakeNat struct {
	tables   map[masq.Family]*fakeTable
	sets     map[string]*fakeSet
	saves    int
	restores []string // every batch, applied or refused
	refused  int
	lists    int      // List calls
	setOps   []string // every set call: "add NAME MEMBER", ...
	// failFamily, when set, makes every restore of that family fail.
	failFamily masq.Family
}

type fakeSet struct {
	typ     string
	family  ipset.Family
	members []ipset.Entry
}

type fakeTable struct {
	order []string            // user chains in creation order
	rules map[string][]string // chain -> rule specs (after "-A CHAIN ")
}

var _ masq.Runner = (*fakeNat)(nil)

var builtins = []string{"PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"}

var _ sets = (*fakeNat)(nil)

func newFakeNat() *fakeNat {
	f := &fakeNat{tables: map[masq.Family]*fakeTable{}, sets: map[string]*fakeSet{}}
	for _, fam := range bothFamilies() {
		t := &fakeTable{rules: map[string][]string{}}
		for _, b := range builtins {
			t.rules[b] = nil
		}
		f.tables[fam] = t
	}
	return f
}

func (t *fakeTable) clone() *fakeTable {
	c := &fakeTable{order: slices.Clone(t.order), rules: map[string][]string{}}
	for k, v := range t.rules {
		c.rules[k] = slices.Clone(v)
	}
	return c
}

func (t *fakeTable) has(chain string) bool { _, ok := t.rules[chain]; return ok }

// target returns the -j argument of spec.
func target(spec string) string {
	args, _ := masq.SplitArgs(spec)
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "-j" {
			return args[i+1]
		}
	}
	return ""
}

func (t *fakeTable) jumpedTo(chain string) bool {
	for _, specs := range t.rules {
		for _, s := range specs {
			if target(s) == chain {
				return true
			}
		}
	}
	return false
}

// matchSet returns the --match-set argument of spec.
func matchSet(spec string) string {
	args, _ := masq.SplitArgs(spec)
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "--match-set" {
			return args[i+1]
		}
	}
	return ""
}

// apply runs one batch line on t; hasSet says which ipsets exist.
func (t *fakeTable) apply(line string, hasSet func(string) bool) error {
	if name, ok := strings.CutPrefix(line, ":"); ok {
		name, _, _ = strings.Cut(name, " ")
		if !t.has(name) {
			t.order = append(t.order, name)
		}
		t.rules[name] = nil
		return nil
	}
	op, rest, _ := strings.Cut(line, " ")
	chain, spec, _ := strings.Cut(rest, " ")
	switch op {
	case "-N":
		if t.has(chain) {
			return fmt.Errorf("chain %s already exists", chain)
		}
		t.order = append(t.order, chain)
		t.rules[chain] = nil
	case "-X":
		if !t.has(chain) || slices.Contains(builtins, chain) || len(t.rules[chain]) > 0 || t.jumpedTo(chain) {
			return fmt.Errorf("CHAIN_DEL %s: busy or missing", chain)
		}
		delete(t.rules, chain)
		t.order = slices.DeleteFunc(t.order, func(c string) bool { return c == chain })
	case "-F":
		if !t.has(chain) {
			return fmt.Errorf("no chain %s", chain)
		}
		t.rules[chain] = nil
	case "-A", "-I":
		if op == "-I" {
			if _, s, ok := strings.Cut(spec, " "); ok {
				spec = s // only "-I CHAIN 1 spec" is used
			}
		}
		if !t.has(chain) {
			return fmt.Errorf("no chain %s", chain)
		}
		if j := target(spec); strings.HasPrefix(j, "WEIR-") && !t.has(j) {
			return fmt.Errorf("no target chain %s", j)
		}
		if set := matchSet(spec); set != "" && !hasSet(set) {
			return fmt.Errorf("Set %s doesn't exist", set)
		}
		if op == "-I" {
			t.rules[chain] = append([]string{spec}, t.rules[chain]...)
		} else {
			t.rules[chain] = append(t.rules[chain], spec)
		}
	case "-D":
		i := slices.Index(t.rules[chain], spec)
		if i < 0 {
			return fmt.Errorf("bad rule (does a matching rule exist in %s?)", chain)
		}
		t.rules[chain] = slices.Delete(t.rules[chain], i, i+1)
	default:
		return fmt.Errorf("fake iptables-restore does not know %q", line)
	}
	return nil
}

func (f *fakeNat) Restore(_ context.Context, fam masq.Family, batch []byte) error {
	f.restores = append(f.restores, string(batch))
	if fam == f.failFamily {
		f.refused++
		return fmt.Errorf("iptables-restore: injected failure of %s", fam)
	}
	t := f.tables[fam].clone()
	sc := bufio.NewScanner(strings.NewReader(string(batch)))
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if line == "*nat" || line == "COMMIT" || line == "" {
			continue
		}
		if err := t.apply(line, func(name string) bool { return f.sets[name] != nil }); err != nil {
			f.refused++
			return fmt.Errorf("iptables-restore: line %d failed: %w", n, err)
		}
	}
	f.tables[fam] = t
	return nil
}

func (f *fakeNat) Save(_ context.Context, fam masq.Family) ([]byte, error) {
	f.saves++
	return []byte(f.tables[fam].save()), nil
}

// save renders the table as iptables-save -t nat does.
func (t *fakeTable) save() string {
	var b strings.Builder
	b.WriteString("*nat\n")
	for _, c := range builtins {
		fmt.Fprintf(&b, ":%s ACCEPT [0:0]\n", c)
	}
	users := slices.Clone(t.order)
	sort.Strings(users)
	for _, c := range users {
		fmt.Fprintf(&b, ":%s - [0:0]\n", c)
	}
	for _, c := range append(slices.Clone(builtins), users...) {
		for _, s := range t.rules[c] {
			fmt.Fprintf(&b, "-A %s %s\n", c, s)
		}
	}
	b.WriteString("COMMIT\n")
	return b.String()
}

// dump is the family's table without its empty built-in chains: "" when
// portmap left nothing.
func (f *fakeNat) dump(fam masq.Family) string {
	s := f.tables[fam].save()
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if l == "*nat" || l == "COMMIT" || strings.HasSuffix(l, " ACCEPT [0:0]") {
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

// forks returns and resets the counts of saves and restores (and of set
// listings and calls).
func (f *fakeNat) forks() (saves, restores int) {
	saves, restores = f.saves, len(f.restores)
	f.saves, f.restores, f.refused, f.lists, f.setOps = 0, nil, 0, 0, nil
	return saves, restores
}

// kernel is portmap's kernel over f.
func (f *fakeNat) kernel() kernel { return kernel{run: f, sets: f} }

// refs counts the rules of both families that match on set name.
func (f *fakeNat) refs(name string) int {
	n := 0
	for _, t := range f.tables {
		for _, specs := range t.rules {
			for _, s := range specs {
				if matchSet(s) == name {
					n++
				}
			}
		}
	}
	return n
}

func (f *fakeNat) info(name string, members bool) ipset.Info {
	s := f.sets[name]
	i := ipset.Info{Name: name, Type: s.typ, Family: s.family, Entries: len(s.members), References: f.refs(name)}
	if members {
		i.Members = slices.Clone(s.members)
	}
	return i
}

func (f *fakeNat) Header(name string) (ipset.Info, error) {
	f.setOps = append(f.setOps, "header "+name)
	if f.sets[name] == nil {
		return ipset.Info{}, ipset.ErrSetMissing
	}
	return f.info(name, false), nil
}

func (f *fakeNat) List(name string) (ipset.Info, error) {
	f.lists++
	f.setOps = append(f.setOps, "list "+name)
	if f.sets[name] == nil {
		return ipset.Info{}, ipset.ErrSetMissing
	}
	return f.info(name, true), nil
}

func (f *fakeNat) Create(name, typ string, fam ipset.Family) error {
	f.setOps = append(f.setOps, "create "+name)
	if s := f.sets[name]; s != nil {
		if s.typ != typ {
			return fmt.Errorf("creating ipset %s: exists with type %s", name, s.typ)
		}
		return nil
	}
	f.sets[name] = &fakeSet{typ: typ, family: fam}
	return nil
}

func (f *fakeNat) Add(name string, e ipset.Entry) error {
	f.setOps = append(f.setOps, "add "+name+" "+e.String())
	s := f.sets[name]
	if s == nil {
		return fmt.Errorf("adding %s to ipset %s: %w", e, name, ipset.ErrSetMissing)
	}
	if (e.IP.To4() != nil) != (s.family == ipset.IPv4) || (e.IP2 != nil) != (s.typ == ipset.HashIPPortIP) {
		return fmt.Errorf("adding %s to ipset %s: not a member of a %s %s set", e, name, s.family, s.typ)
	}
	for i, old := range s.members {
		if old.Key() == e.Key() {
			s.members[i] = e
			return nil
		}
	}
	s.members = append(s.members, e)
	return nil
}

func (f *fakeNat) Del(name string, e ipset.Entry) (bool, error) {
	f.setOps = append(f.setOps, "del "+name+" "+e.String())
	s := f.sets[name]
	if s == nil {
		return false, fmt.Errorf("deleting %s from ipset %s: %w", e, name, ipset.ErrSetMissing)
	}
	n := len(s.members)
	s.members = slices.DeleteFunc(s.members, func(m ipset.Entry) bool { return m.Key() == e.Key() })
	return len(s.members) < n, nil
}

func (f *fakeNat) Destroy(name string) error {
	f.setOps = append(f.setOps, "destroy "+name)
	if f.sets[name] == nil {
		return nil
	}
	if f.refs(name) > 0 {
		return fmt.Errorf("destroying ipset %s: %w", name, ipset.ErrSetInUse)
	}
	delete(f.sets, name)
	return nil
}

// setDump renders the sets and their members, sorted, one per line: ""
// when portmap left none.
func (f *fakeNat) setDump() string {
	var out []string
	for name, s := range f.sets {
		out = append(out, "set "+name)
		for _, m := range s.members {
			out = append(out, fmt.Sprintf("add %s %s comment %q", name, m, m.Comment))
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}
