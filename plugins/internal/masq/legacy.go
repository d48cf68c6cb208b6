package masq

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
)

// Older weir gave each attachment its own nat chain (Attachment.LegacyChain)
// and a "-s ADDR/32 -j CHAIN" POSTROUTING jump per address, every rule
// commented with the attachment (Attachment.Comment). A host upgraded with
// containers attached still has them: Teardown removes an attachment's when
// it finds nothing of the attachment in the sets, GC removes those of
// attachments no longer valid, and Check accepts them.

// isAttachmentComment tells an attachment's comment ("weir: net=N id=C
// if=I") from a group's.
func isAttachmentComment(c string) bool {
	_, rest, ok := strings.Cut(c, "weir: net=")
	return ok && strings.Contains(rest, " id=")
}

// staleLegacyChains returns the legacy chains whose rules name network in
// an attachment's comment and that are not one of valid, in order of first
// appearance. A chain whose rules carry no weir comment is left alone: it
// cannot be told apart from another network's. Group chains carry a
// group's comment and are never returned.
func staleLegacyChains(t *natTable, network string, valid map[string]bool) []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range t.rules {
		var chain string
		switch {
		case strings.HasPrefix(r.target, ChainPrefix):
			chain = r.target
		case strings.HasPrefix(r.chain, ChainPrefix):
			chain = r.chain
		default:
			continue
		}
		if seen[chain] || valid[chain] || !isAttachmentComment(r.comment) {
			continue
		}
		if n, ok := commentNetwork(r.comment); ok && n == network {
			seen[chain] = true
			out = append(out, chain)
		}
	}
	return out
}

// removeLegacy deletes the attachment's legacy chain and every jump to it
// from the family's nat table: one save, and one restore if it is there. A
// family without its tools has nothing to remove.
func (m *Masq) removeLegacy(ctx context.Context, f Family, a Attachment) error {
	t, err := m.table(ctx, f)
	if errors.Is(err, ErrNotInstalled) {
		return nil
	}
	if err != nil {
		return err
	}
	batch := teardownBatch(t, []string{a.LegacyChain()})
	if batch == nil {
		return nil
	}
	return m.run.Restore(ctx, f, batch)
}

// checkLegacy verifies that the attachment's legacy chain masquerades and
// that each of addrs (all of family f) jumps to it.
func checkLegacy(t *natTable, a Attachment, f Family, addrs []net.IP) error {
	chain := a.LegacyChain()
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
	for _, ip := range addrs {
		src := hostPrefix(ip, f)
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
