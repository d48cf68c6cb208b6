// Package portmap is weir's portmap CNI plugin: it publishes a container's
// ports on the host. Chained after a plugin that gives the container its
// addresses (bridge), it reads them from prevResult, forwards each host port
// of the "portMappings" capability (runtimeConfig.portMappings) to the
// container with iptables DNAT, for tcp and udp, IPv4 and IPv6, optionally
// only on one host address, and passes prevResult on as its result.
//
// All rules live in the nat table. Two shared chains are hooked once into
// the built-in chains, and each attachment (network, container id,
// interface) has its own pair of chains, named WEIR-DN- / WEIR-SN- plus 16
// hex characters of a hash of the attachment:
//
//	-I PREROUTING 1  -m addrtype --dst-type LOCAL -m comment --comment "weir: portmap" -j WEIR-HOSTPORTS
//	-I OUTPUT 1      -m addrtype --dst-type LOCAL -m comment --comment "weir: portmap" -j WEIR-HOSTPORTS
//	-I POSTROUTING 1 -m comment --comment "weir: portmap" -j WEIR-HOSTPORTS-MASQ
//	-A WEIR-HOSTPORTS      [conditionsV4] -m comment --comment "weir: net=N id=C if=I" -j WEIR-DN-…
//	-A WEIR-HOSTPORTS-MASQ -m comment --comment "weir: net=N id=C if=I" -j WEIR-SN-…
//	-A WEIR-DN-… [-d HOSTIP/32] -p tcp -m tcp --dport 8080 -m comment … -j DNAT --to-destination 10.22.0.5:80
//	-A WEIR-SN-… -s 10.22.0.5/32 -d 10.22.0.5/32 -p tcp -m tcp --dport 80 -m comment … -j MASQUERADE
//	-A WEIR-SN-… -s 127.0.0.1/32 -d 10.22.0.5/32 -p tcp -m tcp --dport 80 -m comment … -j MASQUERADE
//
// The WEIR-SN chain (with snat, the default) masquerades hairpin traffic
// (the container reaching itself through a host port) and, for IPv4, host
// connections to 127.0.0.1:PORT, for which route_localnet is enabled on the
// host interface that routes to the container. With markMasqBit the DN
// chain marks those packets instead and the SN chain masquerades by mark.
// POSTROUTING's hook is inserted first so that a masquerade chain's
// "-d SUBNET -j ACCEPT" (the bridge's ipMasq) cannot skip it.
//
// Every change is one iptables-restore --noflush -w batch per address
// family, under a lock (stateDir/.lock) that serialises portmap's changes
// to the shared chains. The common ADD (an attachment without a record)
// and DEL (one with a record) read no table: their batches (fastpath.go)
// create the attachment's chains with -N and delete exactly the recorded
// rules, and take the shared chains to exist as the other records say, so
// iptables-restore refuses them as a whole when the table is otherwise.
// Only then, and for a re-ADD, CHECK and GC, is the batch computed from
// iptables-save. The shared chains and their hooks are removed together
// with the last attachment's chains, so a host without published ports has
// no WEIR- nat rule at all.
//
// ADD records the applied mappings and addresses atomically under stateDir
// (default /run/weir/portmap) as NETWORK/CONTAINERID:IFNAME.json. DEL needs
// neither prevResult nor runtimeConfig: the chain names follow from the
// attachment, and the record says which families to clean and which udp
// ports' conntrack entries to drop. GC removes the network's attachments
// (chains, jumps, records) that are not valid, found both through the
// records and through the rule comments.
package portmap
