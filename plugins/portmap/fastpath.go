package portmap

import (
	"bytes"
	"fmt"

	"github.com/weirnet/weir/plugins/internal/masq"
)

// The batches of the common ADD and DEL, which do not read the nat table:
// its iptables-save grows with every published container on the host, and
// reading it made the thousandth ADD ten times slower than the tenth.
// Instead each batch states what it expects of the table in lines that make
// iptables-restore refuse it as a whole when the table is otherwise (-N of
// a chain that exists, -A to or -D from a chain that does not, -D of a rule
// that is not there, -X of a chain that keeps rules or jumps), and a
// refused batch falls back to the batch computed from iptables-save. Which
// shared chains to expect is predicted from the other records (sharedUse);
// a wrong prediction costs that fallback, never a wrong table.
//
// One thing the fast ADD takes on trust: a shared chain that exists is
// taken to have its hooks, since weir creates and removes them in the same
// batches. A hook deleted by hand is reported by CHECK and put back by the
// ADD that reads the table (a re-ADD, or the first ADD after the shared
// chain is gone).

// sharedChains says which of the shared chains have rules of attachments
// other than the one being added or deleted, in one family.
type sharedChains struct {
	hostports bool // WEIR-HOSTPORTS
	masq      bool // WEIR-HOSTPORTS-MASQ
}

// freshBatch returns the batch that adds p's rules of family f when the
// attachment has none: its chains are created with -N (refused when one
// exists), and so are the shared chains that inUse says nobody else has,
// with their hooks; a shared chain inUse says exists is only appended to
// (refused when it does not exist). A chain the batch creates had no jumps
// to it, so when the batch applies the table holds exactly what setupBatch
// would have made of it.
func freshBatch(p *plan, f masq.Family, inUse sharedChains) []byte {
	dn, sn := p.chains()
	var b bytes.Buffer
	b.WriteString("*nat\n")
	newHostports := !inUse.hostports
	newMasq := p.SNAT && !inUse.masq
	if newHostports {
		fmt.Fprintf(&b, "-N %s\n", HostportsChain)
	}
	if newMasq {
		fmt.Fprintf(&b, "-N %s\n", MasqChain)
	}
	fmt.Fprintf(&b, "-N %s\n", dn)
	if p.SNAT {
		fmt.Fprintf(&b, "-N %s\n", sn)
	}
	for _, h := range hooks(p.SNAT) {
		if target := h.args[len(h.args)-1]; (target == HostportsChain && newHostports) || (target == MasqChain && newMasq) {
			fmt.Fprintf(&b, "-I %s 1 %s\n", h.chain, h.text())
		}
	}
	return appendAttachment(&b, p, f)
}

// knownTeardownBatch returns the batch that deletes exactly the rules
// freshBatch or setupBatch wrote for p in family f — the jumps from the
// shared chains by their specification, then the attachment's chains — and
// the shared chains with their hooks that inUse says nobody else has. It is
// refused when any of those rules is missing, and when a shared chain it
// deletes still has rules, so it never takes another attachment's jump
// with it.
func knownTeardownBatch(p *plan, f masq.Family, inUse sharedChains) []byte {
	dn, sn := p.chains()
	_, _, jumps := p.attachmentRules(f)
	var b bytes.Buffer
	b.WriteString("*nat\n")
	for _, j := range jumps {
		fmt.Fprintf(&b, "-D %s %s\n", j.chain, j.text())
	}
	fmt.Fprintf(&b, "-F %s\n-X %s\n", dn, dn)
	if p.SNAT {
		fmt.Fprintf(&b, "-F %s\n-X %s\n", sn, sn)
	}
	for _, s := range []struct {
		chain string
		drop  bool
	}{{HostportsChain, !inUse.hostports}, {MasqChain, p.SNAT && !inUse.masq}} {
		if !s.drop {
			continue
		}
		for _, h := range hooks(true) {
			if h.args[len(h.args)-1] == s.chain {
				fmt.Fprintf(&b, "-D %s %s\n", h.chain, h.text())
			}
		}
		fmt.Fprintf(&b, "-X %s\n", s.chain)
	}
	b.WriteString("COMMIT\n")
	return b.Bytes()
}
