package compile

import (
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

// verdict renders the policy evaluation of one direction of ep's own
// chain (an in-namespace endpoint's): see verdictOf.
func (b *builder) verdict(ep *Endpoint, dir policy.Direction, f dataplane.Family, how, allowed string) []string {
	return b.verdictOf(ep.PolicyDir, b.c.policiesFor(ep, dir), ep.DefaultAction, epComment(ep), dir, f, how, allowed)
}

// verdictOf renders the policy evaluation of one direction under the
// policies pols of policyDir selecting it, in order: clear the allow mark,
// each policy's chain with an exit on allow, then a drop; or the default
// action when no policy selects it. Every rule carries comment.
func (b *builder) verdictOf(policyDir string, pols []*policy.Policy, def policy.Action, comment string, dir policy.Direction, f dataplane.Family, how, allowed string) []string {
	qc := quote(comment)
	allow := func(r *rule) string {
		if how == "-g" {
			return r.goTo(allowed)
		}
		return r.jump(allowed)
	}
	if len(pols) == 0 {
		if def == policy.Deny {
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
			newRuleQ(base+qn).jump(b.policyChain(policyDir, p, dir, f)),
			allow(newRuleQ(qc).match(markMatch(markAllow)...)))
	}
	return append(rules, newRule(comment+" no rule matched").jump("DROP"))
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
