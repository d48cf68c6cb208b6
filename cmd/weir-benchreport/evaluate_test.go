package main

import (
	"strings"
	"testing"
)

func TestEvaluate(t *testing.T) {
	const pkg = "github.com/weirnet/weir/integration"
	out := `pkg: ` + pkg + `
BenchmarkA-2 	 5	 1 ns/op	 10 ms/ref	 4 ms/weir	 0.4 ratio/weir
BenchmarkA-2 	 5	 1 ns/op	 12 ms/ref	 7 ms/weir	 0.6 ratio/weir
BenchmarkA-2 	 5	 1 ns/op	 11 ms/ref	 5 ms/weir	 0.45 ratio/weir
BenchmarkB/n=10-2 	 5	 1 ns/op	 30 ms/x
BenchmarkC-2 	 5	 1 ns/op	 8 ms/weir	 16 ms/ref
--- FAIL: BenchmarkD
    d_test.go:1: no daemon
--- SKIP: BenchmarkE-2
    e_test.go:1: WEIR_REF_DIR is not set
BenchmarkF-2 	 5	 1 ns/op	 3 ms/weir
--- FAIL: BenchmarkF-2
    f_test.go:9: wrong answer
`
	in, err := Parse(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	steps := []Step{{Pkg: "./integration", Bench: "^Benchmark[A-F]$"}}
	rows := []Row{
		{Metric: "paired ratio met", Pkg: "./integration", Bench: "BenchmarkA", Weir: ms("ms/weir"), Ref: ms("ms/ref"), Ratio: "ratio/weir", Target: ratioLE(0.5)},
		{Metric: "paired ratio not met", Pkg: "./integration", Bench: "BenchmarkA", Weir: ms("ms/weir"), Ref: ms("ms/ref"), Ratio: "ratio/weir", Target: ratioLE(0.4)},
		{Metric: "weir target", Pkg: "./integration", Bench: "BenchmarkB/n=10", Weir: ms("ms/x"), Target: Target{OnWeir: true, Op: "<=", Value: 30}},
		{Metric: "ratio of medians", Pkg: "./integration", Bench: "BenchmarkC", Weir: ms("ms/weir"), Ref: ms("ms/ref"), Target: ratioGE(0.6)},
		{Metric: "failed", Pkg: "./integration", Bench: "BenchmarkD", Weir: ms("ms/weir"), Target: ratioLE(1)},
		{Metric: "skipped", Pkg: "./integration", Bench: "BenchmarkE", Weir: ms("ms/weir"), Target: ratioLE(1)},
		{Metric: "failed with figures", Pkg: "./integration", Bench: "BenchmarkF", Weir: ms("ms/weir")},
		{Metric: "not in the plan", Pkg: "./integration", Bench: "BenchmarkZ", Weir: ms("ms/weir"), Target: ratioLE(1)},
		{Metric: "no such unit", Pkg: "./integration", Bench: "BenchmarkC", Weir: ms("ms/other")},
		{Metric: "reference missing", Pkg: "./integration", Bench: "BenchmarkC", Weir: ms("ms/weir"), Ref: Col{Bench: "BenchmarkZ", Unit: "ns/op"}},
	}
	got := Evaluate(rows, Aggregate(in.Runs), in, steps, "quick")
	want := []struct {
		status, reason string
		weir, ratio    float64 // -1: none
		from           string
	}{
		{StatusMet, "", 5, 0.45, "paired"},
		{StatusNotMet, "", 5, 0.45, "paired"},
		{StatusMet, "", 30, -1, ""},
		{StatusNotMet, "", 8, 0.5, "medians"},
		{StatusFailed, "BenchmarkD: no daemon", -1, -1, ""},
		{StatusNotMeasured, "skipped: WEIR_REF_DIR is not set", -1, -1, ""},
		{StatusReport, "BenchmarkF: wrong answer", 3, -1, ""},
		{StatusNotMeasured, "not run in quick mode", -1, -1, ""},
		{StatusNotMeasured, "BenchmarkC reported no ms/other", -1, -1, ""},
		{StatusReport, "reference not measured: not run in quick mode", 8, -1, ""},
	}
	for i, w := range want {
		g := got[i]
		if g.Status != w.status || g.Reason != w.reason || g.RatioFrom != w.from {
			t.Errorf("%s: status %q reason %q ratio from %q, want %q %q %q", g.Metric, g.Status, g.Reason, g.RatioFrom, w.status, w.reason, w.from)
		}
		if (g.Weir == nil) != (w.weir < 0) || g.Weir != nil && g.Weir.Value != w.weir {
			t.Errorf("%s: weir %+v, want %v", g.Metric, g.Weir, w.weir)
		}
		if (g.Ratio == nil) != (w.ratio < 0) || g.Ratio != nil && *g.Ratio != w.ratio {
			t.Errorf("%s: ratio %v, want %v", g.Metric, g.Ratio, w.ratio)
		}
	}
	if !got[6].Failed || got[4].Failed {
		t.Errorf("failed flags: %+v, %+v", got[6], got[4])
	}
	if got[0].Weir.Runs != 3 || got[0].Ref.Value != 11 {
		t.Errorf("medians over three runs: %+v %+v", got[0].Weir, got[0].Ref)
	}
}

func TestBenchMatches(t *testing.T) {
	for _, c := range []struct {
		pattern, name string
		want          bool
	}{
		{"^BenchmarkAttach$", "BenchmarkAttach/eps=10/engine=warm", true},
		{"^BenchmarkAttach$", "BenchmarkAttachVsReference/eps=10", false},
		{"^BenchmarkAttach$/^eps=(10|1000)$/", "BenchmarkAttach/eps=1000/engine=fresh", true},
		{"^BenchmarkAttach$/^eps=(10|1000)$/", "BenchmarkAttach/eps=100/engine=fresh", false},
		{"^BenchmarkRerender$/^edit-", "BenchmarkRerender/repair", false},
		{"^(BenchmarkA|BenchmarkB)$", "BenchmarkB", true},
		{".", "BenchmarkAnything/at/all", true},
	} {
		if got := benchMatches(c.pattern, c.name); got != c.want {
			t.Errorf("benchMatches(%q, %q) = %v", c.pattern, c.name, got)
		}
	}
}

func TestFormatting(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 0.4031: "0.403", 0.0423: "0.0423", 1.517: "1.52", 71.6: "71.6",
		177.6: "178", 5147.2: "5,147", 1234567: "1,234,567"} {
		if got := fmtNum(v); got != want {
			t.Errorf("fmtNum(%v) = %q, want %q", v, got, want)
		}
	}
	for sec, want := range map[float64]string{42.4: "42s", 119.6: "2m00s", 725: "12m05s"} {
		if got := fmtDuration(sec); got != want {
			t.Errorf("fmtDuration(%v) = %q, want %q", sec, got, want)
		}
	}
	if got := ratioLE(0.5).String("ms"); got != "ratio ≤ 0.5" {
		t.Errorf("target %q", got)
	}
	if got := (Target{OnWeir: true, Op: "<=", Value: 10}).String("ms"); got != "≤ 10 ms" {
		t.Errorf("target %q", got)
	}
	if got := thousands(10000); got != "10,000" {
		t.Errorf("thousands %q", got)
	}
}

func TestDiscover(t *testing.T) {
	list := func(pkg string) ([]string, error) {
		return []string{"BenchmarkBridgeAddDel", "BenchmarkNetAddDel", "BenchmarkFullChainAttach", "BenchmarkDaemonRSS"}, nil
	}
	steps, err := Discover(Plan("quick"), "quick", list)
	if err != nil {
		t.Fatal(err)
	}
	last := steps[len(steps)-1]
	want := Step{Pkg: "./integration", Bench: "^(BenchmarkFullChainAttach|BenchmarkDaemonRSS)$", Benchtime: "1x", Count: 1}
	if len(steps) != len(Plan("quick"))+1 || last != want {
		t.Errorf("got %+v, want %+v added", steps, want)
	}
	none := func(string) ([]string, error) { return []string{"BenchmarkBridgeAddDel"}, nil }
	if steps, _ := Discover(Plan("full"), "full", none); len(steps) != len(Plan("full")) {
		t.Errorf("a step added with nothing to discover: %+v", steps[len(steps)-1])
	}
}
