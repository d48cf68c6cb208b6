package compile

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/weirnet/weir/policy/dataplane"
)

// Marks weir uses in the packet mark. Two bits out of the way of
// Kubernetes (0x4000, 0x8000) and Calico (high bits).
const (
	markAllow    = "0x200000" // a policy rule allowed the packet in this direction
	markEgressOK = "0x400000" // the sender's egress allowed the packet
	markBoth     = "0x600000"
)

// Chain names; every generated name stays within 28 characters.
const (
	chainForward  = "WEIR-FORWARD"
	chainFrom     = "WEIR-FROM"
	chainTo       = "WEIR-TO"
	chainEgressOK = "WEIR-EGRESS-OK"
	chainInput    = "WEIR-INPUT"
	chainOutput   = "WEIR-OUTPUT"
)

// hash16 returns 16 hex characters of the SHA-256 of parts.
func hash16(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(h[:8])
}

func famTag(f dataplane.Family) string {
	if f == dataplane.IPv6 {
		return "6"
	}
	return "4"
}

// endpointKey identifies an attachment: network, container, interface.
func endpointKey(ep *Endpoint) string {
	if ep.key != "" {
		return ep.key
	}
	return hash16(ep.Network, ep.ID, ep.IfName)
}

func egressChain(ep *Endpoint) string  { return "WEIR-EG-" + endpointKey(ep) }
func ingressChain(ep *Endpoint) string { return "WEIR-IN-" + endpointKey(ep) }

func policyChain(dir, name string, ingress bool) string {
	if ingress {
		return "WEIR-PI-" + hash16(dir, name)
	}
	return "WEIR-PE-" + hash16(dir, name)
}

// Set names stay within the kernel's 31 characters.
func selectorSet(canonical string, f dataplane.Family) string {
	return "weir-s" + famTag(f) + "-" + hash16(canonical)
}
func netsSet(key string, f dataplane.Family) string { return "weir-n" + famTag(f) + "-" + hash16(key) }
func notNetsSet(key string, f dataplane.Family) string {
	return "weir-x" + famTag(f) + "-" + hash16(key)
}
func addrSet(ep *Endpoint, f dataplane.Family) string {
	return "weir-a" + famTag(f) + "-" + endpointKey(ep)
}
func endpointsSet(f dataplane.Family) string { return "weir-eps" + famTag(f) }

// Host classes (see classes.go): a verdict chain per class and family.
func egressClassChain(hash string) string  { return "WEIR-EC-" + hash }
func ingressClassChain(hash string) string { return "WEIR-IC-" + hash }

// Dispatch buckets: by port-name prefix, by address prefix.
func fromBucketChain(prefix string) string { return "WEIR-FROM-" + hash16(prefix) }
func toBucketChain(prefix string) string   { return "WEIR-TO-" + hash16(prefix) }
