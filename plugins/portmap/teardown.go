package portmap

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/weirnet/weir/plugins/internal/masq"
)

// teardownBatch returns the batch that removes from t the given
// attachment chains (DNAT chains, and older weir's masquerade chains) and
// every rule jumping to them, the rules of the shared chains whose comment
// owned chooses (with markMasqBit, an attachment's masquerade by mark),
// and then each shared chain that is left without an attachment's rule,
// together with its hooks: WEIR-HOSTPORTS when no jump is left,
// MasqChain when only the shared masquerade rules are left and setsEmpty
// says no attachment has a member in the family's sets. masqGone says
// MasqChain goes (the caller destroys the sets after it). The batch is nil
// when there is nothing to remove.
func teardownBatch(t *masq.Table, chains []string, owned func(comment string) bool, setsEmpty bool) (batch []byte, masqGone bool) {
	gone := map[string]bool{}
	var body bytes.Buffer
	for _, c := range chains {
		if gone[c] {
			continue
		}
		for _, r := range t.Rules {
			if r.Target == c {
				fmt.Fprintf(&body, "-D %s %s\n", r.Chain, r.Spec)
			}
		}
		if t.Chains[c] {
			fmt.Fprintf(&body, "-F %s\n-X %s\n", c, c)
			gone[c] = true
		}
	}
	dropped := map[int]bool{}
	for i, r := range t.Rules {
		if (r.Chain == HostportsChain || r.Chain == MasqChain) && !gone[r.Target] && !strings.HasPrefix(r.Target, "WEIR-") &&
			!isMasqRule(r) && owned(r.Comment) {
			fmt.Fprintf(&body, "-D %s %s\n", r.Chain, r.Spec)
			dropped[i] = true
		}
	}
	for _, s := range []string{HostportsChain, MasqChain} {
		if !t.Chains[s] {
			continue
		}
		left := 0
		for i, r := range t.Rules {
			if r.Chain == s && !gone[r.Target] && !dropped[i] && !isMasqRule(r) {
				left++
			}
		}
		if left > 0 || (s == MasqChain && !setsEmpty) {
			continue
		}
		for _, r := range t.Rules {
			if (r.Chain == s && isMasqRule(r)) || r.Target == s {
				fmt.Fprintf(&body, "-D %s %s\n", r.Chain, r.Spec)
			}
		}
		fmt.Fprintf(&body, "-X %s\n", s)
		masqGone = masqGone || s == MasqChain
	}
	if body.Len() == 0 {
		return nil, false
	}
	return append(append([]byte("*nat\n"), body.Bytes()...), "COMMIT\n"...), masqGone
}

// ownedBy returns an owned function of teardownBatch and dropMembers that
// chooses the comment of one attachment.
func ownedBy(comment string) func(string) bool {
	return func(c string) bool { return c == comment }
}

// staleChains returns the attachment chains in t whose rules name network
// in their comment and that are not in keep, each with its partner (an
// attachment's DNAT and masquerade chains share their hash), which may have
// no rule to name the network by.
func staleChains(t *masq.Table, network string, keep map[string]bool) []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range t.Rules {
		for _, c := range []string{r.Chain, r.Target} {
			id, ok := strings.CutPrefix(c, DNATPrefix)
			if !ok {
				id, ok = strings.CutPrefix(c, SNATPrefix)
			}
			if !ok || seen[id] || keep[c] {
				continue
			}
			if n, ok := masq.CommentNetwork(r.Comment); ok && n == network {
				seen[id] = true
				out = append(out, DNATPrefix+id, SNATPrefix+id)
			}
		}
	}
	return out
}
