package enforce

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/weirnet/weir/policy/compile"
)

// BenchmarkAttachPhases splits one Attach at 10, 100 and 1,000 endpoints
// into its steps, timed one by one the way Attach runs them: read the
// index, load the policies, compile, apply (the dataplane Writer: cache,
// canonical forms, diff, the restores), write the index. With
// WEIR_BENCH_DEBUG set the Writer logs each tool it runs.
func BenchmarkAttachPhases(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("eps=%d", n), func(b *testing.B) {
			h := newBenchHost(b)
			e := h.populate(b, n)
			if os.Getenv("WEIR_BENCH_DEBUG") != "" {
				e = New(h.stateDir, hclog.New(&hclog.LoggerOptions{Level: hclog.Debug, Output: os.Stderr}))
			}
			ep := h.endpoint(n)
			names := []string{"read-index", "load-policies", "compile", "apply", "write-index", "detach"}
			ts := make([]timings, len(names))
			ctx := context.Background()
			for i := 0; i < b.N; i++ {
				t := time.Now()
				lap := func(k int) {
					now := time.Now()
					ts[k] = append(ts[k], now.Sub(t))
					t = now
				}
				idx, err := e.readIndex()
				if err != nil {
					b.Fatal(err)
				}
				idx.Endpoints[Key(ep.Network, ep.ID, ep.IfName)] = ep
				lap(0)
				eps := idx.list()
				sets, err := LoadPolicies(eps)
				if err != nil {
					b.Fatal(err)
				}
				lap(1)
				out, err := compile.Compile(sets, eps)
				if err != nil {
					b.Fatal(err)
				}
				lap(2)
				if _, err := e.Writer.Apply(ctx, out.Host); err != nil {
					b.Fatal(err)
				}
				lap(3)
				if err := e.writeIndex(idx); err != nil {
					b.Fatal(err)
				}
				lap(4)
				if _, err := e.Detach(ctx, ep.Network, ep.ID, ep.IfName); err != nil {
					b.Fatal(err)
				}
				lap(5)
			}
			for k, name := range names {
				b.ReportMetric(ms(ts[k].median()), "ms-median/"+name)
			}
		})
	}
}
