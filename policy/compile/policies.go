package compile

import (
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/weirnet/weir/policy"
	"github.com/weirnet/weir/policy/dataplane"
)

// builder fills one namespace's state, generating each policy chain and
// peer set once however many endpoints use it.
type builder struct {
	c          *compiler
	st         *dataplane.State
	done       map[string]bool  // sets already generated
	chainsDone map[famName]bool // policy chains already generated
	labelsDone map[famName]bool // label sets (ep.labels) whose policy chains are generated
	pnames     map[pchainKey]string
	qnames     map[string]string // policy name -> quoted sanitized name
}

type famName struct {
	f    dataplane.Family
	name string
}

type pchainKey struct {
	dir, name string
	ingress   bool
}

func (c *compiler) newBuilder(st *dataplane.State) *builder {
	return &builder{c: c, st: st, done: map[string]bool{}, chainsDone: map[famName]bool{}, labelsDone: map[famName]bool{}, pnames: map[pchainKey]string{}, qnames: map[string]string{}}
}

// policiesFor returns the policies selecting ep in dir, in order.
func (c *compiler) policiesFor(ep *Endpoint, dir policy.Direction) []*policy.Policy {
	set := c.pols[ep.PolicyDir]
	if set == nil {
		return nil
	}
	if ep.labels == "" {
		ep.labels = labelsKey(ep.PolicyDir, ep.Labels)
	}
	k := string(dir) + "\x00" + ep.labels
	if ps, ok := c.selecting[k]; ok {
		return ps
	}
	ps := set.Selecting(ep.Labels, dir)
	c.selecting[k] = ps
	return ps
}

// labelsKey identifies a label set under a policy directory.
func labelsKey(dir string, labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	n := len(dir) + 2
	for k, v := range labels {
		keys = append(keys, k)
		n += len(k) + len(v) + 2
	}
	sort.Strings(keys)
	var b strings.Builder
	b.Grow(n)
	b.WriteString(dir)
	for _, k := range keys {
		b.WriteByte(0)
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(labels[k])
	}
	return b.String()
}

// policyChain generates the chain of p's rules for dir and family f (once)
// and returns its name.
func (b *builder) policyChain(policyDir string, p *policy.Policy, dir policy.Direction, f dataplane.Family) string {
	pk := pchainKey{policyDir, p.Name, dir == policy.Ingress}
	name, ok := b.pnames[pk]
	if !ok {
		name = policyChain(policyDir, p.Name, dir == policy.Ingress)
		b.pnames[pk] = name
	}
	if b.chainsDone[famName{f, name}] {
		return name
	}
	b.chainsDone[famName{f, name}] = true
	comment := "weir: policy=" + sanitize(p.Name)
	var rules []string
	for i, r := range p.Rules(dir) {
		spec, ok := b.ruleMatch(r, dir, f, comment+" "+dirName(dir)+"["+strconv.Itoa(i)+"]")
		if !ok {
			continue // the rule cannot match this family (its nets are all of the other)
		}
		for _, m := range spec {
			switch r.Action {
			case policy.Allow:
				rules = append(rules, m.jump("MARK", "--set-xmark", markAllow+"/"+markAllow))
			case policy.Deny:
				rules = append(rules, m.jump("DROP"))
			case policy.Log:
				rules = append(rules, m.jump("LOG", "--log-prefix", quote(logPrefix(p.Name))))
			}
		}
		if r.Action == policy.Allow {
			rules = append(rules, newRule(comment).match(markMatch(markAllow)...).jump("RETURN"))
		}
	}
	addChain(b.st, f, name, rules)
	return name
}

func dirName(d policy.Direction) string {
	if d == policy.Ingress {
		return "ingress"
	}
	return "egress"
}

// logPrefix is at most 29 characters, as the LOG target allows.
func logPrefix(name string) string {
	p := "weir " + sanitize(name)
	if len(p) > 28 {
		p = p[:28]
	}
	return p + " "
}

// sanitize keeps names safe inside a quoted comment.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '"' || r == '\\' || r < 0x20 || r > 0x7e {
			return '_'
		}
		return r
	}, s)
}

