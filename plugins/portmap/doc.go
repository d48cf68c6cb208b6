// Package portmap is weir's portmap CNI plugin: it publishes a container's
// ports on the host. Chained after a plugin that gives the container its
// addresses (bridge), it reads them from prevResult, forwards each host port
// of the "portMappings" capability (runtimeConfig.portMappings) to the
// container with iptables DNAT, for tcp and udp, IPv4 and IPv6, optionally
// only on one host address, and passes prevResult on as its result.
//
// All rules live in the nat table. Two shared chains are hooked once into
// the built-in chains; each attachment (network, container id, interface)
// has its own DNAT chain, named WEIR-DN- plus 16 hex characters of a hash
// of the attachment, and its hairpin and localhost masquerade are members
// of ipsets (prefix weir-hp-, one of each kind per family, the host's)
// that a few shared rules match on:
//
//	-I PREROUTING 1  -m addrtype --dst-type LOCAL -m comment --comment "weir: portmap" -j WEIR-HOSTPORTS
//	-I OUTPUT 1      -m addrtype --dst-type LOCAL -m comment --comment "weir: portmap" -j WEIR-HOSTPORTS
//	-I POSTROUTING 1 -m comment --comment "weir: portmap" -j WEIR-HOSTPORTS-MASQ
//	-A WEIR-HOSTPORTS-MASQ -m set --match-set weir-hp-hairpin4 src,dst,dst -m comment --comment "weir: portmap" -j MASQUERADE
//	-A WEIR-HOSTPORTS-MASQ -s 127.0.0.1/32 -m set --match-set weir-hp-local4 dst,dst -m comment --comment "weir: portmap" -j MASQUERADE
//	-A WEIR-HOSTPORTS [conditionsV4] -m comment --comment "weir: net=N id=C if=I" -j WEIR-DN-…
//	-A WEIR-DN-… [-d HOSTIP/32] -p tcp -m tcp --dport 8080 -m comment … -j DNAT --to-destination 10.22.0.5:80
//
//	weir-hp-hairpin4  hash:ip,port,ip family inet comment
//	  10.22.0.5,tcp:80,10.22.0.5 comment "weir: net=N id=C if=I"
//	weir-hp-local4    hash:ip,port family inet comment
//	  10.22.0.5,tcp:80 comment "weir: net=N id=C if=I"
//
// (IPv6: weir-hp-hairpin6, family inet6, and no localhost set.) With snat,
// the default, the hairpin member masquerades the container reaching
// itself through a host port (after DNAT its source and destination are
// its own address), and for IPv4 the localhost member masquerades host
// connections to 127.0.0.1:PORT, for which route_localnet is enabled on
// the host interface that routes to the container. So an attachment's
// rules are its DNAT chain's and one jump, whatever the mappings: its
// masquerade is set members, added and deleted over netlink (no fork, no
// nf_tables commit), and its batch adds or deletes one chain and one jump.
// With markMasqBit the
// DNAT chain marks hairpin and localhost packets instead, and the
// attachment has its own rules in WEIR-HOSTPORTS-MASQ,
// "-d ADDR/32 -m mark --mark M -j MASQUERADE", and no set members.
// POSTROUTING's hook is inserted first so that a masquerade chain's
// "-d SUBNET -j ACCEPT" (the bridge's ipMasq) cannot skip it.
//
// The DNAT side keeps a chain per attachment rather than putting its DNAT
// rules into WEIR-HOSTPORTS: "-N" of the chain is what makes the fast
// ADD's batch fail as a whole when the attachment already has rules, the
// operator's conditions are matched once (in the jump) rather than in
// every DNAT rule, DEL flushes and deletes the chain without knowing its
// rules' exact text, and CHECK compares the chain exactly. In a quick
// measurement with 1,000 attachments, raw batches without the chain were
// no cheaper to add and rather dearer to delete.
//
// Every change is one iptables-restore --noflush -w batch per address
// family and a few ipset calls over netlink, under a host-wide lock
// (DefaultLockPath) that serialises portmap's changes to the shared chains
// and sets. The common ADD (an attachment without a record) and DEL (one
// with a record) read no table and list no set: their batches
// (fastpath.go) create the attachment's chain with -N and delete exactly
// the recorded rules, and take the shared chains to exist as the other
// records and the sets' headers say, so iptables-restore refuses them as a
// whole when the table is otherwise. Only then, and for a re-ADD, CHECK
// and GC, is the batch computed from iptables-save and an attachment's
// members found by listing the sets. The shared chains, their hooks and
// rules and the sets are removed together with the last attachment that
// needs them, so a host without published ports has no WEIR- nat rule and
// no weir-hp- set at all.
//
// A member is keyed by its value (address, protocol, port), not by its
// comment, and ADD of a member that is there replaces its comment. DEL
// with a record deletes the recorded members by value without listing the
// sets, so a DEL retried after the attachment's address went to another
// container publishing the same container port would take that
// container's hairpin and localhost members with it (not its DNAT); GC and
// DEL without a record delete by comment and cannot.
//
// Older weir gave each attachment a masquerade chain of its own too
// (WEIR-SN-, SNATPrefix, jumped to from WEIR-HOSTPORTS-MASQ). Its records
// have no layout; DEL of such an attachment, and GC, remove it from
// iptables-save.
//
// ADD records the applied mappings and addresses atomically under stateDir
// (default /run/weir/portmap) as NETWORK/CONTAINERID:IFNAME.json. DEL needs
// neither prevResult nor runtimeConfig: the chain name follows from the
// attachment, its rules and members carry its comment, and the record says
// which families to clean, which members to delete and which udp ports'
// conntrack entries to drop. GC removes the network's attachments (chains,
// jumps, members, records) that are not valid, found both through the
// records and through the rule and member comments.
package portmap
