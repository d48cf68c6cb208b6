// Package dataplane writes weir's part of a network namespace's packet
// filter: ipsets named weir-* and iptables chains named WEIR-*, plus the
// hook rules that jump into them from the built-in chains. Given a desired
// State it reads back only what weir owns, computes the difference, and
// applies it in batches — one ipset restore and one iptables-restore
// --noflush per table family — under one host-wide lock. Rules it does not
// own (Docker's, the reference CNI plugins', an operator's) are never
// touched.
//
// The hot path (a container's ADD at 1,000 endpoints) must not read the
// kernel back (iptables-save of 6,000 rules costs ~90 ms) nor rewrite
// chains that did not change (an nf_tables commit that flushes or deletes
// costs ~15–50 ms). So a Writer diffs against a cache file of what it last
// applied in that namespace (trusted only for the same netns cookie and
// backend), rewrites a small changed chain whole, edits a big one in place
// when rules were only added or only removed, and runs no iptables tool at
// all when only set members change. Repair, for the periodic reconcile
// loop, ignores the cache, reads everything back and fixes drift.
//
// Rules are compared in the form iptables-save prints them: CanonicalRule
// renders every rule shape weir's compiler uses that way (checked against
// the kernel, both backends, by the privileged tests), and Repair learns
// the printed form of any other shape.
//
// Files: state.go (the model), validate.go (checks and canonical states),
// tokens.go, canon*.go (rule canonicalisation), backend.go and runner.go
// (the tools), read.go (parsing save output), diff*.go (the plan),
// render.go (the batches), execute.go, writer.go, cache.go, memo.go,
// lock.go, netns.go (per-namespace calls), stats.go.
package dataplane
