package compile

import (
	"net/netip"
	"sort"
	"strings"

	"github.com/weirnet/weir/policy"
	"github.com/weirnet/weir/policy/dataplane"
)

// The host enforces policy per class, not per endpoint. An endpoint's
// verdict in one direction depends only on its policy directory, the
// policies selecting it there (in order) and its default action; endpoints
// alike in that share a class, and a class has one verdict chain
// (WEIR-EC-/WEIR-IC-<class>), generated once however many endpoints use
// it. What stays per endpoint is its dispatch: the port guard binding its
// addresses to its bridge port (anti-spoofing), a goto from its port to
// its egress class, and a goto from each of its addresses to its ingress
// class, in buckets so a packet walks a short chain:
//
//	WEIR-FROM       --physdev-in vetha+                 -g WEIR-FROM-<bucket>
//	WEIR-FROM-<b>   --physdev-in <port> ! -s <address>  DROP (spoofed)
//	                --physdev-in <port>                 -g WEIR-EC-<class>
//	WEIR-TO         -d 10.1.2.0/24                      -g WEIR-TO-<bucket>
//	WEIR-TO-<b>     -d <address>                        -g WEIR-IC-<class>
//
// So the host holds three rules per IPv4 endpoint (one or two for IPv6),
// however many policies select it, and attaching or detaching an endpoint
// changes its own dispatch rules and its addresses in sets, nothing else
// unless its class or a bucket is new or left empty. (Dispatching by class
// set membership instead was tried: an ipset match per class on every new
// connection cost more than the bucket walk — new connections 0.81 of the
// unfiltered rate against 0.96 — and ipset's bridge-port entries are never
// matched from iptables on this path.)

