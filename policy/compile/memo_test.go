package compile

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"

	"github.com/weirnet/weir/policy"
)

// memoPolicies are policy files the churn below switches between: the
// same selectors with other rules, a policy renamed, one added, none.
var memoPolicies = []string{
	dbPolicy,
	dbPolicy + `
[[policy]]
name = "web-egress"
order = 50
selector = "app == 'web'"
types = ["egress"]
[[policy.egress]]
action = "allow"
to = { selector = "app == 'db'" }
`,
	`
[[policy]]
name = "db-accepts-web-renamed"
order = 100
selector = "app == 'db'"
[[policy.ingress]]
action = "deny"
protocol = "udp"
from = { nets = ["10.0.0.0/8"] }
`,
	`
[[policy]]
name = "everything"
selector = "all()"
types = ["ingress", "egress"]
`,
	"",
}

// randomEndpoint returns one of a small universe of endpoints, so that the
// churn joins, leaves and re-joins the same ones with other properties.
func randomEndpoint(r *rand.Rand) Endpoint {
	i := r.IntN(12)
	apps := []string{"db", "web", "cache"}
	e := Endpoint{
		Endpoint: policy.Endpoint{ID: fmt.Sprintf("c%d", i), IfName: "eth0", Network: "net",
			IPs:    []netip.Addr{netip.AddrFrom4([4]byte{10, 1, byte(r.IntN(2)), byte(2 + i)})},
			Labels: map[string]string{"app": apps[r.IntN(len(apps))]}},
		Mode: Host, PolicyDir: dir, HostIface: fmt.Sprintf("veth%010d", i), DefaultAction: policy.Allow,
	}
	switch r.IntN(6) {
	case 0:
		e.DefaultAction = policy.Deny
	case 1:
		e.IPs = append(e.IPs, netip.MustParseAddr(fmt.Sprintf("fd00::%x", 2+i)))
	case 2:
		e.IPs = append(e.IPs, netip.AddrFrom4([4]byte{10, 2, 0, byte(2 + i)})) // two IPv4: an address set
	case 3:
		e.IPs = nil // no address of either family
	case 4:
		e.Mode, e.HostIface, e.NetNS = NetNS, "", fmt.Sprintf("/run/netns/c%d", i)
	}
	return e
}

// TestCompileMemoEqualsCompile: through random joins, leaves, changes of
// labels, addresses, modes and policy files, with the memo carried from
// step to step (and every third step through its binary form), CompileMemo
// returns exactly what Compile does, and takes from the memo every
// endpoint that did not change.
func TestCompileMemoEqualsCompile(t *testing.T) {
	sets := make([]map[string]*policy.Set, len(memoPolicies))
	for i, src := range memoPolicies {
		sets[i] = loadPolicies(t, src)
	}
	r := rand.New(rand.NewPCG(1, 2))
	eps := map[string]Endpoint{}
	memo := NewMemo()
	pol := 0
	hits := 0
	for step := 0; step < 400; step++ {
		switch k := r.IntN(10); {
		case k < 5:
			e := randomEndpoint(r)
			eps[e.ID] = e
		case k < 8:
			for id := range eps {
				delete(eps, id)
				break
			}
		case k < 9:
			pol = r.IntN(len(sets))
		}
		list := make([]Endpoint, 0, len(eps))
		for _, e := range eps {
			list = append(list, e)
		}
		if step%3 == 0 {
			m, err := UnmarshalMemo(memo.MarshalBinary("stamp"), "stamp")
			if err != nil {
				t.Fatalf("step %d: memo round trip: %v", step, err)
			}
			memo = m
		}
		before := memo.Len()
		want, err := Compile(sets[pol], list)
		if err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		got, err := CompileMemo(sets[pol], list, memo)
		if err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("step %d: the memoised compilation differs from a fresh one", step)
		}
		inNS := 0 // host endpoints have no chains of their own (see classes.go)
		for _, e := range list {
			if e.Mode == NetNS {
				inNS++
			}
		}
		if memo.Hits+memo.Misses != 2*inNS || memo.Len() != 2*inNS {
			t.Fatalf("step %d: %d hits + %d misses, %d entries, for %d in-namespace endpoints", step, memo.Hits, memo.Misses, memo.Len(), inNS)
		}
		if before > 0 {
			hits += memo.Hits
		}
		// Compiling again changes nothing and generates nothing.
		again, err := CompileMemo(sets[pol], list, memo)
		if err != nil || !reflect.DeepEqual(again, want) || memo.Misses != 0 {
			t.Fatalf("step %d: recompiling: %v, %d misses", step, err, memo.Misses)
		}
	}
	if hits == 0 {
		t.Fatal("the memo was never used")
	}
}

func TestUnmarshalMemoRefusesOtherBuilds(t *testing.T) {
	sets := loadPolicies(t, dbPolicy)
	memo := NewMemo()
	e := ep("c1", "10.1.0.2", "", map[string]string{"app": "db"})
	e.Mode, e.NetNS = NetNS, "/run/netns/c1"
	if _, err := CompileMemo(sets, []Endpoint{e}, memo); err != nil {
		t.Fatal(err)
	}
	data := memo.MarshalBinary("build-a")
	if _, err := UnmarshalMemo(data, "build-b"); !errors.Is(err, ErrMemoFormat) {
		t.Fatalf("another build's memo: %v", err)
	}
	for _, bad := range [][]byte{nil, []byte("weir compile memo 0\n"), data[:len(data)-3], append(append([]byte{}, data...), 7)} {
		if _, err := UnmarshalMemo(bad, "build-a"); !errors.Is(err, ErrMemoFormat) {
			t.Errorf("damaged memo %q...: %v", bad[:min(len(bad), 24)], err)
		}
	}
	m, err := UnmarshalMemo(data, "build-a")
	if err != nil || m.Len() != memo.Len() || m.Len() == 0 {
		t.Fatalf("own memo: %v, %d entries", err, m.Len())
	}
}
