package dataplane

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/weirnet/weir/internal/sandbox"
)

// TestKernelEditKeepsOrder is the reduced form of a chaos churn finding: in a
// container's WEIR-IN chain (one block of rules per policy, some rules
// repeated in every block) the kernel held the compiled rules in another
// order. A chain of editMin (16) rules or more that loses rules is edited
// in place, deleting each rule by its specification — and iptables deletes
// the first rule that matches, not the one meant, when the rule occurs
// twice. Rule order decides verdicts.
func TestKernelEditKeepsOrder(t *testing.T) {
	sandbox.Require(t)
	dir := t.TempDir()
	w := New(Config{LockPath: filepath.Join(dir, "lock"), CacheDir: dir})
	key := ChainKey(Filter, IPv4, "WEIR-CHAOS")
	state := func(rules []string) State {
		s := NewState()
		s.Chains[key] = Chain{Table: Filter, Family: IPv4, Name: "WEIR-CHAOS", Rules: rules}
		s.Hooks = []Hook{{Table: Filter, Family: IPv4, Chain: "FORWARD", Rule: `-m comment --comment "weir: chaos" -j WEIR-CHAOS`}}
		return s
	}
	var old []string
	for i := 0; i < 10; i++ {
		old = append(old, fmt.Sprintf(`-s 10.0.0.%d/32 -m comment --comment "weir: policy=p%d" -j RETURN`, i, i),
			`-m mark --mark 0x200000/0x200000 -m comment --comment "weir: id=c1 if=eth0" -j ACCEPT`)
	}
	// Policy p3's block goes: its rule and the repeated one after it.
	next := append(slices.Clone(old[:6]), old[8:]...)
	ctx := context.Background()
	t.Cleanup(func() { _, _ = w.Apply(ctx, NewState()) })
	if _, err := w.Apply(ctx, state(old)); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Apply(ctx, state(next)); err != nil {
		t.Fatal(err)
	}
	have, err := w.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want, err := state(next).Canonical()
	if err != nil {
		t.Fatal(err)
	}
	got, exp := have.Chains[key].Rules, want.Chains[key].Rules
	if !slices.Equal(got, exp) {
		for i := range max(len(got), len(exp)) {
			var g, e string
			if i < len(got) {
				g = got[i]
			}
			if i < len(exp) {
				e = exp[i]
			}
			if g != e {
				t.Logf("rule %d: kernel %q, applied %q", i+1, g, e)
			}
		}
		t.Errorf("after an in-place edit the chain's rules are in another order than applied (a repeated rule was deleted by specification)")
	}
}
