package dataplane

import (
	"bytes"
	"strconv"
)

// renderSetsGrow is the first ipset batch: temporary sets for sets being
// replaced, sets created, members added. Creating with -exist and adding
// with -exist make it harmless to repeat.
func renderSetsGrow(p *plan) []byte {
	var b bytes.Buffer
	for _, r := range p.replace {
		if r.tmpExists {
			b.WriteString("destroy " + r.tmp + "\n")
		}
		tmp := r.set
		tmp.Name = r.tmp
		writeCreate(&b, tmp)
	}
	for _, s := range p.create {
		writeCreate(&b, s)
	}
	for _, name := range sortedKeys(p.add) {
		for _, m := range p.add[name] {
			b.WriteString("add " + name + " " + m + " -exist\n")
		}
	}
	return b.Bytes()
}

func writeCreate(b *bytes.Buffer, s IPSet) {
	b.WriteString("create " + s.Name + " " + s.Type + " family " + setFamilies[s.Family] + " -exist\n")
	for _, m := range s.Members {
		b.WriteString("add " + s.Name + " " + m + " -exist\n")
	}
}

// renderSetsShrink is the last ipset batch, after no rule of weir's refers
// to what it removes: members deleted, sets destroyed.
func renderSetsShrink(p *plan) []byte {
	var b bytes.Buffer
	for _, name := range sortedKeys(p.del) {
		for _, m := range p.del[name] {
			b.WriteString("del " + name + " " + m + " -exist\n")
		}
	}
	for _, name := range p.destroy {
		b.WriteString("destroy " + name + "\n")
	}
	for _, r := range p.replace {
		b.WriteString("destroy " + r.tmp + "\n")
	}
	return b.Bytes()
}

// renderSetsSwap is the batch that makes replaced sets anew under their
// names, once no rule matches the old ones; nil when none is replaced.
func renderSetsSwap(p *plan) []byte {
	var b bytes.Buffer
	for _, r := range p.replace {
		b.WriteString("destroy " + r.set.Name + "\n")
		writeCreate(&b, r.set)
	}
	return b.Bytes()
}

// renderRules is the iptables-restore --noflush batch for one family: per
// table touched, the chains to write are declared (which creates a new
// chain and flushes an existing one), stale hooks deleted, the chains'
// rules appended, chains edited in place (rules deleted by specification
// or inserted at their position), missing hooks inserted at their place at the top of
// their built-in chain, and removed chains flushed and then deleted (after
// every jump to them is gone). Chains and tables not named are untouched.
// nil when the family has nothing to change. write and del, when not nil,
// rewrite the rules written and the hooks deleted (see setReplace).
func renderRules(tables map[famTable]*tablePlan, f Family, write, del func(string) string) []byte {
	if write == nil {
		write = same
	}
	if del == nil {
		del = same
	}
	var b bytes.Buffer
	for _, t := range tableOrder {
		tp := tables[famTable{f, t}]
		if tp == nil {
			continue
		}
		b.WriteString("*" + string(t) + "\n")
		for _, c := range tp.write {
			b.WriteString(":" + c.Name + " - [0:0]\n")
		}
		for _, h := range tp.hookDel {
			b.WriteString("-D " + h.Chain + " " + del(h.Rule) + "\n")
		}
		for _, c := range tp.write {
			for _, r := range c.Rules {
				b.WriteString("-A " + c.Name)
				if r != "" {
					b.WriteString(" " + write(r))
				}
				b.WriteByte('\n')
			}
		}
		for _, e := range tp.edit {
			for _, pos := range e.del {
				b.WriteString("-D " + e.name + " " + strconv.Itoa(pos) + "\n")
			}
			for _, in := range e.ins {
				if in.pos == 0 {
					b.WriteString("-A " + e.name + " " + write(in.rule) + "\n")
				} else {
					b.WriteString("-I " + e.name + " " + strconv.Itoa(in.pos) + " " + write(in.rule) + "\n")
				}
			}
		}
		for _, in := range tp.hookIns {
			b.WriteString("-I " + in.hook.Chain + " " + strconv.Itoa(in.pos) + " " + write(in.hook.Rule) + "\n")
		}
		for _, name := range tp.remove {
			b.WriteString("-F " + name + "\n")
		}
		for _, name := range tp.remove {
			b.WriteString("-X " + name + "\n")
		}
		b.WriteString("COMMIT\n")
	}
	return b.Bytes()
}

func same(s string) string { return s }
