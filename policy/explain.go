package policy

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
)

// Explanation is the policy check of a new connection between two
// endpoints: the sender's egress and the receiver's ingress.
type Explanation struct {
	From, To Endpoint
	Packet   Packet
	// FromIP and ToIP are the addresses the check used (zero when the
	// endpoint has none): the first pair of the same family.
	FromIP, ToIP netip.Addr
	// FromOutside and ToOutside mark ends that are not weir endpoints
	// (no ID and nil Labels): no policy applies to their side.
	FromOutside, ToOutside bool

	Egress  Decision // of From; Allow when From is outside
	Ingress Decision // of To; Allow when To is outside
	Allowed bool     // both directions allow
}

// Explain checks a new connection from one endpoint to another. An
// Endpoint with neither ID nor Labels stands for an address outside weir:
// only the other end's policy applies, and peer selectors do not match
// it. Every other Endpoint is a container, with no labels if Labels is
// nil.
func (s *Set) Explain(from, to Endpoint, pkt Packet, defaultAction Action) Explanation {
	e := Explanation{
		From:        from,
		To:          to,
		Packet:      pkt,
		FromOutside: outside(from),
		ToOutside:   outside(to),
	}
	e.FromIP, e.ToIP = addrPair(from.IPs, to.IPs)
	e.Egress = Decision{Direction: Egress, Action: Allow, RuleIndex: -1}
	if !e.FromOutside {
		e.Egress = s.Verdict(Egress, from, peerInfo(to, e.ToOutside, e.ToIP), pkt, defaultAction)
	}
	e.Ingress = Decision{Direction: Ingress, Action: Allow, RuleIndex: -1}
	if !e.ToOutside {
		e.Ingress = s.Verdict(Ingress, to, peerInfo(from, e.FromOutside, e.FromIP), pkt, defaultAction)
	}
	e.Allowed = e.Egress.Action == Allow && e.Ingress.Action == Allow
	return e
}

func outside(ep Endpoint) bool { return ep.ID == "" && ep.Labels == nil }

func peerInfo(ep Endpoint, outside bool, ip netip.Addr) PeerInfo {
	info := PeerInfo{IP: ip}
	if !outside {
		info.Labels = ep.Labels
		if info.Labels == nil {
			info.Labels = map[string]string{}
		}
	}
	return info
}

// addrPair picks the addresses of a connection: the first source address
// for which the destination has one of the same family, else the first of
// each.
func addrPair(from, to []netip.Addr) (netip.Addr, netip.Addr) {
	for _, f := range from {
		for _, t := range to {
			if f.Unmap().Is4() == t.Unmap().Is4() {
				return f, t
			}
		}
	}
	var f, t netip.Addr
	if len(from) > 0 {
		f = from[0]
	}
	if len(to) > 0 {
		t = to[0]
	}
	return f, t
}

// String reads like
//
//	denied: egress of app=web allowed by policy "web-out" rule egress[0]; ingress of app=db denied: selected by policy "db-accepts-web", no rule matched
func (e Explanation) String() string {
	verdict := "denied"
	if e.Allowed {
		verdict = "allowed"
	}
	return fmt.Sprintf("%s: egress of %s %s; ingress of %s %s", verdict,
		describe(e.From, e.FromIP), e.side(e.Egress, e.FromOutside),
		describe(e.To, e.ToIP), e.side(e.Ingress, e.ToOutside))
}

func (e Explanation) side(d Decision, outside bool) string {
	if outside {
		return "not checked: not a weir endpoint"
	}
	return d.String()
}

// String describes a decision without naming the endpoint, as in
// `allowed by policy "web-out" rule egress[0]`.
func (d Decision) String() string {
	verb := "denied"
	if d.Action == Allow {
		verb = "allowed"
	}
	var s string
	switch {
	case d.RuleIndex >= 0:
		s = fmt.Sprintf("%s by policy %q rule %s[%d]", verb, d.Policy, d.Direction, d.RuleIndex)
	case d.Selected:
		s = fmt.Sprintf("%s: selected by %s, no rule matched", verb, quoteNames("policy", "policies", d.SelectedBy))
	default:
		s = fmt.Sprintf("%s: no policy selects it (default %s)", verb, d.Action)
	}
	if len(d.Logged) > 0 {
		s += fmt.Sprintf(" (logged by %s)", quoteNames("policy", "policies", d.Logged))
	}
	return s
}

func quoteNames(one, many string, names []string) string {
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = fmt.Sprintf("%q", n)
	}
	if len(names) == 1 {
		return one + " " + quoted[0]
	}
	return many + " " + strings.Join(quoted, ", ")
}

// describe names an endpoint by its labels (k=v,...), else its id, else
// its address.
func describe(ep Endpoint, ip netip.Addr) string {
	if len(ep.Labels) > 0 {
		keys := slices.Sorted(maps.Keys(ep.Labels))
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + "=" + ep.Labels[k]
		}
		return strings.Join(parts, ",")
	}
	if ep.ID != "" {
		return "container " + ep.ID
	}
	if ip.IsValid() {
		return ip.String()
	}
	return "an unknown address"
}
