package ifcfg

import (
	"crypto/sha256"
	"encoding/hex"
)

// HostLinkName returns a stable host-side interface name for one attachment
// (network, container, interface in the container): prefix plus a hash, at
// most 15 characters (IFNAMSIZ-1). Stable names let DEL find and remove the
// host side even when the container's namespace is already gone.
func HostLinkName(prefix, network, containerID, ifName string) string {
	h := sha256.Sum256([]byte(network + "\x00" + containerID + "\x00" + ifName))
	n := 15 - len(prefix)
	return prefix + hex.EncodeToString(h[:])[:n]
}
