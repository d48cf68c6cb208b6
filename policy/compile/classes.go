package compile

import (
	"strings"

	"github.com/weirnet/weir/policy"
	"github.com/weirnet/weir/policy/dataplane"
)

// The host enforces policy per class, not per endpoint. An endpoint's
// verdict in one direction depends only on its policy directory, the
// policies selecting it there (in order) and its default action; endpoints
// alike in that share a class: one chain holding the verdict and one ipset
// holding the members' addresses. What stays per endpoint is its port
// guard, the anti-spoofing rule binding its addresses to its bridge port
// (no ipset type can match a bridge port on this path):
//
//	WEIR-FROM       --physdev-in vetha+          -j WEIR-FROM-<bucket>
//	                ...one rule per port-name bucket
//	                source in weir-ec4-<class>   -g WEIR-EC-<class>
//	                ...one rule per egress class
//	WEIR-FROM-<b>   --physdev-in <port> ! -s <its address>   DROP
//	                ...the guards of the bucket's endpoints
//	WEIR-TO         destination in weir-ic4-<class>          -g WEIR-IC-<class>
//	                ...one rule per ingress class
//
// So attaching or detaching an endpoint writes its guard (one rule per
// family) and set members, and nothing else unless its class is new or
// was its alone; the host's rules grow by one per endpoint and family, not
// by its policies; and a packet's dispatch is a bucket of guards and one
// hash lookup per class, however many endpoints there are.

// class is one direction's class: its name (a hash of what its verdict is
// generated from), its members, and what its chain needs.
type class struct {
	hash     string
	dir      policy.Direction
	ep       *Endpoint // the first member: policy directory, default action
	pols     []*policy.Policy
	members  []string
	chainGen bool
}

// classKey identifies the class of ep in direction dir.
func classKey(ep *Endpoint, dir policy.Direction, pols []*policy.Policy) string {
	var b strings.Builder
	b.WriteString(string(dir))
	b.WriteByte(0)
	b.WriteString(ep.PolicyDir)
	b.WriteByte(0)
	b.WriteString(string(ep.DefaultAction))
	for _, p := range pols {
		b.WriteByte(0)
		b.WriteString(p.Name)
	}
	return b.String()
}

// host generates the host's state for every Host-mode endpoint.
func (c *compiler) host() error {
	st := &c.out.Host
	var hostEps []*Endpoint
	for i := range c.eps {
		if c.eps[i].Mode == Host {
			hostEps = append(hostEps, &c.eps[i])
		}
	}
	if len(hostEps) == 0 {
		return nil // nothing to enforce: no hooks, no chains
	}
	b := c.newBuilder(st)
	// Classes are the same in both families: find them once.
	classes := map[string]*class{}
	var order []*class
	classOf := func(ep *Endpoint, dir policy.Direction) *class {
		pols := c.policiesFor(ep, dir)
		k := classKey(ep, dir, pols)
		cl, ok := classes[k]
		if !ok {
			cl = &class{hash: hash16(k), dir: dir, ep: ep, pols: pols}
			classes[k] = cl
			order = append(order, cl)
		}
		return cl
	}
	egress := make([]*class, len(hostEps))
	ingress := make([]*class, len(hostEps))
	for i, ep := range hostEps {
		egress[i], ingress[i] = classOf(ep, policy.Egress), classOf(ep, policy.Ingress)
	}
	for _, f := range families {
		for _, cl := range order {
			cl.members, cl.chainGen = nil, false // the last family's slices are in st
		}
		eps := make([]string, 0, len(hostEps))
		for i, ep := range hostEps {
			for _, a := range addrsOf(ep, f) {
				s := a.String()
				eps = append(eps, s)
				egress[i].members = append(egress[i].members, s)
				ingress[i].members = append(ingress[i].members, s)
				egress[i].chainGen, ingress[i].chainGen = true, true
			}
		}
		epSet := endpointsSet(f)
		addSet(st, epSet, "hash:ip", f, dedup(eps))
		const cm = "weir: policy dispatch"
		addChain(st, f, chainForward, []string{
			newRule(cm).match("-m conntrack --ctstate RELATED,ESTABLISHED", setMatch(epSet, "src", false)).jump("ACCEPT"),
			newRule(cm).match("-m conntrack --ctstate RELATED,ESTABLISHED", setMatch(epSet, "dst", false)).jump("ACCEPT"),
			newRule(cm).match("-m conntrack --ctstate INVALID", setMatch(epSet, "src", false)).jump("DROP"),
			newRule(cm).match("-m conntrack --ctstate INVALID", setMatch(epSet, "dst", false)).jump("DROP"),
			newRule(cm).jump("MARK", "--set-xmark", "0x0/"+markBoth),
			newRule(cm).match("-m physdev --physdev-is-in").jump(chainFrom),
			newRule(cm).match(setMatch(epSet, "dst", false)).jump(chainTo),
			newRule(cm).match(markMatch(markEgressOK)...).jump("ACCEPT"),
		})
		addChain(st, f, chainEgressOK, []string{newRule("weir: egress allowed").jump("MARK", "--set-xmark", markEgressOK+"/"+markEgressOK)})

		from := c.guards(b, f, hostEps)
		var to []string
		for _, cl := range sortedClasses(order) {
			if !cl.chainGen {
				continue // no member has an address of this family
			}
			comment := "weir: " + dirName(cl.dir) + " class"
			if cl.dir == policy.Egress {
				set := egressClassSet(cl.hash, f)
				addSet(st, set, "hash:ip", f, cl.members)
				addChain(st, f, egressClassChain(cl.hash),
					b.verdictOf(cl.ep.PolicyDir, cl.pols, cl.ep.DefaultAction, comment, policy.Egress, f, "-g", chainEgressOK))
				from = append(from, newRule(comment).match(setMatch(set, "src", false)).goTo(egressClassChain(cl.hash)))
			} else {
				set := ingressClassSet(cl.hash, f)
				addSet(st, set, "hash:ip", f, cl.members)
				addChain(st, f, ingressClassChain(cl.hash),
					b.verdictOf(cl.ep.PolicyDir, cl.pols, cl.ep.DefaultAction, comment, policy.Ingress, f, "-j", "ACCEPT"))
				to = append(to, newRule(comment).match(setMatch(set, "dst", false)).goTo(ingressClassChain(cl.hash)))
			}
		}
		addChain(st, f, chainFrom, from)
		addChain(st, f, chainTo, to)
		st.Hooks = append(st.Hooks, dataplane.Hook{Table: dataplane.Filter, Family: f, Chain: "FORWARD", Rule: newRule(cm).jump(chainForward)})
	}
	return nil
}

