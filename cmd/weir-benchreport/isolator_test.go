package main

import (
	"strings"
	"testing"
)

// A real BenchmarkIsolatorScale line: its time budget stopped the host at
// 500 containers.
const scale500 = `pkg: github.com/weirnet/weir/integration
BenchmarkIsolatorScale-2   	       1	99326619087 ns/op	        23.61 MB/daemon-rss	        26.30 MB/daemon-rss-peak	       500.0 containers	         4.480 loadavg-1m	        40.47 ms/attach-api-10	        95.29 ms/attach-api-100	       201.7 ms/attach-api-250	       306.2 ms/attach-api-500	        44.36 ms/attach-cli-10	       130.6 ms/attach-cli-100	       239.8 ms/attach-cli-250	       302.8 ms/attach-cli-500	       409.9 ms/detach-cli-500	        83.93 ms/list-api-500	         2.944 ratio/attach-cli-100:10	         5.405 ratio/attach-cli-250:10	         6.826 ratio/attach-cli-500:10	       415.4 us/status-api-p50	      1418 us/status-api-p99	       118.6 us/status-inproc-p50	      1156 us/status-inproc-p99
`

// A real BenchmarkIsolatorStatus line (1,000 containers), with its p99
// over the target.
const status1000 = `pkg: github.com/weirnet/weir/integration
BenchmarkIsolatorStatus-2   	       1	7940097877 ns/op	        26.39 MB/daemon-rss	      1000 containers	        39.87 ms/list-api	       303.5 us/status-api-p50	      2124 us/status-api-p99	        18.84 us/status-inproc-cached-p50	        67.87 us/status-inproc-cached-p99	       208.1 us/status-inproc-p50	      1871 us/status-inproc-p99
`

func isolatorResults(t *testing.T, out string) map[string]Result {
	t.Helper()
	in, err := Parse(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	bs := Aggregate(in.Runs)
	res := Evaluate(isolatorRows(bs), bs, in, []Step{{Pkg: "./integration", Bench: "^BenchmarkIsolator"}}, "full")
	byMetric := map[string]Result{}
	for _, r := range res {
		byMetric[r.Metric] = r
	}
	return byMetric
}

func TestIsolatorRowsShortOfTheTarget(t *testing.T) {
	rows := isolatorResults(t, scale500)
	const short = "the host stopped at 500 containers, the target is for 1,000"
	attach := rows["container attach (`weir attach`, full chain), the 500th vs the 10th on the host"]
	if attach.Status != StatusNotMeasured || attach.Reason != short || attach.Ratio == nil || *attach.Ratio != 6.826 ||
		attach.Weir.Value != 302.8 || attach.Ref.Value != 44.36 || attach.Target != "ratio ≤ 1.5" {
		t.Errorf("attach row: %+v", attach)
	}
	// The status rows come from BenchmarkIsolatorStatus, at 1,000 always.
	p99 := rows["status p99 with 1,000 containers, daemon API (GET /v1/containers/{id})"]
	if p99.Weir != nil || p99.Status != StatusNotMeasured || p99.Reason != "no output from BenchmarkIsolatorStatus" {
		t.Errorf("status row: %+v", p99)
	}
	full := rows["full chain attach+detach, one container, a published port: `weir attach/detach` vs cnitool + reference plugins"]
	if full.Status != StatusNotMeasured || full.Reason != "no output from BenchmarkIsolatorAttachDetach" {
		t.Errorf("attach/detach row: %+v", full)
	}
}

func TestIsolatorRowsAtTarget(t *testing.T) {
	out := strings.NewReplacer("500.0 containers", "1000 containers", "-500", "-1000", "500:10", "1000:10").Replace(scale500) + status1000
	rows := isolatorResults(t, out)
	want := map[string]string{
		"container attach (`weir attach`, full chain), the 1,000th vs the 10th on the host":       StatusNotMet,
		"status p99 with 1,000 containers, daemon API (GET /v1/containers/{id})":                  StatusNotMet,
		"status p50 with 1,000 containers, daemon API (GET /v1/containers/{id})":                  StatusReport,
		"status p99 with 1,000 containers, in-process isolator.Status, the daemon's status cache": StatusReport,
		"status p99 with 1,000 containers, in-process isolator.Status, records read every time":   StatusReport,
		"`weir serve` resident memory with 1,000 containers":                                      StatusMet,
	}
	for metric, status := range want {
		if r, ok := rows[metric]; !ok || r.Status != status || r.Reason != "" {
			t.Errorf("%s: %+v, want %s", metric, r, status)
		}
	}
	if r := rows["status p99 with 1,000 containers, daemon API (GET /v1/containers/{id})"]; r.Weir == nil || r.Weir.Value != 2.124 || r.Weir.Unit != "ms" {
		t.Errorf("status p99 row: %+v", r)
	}
	if r := rows["status p99 with 1,000 containers, in-process isolator.Status, the daemon's status cache"]; r.Weir == nil || r.Weir.Value != 0.06787 {
		t.Errorf("cached in-process status row: %+v", r)
	}
}

// TestIsolatorStatusRows: a status p99 under the target is met; a host
// with fewer containers (WEIR_BENCH_STATUS_CONTAINERS) is shown, its target
// not measured.
func TestIsolatorStatusRows(t *testing.T) {
	met := strings.Replace(status1000, "2124 us/status-api-p99", "912.3 us/status-api-p99", 1)
	const p99 = "status p99 with 1,000 containers, daemon API (GET /v1/containers/{id})"
	if r := isolatorResults(t, met)[p99]; r.Status != StatusMet || r.Weir == nil || r.Weir.Value != 0.9123 {
		t.Errorf("p99 0.9123 ms: %+v, want met", r)
	}
	small := strings.Replace(met, "1000 containers", "100.0 containers", 1)
	r := isolatorResults(t, small)["status p99 with 100 containers, daemon API (GET /v1/containers/{id})"]
	if r.Status != StatusNotMeasured || r.Reason != "the host had 100 containers, the target is for 1,000" || r.Weir == nil || r.Weir.Value != 0.9123 {
		t.Errorf("100 containers: %+v, want the figure shown and the target not measured", r)
	}
}

func TestOrdinal(t *testing.T) {
	for n, want := range map[int]string{1: "1st", 2: "2nd", 3: "3rd", 11: "11th", 12: "12th", 22: "22nd", 50: "50th", 1000: "1,000th"} {
		if got := ordinal(n); got != want {
			t.Errorf("ordinal(%d) = %q, want %q", n, got, want)
		}
	}
}
