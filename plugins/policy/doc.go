// Package policy is the `policy` CNI plugin, the last link of a chain: it
// puts the container's addresses (from prevResult) and labels (from the
// runtime's args) under the operator's policy files, programming the
// host's or the container's packet filter before ADD returns. DEL removes
// the container's rules without needing prevResult; CHECK verifies the
// kernel still has them; GC forgets endpoints not among the valid
// attachments; STATUS fails with code 50 while the policy files do not
// parse.
package policy