// guards generates the port guards of family f in bucket chains, a bucket
// per port-name prefix (the first five characters), and returns WEIR-FROM's
// jumps to them. A guard drops what comes from its endpoint's port with a
// source that is not the endpoint's (everything, when it has no address of
// the family), letting IPv6 neighbour discovery from link-local sources
// through; what it lets pass returns to WEIR-FROM, whose class rules find
// the egress verdict by source address.
func (c *compiler) guards(b *builder, f dataplane.Family, eps []*Endpoint) []string {
	buckets := map[string][]*Endpoint{}
	for _, ep := range eps {
		p := bucketPrefix(ep.HostIface)
		buckets[p] = append(buckets[p], ep)
	}
	var top []string
	for _, p := range sortedKeys(buckets) {
		name := fromBucketChain(p)
		var rules []string
		for _, ep := range buckets[p] {
			rules = append(rules, b.guard(ep, f)...)
		}
		addChain(b.st, f, name, rules)
		match := "-m physdev --physdev-in " + p
		if len(p) < len(buckets[p][0].HostIface) || len(buckets[p]) > 1 {
			match += "+"
		}
		top = append(top, newRule("weir: ports "+p).match(match).jump(name))
	}
	return top
}

// guard is ep's port guard for family f.
func (b *builder) guard(ep *Endpoint, f dataplane.Family) []string {
	comment := epComment(ep)
	port := "-m physdev --physdev-in " + ep.HostIface
	addrs := addrsOf(ep, f)
	switch {
	case len(addrs) == 0:
		return []string{newRule(comment + " no address").match(port).jump("DROP")}
	case len(addrs) == 1:
		var out []string
		if f == dataplane.IPv6 {
			out = append(out, newRule(comment+" neighbour discovery").src("fe80::/10").proto("ipv6-icmp").match(port).jump("RETURN"))
		}
		return append(out, newRule(comment+" spoofed").notSrc(hostPrefix(addrs[0])).match(port).jump("DROP"))
	default:
		set := addrSet(ep, f)
		m := make([]string, 0, len(addrs))
		for _, a := range addrs {
			m = append(m, a.String())
		}
		addSet(b.st, set, "hash:ip", f, m)
		var out []string
		if f == dataplane.IPv6 {
			out = append(out, newRule(comment+" neighbour discovery").src("fe80::/10").proto("ipv6-icmp").match(port).jump("RETURN"))
		}
		return append(out, newRule(comment+" spoofed").match(port, setMatch(set, "src", true)).jump("DROP"))
	}
}

// sortedClasses orders classes by name, so the dispatch chains do not
// depend on the order endpoints were listed in.
func sortedClasses(cls []*class) []*class {
	byName := make(map[string]*class, len(cls))
	for _, cl := range cls {
		byName[string(cl.dir)+cl.hash] = cl
	}
	out := make([]*class, 0, len(cls))
	for _, k := range sortedKeys(byName) {
		out = append(out, byName[k])
	}
	return out
}
