package portmap

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/weirnet/weir/plugins/internal/masq"
)

// The chains portmap makes in the nat table of each family.
const (
	// HostportsChain is hooked from PREROUTING and OUTPUT for local
	// destinations and jumps to each attachment's DNAT chain.
	HostportsChain = "WEIR-HOSTPORTS"
	// MasqChain is hooked first in POSTROUTING and holds the rules that
	// masquerade hairpin and localhost traffic by set membership (and,
	// with markMasqBit, each attachment's rules that masquerade by mark).
	MasqChain = "WEIR-HOSTPORTS-MASQ"
	// DNATPrefix starts each attachment's DNAT chain.
	DNATPrefix = "WEIR-DN-"
	// SNATPrefix started each attachment's masquerade chain in older
	// weir; DEL and GC still remove such chains.
	SNATPrefix = "WEIR-SN-"
	// sharedComment names the owner of the hooks and of the shared
	// masquerade rules.
	sharedComment = "weir: portmap"
)

// Chains returns an attachment's DNAT chain and the masquerade chain an
// older weir gave it: the prefix and 16 hex characters of a hash of
// network, container and interface (24 characters; iptables allows 28).
func Chains(network, containerID, ifName string) (dn, sn string) {
	h := sha256.Sum256([]byte(network + "\x00" + containerID + "\x00" + ifName))
	id := hex.EncodeToString(h[:8])
	return DNATPrefix + id, SNATPrefix + id
}

// ruleSpec is one rule: its chain and its arguments after "-A CHAIN".
type ruleSpec struct {
	chain string
	args  []string
}

