// Package masq writes and removes the iptables masquerade rules of one
// container attachment (network, container id, interface), as the bridge
// plugin's ipMasq option needs them.
//
// Each attachment gets its own nat chain, WEIR-MASQ- plus 16 hex characters
// of a hash of the attachment, and one POSTROUTING jump per container
// address:
//
//	-A POSTROUTING -s 10.22.0.5/32 -m comment --comment "weir: net=n id=c if=eth0" -j WEIR-MASQ-0123456789abcdef
//	-A WEIR-MASQ-0123456789abcdef -d 10.22.0.0/16 ... -j ACCEPT
//	-A WEIR-MASQ-0123456789abcdef ! -d 224.0.0.0/4 ... -j MASQUERADE
//
// Every change is one iptables-restore --noflush batch per address family
// (ip6tables-restore for IPv6), never one fork per rule, and the common
// paths do not read the table, whose iptables-save grows with every
// container on the host: Setup of a new attachment creates its chain with
// -N, so the batch applies only when the chain did not exist, and Teardown
// with the container's addresses deletes exactly what Setup wrote. Either
// batch fails as a whole when the table is not as it expects, and only then
// does masq read iptables-save and compute the change from what is there.
// Teardown and GC need no addresses: from iptables-save they find the chain
// by name and the rules that jump to it, and remove them together, so DEL
// works after the container's namespace and its previous result are gone.
//
// The kernel tools sit behind Runner, a two-method interface, so the
// generated restore text can be tested without a kernel.
package masq
