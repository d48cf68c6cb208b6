package enforce

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/weirnet/weir/policy/compile"
	"github.com/weirnet/weir/policy/dataplane"
)

// BenchmarkAttachPhases splits one Attach at 10, 100 and 1,000 endpoints
// into its steps, timed one by one the way Attach runs them: read the
// index, load the policies, compile, apply (the dataplane Writer: cache,
// canonical forms, diff, the restores), write the index. With
// WEIR_BENCH_DEBUG set every restore batch is logged (go test -v) with
// its duration.
func BenchmarkAttachPhases(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("eps=%d", n), func(b *testing.B) {
			h := newBenchHost(b)
			e := h.populate(b, n)
			if os.Getenv("WEIR_BENCH_DEBUG") != "" {
				r, err := dataplane.NewExecRunner(dataplane.NFT)
				if err != nil {
					b.Fatal(err)
				}
				e = New(h.stateDir, hclog.New(&hclog.LoggerOptions{Level: hclog.Debug, Output: os.Stderr}))
				e.Writer = dataplane.New(dataplane.Config{Runner: tapRunner{r, b}, Backend: dataplane.NFT,
					LockPath: filepath.Join(h.stateDir, "dataplane.lock"), CacheDir: filepath.Join(h.stateDir, "policy")})
			}
			ep := h.newEndpoint(n)
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

// BenchmarkToolFloor times the tools the Writer runs, with no endpoint
// and with 1,000 endpoints under 100 policies in the kernel: what a
// render cannot go below while it forks them. The restore batches touch
// only chains of their own (WEIR-FLOOR*): "new-chain" creates a chain and
// appends to it, "append" and "insert" add a rule to an existing chain,
// "delete" removes one by specification, "rewrite" declares (flushes) and
// refills a chain of one rule, as the Writer rewrites a small chain.
func BenchmarkToolFloor(b *testing.B) {
	const rule = `-m comment --comment "weir: floor" -j RETURN`
	restore4 := []string{"iptables-restore", "--noflush"}
	cmds := []struct {
		name  string
		args  []string
		stdin func(i int) string
	}{
		{"iptables-version", []string{"iptables", "--version"}, nil},
		{"iptables-save", []string{"iptables-save"}, nil},
		{"ip6tables-save", []string{"ip6tables-save"}, nil},
		{"ipset-save", []string{"ipset", "save"}, nil},
		{"restore4-noop", restore4, func(int) string { return "*filter\nCOMMIT\n" }},
		{"restore6-noop", []string{"ip6tables-restore", "--noflush"}, func(int) string { return "*filter\nCOMMIT\n" }},
		{"restore4-new-chain", restore4, func(i int) string {
			return fmt.Sprintf("*filter\n:WEIR-FLOOR-%d - [0:0]\n-A WEIR-FLOOR-%d %s\nCOMMIT\n", i, i, rule)
		}},
		{"restore4-append", restore4, func(int) string { return "*filter\n-A WEIR-FLOOR " + rule + "\nCOMMIT\n" }},
		{"restore4-insert", restore4, func(int) string { return "*filter\n-I WEIR-FLOOR 1 -s 10.9.9.9/32 " + rule + "\nCOMMIT\n" }},
		{"restore4-delete", restore4, func(int) string { return "*filter\n-D WEIR-FLOOR -s 10.9.9.9/32 " + rule + "\nCOMMIT\n" }},
		{"restore4-rewrite", restore4, func(int) string { return "*filter\n:WEIR-FLOOR-RW - [0:0]\n-A WEIR-FLOOR-RW " + rule + "\nCOMMIT\n" }},
		{"ipset-restore-one", []string{"ipset", "restore"}, func(int) string {
			return "create weir-floor hash:ip family inet -exist\nadd weir-floor 10.1.1.1 -exist\ndestroy weir-floor\n"
		}},
	}
	for _, n := range []int{0, 1000} {
		b.Run(fmt.Sprintf("eps=%d", n), func(b *testing.B) {
			h := newBenchHost(b)
			if n > 0 {
				h.populate(b, n)
			}
			if out, err := exec.Command("iptables", "-N", "WEIR-FLOOR").CombinedOutput(); err != nil {
				b.Fatalf("iptables -N WEIR-FLOOR: %v: %s", err, out)
			}
			ts := make([]timings, len(cmds))
			for i := 0; i < b.N; i++ {
				for k, c := range cmds {
					cmd := exec.Command(c.args[0], c.args[1:]...)
					if c.stdin != nil {
						cmd.Stdin = strings.NewReader(c.stdin(i))
					}
					start := time.Now()
					if out, err := cmd.CombinedOutput(); err != nil {
						b.Fatalf("%s: %v: %s", c.name, err, out)
					}
					ts[k] = append(ts[k], time.Since(start))
				}
			}
			var clean strings.Builder
			clean.WriteString("*filter\n")
			for _, c := range []string{"WEIR-FLOOR", "WEIR-FLOOR-RW"} {
				fmt.Fprintf(&clean, "-F %s\n-X %s\n", c, c)
			}
			for i := 0; i < b.N; i++ {
				fmt.Fprintf(&clean, "-F WEIR-FLOOR-%d\n-X WEIR-FLOOR-%d\n", i, i)
			}
			clean.WriteString("COMMIT\n")
			cmd := exec.Command("iptables-restore", "--noflush")
			cmd.Stdin = strings.NewReader(clean.String())
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("removing the WEIR-FLOOR chains: %v: %s", err, out)
			}
			for k, c := range cmds {
				b.ReportMetric(ms(ts[k].median()), "ms-median/"+c.name)
			}
		})
	}
}

// nopRunner stands in for the tools: saves print nothing, restores do
// nothing. With it a Writer's cost is its own CPU time alone.
type nopRunner struct{}

func (nopRunner) Save(context.Context, dataplane.Family, dataplane.Table) ([]byte, error) {
	return nil, nil
}
func (nopRunner) Restore(context.Context, dataplane.Family, []byte) error { return nil }
func (nopRunner) IPSetSave(context.Context) ([]byte, error)               { return nil, nil }
func (nopRunner) IPSetRestore(context.Context, []byte) error              { return nil }

// BenchmarkCompile: compile.Compile of 10, 100 and 1,000 endpoints under
// the 100 policies (pure CPU; runs outside the sandbox too): "full" from
// nothing, "memo" with the memo of the other endpoints (one joins and
// leaves per two iterations, as attaches and detaches compile).
func BenchmarkCompile(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		for _, mode := range []string{"full", "memo"} {
			b.Run(fmt.Sprintf("eps=%d/%s", n, mode), func(b *testing.B) {
				h := newCPUBenchHost(b)
				var eps []compile.Endpoint
				for i := 0; i < n; i++ {
					eps = append(eps, h.endpoint(i))
				}
				sets, err := LoadPolicies(eps)
				if err != nil {
					b.Fatal(err)
				}
				// memo: what an attach compiles — the memo holds every
				// endpoint but the last, which joins (and leaves) each time.
				var memo *compile.Memo
				if mode == "memo" {
					memo = compile.NewMemo()
					if _, err := compile.CompileMemo(sets, eps[:n-1], memo); err != nil {
						b.Fatal(err)
					}
				}
				rules := 0
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if memo != nil && i%2 == 1 {
						if _, err := compile.CompileMemo(sets, eps[:n-1], memo); err != nil {
							b.Fatal(err)
						}
						continue
					}
					out, err := compile.CompileMemo(sets, eps, memo)
					if err != nil {
						b.Fatal(err)
					}
					rules = 0
					for _, c := range out.Host.Chains {
						rules += len(c.Rules)
					}
				}
				b.ReportMetric(float64(rules), "rules")
			})
		}
	}
}

