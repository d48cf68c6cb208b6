package masq

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"strings"
)

// group is the masquerade of one network's subnet in one family, shared by
// every attachment with an address in it: the ipset of their addresses,
// the nat chain and the POSTROUTING jump that matches the set. Set and
// chain end in the same 16 hex characters of a hash of network and subnet.
type group struct {
	network string
	subnet  string // canonical CIDR, e.g. 10.22.0.0/16
	family  Family
	suffix  string
}

// groupOf returns the group of address n (with its mask) on network.
func groupOf(network string, n net.IPNet) group {
	f := familyOf(n.IP)
	ip := n.IP.Mask(n.Mask)
	if f == IPv4 {
		ip = ip.To4()
	}
	subnet := (&net.IPNet{IP: ip, Mask: n.Mask}).String()
	// The domain tag keeps group names apart from the per-attachment
	// chains of older weir (LegacyChain), which share ChainPrefix.
	h := sha256.Sum256([]byte("masq-group\x00" + network + "\x00" + subnet))
	return group{network: network, subnet: subnet, family: f, suffix: hex.EncodeToString(h[:8])}
}

// set is the group's ipset: weir-nat- and 16 hex characters, 25 in all
// (ipset allows 31).
func (g group) set() string { return SetPrefix + g.suffix }

// chain is the group's nat chain: WEIR-MASQ- and the same 16 hex
// characters, 26 in all (iptables allows 28).
func (g group) chain() string { return ChainPrefix + g.suffix }

// chainOfSet returns the chain of the group whose set is name.
func chainOfSet(name string) string { return ChainPrefix + strings.TrimPrefix(name, SetPrefix) }

// setOfChain returns the set of the group whose chain is name.
func setOfChain(name string) string { return SetPrefix + strings.TrimPrefix(name, ChainPrefix) }

// GroupNames returns the ipset and the nat chain that masquerade address
// addr (with its mask) on network, for tests and tools that look at them.
func GroupNames(network string, addr net.IPNet) (set, chain string) {
	g := groupOf(network, addr)
	return g.set(), g.chain()
}

// groupComment is the comment of every rule of network's groups. It names
// no container: the set's members do.
func groupComment(network string) string {
	c := fmt.Sprintf("weir: net=%s masquerade", network)
	if len(c) > maxComment {
		c = c[:maxComment]
	}
	return c
}

// isGroupComment tells a group rule's comment from an attachment's.
func isGroupComment(c string) bool {
	n, ok := commentNetwork(c)
	return ok && c == groupComment(n)
}

// jumpSpec is the group's POSTROUTING rule after "-A POSTROUTING ", as
// iptables-save prints it (so that -D of it matches).
func jumpSpec(set, network string) string {
	return fmt.Sprintf("-m set --match-set %s src -m comment --comment %s -j %s", set, quote(groupComment(network)), chainOfSet(set))
}

// groupRules writes the "-A" lines of the group's chain and its jump.
func groupRules(b *bytes.Buffer, g group) {
	chain, comment := g.chain(), quote(groupComment(g.network))
	fmt.Fprintf(b, "-A %s -d %s -m comment --comment %s -j ACCEPT\n", chain, g.subnet, comment)
	fmt.Fprintf(b, "-A %s ! -d %s -m comment --comment %s -j MASQUERADE\n", chain, multicast(g.family), comment)
	fmt.Fprintf(b, "-A POSTROUTING %s\n", jumpSpec(g.set(), g.network))
}

// createBatch makes the group's chain and jump, whose set exists. The -N
// makes iptables-restore refuse the whole batch when the chain exists;
// Setup then repairs the group from the table (repairBatch).
func createBatch(g group) []byte {
	var b bytes.Buffer
	b.WriteString("*nat\n")
	fmt.Fprintf(&b, "-N %s\n", g.chain())
	groupRules(&b, g)
	b.WriteString("COMMIT\n")
	return b.Bytes()
}

// repairBatch makes the group's chain and jump exactly what they should
// be, given the family's nat table t: the chain is declared (which creates
// or flushes it), every jump to it deleted, and the rules appended.
func repairBatch(t *natTable, g group) []byte {
	var b bytes.Buffer
	b.WriteString("*nat\n")
	fmt.Fprintf(&b, ":%s - [0:0]\n", g.chain())
	for _, r := range t.rules {
		if r.target == g.chain() {
			fmt.Fprintf(&b, "-D %s %s\n", r.chain, r.spec)
		}
	}
	groupRules(&b, g)
	b.WriteString("COMMIT\n")
	return b.Bytes()
}

// removeBatch deletes exactly what createBatch made for set's group on
// network: the jump, then the chain. It fails as a whole when any of it is
// missing or changed, and the caller then removes the group from the table.
func removeBatch(set, network string) []byte {
	chain := chainOfSet(set)
	return fmt.Appendf(nil, "*nat\n-D POSTROUTING %s\n-F %s\n-X %s\nCOMMIT\n", jumpSpec(set, network), chain, chain)
}

// groupChains returns the group chains of network in t (in order of first
// appearance): WEIR-MASQ chains that a rule with network's group comment
// belongs to or jumps to.
func groupChains(t *natTable, network string) []string {
	want := groupComment(network)
	var out []string
	seen := map[string]bool{}
	for _, r := range t.rules {
		if r.comment != want {
			continue
		}
		for _, c := range []string{r.chain, r.target} {
			if strings.HasPrefix(c, ChainPrefix) && !seen[c] {
				seen[c] = true
				out = append(out, c)
			}
		}
	}
	return out
}

// groupsOf splits addrs by group, in order of first appearance, with each
// group's addresses.
func groupsOf(network string, addrs []net.IPNet) ([]group, map[group][]net.IP) {
	var order []group
	ips := map[group][]net.IP{}
	for _, a := range addrs {
		g := groupOf(network, a)
		if _, ok := ips[g]; !ok {
			order = append(order, g)
		}
		ip := a.IP
		if g.family == IPv4 {
			ip = ip.To4()
		}
		ips[g] = append(ips[g], ip)
	}
	return order, ips
}
