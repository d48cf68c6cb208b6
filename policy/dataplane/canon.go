package dataplane

import (
	"fmt"
	"strings"
)

// CanonicalRule returns rule (a rule specification as written after
// "-A <chain> ") in the form iptables-save prints it for family f, so that
// what weir rendered and what it reads back compare equal: addresses get
// their prefix length (-s 10.1.2.3 becomes -s 10.1.2.3/32) and are masked,
// the IP header options come first in iptables' order (-s -d -i -o -p -f),
// protocol options get their implicit match (-p tcp -m tcp --dport 80),
// ICMP types become numbers, conntrack states are ordered, string values
// are quoted as iptables-save quotes them, and target defaults are filled
// in or dropped as iptables-save does (REJECT --reject-with
// icmp-port-unreachable, LOG without --log-level 4, MARK --set-xmark).
//
// Matches and targets it does not know are kept as written, in place. The
// privileged tests check the round trip through the kernel for every rule
// shape weir's compiler uses; Repair learns the printed form of anything
// else (see Writer.Repair).
func CanonicalRule(f Family, rule string) (string, error) {
	info, err := analyseRule(f, rule)
	return info.text, err
}

// ruleInfo is a rule's canonical text and what it refers to.
type ruleInfo struct {
	text  string   // as iptables-save prints it
	jump  string   // the chain or target of -j or -g; "" if none
	sets  []string // the sets of --match-set options
	exact bool     // only options whose printed form the kernel tests check
}

// exactOpts are the options whose canonical form the privileged tests
// check against iptables-save of both backends (see ruleShapes). A rule
// using only these needs no read-back after it is written.
var exactOpts = map[string]bool{
	"--sport": true, "--dport": true, "--tcp-flags": true, "--icmp-type": true, "--icmpv6-type": true,
	"--sports": true, "--dports": true, "--ctstate": true, "--match-set": true, "--comment": true,
	"--mark": true, "--physdev-in": true, "--physdev-out": true, "--physdev-is-in": true,
	"--physdev-is-bridged": true, "--dst-type": true, "--log-prefix": true, "--log-level": true,
	"--reject-with": true, "--set-xmark": true,
}

// isExact reports whether every option of the rule is in exactOpts with
// numeric ports, and every match and target is one weir knows.
func (pr *parsedRule) isExact() bool {
	blocks := pr.blocks
	if pr.target != nil {
		blocks = append(blocks[:len(blocks):len(blocks)], pr.target)
	}
	for _, b := range blocks {
		if b.spec == nil && (b.flag == "-m" || len(b.opts) > 0) {
			return false
		}
		for _, o := range b.opts {
			if !exactOpts[o.name] {
				return false
			}
			if strings.HasSuffix(o.name, "port") || strings.HasSuffix(o.name, "ports") {
				if strings.Trim(o.vals[0].s, "0123456789:,") != "" {
					return false // a service name
				}
			}
		}
	}
	return true
}

// analyseRule parses a rule once for its canonical text and references.
func analyseRule(f Family, rule string) (ruleInfo, error) {
	toks, err := tokenize(rule)
	if err != nil {
		return ruleInfo{}, err
	}
	pr, err := parseRule(f, toks)
	if err != nil {
		return ruleInfo{}, err
	}
	info := ruleInfo{text: pr.String(), exact: pr.isExact()}
	if pr.target != nil {
		info.jump = pr.target.name
	}
	for _, b := range pr.blocks {
		for _, o := range b.opts {
			if o.name == "--match-set" && len(o.vals) > 0 {
				info.sets = append(info.sets, o.vals[0].s)
			}
		}
	}
	return info, nil
}

// ruleOpt is one option of a match or target, with its values.
type ruleOpt struct {
	name string
	neg  bool
	vals []token
}

// ruleBlock is a match (-m NAME) or the target (-j NAME, -g NAME).
type ruleBlock struct {
	flag string // "-m", "-j" or "-g"
	name string
	spec moduleSpec // nil when weir does not know the module
	opts []ruleOpt
}