// BenchmarkAttachCPU: Attach and Detach at 10, 100 and 1,000 endpoints
// with the tools replaced by nopRunner: the engine's and Writer's own CPU
// time (index, policy files, compile, canonical forms, diff, cache file).
// "warm" is one long-lived engine, "fresh" a new engine per call (the
// plugin's case). Runs outside the sandbox too.
func BenchmarkAttachCPU(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		for _, mode := range []string{"warm", "fresh"} {
			b.Run(fmt.Sprintf("eps=%d/engine=%s", n, mode), func(b *testing.B) {
				h := newCPUBenchHost(b)
				mk := func() *Engine {
					e := New(h.stateDir, nil)
					e.Writer = dataplane.New(dataplane.Config{Runner: nopRunner{}, Backend: dataplane.NFT,
						LockPath: filepath.Join(h.stateDir, "dataplane.lock"), CacheDir: filepath.Join(h.stateDir, "policy")})
					return e
				}
				warm := mk()
				idx := &index{Endpoints: map[string]compile.Endpoint{}}
				for i := 0; i < n; i++ {
					ep := h.endpoint(i)
					idx.Endpoints[Key(ep.Network, ep.ID, ep.IfName)] = ep
				}
				if err := warm.writeIndex(idx); err != nil {
					b.Fatal(err)
				}
				if _, err := warm.Render(context.Background()); err != nil {
					b.Fatal(err)
				}
				engine := func() *Engine {
					if mode == "warm" {
						return warm
					}
					return mk()
				}
				ep := h.newEndpoint(n)
				var att, det timings
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					start := time.Now()
					if _, err := engine().Attach(context.Background(), ep); err != nil {
						b.Fatal(err)
					}
					att = append(att, time.Since(start))
					start = time.Now()
					if _, err := engine().Detach(context.Background(), ep.Network, ep.ID, ep.IfName); err != nil {
						b.Fatal(err)
					}
					det = append(det, time.Since(start))
				}
				att.report(b, "attach")
				det.report(b, "detach")
			})
		}
	}
}

// tapRunner logs every restore batch a Writer runs, with its duration.
type tapRunner struct {
	dataplane.Runner
	b *testing.B
}

func (t tapRunner) Restore(ctx context.Context, f dataplane.Family, in []byte) error {
	start := time.Now()
	err := t.Runner.Restore(ctx, f, in)
	t.b.Logf("iptables-restore %s, %v:\n%s", f, time.Since(start), in)
	return err
}

func (t tapRunner) IPSetRestore(ctx context.Context, in []byte) error {
	start := time.Now()
	err := t.Runner.IPSetRestore(ctx, in)
	t.b.Logf("ipset restore, %v:\n%s", time.Since(start), in)
	return err
}
