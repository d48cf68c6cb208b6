// Package compile turns weir's policies and the endpoints on this host into
// the dataplane state that enforces them: ipsets for peers, one chain pair
// per policy (shared by every endpoint it selects), and on the host one
// chain and one ipset per class of endpoints (see classes.go), so that the
// host's rules do not grow with the endpoints' policies.
//
// Host-side enforcement (an endpoint behind a veth on a bridge) lives in the
// host's filter table, hooked from FORWARD:
//
//	FORWARD -> WEIR-FORWARD
//	  replies (ESTABLISHED,RELATED) to or from an endpoint -> ACCEPT
//	  INVALID to or from an endpoint -> DROP
//	  bridged in from a veth -> WEIR-FROM
//	      -> WEIR-FROM-<bucket>: the port guards (anti-spoofing: DROP what a
//	         port sends with a source not its endpoint's)
//	      source in an egress class's set -> WEIR-EC-<class>
//	         the egress verdict: DROP, or RETURN marked egress-ok
//	  to an endpoint's address -> WEIR-TO
//	      destination in an ingress class's set -> WEIR-IC-<class>
//	         the ingress verdict: ACCEPT or DROP
//	  egress-ok (to a non-endpoint) -> ACCEPT
//
// Traffic between the agent host itself and its host-side endpoints (the
// host's own addresses: INPUT and OUTPUT, not FORWARD) is not subject to
// policy, as with Kubernetes' node-to-pod traffic and Calico's default:
// the agent's health checks and the gateway's services stay reachable.
// Explain's "outside address" is any other host's.
//
// In-namespace enforcement (macvlan: host iptables never sees the traffic)
// lives in the container's own namespace, hooked from INPUT and OUTPUT, with
// the endpoint's own egress and ingress chains (anti-spoofing first in the
// egress one) jumping to the same policy chains.
//
// Inside a class's (or an in-namespace endpoint's) chain the policies
// selecting it run in order, each its own chain; an allow rule sets the
// policy-allow mark and the chain returns on it, a deny rule drops, a log
// rule logs and goes on; no match is a drop. An endpoint no policy selects
// in a direction gets the network's default action. The semantics are
// policy.Set.Verdict's: tests compare the two with real packets.
package compile