// text renders the arguments as iptables-save prints them, quoting those
// that need it.
func (r ruleSpec) text() string {
	out := make([]string, len(r.args))
	for i, a := range r.args {
		if a == "" || strings.ContainsAny(a, " \t\"\\'") {
			a = masq.Quote(a)
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}

func prefix(a netip.Addr) string { return netip.PrefixFrom(a, a.BitLen()).String() }

func hostPort(a netip.Addr, port int) string {
	return netip.AddrPortFrom(a, uint16(port)).String() // [v6]:port, v4:port
}

// port is the match on protocol and destination port.
func port(proto string, p int) []string {
	return []string{"-p", proto, "-m", proto, "--dport", strconv.Itoa(p)}
}

func cat(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// hooks are the rules that lead from the built-in chains to the shared
// ones; the masquerade hook only with snat.
func hooks(snat bool) []ruleSpec {
	local := []string{"-m", "addrtype", "--dst-type", "LOCAL", "-m", "comment", "--comment", sharedComment, "-j", HostportsChain}
	out := []ruleSpec{{"PREROUTING", local}, {"OUTPUT", local}}
	if snat {
		out = append(out, ruleSpec{"POSTROUTING", []string{"-m", "comment", "--comment", sharedComment, "-j", MasqChain}})
	}
	return out
}

// masqRules are family f's shared masquerade rules, in MasqChain: a
// hairpin connection (a container to its own published port, after DNAT)
// and, for IPv4, a connection from 127.0.0.1 (route_localnet) leave with
// the address of the host's interface, so that the reply comes back
// through the host and is translated back. Which connections they match
// is set membership (sets.go).
func masqRules(f masq.Family) []ruleSpec {
	comment := []string{"-m", "comment", "--comment", sharedComment, "-j", "MASQUERADE"}
	out := []ruleSpec{{MasqChain, cat([]string{"-m", "set", "--match-set", hairpinSet(f), "src,dst,dst"}, comment)}}
	if f == masq.IPv4 {
		out = append(out, ruleSpec{MasqChain, cat([]string{"-s", "127.0.0.1/32", "-m", "set", "--match-set", LocalSet4, "dst,dst"}, comment)})
	}
	return out
}

// isMasqRule reports whether r is one of the shared masquerade rules.
func isMasqRule(r masq.Rule) bool { return r.Chain == MasqChain && r.Comment == sharedComment }

// attachmentRules returns the rules of p for family f: the attachment's
// DNAT chain, its own rules in MasqChain (only with markMasqBit: those
// that masquerade by mark), and the jump to its chain.
func (p *plan) attachmentRules(f masq.Family) (dnat, masqs, jumps []ruleSpec) {
	dn, _ := p.chains()
	comment := []string{"-m", "comment", "--comment", p.comment()}
	addrs := p.addrs(f)
	mark := p.mark()
	// With a mark, the sources whose connections it marks: the container
	// itself (hairpin) and, for IPv4, the host's loopback.
	var sources []string
	if mark != "" {
		for _, a := range addrs {
			sources = append(sources, prefix(a))
		}
		if f == masq.IPv4 {
			sources = append(sources, "127.0.0.1/32")
		}
	}
	for _, m := range p.mappings(f) {
		var dst []string
		if ip, ok := m.hostAddr(); ok && !ip.IsUnspecified() {
			dst = []string{"-d", prefix(ip)}
		}
		for _, s := range sources {
			dnat = append(dnat, ruleSpec{dn, cat([]string{"-s", s}, dst, port(m.Protocol, m.HostPort), comment,
				[]string{"-j", "MARK", "--set-xmark", mark})})
		}
		// With several addresses the first one's rule wins (DNAT ends the
		// chain); the others only matter to CHECK and teardown.
		for _, a := range addrs {
			dnat = append(dnat, ruleSpec{dn, cat(dst, port(m.Protocol, m.HostPort), comment,
				[]string{"-j", "DNAT", "--to-destination", hostPort(a, m.ContainerPort)})})
		}
	}
	if mark != "" {
		for _, a := range addrs {
			masqs = append(masqs, ruleSpec{MasqChain, cat([]string{"-d", prefix(a), "-m", "mark", "--mark", mark}, comment, []string{"-j", "MASQUERADE"})})
		}
	}
	conds := p.ConditionsV4
	if f == masq.IPv6 {
		conds = p.ConditionsV6
	}
	jumps = append(jumps, ruleSpec{HostportsChain, cat(conds, comment, []string{"-j", dn})})
	return dnat, masqs, jumps
}

// setupBatch returns the restore batch that makes p's rules of family f
// exactly what they should be, given the family's nat table t (and, when
// snat is off, whether the family's sets are empty): the shared chains,
// hooks and masquerade rules are created only where t lacks them
// (declaring an existing chain would flush it), the attachment's DNAT
// chain is declared (created, or flushed), and its jump, its own rules in
// MasqChain and an older weir's masquerade chain of it are deleted before
// the rules are appended. The caller has put p's set members in place.
//
// Without snat, a MasqChain that this leaves holding only the shared rules
// while the sets are empty goes with them and its hook, as a DEL would
// take it, keeping the shared chains exactly those some attachment uses
// (which the batches of fastpath.go rely on); masqGone says so, and the
// caller then destroys the sets.
func setupBatch(t *masq.Table, p *plan, f masq.Family, setsEmpty bool) (batch []byte, masqGone bool) {
	dn, sn := p.chains()
	comment := p.comment()
	var b bytes.Buffer
	b.WriteString("*nat\n")
	if !t.Chains[HostportsChain] {
		fmt.Fprintf(&b, ":%s - [0:0]\n", HostportsChain)
	}
	if p.SNAT && !t.Chains[MasqChain] {
		fmt.Fprintf(&b, ":%s - [0:0]\n", MasqChain)
	}
	fmt.Fprintf(&b, ":%s - [0:0]\n", dn)
	masqLeft := 0
	for _, r := range t.Rules {
		switch {
		case r.Target == dn || r.Target == sn:
			fmt.Fprintf(&b, "-D %s %s\n", r.Chain, r.Spec)
		case r.Chain == MasqChain && r.Comment == comment:
			fmt.Fprintf(&b, "-D %s %s\n", r.Chain, r.Spec)
		case r.Chain == MasqChain && !isMasqRule(r):
			masqLeft++
		}
	}
	if t.Chains[sn] {
		fmt.Fprintf(&b, "-F %s\n-X %s\n", sn, sn)
	}
	if !p.SNAT && t.Chains[MasqChain] && masqLeft == 0 && setsEmpty {
		// snat was turned off and nobody else needs the shared
		// masquerade: it goes with its hook.
		for _, r := range t.Rules {
			if isMasqRule(r) || r.Target == MasqChain {
				fmt.Fprintf(&b, "-D %s %s\n", r.Chain, r.Spec)
			}
		}
		fmt.Fprintf(&b, "-X %s\n", MasqChain)
		masqGone = true
	}
	for _, h := range hooks(p.SNAT) {
		if !hasJump(t, h.chain, h.args[len(h.args)-1]) {
			fmt.Fprintf(&b, "-I %s 1 %s\n", h.chain, h.text())
		}
	}
	if p.SNAT {
		for _, r := range masqRules(f) {
			if !hasRule(t, r) {
				fmt.Fprintf(&b, "-A %s %s\n", r.chain, r.text())
			}
		}
	}
	return appendAttachment(&b, p, f), masqGone
}

// appendAttachment ends an ADD's batch: the attachment's rules appended,
// then COMMIT.
func appendAttachment(b *bytes.Buffer, p *plan, f masq.Family) []byte {
	dnat, masqs, jumps := p.attachmentRules(f)
	for _, r := range catRules(dnat, masqs, jumps) {
		fmt.Fprintf(b, "-A %s %s\n", r.chain, r.text())
	}
	b.WriteString("COMMIT\n")
	return b.Bytes()
}

func catRules(parts ...[]ruleSpec) []ruleSpec {
	var out []ruleSpec
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// hasJump reports whether chain has a rule jumping to target.
func hasJump(t *masq.Table, chain, target string) bool {
	for _, r := range t.Rules {
		if r.Chain == chain && r.Target == target {
			return true
		}
	}
	return false
}

// hasRule reports whether t has rule want, its arguments compared in any
// order against what iptables-save printed.
func hasRule(t *masq.Table, want ruleSpec) bool {
	args := slices.Clone(want.args)
	slices.Sort(args)
	for _, r := range t.Rules {
		if r.Chain != want.chain {
			continue
		}
		have, err := masq.SplitArgs(r.Spec)
		if err != nil {
			continue
		}
		slices.Sort(have)
		if slices.Equal(have, args) {
			return true
		}
	}
	return false
}