// class is one direction's class: its name (a hash of what its verdict is
// generated from) and what its chain needs.
type class struct {
	hash     string
	dir      policy.Direction
	ep       *Endpoint // the first member: policy directory, default action
	pols     []*policy.Policy
	chainGen bool // a member has an address of the family at hand
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

// classHash names ep's class in direction dir.
func (c *compiler) classHash(ep *Endpoint, dir policy.Direction) string {
	return hash16(classKey(ep, dir, c.policiesFor(ep, dir)))
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
	egress := make(map[*Endpoint]string, len(hostEps))
	ingress := make(map[*Endpoint]string, len(hostEps))
	byEp := make(map[*Endpoint][2]*class, len(hostEps))
	for _, ep := range hostEps {
		e, i := classOf(ep, policy.Egress), classOf(ep, policy.Ingress)
		egress[ep], ingress[ep], byEp[ep] = e.hash, i.hash, [2]*class{e, i}
	}
	for _, f := range families {
		for _, cl := range order {
			cl.chainGen = false
		}
		eps := make([]string, 0, len(hostEps))
		for _, ep := range hostEps {
			for _, a := range addrsOf(ep, f) {
				eps = append(eps, a.String())
				byEp[ep][0].chainGen, byEp[ep][1].chainGen = true, true
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
		for _, cl := range order {
			if !cl.chainGen {
				continue // no member has an address of this family
			}
			comment := "weir: " + dirName(cl.dir) + " class"
			if cl.dir == policy.Egress {
				addChain(st, f, egressClassChain(cl.hash),
					b.verdictOf(cl.ep.PolicyDir, cl.pols, cl.ep.DefaultAction, comment, policy.Egress, f, "-g", chainEgressOK))
			} else {
				addChain(st, f, ingressClassChain(cl.hash),
					b.verdictOf(cl.ep.PolicyDir, cl.pols, cl.ep.DefaultAction, comment, policy.Ingress, f, "-j", "ACCEPT"))
			}
		}
		fromDispatch(b, f, hostEps, egress)
		toDispatch(b.st, f, hostEps, ingress)
		st.Hooks = append(st.Hooks, dataplane.Hook{Table: dataplane.Filter, Family: f, Chain: "FORWARD", Rule: newRule(cm).jump(chainForward)})
	}
	return nil
}

// fromDispatch generates WEIR-FROM and its buckets, a bucket per port-name
// prefix: each endpoint's guard and egress (egress: the endpoints' egress
// class hashes).
func fromDispatch(b *builder, f dataplane.Family, eps []*Endpoint, egress map[*Endpoint]string) {
	buckets := map[string][]*Endpoint{}
	for _, ep := range eps {
		p := bucketPrefix(ep.HostIface)
		buckets[p] = append(buckets[p], ep)
	}
	var top []string
	for _, p := range sortedKeys(buckets) {
		var rules []string
		for _, ep := range buckets[p] {
			rules = append(rules, b.fromRules(ep, f, egress[ep])...)
		}
		addChain(b.st, f, fromBucketChain(p), rules)
		top = append(top, newRule("weir: ports "+p).match(fromBucketMatch(p, buckets[p])).goTo(fromBucketChain(p)))
	}
	addChain(b.st, f, chainFrom, top)
}

// fromBucketMatch matches the ports of a bucket.
func fromBucketMatch(p string, eps []*Endpoint) string {
	m := "-m physdev --physdev-in " + p
	if len(p) < len(eps[0].HostIface) || len(eps) > 1 {
		m += "+"
	}
	return m
}

// fromRules are ep's rules in its port's bucket for family f: what its
// port sends with a source not its own is dropped (everything, when it has
// no address of the family; IPv6 neighbour discovery from link-local
// sources passes, unmarked), the rest goes to its egress class.
func (b *builder) fromRules(ep *Endpoint, f dataplane.Family, egress string) []string {
	comment := epComment(ep)
	port := "-m physdev --physdev-in " + ep.HostIface
	addrs := addrsOf(ep, f)
	if len(addrs) == 0 {
		return []string{newRule(comment + " no address").match(port).jump("DROP")}
	}
	var out []string
	if f == dataplane.IPv6 {
		out = append(out, newRule(comment+" neighbour discovery").src("fe80::/10").proto("ipv6-icmp").match(port).jump("RETURN"))
	}
	if len(addrs) == 1 {
		out = append(out, newRule(comment+" spoofed").notSrc(hostPrefix(addrs[0])).match(port).jump("DROP"))
	} else {
		set := addrSet(ep, f)
		m := make([]string, 0, len(addrs))
		for _, a := range addrs {
			m = append(m, a.String())
		}
		addSet(b.st, set, "hash:ip", f, m)
		out = append(out, newRule(comment+" spoofed").match(port, setMatch(set, "src", true)).jump("DROP"))
	}
	return append(out, newRule(comment+" egress").match(port).goTo(egressClassChain(egress)))
}

// toDispatch generates WEIR-TO and its buckets, a bucket per /24 (IPv4) or
// /120 (IPv6): each address's goto to its endpoint's ingress class
// (ingress: the endpoints' ingress class hashes).
func toDispatch(st *dataplane.State, f dataplane.Family, eps []*Endpoint, ingress map[*Endpoint]string) {
	buckets := map[string][]target{}
	for _, ep := range eps {
		for _, a := range addrsOf(ep, f) {
			p := toBucketPrefix(a)
			buckets[p] = append(buckets[p], target{a, ep})
		}
	}
	var top []string
	for _, p := range sortedKeys(buckets) {
		addChain(st, f, toBucketChain(p), toRules(buckets[p], ingress))
		top = append(top, newRule("weir: addresses "+p).dst(p).goTo(toBucketChain(p)))
	}
	addChain(st, f, chainTo, top)
}

// target is an address of an endpoint.
type target struct {
	addr netip.Addr
	ep   *Endpoint
}

// toRules are a bucket's rules, by address.
func toRules(ts []target, ingress map[*Endpoint]string) []string {
	sort.Slice(ts, func(i, j int) bool { return ts[i].addr.Less(ts[j].addr) })
	rules := make([]string, 0, len(ts))
	for _, t := range ts {
		rules = append(rules, newRule(epComment(t.ep)+" ingress").dst(hostPrefix(t.addr)).goTo(ingressClassChain(ingress[t.ep])))
	}
	return rules
}

// toBucketPrefix is the prefix of a's ingress bucket.
func toBucketPrefix(a netip.Addr) string {
	bits := 24
	if !a.Is4() {
		bits = 120
	}
	return netip.PrefixFrom(a, bits).Masked().String()
}
