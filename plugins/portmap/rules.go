package portmap

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/weirnet/weir/plugins/internal/masq"
)

// The chains portmap makes in the nat table of each family.
const (
	// HostportsChain is hooked from PREROUTING and OUTPUT for local
	// destinations and jumps to each attachment's DNAT chain.
	HostportsChain = "WEIR-HOSTPORTS"
	// MasqChain is hooked first in POSTROUTING and jumps to each
	// attachment's masquerade chain.
	MasqChain = "WEIR-HOSTPORTS-MASQ"
	// DNATPrefix and SNATPrefix start the attachments' own chains.
	DNATPrefix = "WEIR-DN-"
	SNATPrefix = "WEIR-SN-"
	// sharedComment names the owner of the hooks.
	sharedComment = "weir: portmap"
)

// Chains returns an attachment's DNAT and masquerade chains: the prefix and
// 16 hex characters of a hash of network, container and interface (24
// characters; iptables allows 28).
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

// attachmentRules returns the rules of p for family f: the attachment's
// DNAT and masquerade chains, and the jumps to them from the shared chains.
func (p *plan) attachmentRules(f masq.Family) (dnat, snat, jumps []ruleSpec) {
	dn, sn := p.chains()
	comment := []string{"-m", "comment", "--comment", p.attachment().Comment()}
	addrs := p.addrs(f)
	var mark string
	if b := p.MarkMasqBit; p.SNAT && b != nil && *b >= 0 && *b <= 31 {
		v := uint32(1) << *b
		mark = fmt.Sprintf("%#x/%#x", v, v)
	}
	// Sources that need masquerading: the container itself (hairpin) and,
	// for IPv4, the host's loopback (route_localnet makes it routable).
	var sources []string
	for _, a := range addrs {
		sources = append(sources, prefix(a))
	}
	if f == masq.IPv4 {
		sources = append(sources, "127.0.0.1/32")
	}
	type target struct {
		proto string
		port  int
	}
	seen := map[target]bool{}
	for _, m := range p.mappings(f) {
		var dst []string
		if ip, ok := m.hostAddr(); ok && !ip.IsUnspecified() {
			dst = []string{"-d", prefix(ip)}
		}
		if mark != "" {
			for _, s := range sources {
				dnat = append(dnat, ruleSpec{dn, cat([]string{"-s", s}, dst, port(m.Protocol, m.HostPort), comment,
					[]string{"-j", "MARK", "--set-xmark", mark})})
			}
		}
		// With several addresses the first one's rule wins (DNAT ends the
		// chain); the others only matter to CHECK and teardown.
		for _, a := range addrs {
			dnat = append(dnat, ruleSpec{dn, cat(dst, port(m.Protocol, m.HostPort), comment,
				[]string{"-j", "DNAT", "--to-destination", hostPort(a, m.ContainerPort)})})
		}
		if !p.SNAT || mark != "" {
			continue
		}
		if t := (target{m.Protocol, m.ContainerPort}); !seen[t] {
			seen[t] = true
			for _, a := range addrs {
				for _, s := range sources {
					snat = append(snat, ruleSpec{sn, cat([]string{"-s", s, "-d", prefix(a)}, port(m.Protocol, m.ContainerPort), comment,
						[]string{"-j", "MASQUERADE"})})
				}
			}
		}
	}
	if mark != "" {
		for _, a := range addrs {
			snat = append(snat, ruleSpec{sn, cat([]string{"-d", prefix(a), "-m", "mark", "--mark", mark}, comment, []string{"-j", "MASQUERADE"})})
		}
	}
	conds := p.ConditionsV4
	if f == masq.IPv6 {
		conds = p.ConditionsV6
	}
	jumps = append(jumps, ruleSpec{HostportsChain, cat(conds, comment, []string{"-j", dn})})
	if p.SNAT {
		jumps = append(jumps, ruleSpec{MasqChain, cat(comment, []string{"-j", sn})})
	}
	return dnat, snat, jumps
}

// setupBatch returns the restore batch that makes p's rules of family f
// exactly what they should be, given the family's nat table t: the shared
// chains and hooks are created only where t lacks them (declaring an
// existing chain would flush it), the attachment's chains are declared
// (created, or flushed), jumps to them left from an earlier ADD are
// deleted, and the rules and jumps appended. Without snat, a masquerade
// chain of an earlier ADD goes, and so does the shared one if that leaves
// it empty, keeping the shared chains exactly those some attachment uses
// (which sharedUse relies on).
func setupBatch(t *masq.Table, p *plan, f masq.Family) []byte {
	dn, sn := p.chains()
	var b bytes.Buffer
	b.WriteString("*nat\n")
	shared := []string{HostportsChain}
	if p.SNAT {
		shared = append(shared, MasqChain)
	}
	for _, c := range shared {
		if !t.Chains[c] {
			fmt.Fprintf(&b, ":%s - [0:0]\n", c)
		}
	}
	fmt.Fprintf(&b, ":%s - [0:0]\n", dn)
	if p.SNAT {
		fmt.Fprintf(&b, ":%s - [0:0]\n", sn)
	}
	for _, r := range t.Rules {
		if r.Target == dn || r.Target == sn {
			fmt.Fprintf(&b, "-D %s %s\n", r.Chain, r.Spec)
		}
	}
	if !p.SNAT && t.Chains[sn] {
		fmt.Fprintf(&b, "-F %s\n-X %s\n", sn, sn)
	}
	if !p.SNAT && t.Chains[MasqChain] && onlyJumpsTo(t, MasqChain, sn) {
		// snat was turned off and the shared masquerade chain is left
		// empty: it goes with its hook, as a DEL would take it.
		for _, r := range t.Rules {
			if r.Target == MasqChain {
				fmt.Fprintf(&b, "-D %s %s\n", r.Chain, r.Spec)
			}
		}
		fmt.Fprintf(&b, "-X %s\n", MasqChain)
	}
	for _, h := range hooks(p.SNAT) {
		if !hasJump(t, h.chain, h.args[len(h.args)-1]) {
			fmt.Fprintf(&b, "-I %s 1 %s\n", h.chain, h.text())
		}
	}
	return appendAttachment(&b, p, f)
}

// appendAttachment ends an ADD's batch: the attachment's rules appended,
// then COMMIT.
func appendAttachment(b *bytes.Buffer, p *plan, f masq.Family) []byte {
	dnat, snat, jumps := p.attachmentRules(f)
	for _, r := range catRules(dnat, snat, jumps) {
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

// onlyJumpsTo reports whether every rule of chain jumps to target.
func onlyJumpsTo(t *masq.Table, chain, target string) bool {
	for _, r := range t.Rules {
		if r.Chain == chain && r.Target != target {
			return false
		}
	}
	return true
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
