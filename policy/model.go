package policy

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"

	"github.com/weirnet/weir/policy/selector"
)

// Action is what a rule does to the traffic it matches.
type Action string

// The actions. Log records the match and goes on to the next rule.
const (
	Allow Action = "allow"
	Deny  Action = "deny"
	Log   Action = "log"
)

// ParseAction parses "allow", "deny" or "log".
func ParseAction(s string) (Action, error) {
	switch a := Action(s); a {
	case Allow, Deny, Log:
		return a, nil
	}
	return "", fmt.Errorf("%q is not an action (allow, deny or log)", s)
}

// Protocol is the IP protocol a rule matches.
type Protocol string

// The protocols. Any, the default, matches every protocol.
const (
	TCP  Protocol = "tcp"
	UDP  Protocol = "udp"
	ICMP Protocol = "icmp"
	Any  Protocol = "any"
)

// ParseProtocol parses "tcp", "udp", "icmp" or "any"; "" is Any.
func ParseProtocol(s string) (Protocol, error) {
	switch p := Protocol(s); p {
	case TCP, UDP, ICMP, Any:
		return p, nil
	case "":
		return Any, nil
	}
	return "", fmt.Errorf("%q is not a protocol (tcp, udp, icmp or any)", s)
}

// HasPorts reports whether the protocol has ports: tcp and udp do.
func (p Protocol) HasPorts() bool { return p == TCP || p == UDP }

// Direction is the way traffic flows relative to a selected container.
type Direction string

// The directions: ingress is traffic to the container, egress traffic from
// it.
const (
	Ingress Direction = "ingress"
	Egress  Direction = "egress"
)

// ParseDirection parses "ingress" or "egress".
func ParseDirection(s string) (Direction, error) {
	switch d := Direction(s); d {
	case Ingress, Egress:
		return d, nil
	}
	return "", fmt.Errorf("%q is not a direction (ingress or egress)", s)
}

// PortRange is an inclusive range of destination ports, 1-65535. A
// single port has From == To.
type PortRange struct {
	From, To int
}

// Contains reports whether port is in the range.
func (r PortRange) Contains(port int) bool { return port >= r.From && port <= r.To }

func (r PortRange) String() string {
	if r.From == r.To {
		return fmt.Sprint(r.From)
	}
	return fmt.Sprintf("%d-%d", r.From, r.To)
}

// Peer is the other end of a rule's traffic: the sender for an ingress
// rule ("from"), the receiver for an egress rule ("to"). Every part that
// is set must match; the zero Peer matches anything.
type Peer struct {
	// Selector, when not nil, matches the labels of the peer, which must
	// then be a known endpoint (all() matches every endpoint but no
	// outside address).
	Selector selector.Selector
	// Nets, when not empty, must contain the peer's address.
	Nets []netip.Prefix
	// NotNets must not contain the peer's address.
	NotNets []netip.Prefix
}

// IsZero reports whether the peer matches anything.
func (p Peer) IsZero() bool {
	return p.Selector == nil && len(p.Nets) == 0 && len(p.NotNets) == 0
}

// Rule is one ingress or egress rule of a policy.
type Rule struct {
	Action   Action
	Protocol Protocol    // Any when the file gives none
	Ports    []PortRange // destination ports; empty means all; only for TCP and UDP
	Peer     Peer
	Line     int // line of the rule in its file, 0 when unknown
}

// Policy is one policy table of a policy file.
type Policy struct {
	Name     string
	Order    float64 // lower goes first; 0 when the file gives none
	Selector selector.Selector
	Ingress  []Rule
	Egress   []Rule
	// Types lists directions the policy selects even without rules for
	// them, which denies all new traffic in that direction.
	Types []Direction
	File  string // the file the policy came from
	Line  int    // line of its [[policy]] header, 0 when unknown
}

// Rules returns the policy's rules for a direction.
func (p *Policy) Rules(d Direction) []Rule {
	if d == Ingress {
		return p.Ingress
	}
	return p.Egress
}

// Applies reports whether the policy selects its containers in a
// direction: it has rules for it or lists it in Types.
func (p *Policy) Applies(d Direction) bool {
	return len(p.Rules(d)) > 0 || slices.Contains(p.Types, d)
}

// Matches reports whether the policy's selector matches a set of labels.
// A nil selector matches everything.
func (p *Policy) Matches(labels map[string]string) bool {
	return p.Selector == nil || p.Selector.Matches(labels)
}

// Set is a loaded set of policies in evaluation order: by Order, then by
// Name.
type Set struct {
	Policies []*Policy
}

// NewSet returns a Set of the policies, sorted into evaluation order.
func NewSet(policies ...*Policy) *Set {
	s := &Set{Policies: slices.Clone(policies)}
	s.sort()
	return s
}

func (s *Set) sort() {
	slices.SortStableFunc(s.Policies, func(a, b *Policy) int {
		return cmp.Or(cmp.Compare(a.Order, b.Order), cmp.Compare(a.Name, b.Name))
	})
}

// Len returns the number of policies; a nil Set has none.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.Policies)
}

// Endpoint is a container's interface on a network, as policy sees it.
type Endpoint struct {
	ID      string // container id
	IfName  string
	Network string
	IPs     []netip.Addr
	Labels  map[string]string
}

// Packet is the first packet of a new connection, as rules see it.
type Packet struct {
	Protocol Protocol // TCP, UDP or ICMP
	Port     int      // destination port; 0 for ICMP or when unknown
}