// parsedRule is a rule split into its IP header part, matches and target.
type parsedRule struct {
	fam    Family
	base   [len(baseFlags)]*ruleOpt
	proto  string // canonical protocol, "" for any
	blocks []*ruleBlock
	target *ruleBlock
}

// baseFlags are the IP header options in the order iptables-save prints
// them; baseAliases maps every spelling to its index.
var baseFlags = [...]string{"-s", "-d", "-i", "-o", "-p", "-f"}

var baseAliases = map[string]int{
	"-s": 0, "--source": 0, "--src": 0,
	"-d": 1, "--destination": 1, "--dst": 1,
	"-i": 2, "--in-interface": 2,
	"-o": 3, "--out-interface": 3,
	"-p": 4, "--protocol": 4,
	"-f": 5, "--fragment": 5,
}

// blockFlags start a match or the target, by every spelling.
var blockFlags = map[string]string{
	"-m": "-m", "--match": "-m", "-j": "-j", "--jump": "-j", "-g": "-g", "--goto": "-g",
}

// commandFlags would turn a rule into another command inside a batch.
var commandFlags = map[string]bool{
	"-A": true, "--append": true, "-I": true, "--insert": true, "-D": true, "--delete": true,
	"-R": true, "--replace": true, "-N": true, "--new-chain": true, "-X": true, "--delete-chain": true,
	"-F": true, "--flush": true, "-P": true, "--policy": true, "-E": true, "--rename-chain": true,
	"-Z": true, "--zero": true, "-L": true, "--list": true, "-S": true, "--list-rules": true,
	"-t": true, "--table": true,
}

func parseRule(f Family, toks []token) (*parsedRule, error) {
	pr := &parsedRule{fam: f}
	var cur *ruleBlock
	neg := false
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		if t.quoted {
			return nil, fmt.Errorf("unexpected value %q", t.s)
		}
		if t.s == "!" {
			if neg {
				return nil, fmt.Errorf("double negation")
			}
			neg = true
			continue
		}
		if commandFlags[t.s] {
			return nil, fmt.Errorf("command %s inside a rule", t.s)
		}
		if idx, ok := baseAliases[t.s]; ok {
			o := &ruleOpt{name: baseFlags[idx], neg: neg}
			if idx != 5 {
				if i+1 >= len(toks) {
					return nil, fmt.Errorf("%s needs a value", t.s)
				}
				i++
				v, err := canonBase(f, idx, toks[i].s)
				if err != nil {
					return nil, err
				}
				o.vals = []token{{s: v}}
			}
			if pr.base[idx] != nil {
				return nil, fmt.Errorf("%s given twice", baseFlags[idx])
			}
			pr.base[idx] = o
			if idx == 4 {
				pr.proto = o.vals[0].s
				if pr.proto == "" && !neg {
					pr.base[idx] = nil
				}
			}
			neg = false
			continue
		}
		if flag, ok := blockFlags[t.s]; ok {
			if neg {
				return nil, fmt.Errorf("%s cannot be negated", t.s)
			}
			if i+1 >= len(toks) {
				return nil, fmt.Errorf("%s needs a name", t.s)
			}
			i++
			b := &ruleBlock{flag: flag, name: toks[i].s}
			if flag == "-m" {
				b.spec = matchSpecs[b.name]
				pr.blocks = append(pr.blocks, b)
			} else {
				if pr.target != nil {
					return nil, fmt.Errorf("more than one target")
				}
				b.spec = targetSpecs[b.name]
				pr.target = b
			}
			cur = b
			continue
		}
		if !strings.HasPrefix(t.s, "--") {
			return nil, fmt.Errorf("unexpected word %q", t.s)
		}
		owner, spec, err := pr.ownerOf(cur, t.s)
		if err != nil {
			return nil, err
		}
		o := ruleOpt{name: spec.canon, neg: neg}
		neg = false
		if spec.arity >= 0 {
			if i+spec.arity >= len(toks) {
				return nil, fmt.Errorf("%s needs %d value(s)", t.s, spec.arity)
			}
			o.vals = append(o.vals, toks[i+1:i+1+spec.arity]...)
			i += spec.arity
		} else {
			for i+1 < len(toks) && (toks[i+1].quoted || (toks[i+1].s != "!" && !strings.HasPrefix(toks[i+1].s, "-"))) {
				i++
				o.vals = append(o.vals, toks[i])
			}
		}
		owner.opts = append(owner.opts, o)
	}
	if neg {
		return nil, fmt.Errorf("negation at the end of the rule")
	}
	for _, b := range pr.blocks {
		if err := canonBlock(f, b); err != nil {
			return nil, fmt.Errorf("-m %s: %w", b.name, err)
		}
	}
	if pr.target != nil {
		if err := canonBlock(f, pr.target); err != nil {
			return nil, fmt.Errorf("%s %s: %w", pr.target.flag, pr.target.name, err)
		}
	}
	return pr, nil
}

