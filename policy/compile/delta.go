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
	// per family), with all their rules after the change; Before has each
	// one's rules before it.
	Chains []dataplane.Chain
	Before [][]string
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
	// Only what the change touches is computed: at a thousand endpoints,
	// keys and classes of all of them would cost more than the patch.
	c.eps = all // a slice of its own
	var self *Endpoint
	for i := range c.eps {
		if c.eps[i].ID == ep.ID && c.eps[i].Network == ep.Network && c.eps[i].IfName == ep.IfName {
			self = &c.eps[i]
		}
	}
	if self == nil { // detaching: not among them
		self = &ep
	}
	var bucket []*Endpoint // its port bucket, after the change, in key order
	for i := range c.eps {
		if bucketPrefix(c.eps[i].HostIface) == prefix {
			c.eps[i].key = hash16(c.eps[i].Network, c.eps[i].ID, c.eps[i].IfName)
			bucket = append(bucket, &c.eps[i])
		}
	}
	slices.SortFunc(bucket, func(a, b *Endpoint) int { return strings.Compare(a.key, b.key) })
	self.key = hash16(ep.Network, ep.ID, ep.IfName)
	type classes map[*Endpoint]string
	lazy := func(dir policy.Direction) func(*Endpoint) string {
		m := classes{}
		return func(o *Endpoint) string {
			h, ok := m[o]
			if !ok {
				h = c.classHash(o, dir)
				m[o] = h
			}
			return h
		}
	}
	egressOf, ingressOf := lazy(policy.Egress), lazy(policy.Ingress)
	// The bucket must exist before and after, under the same top rule.
	withSelf := bucket
	if !attach {
		withSelf = append(slices.Clip(bucket), self)
		slices.SortFunc(withSelf, func(a, b *Endpoint) int { return strings.Compare(a.key, b.key) })
	}
	without := slices.DeleteFunc(slices.Clone(withSelf), func(o *Endpoint) bool { return o == self })
	if len(without) == 0 || fromBucketMatch(prefix, withSelf) != fromBucketMatch(prefix, without) {
		return nil
	}
	egress, ingress := classes{}, classes{}
	for _, o := range append(slices.Clip(bucket), self) {
		egress[o] = egressOf(o)
	}
	ingress[self] = ingressOf(self)
	d := &Delta{Required: map[string][]string{}, Optional: map[string][]string{}}
	st := dataplane.NewState()
	b := c.newBuilder(&st)
	for _, f := range families {
		addrs := addrsOf(self, f)
		if len(addrs) > 1 {
			return nil // an address set of its own comes or goes
		}
		from := func(list []*Endpoint) []string {
			var rules []string
			for _, o := range list {
				rules = append(rules, b.fromRules(o, f, egress[o])...)
			}
			return rules
		}
		d.add(fromBucketChain(prefix), f, from(withSelf), from(without), attach)
		if len(addrs) == 0 {
			continue
		}
		a := addrs[0]
		p := toBucketPrefix(a)
		var ts []target
		bp := netip.MustParsePrefix(p)
		for i := range c.eps {
			for _, oa := range c.eps[i].IPs {
				if oa = oa.Unmap(); bp.Contains(oa) && &c.eps[i] != self {
					ts = append(ts, target{oa, &c.eps[i]})
					ingress[&c.eps[i]] = ingressOf(&c.eps[i])
				}
			}
		}
		if len(ts) == 0 {
			return nil // its address bucket is new, or goes
		}
		// Its classes must have another member with an address of the
		// family, or they come or go with it.
		shared := [2]bool{}
		for i := 0; i < len(c.eps) && !(shared[0] && shared[1]); i++ {
			o := &c.eps[i]
			if o == self || len(addrsOf(o, f)) == 0 {
				continue
			}
			shared[0] = shared[0] || egressOf(o) == egress[self]
			shared[1] = shared[1] || ingressOf(o) == ingress[self]
		}
		if !shared[0] || !shared[1] {
			return nil
		}
		d.add(toBucketChain(p), f, toRules(append(slices.Clone(ts), target{a, self}), ingress), toRules(ts, ingress), attach)
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

// add adds a chain given its rules with the endpoint and without it.
func (d *Delta) add(name string, f dataplane.Family, with, without []string, attach bool) {
	after, before := with, without
	if !attach {
		after, before = without, with
	}
	d.Chains = append(d.Chains, dataplane.Chain{Table: dataplane.Filter, Family: f, Name: name, Rules: after})
	d.Before = append(d.Before, before)
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
