// Package dataplane writes weir's part of a network namespace's packet
// filter: ipsets named weir-* and iptables chains named WEIR-*, plus the
// hook rules that jump into them from the built-in chains. Given a desired
// State it reads back only what weir owns, computes the difference, and
// applies it in batches — one ipset restore and one iptables-restore
// --noflush per table family — under one host-wide lock. Rules it does not
// own (Docker's, the reference CNI plugins', an operator's) are never
// touched.
package dataplane
