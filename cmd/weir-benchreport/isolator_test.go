package main

import (
	"strings"
	"testing"
)

// A real BenchmarkIsolatorScale line with WEIR_BENCH_CONTAINERS=100.
const scale100 = `pkg: github.com/weirnet/weir/integration
BenchmarkIsolatorScale-2   	       1	24523452447 ns/op	        20.15 MB/daemon-rss	        20.20 MB/daemon-rss-peak	        84.29 ms/attach-api-10	       109.5 ms/attach-api-100	        72.94 ms/attach-cli-10	       157.4 ms/attach-cli-100	       103.6 ms/detach-api-each	        30.73 ms/list-api-100	         2.158 ratio/attach-cli-100:10	       522.3 us/status-api-p50	      1848 us/status-api-p99	       191.6 us/status-inproc-p50	       939.0 us/status-inproc-p99
`

func TestIsolatorRowsFewerContainers(t *testing.T) {
	in, err := Parse(strings.NewReader(scale100))
	if err != nil {
		t.Fatal(err)
	}
	bs := Aggregate(in.Runs)
	if n := scaleN(bs); n != 100 {
		t.Fatalf("scaleN = %d, want 100", n)
	}
	res := Evaluate(isolatorRows(bs), bs, in, []Step{{Pkg: "./integration", Bench: "^BenchmarkIsolator"}}, "quick")
	byMetric := map[string]Result{}
	for _, r := range res {
		byMetric[r.Metric] = r
	}
	attach := byMetric["container attach (`weir attach`, full chain), the 100th vs the 10th on the host"]
	if attach.Status != StatusReport || attach.Ratio == nil || *attach.Ratio != 2.158 || attach.Ref.Value != 72.94 || attach.Target != "report only" {
		t.Errorf("attach row: %+v", attach)
	}
	p99 := byMetric["status p99 with 100 containers (fewer than the target's 1,000), daemon API (GET /v1/containers/{id})"]
	if p99.Weir == nil || p99.Weir.Value != 1.848 || p99.Weir.Unit != "ms" || p99.Status != StatusReport {
		t.Errorf("status row: %+v", p99)
	}
	full := byMetric["full chain attach+detach, one container, a published port: `weir attach/detach` vs cnitool + reference plugins"]
	if full.Status != StatusNotMeasured || full.Reason != "no output from BenchmarkIsolatorAttachDetach" {
		t.Errorf("attach/detach row: %+v", full)
	}
}

func TestIsolatorRowsAtTarget(t *testing.T) {
	out := strings.NewReplacer("-100", "-1000", "100:10", "1000:10").Replace(scale100)
	in, _ := Parse(strings.NewReader(out))
	bs := Aggregate(in.Runs)
	res := Evaluate(isolatorRows(bs), bs, in, nil, "full")
	want := map[string]string{
		"container attach (`weir attach`, full chain), the 1,000th vs the 10th on the host": StatusNotMet,
		"status p99 with 1,000 containers, daemon API (GET /v1/containers/{id})":            StatusNotMet,
		"status p99 with 1,000 containers, in-process isolator.Status":                      StatusReport,
		"`weir serve` resident memory with 1,000 containers":                                StatusMet,
	}
	for _, r := range res {
		if w, ok := want[r.Metric]; ok && r.Status != w {
			t.Errorf("%s: %s, want %s", r.Metric, r.Status, w)
		}
		delete(want, r.Metric)
	}
	if len(want) != 0 {
		t.Errorf("rows missing: %v", want)
	}
}

func TestOrdinal(t *testing.T) {
	for n, want := range map[int]string{1: "1st", 2: "2nd", 3: "3rd", 11: "11th", 12: "12th", 22: "22nd", 50: "50th", 1000: "1,000th"} {
		if got := ordinal(n); got != want {
			t.Errorf("ordinal(%d) = %q, want %q", n, got, want)
		}
	}
}
