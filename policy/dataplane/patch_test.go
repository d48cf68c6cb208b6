package dataplane

import (
	"errors"
	"testing"
)

// TestPatch: a patch writes the same batches an Apply of the patched state
// would (an inserted rule, added members), leaves the cache as that Apply
// would (a later Apply of the state writes nothing), and refuses, writing
// nothing, what does not fit the cache.
func TestPatch(t *testing.T) {
	f := newFake()
	w := fakeWriter(t, f)
	before := demoState([]string{"10.0.0.1"}, "a", "b")
	mustApply(t, w, before)
	f.take()

	after := demoState([]string{"10.0.0.1", "10.0.0.9"}, "a", "b", "c")
	fwd := after.Chains[ChainKey(Filter, IPv4, "WEIR-FORWARD")]
	// The third endpoint's chain is not a patch: give it as existing
	// (Apply it first), then patch the dispatch and the peers.
	mid := demoState([]string{"10.0.0.1"}, "a", "b")
	mid.Chains[ChainKey(Filter, IPv4, "WEIR-EP-c")] = after.Chains[ChainKey(Filter, IPv4, "WEIR-EP-c")]
	mustApply(t, w, mid)
	f.take()

	ctx := t.Context()
	for _, bad := range []Patch{
		{Chains: []Chain{{Table: Filter, Family: IPv4, Name: "WEIR-NOPE", Rules: fwd.Rules}}},
		{Required: map[string][]string{"weir-nope": {"10.0.0.9"}}},
		{Exist: []string{ChainKey(Filter, IPv4, "WEIR-NOPE")}},
		{Required: map[string][]string{"weir-peers": {"10.0.0.1"}}, Remove: true}, // would empty it
	} {
		if _, err := w.Patch(ctx, bad); !errors.Is(err, ErrNotPatchable) {
			t.Errorf("patch %+v: %v, want ErrNotPatchable", bad, err)
		}
		if calls := f.take(); len(calls) != 0 {
			t.Errorf("a refused patch ran %q", calls)
		}
	}

	st, err := w.Patch(ctx, Patch{Chains: []Chain{fwd}, Required: map[string][]string{"weir-peers": {"10.0.0.9"}},
		Optional: map[string][]string{"weir-absent": {"10.0.0.9"}}})
	if err != nil {
		t.Fatal(err)
	}
	checkCalls(t, f.take(),
		"ipset restore\nadd weir-peers 10.0.0.9 -exist\n",
		"restore ipv4\n"+
			"*filter\n"+
			`-A WEIR-FORWARD -m physdev --physdev-in veth-c --physdev-is-bridged -m comment --comment "weir: container c" -g WEIR-EP-c`+"\n"+
			"COMMIT\n")
	if st.ChainsEdited != 1 || st.MembersAdded != 1 || !st.FromCache {
		t.Errorf("stats %+v", st)
	}
	// The cache is what Apply of the whole state leaves: nothing to do,
	// for this Writer and for a fresh one (seeded from the cache file).
	if st := mustApply(t, w, after); st.Restores != 0 || st.Reads != 0 {
		t.Errorf("Apply after the patch: %+v", st)
	}
	w2 := New(w.cfg)
	if st := mustApply(t, w2, after); st.Restores != 0 || st.Reads != 0 {
		t.Errorf("a fresh Writer's Apply after the patch: %+v", st)
	}
	f.take()

	// And back: the patch removing the member and the jump.
	st, err = w.Patch(ctx, Patch{Chains: []Chain{mid.Chains[ChainKey(Filter, IPv4, "WEIR-FORWARD")]},
		Required: map[string][]string{"weir-peers": {"10.0.0.9"}}, Remove: true})
	if err != nil {
		t.Fatal(err)
	}
	if calls := f.take(); len(calls) != 2 {
		t.Errorf("the removing patch ran %q", calls)
	}
	if st.RulesDeleted != 1 || st.MembersRemoved != 1 {
		t.Errorf("stats %+v", st)
	}
	if st := mustApply(t, w, mid); st.Restores != 0 {
		t.Errorf("Apply after the removing patch: %+v", st)
	}
}
