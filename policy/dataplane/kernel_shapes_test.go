package dataplane

import (
	"context"
	"strings"
	"testing"

	"github.com/containernetworking/plugins/pkg/ns"

	"github.com/weirnet/weir/internal/sandbox"
)

// TestKernelPrintsCanonicalRules writes every rule shape through the real
// iptables-restore of each backend, in a fresh namespace, and checks that
// iptables-save prints exactly what CanonicalRule predicts.
func TestKernelPrintsCanonicalRules(t *testing.T) {
	sandbox.Require(t)
	for _, b := range []Backend{NFT, Legacy} {
		t.Run(string(b), func(t *testing.T) {
			r, err := NewExecRunner(b)
			if err != nil {
				t.Fatal(err)
			}
			n := sandbox.NewNS(t)
			var got map[Family][]string
			err = n.Do(func(ns.NetNS) error {
				var err error
				got, err = roundTripShapes(context.Background(), r)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			i := map[Family]int{}
			for _, tc := range ruleShapes {
				rules := got[tc.fam]
				k := i[tc.fam]
				i[tc.fam]++
				if k >= len(rules) {
					t.Fatalf("%s: only %d rules read back", tc.fam, len(rules))
				}
				if rules[k] != tc.print {
					t.Errorf("%s %q\n printed %q\n    want %q", tc.fam, tc.in, rules[k], tc.print)
				}
			}
		})
	}
}

func roundTripShapes(ctx context.Context, r Runner) (map[Family][]string, error) {
	sets := "create weir-rt4 hash:ip family inet\ncreate weir-rt6 hash:net family inet6\n"
	if err := r.IPSetRestore(ctx, []byte(sets)); err != nil {
		return nil, err
	}
	out := map[Family][]string{}
	for _, f := range []Family{IPv4, IPv6} {
		var b strings.Builder
		b.WriteString("*filter\n:WEIR-RT - [0:0]\n:WEIR-RT-T - [0:0]\n")
		for _, tc := range ruleShapes {
			if tc.fam == f {
				b.WriteString(strings.TrimSpace("-A WEIR-RT "+tc.in) + "\n")
			}
		}
		b.WriteString("COMMIT\n")
		if err := r.Restore(ctx, f, []byte(b.String())); err != nil {
			return nil, err
		}
		save, err := r.Save(ctx, f, Filter)
		if err != nil {
			return nil, err
		}
		obs := newObserved()
		parseIPTablesSave(f, save, &obs, nil)
		out[f] = obs.Chains[ChainKey(Filter, f, "WEIR-RT")].Rules
	}
	return out, nil
}
