package policy_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/weirnet/weir/internal/sandbox"
	"github.com/weirnet/weir/policy"
	"github.com/weirnet/weir/policy/compile"
	"github.com/weirnet/weir/policy/dataplane"
	"github.com/weirnet/weir/policy/enforce"
)

// Fifty ADDs and DELs under policy at once: 25 containers attached
// concurrently, then 13 of them detached while 12 more are attached. The
// kernel then holds exactly what the current files compile to for the
// engine's endpoints, and the engine knows exactly the containers left.
func TestPolicyParallelAddDel(t *testing.T) {
	sandbox.Require(t)
	l := newLab(t, bridgeList("parnet", "polbr10", "10.210.10.0/24", ""))
	l.writePolicies(matrixPolicies + `
[[policy]]
name = "web-from-cache"
order = 50
selector = "app == 'web'"
[[policy.ingress]]
action = "allow"
protocol = "tcp"
ports = [80]
from = { selector = "app == 'cache'" }
`)
	apps := []string{"web", "db", "cache", "other"}
	prepare := func(from, to int) []*container {
		var cs []*container
		for i := from; i < to; i++ {
			cs = append(cs, l.prepare(fmt.Sprintf("par%02d", i), app(apps[i%len(apps)])))
		}
		return cs
	}
	first, second := prepare(0, 25), prepare(25, 37)

	if err := concurrently(first, l.attach); err != nil {
		t.Fatal(err)
	}
	l.expectState("after 25 parallel ADDs", first)

	var gone, kept []*container
	for i, c := range first {
		if i%2 == 0 {
			gone = append(gone, c)
		} else {
			kept = append(kept, c)
		}
	}
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, step := range []struct {
		cs []*container
		do func(*container) error
	}{{gone, l.detach}, {second, l.attach}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := concurrently(step.cs, step.do)
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	left := append(slices.Clone(kept), second...)
	l.expectState(fmt.Sprintf("after %d DELs and %d ADDs in parallel", len(gone), len(second)), left)

	// Packets agree, on two containers of each app.
	var sample []*container
	for _, a := range apps {
		n := 0
		for _, c := range left {
			if c.labels["app"] == a && n < 2 {
				sample = append(sample, c)
				n++
			}
		}
	}
	if allowed, denied := l.matrix(sample, policy.TCP, l.ports, policy.Allow); allowed == 0 || denied == 0 {
		t.Errorf("the sample matrix has %d allowed and %d denied probes", allowed, denied)
	}
}

// concurrently runs do for every container at once and joins the errors.
func concurrently(cs []*container, do func(*container) error) error {
	errs := make([]error, len(cs))
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = do(c)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// expectState checks that the engine's endpoints are exactly cs and that
// the host's dataplane, read back, is what the current files compile to
// for them.
func (l *lab) expectState(when string, cs []*container) {
	l.t.Helper()
	var want []string
	for _, c := range cs {
		want = append(want, enforce.Key(l.list.Name, c.name, "eth0"))
	}
	sort.Strings(want)
	if got := l.endpointNames(); !slices.Equal(got, want) {
		l.t.Errorf("%s: the engine's endpoints are\n%v\nwant\n%v", when, got, want)
	}
	e := l.engine()
	eps, err := e.Endpoints()
	if err != nil {
		l.t.Fatal(err)
	}
	sets, err := enforce.LoadPolicies(eps)
	if err != nil {
		l.t.Fatal(err)
	}
	out, err := compile.Compile(sets, eps)
	if err != nil {
		l.t.Fatal(err)
	}
	desired, err := out.Host.Canonical()
	if err != nil {
		l.t.Fatal(err)
	}
	have, err := e.Writer.Read(context.Background())
	if err != nil {
		l.t.Fatal(err)
	}
	kernel, err := have.Canonical()
	if err != nil {
		l.t.Fatal(err)
	}
	if d := stateDiff(desired, kernel); d != "" {
		l.t.Errorf("%s: the kernel differs from the compiled state (- compiled, + kernel):\n%s", when, d)
	}
	if len(desired.Chains) == 0 || len(desired.Sets) == 0 {
		l.t.Errorf("%s: the compiled state is empty: %+v", when, desired)
	}
}

// stateDiff lists what differs between two canonical states.
func stateDiff(a, b dataplane.State) string {
	var d []string
	for _, k := range sortedUnion(a.Chains, b.Chains) {
		ca, oka := a.Chains[k]
		cb, okb := b.Chains[k]
		switch {
		case !okb:
			d = append(d, "- chain "+k)
		case !oka:
			d = append(d, "+ chain "+k)
		case !slices.Equal(ca.Rules, cb.Rules):
			d = append(d, fmt.Sprintf("  chain %s rules:\n-   %s\n+   %s", k,
				strings.Join(ca.Rules, "\n-   "), strings.Join(cb.Rules, "\n+   ")))
		}
	}
	for _, k := range sortedUnion(a.Sets, b.Sets) {
		if sa, sb := a.Sets[k], b.Sets[k]; !reflect.DeepEqual(sa, sb) {
			d = append(d, fmt.Sprintf("  set %s: %+v / %+v", k, sa, sb))
		}
	}
	if !reflect.DeepEqual(a.Hooks, b.Hooks) {
		d = append(d, fmt.Sprintf("  hooks: %+v / %+v", a.Hooks, b.Hooks))
	}
	return strings.Join(d, "\n")
}

func sortedUnion[V any](a, b map[string]V) []string {
	var keys []string
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}
