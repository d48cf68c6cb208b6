// Package hostlocal is weir's host-local IPAM plugin: it hands out addresses
// from the ranges in a network configuration's "ipam" section and remembers
// them in files on the host, one directory per network under dataDir
// (default /run/weir/ipam), so every plugin that needs an address (bridge,
// macvlan) gets it the same way.
//
// The store is built so that neither allocation nor release gets slower as
// the network fills: each reserved address is one file named after the
// address and holding its owner ("<container id>\n<ifname>"), created whole by
// linking a fully written, fsynced temporary file to that name (link fails
// with EEXIST when the address is taken, so a killed process never leaves an
// empty or half-written reservation); each attachment has an index file
// (named by a hash of container id and ifname) that lists its addresses, so
// DEL releases exactly those without walking the directory; a
// last_reserved_ip.<range set> file lets round-robin allocation continue
// where it stopped; and a host-wide flock on the network directory
// serialises changes.
//
// An ADD writes the index as "pending" before it reserves anything and as
// "ready" afterwards. A pending index found later (the ADD was killed) makes
// DEL or the next ADD of that attachment fall back to a directory scan for
// the attachment's reservations; GC (CNI 1.1) also repairs or removes such
// leftovers.
package hostlocal
