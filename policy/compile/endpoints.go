package compile

import (
	"net/netip"
	"sort"

	"github.com/weirnet/weir/policy"
	"github.com/weirnet/weir/policy/dataplane"
)

// genEndpointChains generates ep's egress and ingress chains for family
// f, and reports whether they jump to policy chains (which it generates
// too, once per builder). An allowed egress goes to WEIR-EGRESS-OK, which
// on the host marks the packet and returns to the dispatcher, and in a
// namespace just returns to OUTPUT.
func (b *builder) genEndpointChains(ep *Endpoint, f dataplane.Family) bool {
	comment := epComment(ep)
	addrs := addrsOf(ep, f)
	if len(addrs) == 0 && ep.Mode == Host {
		// Nothing of this family may leave it, and nothing reaches it by
		// address: the dispatch names no ingress chain for it.
		addChain(b.st, f, egressChain(ep), []string{newRule(comment + " no address").jump("DROP")})
		return false
	}
	// Egress: anti-spoofing first.
	var eg []string
	if f == dataplane.IPv6 && len(addrs) > 0 {
		// Neighbour discovery uses link-local sources: let it through
		// (unmarked: it is not allowed as egress to an endpoint).
		eg = append(eg, newRule(comment+" neighbour discovery").src("fe80::/10").proto("ipv6-icmp").jump("RETURN"))
	}
	switch {
	case len(addrs) == 0:
		eg = append(eg, newRule(comment+" no address").jump("DROP"))
	case len(addrs) == 1:
		eg = append(eg, newRule(comment+" spoofed").notSrc(hostPrefix(addrs[0])).jump("DROP"))
	default:
		set := addrSet(ep, f)
		var m []string
		for _, a := range addrs {
			m = append(m, a.String())
		}
		addSet(b.st, set, "hash:ip", f, m)
		eg = append(eg, newRule(comment+" spoofed").match(setMatch(set, "src", true)).jump("DROP"))
	}
	eg = append(eg, b.verdict(ep, policy.Egress, f, "-g", chainEgressOK)...)
	addChain(b.st, f, egressChain(ep), eg)
	addChain(b.st, f, ingressChain(ep), b.verdict(ep, policy.Ingress, f, "-j", "ACCEPT"))
	return true
}

