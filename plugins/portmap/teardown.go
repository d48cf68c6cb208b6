package portmap

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/weirnet/weir/plugins/internal/masq"
)

// teardownBatch returns the batch that removes the given attachment chains
// and every rule jumping to them from t, and then each shared chain that is
// left empty together with its hooks; nil when there is nothing to remove.
func teardownBatch(t *masq.Table, chains []string) []byte {
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
	for _, s := range []string{HostportsChain, MasqChain} {
		if !t.Chains[s] {
			continue
		}
		left := 0
		for _, r := range t.Rules {
			if r.Chain == s && !gone[r.Target] {
				left++
			}
		}
		if left > 0 {
			continue
		}
		for _, r := range t.Rules {
			if r.Target == s {
				fmt.Fprintf(&body, "-D %s %s\n", r.Chain, r.Spec)
			}
		}
		fmt.Fprintf(&body, "-X %s\n", s)
	}
	if body.Len() == 0 {
		return nil
	}
	return append(append([]byte("*nat\n"), body.Bytes()...), "COMMIT\n"...)
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
