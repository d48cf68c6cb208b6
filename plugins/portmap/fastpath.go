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
// refused batch falls back to the batch computed from iptables-save.
// Which shared chains other attachments use is predicted from their
// records (sharedUse); a wrong prediction costs that fallback, never a
// wrong table. The kernel is asked too, where it can tell cheaply:
// MasqChain has its shared rules when the hairpin set is referenced (only
// they match on it), and no attachment masquerades by set membership any
// more when the family's sets are empty. A masquerading attachment's
// hairpin and localhost traffic are set members (sets.go), added and
// deleted over netlink, so the batches add and delete only the DNAT chain
// and its jump (and, with markMasqBit, the attachment's rules by mark).
//
// One thing the fast ADD takes on trust: a shared chain that exists is
// taken to have its hooks and rules, since weir creates and removes them
// in the same batches. A hook or shared rule deleted by hand is reported
// by CHECK and put back by the ADD that reads the table (a re-ADD, or the
// first ADD after the shared chain is gone).

// sharedChains says which of the shared chains have rules of attachments
// other than the one being added or deleted, in one family.
type sharedChains struct {
	hostports bool // WEIR-HOSTPORTS
	masq      bool // MasqChain, beyond its shared rules
}

// freshBatch returns the batch that adds p's rules of family f when the
// attachment has none: its DNAT chain is created with -N (refused when it
// exists), and so is WEIR-HOSTPORTS with its hooks when hostportsInUse
// says nobody else has it, and MasqChain with its hook and shared rules
// when newMasq says it is not there; a shared chain taken to exist is
// only appended to (refused when it does not exist). A chain the batch
// creates had no jumps to it, so when the batch applies the table holds
// exactly what setupBatch would have made of it.
func freshBatch(p *plan, f masq.Family, hostportsInUse, newMasq bool) []byte {
	dn, _ := p.chains()
	var b bytes.Buffer
	b.WriteString("*nat\n")
	newHostports := !hostportsInUse
	newMasq = newMasq && p.SNAT
	if newHostports {
		fmt.Fprintf(&b, "-N %s\n", HostportsChain)
	}
	if newMasq {
		fmt.Fprintf(&b, "-N %s\n", MasqChain)
	}
	fmt.Fprintf(&b, "-N %s\n", dn)
	for _, h := range hooks(p.SNAT) {
		if target := h.args[len(h.args)-1]; (target == HostportsChain && newHostports) || (target == MasqChain && newMasq) {
			fmt.Fprintf(&b, "-I %s 1 %s\n", h.chain, h.text())
		}
	}
	if newMasq {
		for _, r := range masqRules(f) {
			fmt.Fprintf(&b, "-A %s %s\n", r.chain, r.text())
		}
	}
	return appendAttachment(&b, p, f)
}

// knownTeardownBatch returns the batch that deletes exactly the rules
// freshBatch or setupBatch wrote for p in family f — the jump by its
// specification, the DNAT chain, p's own rules in MasqChain — and, when
// dropHostports, WEIR-HOSTPORTS with its hooks, and when dropMasq,
// MasqChain with its hook and shared rules. It is refused when any of
// those rules is missing, and when a shared chain it deletes still has
// rules, so it never takes another attachment's jump or rule with it.
func knownTeardownBatch(p *plan, f masq.Family, dropHostports, dropMasq bool) []byte {
	dn, _ := p.chains()
	_, masqs, jumps := p.attachmentRules(f)
	var b bytes.Buffer
	b.WriteString("*nat\n")
	for _, r := range catRules(jumps, masqs) {
		fmt.Fprintf(&b, "-D %s %s\n", r.chain, r.text())
	}
	fmt.Fprintf(&b, "-F %s\n-X %s\n", dn, dn)
	if dropHostports {
		dropShared(&b, HostportsChain, nil)
	}
	if dropMasq {
		dropShared(&b, MasqChain, masqRules(f))
	}
	b.WriteString("COMMIT\n")
	return b.Bytes()
}

// dropShared writes the lines that delete a shared chain: its own rules,
// its hooks, then the chain.
func dropShared(b *bytes.Buffer, chain string, rules []ruleSpec) {
	for _, r := range rules {
		fmt.Fprintf(b, "-D %s %s\n", r.chain, r.text())
	}
	for _, h := range hooks(true) {
		if h.args[len(h.args)-1] == chain {
			fmt.Fprintf(b, "-D %s %s\n", h.chain, h.text())
		}
	}
	fmt.Fprintf(b, "-X %s\n", chain)
}