// verdict renders the policy evaluation of one direction: clear the allow
// mark, each selecting policy's chain in order with an exit on allow, then
// a drop; or the default action when nothing selects the endpoint.
func (b *builder) verdict(ep *Endpoint, dir policy.Direction, f dataplane.Family, how, allowed string) []string {
	comment := epComment(ep)
	qc := quote(comment)
	allow := func(r *rule) string {
		if how == "-g" {
			return r.goTo(allowed)
		}
		return r.jump(allowed)
	}
	pols := b.c.policiesFor(ep, dir)
	if len(pols) == 0 {
		if ep.DefaultAction == policy.Deny {
			return []string{newRule(comment + " default deny").jump("DROP")}
		}
		return []string{allow(newRule(comment + " default allow"))}
	}
	rules := make([]string, 0, 2*len(pols)+2)
	rules = append(rules, newRuleQ(qc).jump("MARK", "--set-xmark", "0x0/"+markAllow))
	base := qc[:len(qc)-1]
	for _, p := range pols {
		qn, ok := b.qnames[p.Name]
		if !ok {
			qn = quote(" policy=" + sanitize(p.Name))[1:]
			b.qnames[p.Name] = qn
		}
		rules = append(rules,
			newRuleQ(base+qn).jump(b.policyChain(ep.PolicyDir, p, dir, f)),
			allow(newRuleQ(qc).match(markMatch(markAllow)...)))
	}
	return append(rules, newRule(comment+" no rule matched").jump("DROP"))
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
	for _, f := range families {
		var eps []string
		for _, ep := range hostEps {
			for _, a := range addrsOf(ep, f) {
				eps = append(eps, a.String())
			}
			b.endpointChains(ep, f)
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
		c.fromDispatch(st, f, hostEps)
		c.toDispatch(st, f, hostEps)
		st.Hooks = append(st.Hooks, dataplane.Hook{Table: dataplane.Filter, Family: f, Chain: "FORWARD", Rule: newRule(cm).jump(chainForward)})
	}
	return nil
}

// fromDispatch finds the egress chain by the bridge port a packet came in
// on: a first level by the port name's first five characters, then the
// exact name.
func (c *compiler) fromDispatch(st *dataplane.State, f dataplane.Family, eps []*Endpoint) {
	buckets := map[string][]*Endpoint{}
	for _, ep := range eps {
		p := ep.HostIface
		if len(p) > 5 {
			p = p[:5]
		}
		buckets[p] = append(buckets[p], ep)
	}
	var top []string
	for _, p := range sortedKeys(buckets) {
		name := fromBucketChain(p)
		var rules []string
		for _, ep := range buckets[p] {
			rules = append(rules, newRule(epComment(ep)).match("-m physdev --physdev-in "+ep.HostIface).goTo(egressChain(ep)))
		}
		addChain(st, f, name, rules)
		match := "-m physdev --physdev-in " + p
		if len(p) < len(buckets[p][0].HostIface) || len(buckets[p]) > 1 {
			match += "+"
		}
		top = append(top, newRule("weir: ports "+p).match(match).goTo(name))
	}
	addChain(st, f, chainFrom, top)
}

// toDispatch finds the ingress chain by destination address: a first level
// by /24 (IPv4) or /120 (IPv6), then the exact address.
func (c *compiler) toDispatch(st *dataplane.State, f dataplane.Family, eps []*Endpoint) {
	bits := 24
	if f == dataplane.IPv6 {
		bits = 120
	}
	type target struct {
		addr netip.Addr
		ep   *Endpoint
	}
	buckets := map[string][]target{}
	for _, ep := range eps {
		for _, a := range addrsOf(ep, f) {
			p := netip.PrefixFrom(a, bits).Masked().String()
			buckets[p] = append(buckets[p], target{a, ep})
		}
	}
	var top []string
	for _, p := range sortedKeys(buckets) {
		ts := buckets[p]
		sort.Slice(ts, func(i, j int) bool { return ts[i].addr.Less(ts[j].addr) })
		name := toBucketChain(p)
		var rules []string
		for _, t := range ts {
			rules = append(rules, newRule(epComment(t.ep)).dst(hostPrefix(t.addr)).goTo(ingressChain(t.ep)))
		}
		addChain(st, f, name, rules)
		top = append(top, newRule("weir: addresses "+p).dst(p).goTo(name))
	}
	addChain(st, f, chainTo, top)
}

// netns generates the state of a NetNS-mode endpoint's own namespace.
func (c *compiler) netns(ep *Endpoint) error {
	st := dataplane.NewState()
	b := c.newBuilder(&st)
	cm := epComment(ep)
	for _, f := range families {
		b.endpointChains(ep, f)
		addChain(&st, f, chainEgressOK, []string{newRule("weir: egress allowed").jump("MARK", "--set-xmark", markEgressOK+"/"+markEgressOK)})
		addChain(&st, f, chainInput, []string{
			newRule(cm).match("-m conntrack --ctstate RELATED,ESTABLISHED").jump("ACCEPT"),
			newRule(cm).match("-m conntrack --ctstate INVALID").jump("DROP"),
			newRule(cm).in(ep.IfName).goTo(ingressChain(ep)),
		})
		addChain(&st, f, chainOutput, []string{
			newRule(cm).match("-m conntrack --ctstate RELATED,ESTABLISHED").jump("ACCEPT"),
			newRule(cm).match("-m conntrack --ctstate INVALID").jump("DROP"),
			newRule(cm).out(ep.IfName).goTo(egressChain(ep)),
		})
		st.Hooks = append(st.Hooks,
			dataplane.Hook{Table: dataplane.Filter, Family: f, Chain: "INPUT", Rule: newRule("weir: policy dispatch").jump(chainInput)},
			dataplane.Hook{Table: dataplane.Filter, Family: f, Chain: "OUTPUT", Rule: newRule("weir: policy dispatch").jump(chainOutput)},
		)
	}
	c.out.NetNS[ep.NetNS] = st
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
