// Package policy is weir's network policy model: the policies operators
// write as TOML files under /etc/weir/policies, loaded and validated into a
// Set, and the reference evaluator that says what a Set does to a packet.
//
// A policy picks containers by a label selector (package
// policy/selector) and lists ingress rules (traffic to them) and egress
// rules (traffic from them). A container is selected in a direction when
// a policy that matches it has rules for that direction or lists the
// direction in types; selected traffic goes through those policies'
// rules — lower order first, then by name, rules in file order — and the
// first allow or deny rule that matches decides, while log rules record a
// match and go on. Selected traffic that no rule decides is denied;
// unselected traffic gets the network's default action. Between two
// containers both the sender's egress and the receiver's ingress must
// allow.
//
// Set.Verdict and Set.Explain are the reference semantics: the iptables
// compiler in this directory is tested against them.
package policy
