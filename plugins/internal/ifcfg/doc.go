// Package ifcfg holds what weir's interface-creating plugins (bridge,
// macvlan) share: entering a container's network namespace, applying an IPAM
// result to an interface inside it, checking that the kernel still matches a
// result, deterministic host-side link names, sysctls, and the per-link
// IPv4 settings that netlink can set without /proc/sys (devconf.go).
package ifcfg
