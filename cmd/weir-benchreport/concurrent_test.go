package main

import (
	"math"
	"strings"
	"testing"
)

// A real BenchmarkConcurrentAttach line: 100 containers at once, one round.
const conc100 = `pkg: github.com/weirnet/weir/integration
BenchmarkConcurrentAttach-2   	       1	52127135862 ns/op	       100.0 containers/round	         0 dup-addrs/reference	         0 dup-addrs/weir	     15053 ms-p50/detach-reference	      7185 ms-p50/detach-weir	      6647 ms-p50/detach-weir-api	     13338 ms-p50/reference	      5629 ms-p50/weir	      4061 ms-p50/weir-api	         0.4220 ratio-p50/weir	         0.3044 ratio-p50/weir-api	         1.000 rounds/run
`

// A run of 20 as it fails on duplicates (the format of a benchmark that
// fails in its first run): its figures logged, then the failure.
const concDup = `pkg: github.com/weirnet/weir/integration
--- FAIL: BenchmarkConcurrentAttach
    concurrent_bench_test.go:133: containers/round 20
    concurrent_bench_test.go:133: rounds/run 1
    concurrent_bench_test.go:133: ms-p50/reference 2935.2
    concurrent_bench_test.go:133: ms-p50/weir 772.6
    concurrent_bench_test.go:133: ratio-p50/weir 0.2633
    concurrent_bench_test.go:133: dup-addrs/weir 2
    concurrent_bench_test.go:133: dup-addrs/reference 0
    concurrent_bench_test.go:137: weir, round 0: 10.125.9.7 held by containers [3 11 12]
    concurrent_bench_test.go:140: an address was handed out twice: 2 duplicates with weir, 0 with the reference
FAIL
exit status 1
FAIL	github.com/weirnet/weir/integration	11.2s
`