// ruleMatch returns the match parts of rule r (one per multiport chunk),
// or false when r cannot match family f.
func (b *builder) ruleMatch(r policy.Rule, dir policy.Direction, f dataplane.Family, comment string) ([]*rule, bool) {
	peerDir := "src"
	if dir == policy.Egress {
		peerDir = "dst"
	}
	var matches []string
	if r.Peer.Selector != nil {
		matches = append(matches, setMatch(b.selectorSet(r.Peer, f), peerDir, false))
	}
	if len(r.Peer.Nets) > 0 {
		nets := prefixesOf(r.Peer.Nets, f)
		if len(nets) == 0 {
			return nil, false
		}
		if !anyZero(nets) {
			matches = append(matches, setMatch(b.netSet(netsSet, nets, f), peerDir, false))
		}
	}
	if nots := prefixesOf(r.Peer.NotNets, f); len(nots) > 0 {
		if anyZero(nots) {
			return nil, false
		}
		matches = append(matches, setMatch(b.netSet(notNetsSet, nots, f), peerDir, true))
	}
	proto := ""
	switch r.Protocol {
	case policy.TCP, policy.UDP:
		proto = string(r.Protocol)
	case policy.ICMP:
		proto = "icmp"
		if f == dataplane.IPv6 {
			proto = "ipv6-icmp"
		}
	}
	var out []*rule
	for _, ports := range portChunks(r.Ports) {
		m := newRule(comment)
		if proto != "" {
			m.proto(proto)
		}
		if ports != "" {
			m.match("-m multiport --dports " + ports)
		}
		m.matches = append(m.matches, matches...)
		out = append(out, m)
	}
	return out, true
}

// portChunks renders ports as multiport lists of at most 15 ports (a range
// counts two); no ports is one empty chunk.
func portChunks(ports []policy.PortRange) []string {
	if len(ports) == 0 {
		return []string{""}
	}
	var out []string
	var cur []string
	used := 0
	for _, p := range ports {
		s, cost := strconv.Itoa(p.From), 1
		if p.To > p.From {
			s, cost = s+":"+strconv.Itoa(p.To), 2
		}
		if used+cost > 15 {
			out = append(out, strings.Join(cur, ","))
			cur, used = nil, 0
		}
		cur, used = append(cur, s), used+cost
	}
	return append(out, strings.Join(cur, ","))
}

func prefixesOf(ps []netip.Prefix, f dataplane.Family) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range ps {
		if p.Addr().Unmap().Is4() == (f == dataplane.IPv4) {
			out = append(out, p.Masked())
		}
	}
	return out
}

func anyZero(ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Bits() == 0 {
			return true
		}
	}
	return false
}

// selectorSet generates the set of local endpoint addresses of family f
// that peer's selector matches.
func (b *builder) selectorSet(peer policy.Peer, f dataplane.Family) string {
	canon := peer.Selector.String()
	name := selectorSet(canon, f)
	if b.done[name] {
		return name
	}
	b.done[name] = true
	var members []string
	for _, g := range b.c.labelGroups() {
		if peer.Selector.Matches(g.labels) {
			for _, ep := range g.eps {
				for _, a := range addrsOf(ep, f) {
					members = append(members, a.String())
				}
			}
		}
	}
	addSet(b.st, name, "hash:ip", f, dedup(members))
	return name
}

// labelGroup is the endpoints that carry one label set: a selector is
// matched once per label set, not once per endpoint (containers of one
// task or service share their labels).
type labelGroup struct {
	labels map[string]string
	eps    []*Endpoint
}

// labelGroups groups the endpoints by label set, in endpoint order.
func (c *compiler) labelGroups() []*labelGroup {
	if c.groups != nil {
		return c.groups
	}
	byKey := map[string]*labelGroup{}
	c.groups = []*labelGroup{}
	for i := range c.eps {
		ep := &c.eps[i]
		k := labelsKey("", ep.Labels)
		g, ok := byKey[k]
		if !ok {
			g = &labelGroup{labels: ep.Labels}
			byKey[k] = g
			c.groups = append(c.groups, g)
		}
		g.eps = append(g.eps, ep)
	}
	return c.groups
}

func (b *builder) netSet(namer func(string, dataplane.Family) string, nets []netip.Prefix, f dataplane.Family) string {
	var members []string
	for _, n := range nets {
		members = append(members, n.String())
	}
	members = dedup(members)
	name := namer(strings.Join(members, ","), f)
	if !b.done[name] {
		b.done[name] = true
		addSet(b.st, name, "hash:net", f, members)
	}
	return name
}

func dedup(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
