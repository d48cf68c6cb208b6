// Package bridge is weir's "bridge" CNI plugin: it attaches a container to a
// Linux bridge on the host through a veth pair, asks the IPAM plugin of the
// "ipam" section for addresses and configures them in the container, and
// optionally makes the bridge the container's gateway (isGateway,
// isDefaultGateway), masquerades the container's outbound traffic (ipMasq,
// through plugins/internal/masq), drops frames from the container whose
// source MAC is not its own (macspoofchk), and puts the port in a VLAN.
//
// The host end of the veth has a stable name derived from the network,
// container id and interface name, so DEL finds and removes it, the
// masquerade rules and the IPAM allocation even when the container's
// namespace is already gone. It has IPv6 turned off: a bridge port needs no
// address. It implements CNI 1.1.0 ADD, DEL, CHECK, GC and
// STATUS for configurations of every version from 0.1.0.
package bridge
