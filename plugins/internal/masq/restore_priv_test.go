package masq

import (
	"context"
	"strings"
	"testing"

	"github.com/weirnet/weir/internal/sandbox"
)

// TestKernelRestoreRefusesWholeBatch proves, on this host's iptables
// backend (nf_tables or legacy), what the batches that do not read the
// table first rely on: iptables-restore --noflush refuses a batch as a
// whole, applying none of its lines, when it creates a chain that exists
// (-N), appends to a chain that does not (-A), deletes a rule that is not
// there (-D), or deletes a chain that still has rules or is jumped to (-X);
// and a batch may delete a chain's rules and jumps and then the chain.
func TestKernelRestoreRefusesWholeBatch(t *testing.T) {
	sandbox.Require(t)
	ctx := context.Background()
	run := ExecRunner{}
	for _, f := range families {
		t.Run(f.String(), func(t *testing.T) {
			apply := func(lines ...string) error {
				return run.Restore(ctx, f, []byte("*nat\n"+strings.Join(lines, "\n")+"\nCOMMIT\n"))
			}
			must := func(lines ...string) {
				t.Helper()
				if err := apply(lines...); err != nil {
					t.Fatalf("batch %q: %v", lines, err)
				}
			}
			// The probe lines come first: had the batch been applied up to
			// the failing line, WEIR-T-PROBE would exist afterwards.
			probe := []string{"-N WEIR-T-PROBE", "-A WEIR-T-PROBE -j RETURN", "-A POSTROUTING -o weirnowhere -j WEIR-T-PROBE"}
			refused := func(why string, lines ...string) {
				t.Helper()
				err := apply(append(append([]string{}, probe...), lines...)...)
				if err == nil {
					t.Errorf("%s: the batch applied", why)
				}
				if rules := natRules(t, f); rules.Has("WEIR-T-PROBE") {
					t.Errorf("%s: the batch applied in part (%v):\n%s", why, err, rules)
					must("-D POSTROUTING -o weirnowhere -j WEIR-T-PROBE", "-F WEIR-T-PROBE", "-X WEIR-T-PROBE")
				}
			}

			must("-N WEIR-T-FULL", "-A WEIR-T-FULL -j RETURN", "-N WEIR-T-USED", "-A POSTROUTING -o weirnowhere -j WEIR-T-USED")
			refused("-N of an existing chain", "-N WEIR-T-FULL")
			refused("-A to a missing chain", "-A WEIR-T-MISSING -j RETURN")
			refused("-D of a missing rule", "-D POSTROUTING -o weirnowhere -j WEIR-T-FULL")
			refused("-X of a chain with rules", "-X WEIR-T-FULL")
			refused("-X of a chain that is jumped to", "-X WEIR-T-USED")

			// Deleting the jumps and rules first, in the same batch, frees
			// the chains.
			must("-D POSTROUTING -o weirnowhere -j WEIR-T-USED", "-X WEIR-T-USED", "-F WEIR-T-FULL", "-X WEIR-T-FULL")
			if rules := natRules(t, f); rules.Has("WEIR-T-") {
				t.Errorf("chains left after their removal:\n%s", rules)
			}
		})
	}
}
