// Package masq writes and removes the masquerade of container attachments
// (network, container id, interface), as the bridge plugin's ipMasq option
// needs it.
//
// Attachments share their masquerade: one group per network, subnet and
// family, made by the first attachment with an address there and removed
// with the last. A group is an ipset of the attachments' addresses, a nat
// chain and one POSTROUTING jump that matches the set; set and chain end in
// the same 16 hex characters of a hash of network and subnet:
//
//	weir-nat-0123456789abcdef  hash:ip family inet comment
//	  10.22.0.5 comment "weir: net=n id=c if=eth0"
//	-A POSTROUTING -m set --match-set weir-nat-0123456789abcdef src -m comment --comment "weir: net=n masquerade" -j WEIR-MASQ-0123456789abcdef
//	-A WEIR-MASQ-0123456789abcdef -d 10.22.0.0/16 -m comment --comment "weir: net=n masquerade" -j ACCEPT
//	-A WEIR-MASQ-0123456789abcdef ! -d 224.0.0.0/4 -m comment --comment "weir: net=n masquerade" -j MASQUERADE
//
// (IPv6: a family inet6 set, ip6tables, ff00::/8.) Each member's comment
// names its attachment, so Teardown without addresses (DEL after the
// namespace and the previous result are gone) and GC find an attachment's
// members by listing the sets.
//
// Attaching and detaching a container therefore change set members only:
// a few netlink messages, no fork, no nf_tables commit (which, when it
// deletes anything, waits for RCU), and no read of iptables-save, whose
// size would grow with the containers on the host. Setup asks the set's
// header (its reference count tells whether the group's jump exists, since
// the jump is the only rule matching on it) and adds the members;
// Teardown deletes them by address and asks the header whether the set is
// now empty. Only the first attachment of a group pays for one
// iptables-restore, and the last for another. The sets are driven over
// netlink (NetlinkSets), the rules with iptables-restore --noflush
// (Runner), each behind a narrow interface so that the generated text and
// the sequence of calls can be tested without a kernel.
//
// Every check and change runs under one host-wide lock (DefaultLockPath),
// so a group is never removed while a Setup adds to it, and a set's
// listing tells exactly whether Teardown emptied it. Setup makes the set
// before the rules that match on it, so a crash in between leaves a set
// nothing references, which the next Setup completes and GC removes.
//
// A member is keyed by its address alone: Setup replaces the comment of an
// address that is already a member, and Teardown with addresses deletes
// them whoever the comment names. So an address must not go to another
// container until its attachment's Teardown succeeded, or a later retry
// would take the new container's masquerade away; the bridge plugin keeps
// an address allocated when its masquerade could not be removed. (Checking
// each member's comment first would need a listing of the whole set, which
// grows with the containers: 1-3 ms for 1,000 members here.)
//
// Older weir gave each attachment its own chain (Attachment.LegacyChain)
// and a "-s ADDR/32" jump per address. Teardown removes such a chain, from
// iptables-save, when the sets hold nothing of the attachment; GC removes
// those of attachments no longer valid; Check accepts them.
package masq
