package masq

import (
	"context"
	"errors"
	"fmt"
	"net"
)

// Masq writes and removes attachments' masquerade rules through a Runner.
type Masq struct {
	run Runner
}

// New returns a Masq that runs the host's iptables tools.
func New() *Masq { return &Masq{run: ExecRunner{}} }

// NewWithRunner returns a Masq over r (a fake, in tests).
func NewWithRunner(r Runner) *Masq { return &Masq{run: r} }

var families = []Family{IPv4, IPv6}

func familyOf(ip net.IP) Family {
	if ip.To4() != nil {
		return IPv4
	}
	return IPv6
}

// byFamily splits addrs by family.
func byFamily(addrs []net.IPNet) map[Family][]net.IPNet {
	out := map[Family][]net.IPNet{}
	for _, a := range addrs {
		f := familyOf(a.IP)
		out[f] = append(out[f], a)
	}
	return out
}

func (m *Masq) table(ctx context.Context, f Family) (*natTable, error) {
	data, err := m.run.Save(ctx, f)
	if err != nil {
		return nil, err
	}
	return parseSave(data)
}

// Setup makes traffic from each of addrs (the container's addresses with
// their subnets) that leaves its subnet, other than multicast, leave with
// the host's address. It replaces whatever rules the attachment had, so
// calling it again is harmless.
//
// The common case, an attachment without rules, is one restore per family
// of addrs and no read of the table: the batch creates the chain with -N,
// and iptables-restore refuses it as a whole when the chain exists. Only
// then (an earlier Setup of the attachment, or its crash) does Setup read
// the family's nat table and replace the attachment's rules from it.
func (m *Masq) Setup(ctx context.Context, a Attachment, addrs []net.IPNet) error {
	split := byFamily(addrs)
	for _, f := range families {
		fa := split[f]
		if len(fa) == 0 {
			continue
		}
		err := m.run.Restore(ctx, f, freshBatch(a, f, fa))
		if err == nil {
			continue
		}
		if errors.Is(err, ErrNotInstalled) {
			return fmt.Errorf("setting up %s masquerade for %s: %w", f, a.Chain(), err)
		}
		t, err := m.table(ctx, f)
		if err != nil {
			return fmt.Errorf("setting up %s masquerade for %s: %w", f, a.Chain(), err)
		}
		if err := m.run.Restore(ctx, f, setupBatch(t, a, f, fa)); err != nil {
			return fmt.Errorf("setting up %s masquerade for %s: %w", f, a.Chain(), err)
		}
	}
	return nil
}

// Teardown removes the attachment's chain and every rule jumping to it,
// without needing its addresses. A missing chain is success; so is a family
// whose tools are not installed.
//
// When the attachment's addresses are known (DEL's prevResult), each of
// their families is torn down with one restore of exactly the rules Setup
// wrote, and the other family is left alone: one fork instead of a save and a
// restore per family. Should that batch not apply (the rules were already
// changed or removed), the family falls back to the save-based removal.
func (m *Masq) Teardown(ctx context.Context, a Attachment, known []net.IPNet) error {
	fams := families
	byFam := byFamily(known)
	if len(known) > 0 {
		fams = nil
		for _, f := range families {
			if len(byFam[f]) > 0 {
				fams = append(fams, f)
			}
		}
	}
	var errs []error
	for _, f := range fams {
		if len(byFam[f]) > 0 && m.run.Restore(ctx, f, knownTeardownBatch(a, f, byFam[f])) == nil {
			continue
		}
		if err := m.remove(ctx, f, func(t *natTable) []string { return []string{a.Chain()} }); err != nil {
			errs = append(errs, fmt.Errorf("removing %s masquerade for %s: %w", f, a.Chain(), err))
		}
	}
	return errors.Join(errs...)
}

// GC removes the masquerade chains of network whose attachment is not one of
// valid, in both families: one save, and one restore if anything is stale,
// per family.
func (m *Masq) GC(ctx context.Context, network string, valid []Attachment) error {
	keep := map[string]bool{}
	for _, a := range valid {
		keep[a.Chain()] = true
	}
	var errs []error
	for _, f := range families {
		if err := m.remove(ctx, f, func(t *natTable) []string { return staleChains(t, network, keep) }); err != nil {
			errs = append(errs, fmt.Errorf("collecting %s masquerade chains of network %s: %w", f, network, err))
		}
	}
	return errors.Join(errs...)
}

// remove deletes the chains pick chooses from the family's nat table.
func (m *Masq) remove(ctx context.Context, f Family, pick func(*natTable) []string) error {
	t, err := m.table(ctx, f)
	if errors.Is(err, ErrNotInstalled) {
		return nil
	}
	if err != nil {
		return err
	}
	batch := teardownBatch(t, pick(t))
	if batch == nil {
		return nil
	}
	return m.run.Restore(ctx, f, batch)
}

// Check verifies that the attachment's chain exists and that each of addrs
// has its jump to it.
func (m *Masq) Check(ctx context.Context, a Attachment, addrs []net.IPNet) error {
	chain := a.Chain()
	for f, fa := range byFamily(addrs) {
		t, err := m.table(ctx, f)
		if err != nil {
			return fmt.Errorf("checking %s masquerade for %s: %w", f, chain, err)
		}
		if !t.chains[chain] {
			return fmt.Errorf("%s masquerade chain %s is missing", f, chain)
		}
		masq := false
		for _, r := range t.rules {
			if r.chain == chain && r.target == "MASQUERADE" {
				masq = true
			}
		}
		if !masq {
			return fmt.Errorf("%s masquerade chain %s has no MASQUERADE rule", f, chain)
		}
		for _, n := range fa {
			src := hostPrefix(n.IP, f)
			found := false
			for _, r := range t.rules {
				if r.chain == "POSTROUTING" && r.target == chain && ruleSource(r) == src {
					found = true
					break
				}
			}
			if !found {
				return fmt.Errorf("POSTROUTING jump from %s to %s is missing", src, chain)
			}
		}
	}
	return nil
}

// ruleSource returns the -s argument of r.
func ruleSource(r rule) string {
	args, err := splitArgs(r.spec)
	if err != nil {
		return ""
	}
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "-s" || args[i] == "--source" {
			return args[i+1]
		}
	}
	return ""
}