func concResults(t *testing.T, out string) map[string]Result {
	t.Helper()
	in, err := Parse(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	bs := Aggregate(WithLogged(in.Runs, in.Failed))
	res := Evaluate(concurrentRows(bs), bs, in, []Step{{Pkg: "./integration", Bench: "^BenchmarkConcurrentAttach$"}}, "full")
	byMetric := map[string]Result{}
	for _, r := range res {
		byMetric[r.Metric] = r
	}
	return byMetric
}

const (
	concCLI    = " concurrent attaches (full chain, a published port each), wall time: `weir attach` vs cnitool + reference plugins"
	concAPI    = " concurrent attaches, wall time: `weir serve` API (POST /v1/containers/{id}) vs cnitool + reference plugins"
	concDupRow = " concurrent attaches: no IPv4 address held by two containers (weir: CLI and API, every round)"
)

func TestConcurrentRows(t *testing.T) {
	rows := concResults(t, conc100)
	if len(rows) != 3 {
		t.Fatalf("%d rows: %+v", len(rows), rows)
	}
	cli := rows["100"+concCLI]
	if cli.Weir == nil || !near(cli.Weir.Value, 5.629) || cli.Weir.Unit != "s" || cli.Ref == nil || !near(cli.Ref.Value, 13.338) ||
		cli.Ratio == nil || *cli.Ratio != 0.4220 || cli.RatioFrom != "paired" || cli.Status != StatusReport || cli.Target != "report only" {
		t.Errorf("CLI row: %+v", cli)
	}
	api := rows["100"+concAPI]
	if api.Weir == nil || !near(api.Weir.Value, 4.061) || api.Ratio == nil || *api.Ratio != 0.3044 || api.Status != StatusReport {
		t.Errorf("API row: %+v", api)
	}
	dup := rows["100"+concDupRow]
	if dup.Weir == nil || dup.Weir.Value != 0 || dup.Weir.Unit != "duplicates" || dup.Ref == nil || dup.Ref.Value != 0 ||
		dup.Ratio != nil || dup.Status != StatusMet || dup.Target != "= 0 duplicates" || dup.Failed {
		t.Errorf("duplicates row: %+v", dup)
	}
	// A reference with duplicates does not make weir's row fail, and
	// the two counts get no ratio.
	refDup := concResults(t, strings.Replace(conc100, "0 dup-addrs/reference", "3 dup-addrs/reference", 1))["100"+concDupRow]
	if refDup.Status != StatusMet || refDup.Ref == nil || refDup.Ref.Value != 3 || refDup.Ratio != nil {
		t.Errorf("duplicates row, reference with 3: %+v", refDup)
	}
}

// TestConcurrentRowsDuplicates: the benchmark fails on a duplicate after
// logging its figures; the row shows them, not met, the run failed.
func TestConcurrentRowsDuplicates(t *testing.T) {
	rows := concResults(t, concDup)
	dup := rows["20"+concDupRow]
	const reason = "BenchmarkConcurrentAttach: an address was handed out twice: 2 duplicates with weir, 0 with the reference"
	if dup.Weir == nil || dup.Weir.Value != 2 || !dup.Weir.FromLog || dup.Status != StatusNotMet || !dup.Failed || dup.Reason != reason {
		t.Errorf("duplicates row: %+v", dup)
	}
	if cli := rows["20"+concCLI]; cli.Weir == nil || !near(cli.Weir.Value, 0.7726) || cli.Ratio == nil || *cli.Ratio != 0.2633 || !cli.Failed {
		t.Errorf("CLI row: %+v", cli)
	}
	// No API figures were logged: the row says so.
	if api := rows["20"+concAPI]; api.Weir != nil || api.Status != StatusFailed || api.Reason != reason {
		t.Errorf("API row: %+v", api)
	}
}

// TestConcurrentRowsNotRun: without output the rows are for 100
// containers, not measured.
func TestConcurrentRowsNotRun(t *testing.T) {
	rows := concResults(t, "pkg: github.com/weirnet/weir/integration\n")
	for _, m := range []string{concCLI, concAPI, concDupRow} {
		if r, ok := rows["100"+m]; !ok || r.Weir != nil || r.Status != StatusNotMeasured || r.Reason != "no output from BenchmarkConcurrentAttach" {
			t.Errorf("%s: %+v", m, r)
		}
	}
}

func TestTargetEqual(t *testing.T) {
	eq := Target{OnWeir: true, Op: "==", Value: 0}
	if eq.String("duplicates") != "= 0 duplicates" || !eq.Met(0) || eq.Met(1) || eq.Met(-1) {
		t.Errorf("target %+v: %q, met(0) %v, met(1) %v", eq, eq.String("duplicates"), eq.Met(0), eq.Met(1))
	}
}

// TestPlanNewSteps: the concurrent attaches and the throughput run in both
// plans, 20 at once in the quick one.
func TestPlanNewSteps(t *testing.T) {
	for mode, env := range map[string]string{"full": "", "quick": "WEIR_BENCH_CONCURRENT=20"} {
		steps := Plan(mode)
		found := 0
		for _, s := range steps {
			switch {
			case s.Pkg == "./integration" && s.Bench == "^BenchmarkConcurrentAttach$":
				found++
				if s.Env != env || s.Benchtime != "1x" || s.Count != 1 {
					t.Errorf("%s: %+v", mode, s)
				}
			case s.Pkg == "./policy/enforce" && s.Bench == "^BenchmarkThroughput$":
				found++
				if s.Benchtime != "1x" {
					t.Errorf("%s: %+v", mode, s)
				}
			}
		}
		if found != 2 {
			t.Errorf("%s plan: %d of the two steps", mode, found)
		}
		if !Planned(steps, "./integration", "BenchmarkConcurrentAttach") || !Planned(steps, "./policy/enforce", "BenchmarkThroughput") {
			t.Errorf("%s plan does not run them", mode)
		}
	}
}

func TestThroughputRows(t *testing.T) {
	const out = `pkg: github.com/weirnet/weir/policy/enforce
BenchmarkThroughput-2   	       1	2573698818 ns/op	        10.17 Gbit/s-ct-only	        10.68 Gbit/s-none	        10.00 Gbit/s-policy	        64.00 MiB/stream	        52.77 ms-median/stream-ct-only	        50.29 ms-median/stream-none	        53.69 ms-median/stream-policy	         0.9529 ratio-ct-only/none	         0.9367 ratio-policy/none
BenchmarkThroughput-2   	       1	2216734767 ns/op	        12.26 Gbit/s-ct-only	        12.31 Gbit/s-none	        10.67 Gbit/s-policy	        64.00 MiB/stream	        43.80 ms-median/stream-ct-only	        43.60 ms-median/stream-none	        50.33 ms-median/stream-policy	         0.9954 ratio-ct-only/none	         0.8663 ratio-policy/none
BenchmarkThroughput-2   	       1	2970940585 ns/op	         7.438 Gbit/s-ct-only	         8.423 Gbit/s-none	        10.04 Gbit/s-policy	        64.00 MiB/stream	        72.18 ms-median/stream-ct-only	        63.74 ms-median/stream-none	        53.45 ms-median/stream-policy	         0.8831 ratio-ct-only/none	         1.193 ratio-policy/none
`
	in, err := Parse(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	bs := Aggregate(in.Runs)
	byMetric := map[string]Result{}
	for _, r := range Evaluate(Rows(bs), bs, in, Plan("full"), "full") {
		byMetric[r.Metric] = r
	}
	pol := byMetric["dataplane throughput, one TCP stream, 1,000 endpoints + 100 policies vs no policy"]
	if pol.Weir == nil || pol.Weir.Value != 10.04 || pol.Weir.Unit != "Gbit/s" || pol.Weir.Runs != 3 || pol.Ref == nil || pol.Ref.Value != 10.68 ||
		pol.Ref.Note != "no policy" || pol.Ratio == nil || *pol.Ratio != 0.9367 || pol.Status != StatusReport {
		t.Errorf("policy row: %+v", pol)
	}
	ct := byMetric["dataplane throughput, one TCP stream, one conntrack rule only vs no policy (the floor)"]
	if ct.Weir == nil || ct.Weir.Value != 10.17 || ct.Ratio == nil || *ct.Ratio != 0.9529 {
		t.Errorf("ct-only row: %+v", ct)
	}
}

// near compares figures scaled from ms to s.
func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
