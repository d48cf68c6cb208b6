// Package compile turns weir's policies and the endpoints on this host into
// the dataplane state that enforces them: ipsets for peers, one chain pair
// per policy (shared by every endpoint it selects), one chain pair per
// endpoint, and a dispatch that finds an endpoint's chains through a
// two-level tree instead of scanning every endpoint.
//
// Host-side enforcement (an endpoint behind a veth on a bridge) lives in the
// host's filter table, hooked from FORWARD:
//
//	FORWARD -> WEIR-FORWARD
//	  replies (ESTABLISHED,RELATED) to or from an endpoint -> ACCEPT
//	  INVALID to or from an endpoint -> DROP
//	  bridged in from a veth -> WEIR-FROM -> WEIR-FROM-<bucket> -> WEIR-EG-<ep>
//	      anti-spoofing, then the egress verdict: DROP, or RETURN marked egress-ok
//	  to an endpoint's address -> WEIR-TO -> WEIR-TO-<prefix> -> WEIR-IN-<ep>
//	      the ingress verdict: ACCEPT or DROP
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
// the same endpoint and policy chains.
//
// Inside an endpoint's chain the policies selecting it run in order, each
// its own chain; an allow rule sets the policy-allow mark and the endpoint
// chain returns on it, a deny rule drops, a log rule logs and goes on; no
// match is a drop. An endpoint no policy selects in a direction gets the
// network's default action. The semantics are policy.Set.Verdict's: tests
// compare the two with real packets.
package compile
