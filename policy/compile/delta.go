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
// class appearing or disappearing, no port bucket appearing or emptying.
// Then Compile's output differs from the last one only in the endpoint's
// port bucket (its guards) and in the endpoint's addresses as members of
// sets — on the host, and of peer sets in each in-namespace endpoint's
// namespace — so a writer can apply just that (dataplane.Writer.Patch),
// and what it writes equals what diffing two full compilations would.
//
// Whether classes and buckets exist is the writer's to check, against
// what the kernel holds: Required sets and Chains must exist, and on
// detach Required sets must keep members.
type Delta struct {
	// Chains are the endpoint's port bucket chains, one per family, with
	// all their rules after the change.
	Chains []dataplane.Chain
	// Required are the sets the endpoint's addresses join or leave: its
	// classes' and the endpoints sets (their chains exist when they do).
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
	var bucket []Endpoint
	for _, o := range eps {
		if Key(o.Network, o.ID, o.IfName) == key {
			continue
		}
		for _, a := range o.IPs {
			if slices.ContainsFunc(ep.IPs, func(b netip.Addr) bool { return b.Unmap() == a.Unmap() }) {
				return nil
			}
		}
		if o.Mode == Host && bucketPrefix(o.HostIface) == prefix {
			bucket = append(bucket, o)
		}
	}
	if len(bucket) == 0 {
		return nil // the bucket is new, or goes
	}
	if attach {
		bucket = append(bucket, ep)
	}
	c.eps = sortEndpoints(bucket)
	d := &Delta{Required: map[string][]string{}, Optional: map[string][]string{}}
	st := dataplane.NewState()
	b := c.newBuilder(&st)
	self := &ep
	for i := range c.eps {
		if c.eps[i].ID == ep.ID && c.eps[i].Network == ep.Network && c.eps[i].IfName == ep.IfName {
			self = &c.eps[i]
		}
	}
	self.key = hash16(ep.Network, ep.ID, ep.IfName)
	for _, f := range families {
		var rules []string
		for i := range c.eps {
			rules = append(rules, b.guard(&c.eps[i], f)...)
		}
		d.Chains = append(d.Chains, dataplane.Chain{Table: dataplane.Filter, Family: f, Name: fromBucketChain(prefix), Rules: rules})
		addrs := addrsOf(self, f)
		if len(addrs) > 1 {
			return nil // an address set of its own comes or goes
		}
		if len(addrs) == 0 {
			continue
		}
		m := []string{addrs[0].String()}
		for _, dir := range []policy.Direction{policy.Egress, policy.Ingress} {
			h := hash16(classKey(self, dir, c.policiesFor(self, dir)))
			if dir == policy.Egress {
				d.Required[egressClassSet(h, f)] = m
				d.Classes = append(d.Classes, dataplane.ChainKey(dataplane.Filter, f, egressClassChain(h)))
			} else {
				d.Required[ingressClassSet(h, f)] = m
				d.Classes = append(d.Classes, dataplane.ChainKey(dataplane.Filter, f, ingressClassChain(h)))
			}
		}
		d.Required[endpointsSet(f)] = m
		for _, set := range pols {
			for _, p := range set.Policies {
				for _, dir := range []policy.Direction{policy.Egress, policy.Ingress} {
					for _, r := range p.Rules(dir) {
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
