package main

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

const plainSample = `goos: linux
goarch: amd64
pkg: github.com/weirnet/weir/integration
cpu: AMD EPYC
BenchmarkBridgeAddDel-2   	       5	 291039459 ns/op	       177.6 ms/reference	        71.60 ms/weir-exec	         0.4031 ratio/weir-exec
BenchmarkNetAddDel-2      	plugin said hello on stderr
       5	 428662295 ns/op	       178.5 ms/cnitool+reference	         0.4248 ratio/weir-net+weir
BenchmarkNetAddDel-2      	more stderr    5	 400000000 ns/op	       170 ms/cnitool+reference	         0.5 ratio/weir-net+weir
--- FAIL: BenchmarkFullChainAttach
    isolator_bench_test.go:12: attaching container 3: timeout
--- SKIP: BenchmarkDaemonRSS-2
    isolator_bench_test.go:40: WEIR_BIN_DIR is not set
FAIL
FAIL	github.com/weirnet/weir/integration	3.2s
pkg: github.com/weirnet/weir/policy/enforce
BenchmarkAttach/eps=1000/engine=warm-2 	       3	  19704828 ns/op	        19.70 ms-median/attach
--- BENCH: BenchmarkAttach/eps=1000/engine=warm-2
    bench_test.go:347: populated 1000 endpoints: 1.01s, 6287 writes, 19334 rules
--- FAIL: BenchmarkAttach
    --- FAIL: BenchmarkAttach/eps=10/engine=fresh
        bench_test.go:380: detach: boom
BenchmarkSelector	 1000000	      1363 ns/op
# weir-bench pkg=./policy/enforce bench=^BenchmarkAttach$ benchtime=3x count=1 env=- seconds=10.6 exit=1
# weir-bench pkg=./integration bench=^BenchmarkIsolatorScale$ benchtime=1x count=1 env=WEIR_BENCH_CONTAINERS=100,X=1 seconds=20 exit=0
`

func TestParsePlain(t *testing.T) {
	in, err := Parse(strings.NewReader(plainSample))
	if err != nil {
		t.Fatal(err)
	}
	const integ, enforce = "github.com/weirnet/weir/integration", "github.com/weirnet/weir/policy/enforce"
	want := []Run{
		{Pkg: integ, Name: "BenchmarkBridgeAddDel", Procs: 2, N: 5, Metrics: map[string]float64{
			"ns/op": 291039459, "ms/reference": 177.6, "ms/weir-exec": 71.60, "ratio/weir-exec": 0.4031}},
		{Pkg: integ, Name: "BenchmarkNetAddDel", Procs: 2, N: 5, Metrics: map[string]float64{
			"ns/op": 428662295, "ms/cnitool+reference": 178.5, "ratio/weir-net+weir": 0.4248}},
		{Pkg: integ, Name: "BenchmarkNetAddDel", Procs: 2, N: 5, Metrics: map[string]float64{
			"ns/op": 400000000, "ms/cnitool+reference": 170, "ratio/weir-net+weir": 0.5}},
		{Pkg: enforce, Name: "BenchmarkAttach/eps=1000/engine=warm", Procs: 2, N: 3, Metrics: map[string]float64{
			"ns/op": 19704828, "ms-median/attach": 19.70}},
		{Pkg: enforce, Name: "BenchmarkSelector", Procs: 1, N: 1000000, Metrics: map[string]float64{"ns/op": 1363}},
	}
	if !reflect.DeepEqual(in.Runs, want) {
		t.Errorf("runs:\n got %+v\nwant %+v", in.Runs, want)
	}
	wantFailed := []Outcome{
		{Pkg: integ, Name: "BenchmarkFullChainAttach", Reason: "attaching container 3: timeout"},
		{Pkg: enforce, Name: "BenchmarkAttach"},
		{Pkg: enforce, Name: "BenchmarkAttach/eps=10/engine=fresh", Reason: "detach: boom"},
	}
	if !reflect.DeepEqual(in.Failed, wantFailed) {
		t.Errorf("failed:\n got %+v\nwant %+v", in.Failed, wantFailed)
	}
	wantSkipped := []Outcome{{Pkg: integ, Name: "BenchmarkDaemonRSS", Reason: "WEIR_BIN_DIR is not set"}}
	if !reflect.DeepEqual(in.Skipped, wantSkipped) {
		t.Errorf("skipped:\n got %+v\nwant %+v", in.Skipped, wantSkipped)
	}
	if !reflect.DeepEqual(in.PkgFail, []string{integ}) {
		t.Errorf("failed packages: %v", in.PkgFail)
	}
	wantJobs := []Job{{Pkg: "./policy/enforce", Bench: "^BenchmarkAttach$", Benchtime: "3x", Count: 1, Seconds: 10.6, Exit: 1},
		{Pkg: "./integration", Bench: "^BenchmarkIsolatorScale$", Benchtime: "1x", Count: 1, Env: "WEIR_BENCH_CONTAINERS=100 X=1", Seconds: 20}}
	if !reflect.DeepEqual(in.Jobs, wantJobs) {
		t.Errorf("jobs: %+v", in.Jobs)
	}
	if in.Env["cpu"] != "AMD EPYC" || in.Env["goos"] != "linux" {
		t.Errorf("env: %v", in.Env)
	}
	if len(in.Warnings) != 0 {
		t.Errorf("warnings: %v", in.Warnings)
	}
}