// ownerOf finds the match or target an option belongs to, as iptables'
// option parser would: the current module if it knows the option, else any
// loaded module that knows it, else the protocol's implicit match (which is
// then loaded at this point), else the current module when weir does not
// know its options.
func (pr *parsedRule) ownerOf(cur *ruleBlock, name string) (*ruleBlock, optSpec, error) {
	if cur != nil && cur.spec != nil {
		if s, ok := cur.spec[name]; ok {
			return cur, s, nil
		}
	}
	for i := len(pr.blocks) - 1; i >= 0; i-- {
		if b := pr.blocks[i]; b.spec != nil {
			if s, ok := b.spec[name]; ok {
				return b, s, nil
			}
		}
	}
	if m := protoMatch[pr.proto]; m != "" {
		if s, ok := matchSpecs[m][name]; ok {
			b := &ruleBlock{flag: "-m", name: m, spec: matchSpecs[m]}
			pr.blocks = append(pr.blocks, b)
			return b, s, nil
		}
	}
	if cur != nil && cur.spec == nil {
		return cur, optSpec{canon: name, arity: -1}, nil
	}
	if cur == nil {
		return nil, optSpec{}, fmt.Errorf("option %s outside any match", name)
	}
	return nil, optSpec{}, fmt.Errorf("unknown option %s for %s %s", name, cur.flag, cur.name)
}

// String prints the rule as iptables-save does (without "-A <chain> ").
func (pr *parsedRule) String() string {
	var b strings.Builder
	sep := func() {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
	}
	for i, o := range pr.base {
		if o == nil {
			continue
		}
		sep()
		if o.neg {
			b.WriteString("! ")
		}
		b.WriteString(baseFlags[i])
		for _, v := range o.vals {
			b.WriteByte(' ')
			b.WriteString(v.s)
		}
	}
	blocks := pr.blocks
	if pr.target != nil {
		blocks = append(blocks[:len(blocks):len(blocks)], pr.target)
	}
	for _, blk := range blocks {
		sep()
		b.WriteString(blk.flag)
		b.WriteByte(' ')
		b.WriteString(blk.name)
		for _, o := range blk.opts {
			if o.neg {
				b.WriteString(" !")
			}
			b.WriteByte(' ')
			b.WriteString(o.name)
			for _, v := range o.vals {
				b.WriteByte(' ')
				if stringOpts[o.name] || !plainWord(v.s) {
					saveString(&b, v.s)
				} else {
					b.WriteString(v.s)
				}
			}
		}
	}
	return b.String()
}

// plainWord reports whether v can be printed without quotes: not empty and
// free of blanks and quotes.
func plainWord(v string) bool {
	return v != "" && !strings.ContainsAny(v, " \t\"\\'")
}
