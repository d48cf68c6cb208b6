package compile

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/weirnet/weir/policy"
	"github.com/weirnet/weir/policy/dataplane"
)

// Delta is what attaching or detaching one host endpoint changes in the
// host's compiled state when nothing else changes: the same policies, no
// class appearing or disappearing, no bucket appearing or emptying. Then
// Compile's output differs from the last one only in the endpoint's
// buckets (its dispatch rules) and in the endpoint's addresses as members
// of sets — on the host, and of peer sets in each in-namespace endpoint's
// namespace — so a writer can apply just that (dataplane.Writer.Patch),
// and what it writes equals what diffing two full compilations would.
//
// HostDelta checks what it can tell from the endpoints (another member of
// each of the endpoint's classes, another endpoint in each of its
// buckets); that the classes' chains, the buckets and the sets are in the
// kernel is the writer's to check against its cache: Required sets,
// Chains and Classes must exist, and on detach Required sets must keep
// members.
type Delta struct {
	// Chains are the endpoint's bucket chains (port and address buckets,
	// per family), with all their rules after the change.
	Chains []dataplane.Chain
	// Required are the sets the endpoint's addresses join or leave: the
	// endpoints sets.
	Required map[string][]string
	// Optional are the peer sets whose selectors match the endpoint: its
	// addresses join or leave those that exist (a peer set exists when a
	// policy chain that matches on it does).
	Optional map[string][]string
	// Classes are the endpoint's class chains (ChainKeys), which must
	// exist.
	Classes []string
}

// HostDelta returns the Delta of attaching ep (attach) or detaching it,
// given every endpoint under policy after the change (eps: ep included on
// attach, not on detach), or nil when the change is not that local: ep is
// not enforced on the host, another endpoint has one of ep's addresses, ep
// has more than one address of a family (its own address set), or its
// bucket is new or left empty. In-namespace endpoints' namespaces get the
// Optional part (their peer sets).
func HostDelta(pols map[string]*policy.Set, eps []Endpoint, ep Endpoint, attach bool) *Delta {
	c := &compiler{pols: pols, selecting: map[string][]*policy.Policy{}}
	if ep.Mode != Host || c.validate(&ep) != nil {
		return nil
	}
	key := Key(ep.Network, ep.ID, ep.IfName)
	prefix := bucketPrefix(ep.HostIface)
	var others []Endpoint // the other host endpoints
	for _, o := range eps {
		if Key(o.Network, o.ID, o.IfName) == key {
			continue
		}
		for _, a := range o.IPs {
			if slices.ContainsFunc(ep.IPs, func(b netip.Addr) bool { return b.Unmap() == a.Unmap() }) {
				return nil
			}
		}
		if o.Mode == Host {
			others = append(others, o)
		}
	}
	all := others
	if attach {
		all = append(slices.Clip(others), ep)
	}
	c.eps = sortEndpoints(all)
	var self *Endpoint
	for i := range c.eps {
		if c.eps[i].ID == ep.ID && c.eps[i].Network == ep.Network && c.eps[i].IfName == ep.IfName {
			self = &c.eps[i]
		}
	}
	if self == nil { // detaching: not among them
		self = &ep
		self.key = hash16(ep.Network, ep.ID, ep.IfName)
	}
	var bucket []*Endpoint // its port bucket, after the change
	hashes := func(dir policy.Direction) map[*Endpoint]string {
		m := map[*Endpoint]string{}
		for i := range c.eps {
			m[&c.eps[i]] = c.classHash(&c.eps[i], dir)
		}
		m[self] = c.classHash(self, dir)
		return m
	}
	for i := range c.eps {
		if bucketPrefix(c.eps[i].HostIface) == prefix {
			bucket = append(bucket, &c.eps[i])
		}
	}
	// The bucket must exist before and after, under the same top rule.
	withSelf := bucket
	if !attach {
		withSelf = append(slices.Clip(bucket), self)
	}
	without := slices.DeleteFunc(slices.Clone(withSelf), func(o *Endpoint) bool { return o == self })
	if len(without) == 0 || fromBucketMatch(prefix, withSelf) != fromBucketMatch(prefix, without) {
		return nil
	}
	egress, ingress := hashes(policy.Egress), hashes(policy.Ingress)
	d := &Delta{Required: map[string][]string{}, Optional: map[string][]string{}}
	st := dataplane.NewState()
	b := c.newBuilder(&st)
	for _, f := range families {
		addrs := addrsOf(self, f)
		if len(addrs) > 1 {
			return nil // an address set of its own comes or goes
		}
		var rules []string
		for _, o := range bucket {
			rules = append(rules, b.fromRules(o, f, egress[o])...)
		}
		d.Chains = append(d.Chains, dataplane.Chain{Table: dataplane.Filter, Family: f, Name: fromBucketChain(prefix), Rules: rules})
		if len(addrs) == 0 {
			continue
		}
		a := addrs[0]
		p := toBucketPrefix(a)
		var ts []target
		for i := range c.eps {
			for _, oa := range addrsOf(&c.eps[i], f) {
				if toBucketPrefix(oa) == p && &c.eps[i] != self {
					ts = append(ts, target{oa, &c.eps[i]})
				}
			}
		}
		if len(ts) == 0 {
			return nil // its address bucket is new, or goes
		}
		// Its classes must have another member with an address of the
		// family, or they come or go with it.
		shared := [2]bool{}
		for i := range c.eps {
			o := &c.eps[i]
			if o == self || len(addrsOf(o, f)) == 0 {
				continue
			}
			shared[0] = shared[0] || egress[o] == egress[self]
			shared[1] = shared[1] || ingress[o] == ingress[self]
		}
		if !shared[0] || !shared[1] {
			return nil
		}
		if attach {
			ts = append(ts, target{a, self})
		}
		d.Chains = append(d.Chains, dataplane.Chain{Table: dataplane.Filter, Family: f, Name: toBucketChain(p), Rules: toRules(ts, ingress)})
		d.Classes = append(d.Classes,
			dataplane.ChainKey(dataplane.Filter, f, egressClassChain(egress[self])),
			dataplane.ChainKey(dataplane.Filter, f, ingressClassChain(ingress[self])))
		m := []string{a.String()}
		d.Required[endpointsSet(f)] = m
		for _, set := range pols {
			for _, pol := range set.Policies {
				for _, dir := range []policy.Direction{policy.Egress, policy.Ingress} {
					for _, r := range pol.Rules(dir) {
						if r.Peer.Selector != nil && r.Peer.Selector.Matches(ep.Labels) {
							d.Optional[selectorSet(r.Peer.Selector.String(), f)] = m
						}
					}
				}
			}
		}
	}
	return d
}

// Key names an endpoint: network, container, interface (the policy
// engine's index key).
func Key(network, id, ifName string) string {
	return strings.Join([]string{network, id, ifName}, "/")
}

// bucketPrefix is the port-name prefix that picks a port's guard bucket.
func bucketPrefix(port string) string {
	if len(port) > 5 {
		return port[:5]
	}
	return port
}