// testdata/host-local.json is real `go test -json -count 2 -bench` output,
// where test2json splits one result line across two events.
func TestParseJSON(t *testing.T) {
	f, err := os.Open("testdata/host-local.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	in, err := Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	bs := Aggregate(in.Runs)
	if len(bs) != 2 {
		t.Fatalf("%d benchmarks, want 2: %+v", len(bs), in.Runs)
	}
	inter := bs.Find("./plugins/host-local", "BenchmarkAllocateInterleaved")
	if inter == nil || inter.Runs() != 2 {
		t.Fatalf("BenchmarkAllocateInterleaved: %+v", inter)
	}
	if got := inter.Metrics["ratio"]; !reflect.DeepEqual(got, []float64{0.9047, 0.7307}) {
		t.Errorf("ratio values %v", got)
	}
	if m, _ := inter.Median("ratio"); m != (0.9047+0.7307)/2 {
		t.Errorf("median ratio %v", m)
	}
	ref := bs.Find("plugins/host-local", "BenchmarkReferenceAllocate/allocated=10")
	if ref == nil || !reflect.DeepEqual(ref.Metrics["ns/op"], []float64{22555747, 13647880}) {
		t.Errorf("the result split across two events was lost: %+v", ref)
	}
}

func TestSplitProcs(t *testing.T) {
	for in, want := range map[string]string{
		"BenchmarkX-2":             "BenchmarkX",
		"BenchmarkX/eps=1000-16":   "BenchmarkX/eps=1000",
		"BenchmarkX/allocated=10":  "BenchmarkX/allocated=10",
		"BenchmarkX/a-b/weir-exec": "BenchmarkX/a-b/weir-exec",
	} {
		if got, _ := splitProcs(in); got != want {
			t.Errorf("splitProcs(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

// A real failure: BenchmarkIsolatorScale measured, logged its figures,
// then failed detaching; it printed no result line.
const scaleFailed = `pkg: github.com/weirnet/weir/integration
--- FAIL: BenchmarkIsolatorScale
    isolator_bench_test.go:280: 1000 containers attached in 632.8 s
    isolator_bench_test.go:250: ms/attach-cli-10                 88.120
    isolator_bench_test.go:250: ms/attach-cli-1000             2109.611
    isolator_bench_test.go:250: ratio/attach-cli-1000:10         23.940
    isolator_bench_test.go:250: MB/daemon-rss                    21.570
    isolator_bench_test.go:207: DELETE /v1/containers/scale-0021: 500 {
          "error": "cleaning up scale-0021: plugin portmap failed (del): plugin portmap timed out after 30s and was killed"
        }
        
FAIL
exit status 1
FAIL	github.com/weirnet/weir/integration	1408.469s
`

func TestParseFailureWithLoggedFigures(t *testing.T) {
	in, err := Parse(strings.NewReader(scaleFailed))
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Runs) != 0 || len(in.Failed) != 1 {
		t.Fatalf("runs %+v, failed %+v", in.Runs, in.Failed)
	}
	f := in.Failed[0]
	wantReason := `DELETE /v1/containers/scale-0021: 500 { "error": "cleaning up scale-0021: plugin portmap failed (del): plugin portmap timed out after 30s and was killed" }`
	if f.Name != "BenchmarkIsolatorScale" || f.Reason != wantReason {
		t.Errorf("outcome %q: reason %q", f.Name, f.Reason)
	}
	wantLogged := map[string]float64{"ms/attach-cli-10": 88.120, "ms/attach-cli-1000": 2109.611, "ratio/attach-cli-1000:10": 23.940, "MB/daemon-rss": 21.570}
	if !reflect.DeepEqual(f.Logged, wantLogged) {
		t.Errorf("logged %v", f.Logged)
	}
	rep := Build(in, "full")
	for _, r := range rep.Rows {
		if !strings.Contains(r.Metric, "the 1,000th vs the 10th") {
			continue
		}
		if r.Status != StatusNotMet || !r.Failed || r.Ratio == nil || *r.Ratio != 23.940 || !r.Weir.FromLog || r.Reason != "BenchmarkIsolatorScale: "+wantReason {
			t.Errorf("row: %+v", r)
		}
		var table strings.Builder
		if err := WriteTable(&table, rep); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{
			"| 2,110 ms | 88.1 ms (10th) | 23.9 | ratio ≤ 1.5 | **no** (the run failed after measuring [1]) |",
			"| 21.6 MB | — | — | ≤ 50 MB | yes (the run failed after measuring [1]) |",
			"\n[1] BenchmarkIsolatorScale: " + wantReason + "\n",
		} {
			if !strings.Contains(table.String(), want) {
				t.Errorf("the table lacks %q:\n%s", want, table.String())
			}
		}
		return
	}
	t.Error("no 1,000th vs 10th row")
}
