package policy

import (
	"net/netip"
	"slices"
)

// PeerInfo is what a rule can know about the other end of the traffic.
type PeerInfo struct {
	// Labels of the peer when it is a known endpoint, nil when it is not.
	// A known endpoint without labels has an empty, non-nil map.
	Labels map[string]string
	// IP is the peer's address; the zero Addr when unknown.
	IP netip.Addr
}

// Decision is the outcome of one direction of the policy check.
type Decision struct {
	Direction Direction
	Action    Action // Allow or Deny
	// Policy and RuleIndex name the rule that decided, with RuleIndex
	// counting the policy's rules for Direction from 0. When no rule
	// decided, Policy is "" and RuleIndex is -1.
	Policy    string
	RuleIndex int
	// Selected reports whether any policy selected the endpoint in this
	// direction; when none did, Action is the default action.
	Selected bool
	// SelectedBy lists the policies that selected the endpoint, in
	// evaluation order, up to the one that decided.
	SelectedBy []string
	// Logged lists the policies whose log rules matched before the
	// decision, in order, each once.
	Logged []string
}

// Matches reports whether the peer matches: its selector (which only
// known endpoints can match), nets and not_nets must all agree. A peer
// with nets or not_nets never matches an unknown address.
func (p Peer) Matches(q PeerInfo) bool {
	if p.Selector != nil && (q.Labels == nil || !p.Selector.Matches(q.Labels)) {
		return false
	}
	if len(p.Nets) == 0 && len(p.NotNets) == 0 {
		return true
	}
	if !q.IP.IsValid() {
		return false
	}
	ip := q.IP.Unmap().WithZone("")
	if len(p.Nets) > 0 && !inAny(p.Nets, ip) {
		return false
	}
	return !inAny(p.NotNets, ip)
}

func inAny(nets []netip.Prefix, ip netip.Addr) bool {
	return slices.ContainsFunc(nets, func(n netip.Prefix) bool { return n.Contains(ip) })
}

// Matches reports whether the rule matches a packet to or from a peer,
// whatever its action. A rule with ports never matches a packet whose
// port is 0 (unknown, or ICMP).
func (r *Rule) Matches(peer PeerInfo, pkt Packet) bool {
	if r.Protocol != Any && r.Protocol != "" && r.Protocol != pkt.Protocol {
		return false
	}
	if len(r.Ports) > 0 && !slices.ContainsFunc(r.Ports, func(pr PortRange) bool { return pr.Contains(pkt.Port) }) {
		return false
	}
	return r.Peer.Matches(peer)
}

// Selecting returns the policies, in evaluation order, that select an
// endpoint with these labels in a direction.
func (s *Set) Selecting(labels map[string]string, dir Direction) []*Policy {
	var ps []*Policy
	for _, p := range s.policies() {
		if p.Applies(dir) && p.Matches(labels) {
			ps = append(ps, p)
		}
	}
	return ps
}

// Verdict decides a new connection in one direction of an endpoint:
// for Ingress, traffic from peer to ep; for Egress, from ep to peer. The
// packet's port is the destination port either way.
//
// When no policy selects ep in dir the result is defaultAction: "" means
// Allow, and anything but Allow or Deny is taken as Deny. Otherwise the
// selecting policies' rules for dir are tried in order; the first allow
// or deny rule that matches decides, a log rule that matches is noted in
// Logged, and when no rule decides the traffic is denied.
//
// Verdict assumes the Set is in evaluation order, as LoadDir and NewSet
// leave it. A nil Set selects nothing.
func (s *Set) Verdict(dir Direction, ep Endpoint, peer PeerInfo, pkt Packet, defaultAction Action) Decision {
	d := Decision{Direction: dir, RuleIndex: -1}
	for _, p := range s.Selecting(ep.Labels, dir) {
		d.Selected = true
		d.SelectedBy = append(d.SelectedBy, p.Name)
		for i := range p.Rules(dir) {
			r := &p.Rules(dir)[i]
			if !r.Matches(peer, pkt) {
				continue
			}
			if r.Action == Log {
				if !slices.Contains(d.Logged, p.Name) {
					d.Logged = append(d.Logged, p.Name)
				}
				continue
			}
			d.Action, d.Policy, d.RuleIndex = r.Action, p.Name, i
			if d.Action != Allow {
				d.Action = Deny
			}
			return d
		}
	}
	if d.Selected {
		d.Action = Deny
		return d
	}
	d.Action = Deny
	if defaultAction == Allow || defaultAction == "" {
		d.Action = Allow
	}
	return d
}

func (s *Set) policies() []*Policy {
	if s == nil {
		return nil
	}
	return s.Policies
}
