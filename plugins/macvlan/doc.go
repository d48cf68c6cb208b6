// Package macvlan is weir's macvlan CNI plugin (type "macvlan"): it gives a
// container its own MAC address on a host interface (the "master") by
// creating a macvlan device on the master and moving it into the
// container's network namespace, then applies the addresses and routes its
// IPAM plugin (host-local for weir's networks) hands out.
//
// Configuration keys, as the CNI macvlan plugin documents them: "master"
// (default: the interface of the host's default IPv4 route), "mode"
// (bridge, private, vepa or passthru; bridge by default), "mtu" (at most the
// master's MTU; 0 keeps the kernel's default), "mac" or runtimeConfig.mac (a
// fixed MAC address), and "ipam". Without an "ipam" section the interface is
// only brought up (layer 2 only).
//
// ADD leaves nothing behind when it fails; DEL always releases the IPAM
// addresses, even when the container's namespace is already gone.
package macvlan
