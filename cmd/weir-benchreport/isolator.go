package main

import (
	"fmt"
	"regexp"
	"strconv"
)

// The isolator's benchmarks, integration/isolator_bench_test.go:
// BenchmarkIsolatorAttachDetach (`weir attach/detach` vs cnitool with the
// reference plugins, ms-p50/<variant> and ratio-p50/weir, each run at
// least 15 rounds) and BenchmarkIsolatorScale (N containers on one host:
// ms/attach-cli-<mark>, ratio/attach-cli-N:10, us/status-api-p99, MB/daemon-rss, containers,
// ...). Scale measures once per test process, so it runs with -count 1;
// without WEIR_BENCH_CONTAINERS it stops filling the host at the mark
// (10, 100, 250, 500, 1,000) past which its time budget would run out.
// BenchmarkIsolatorStatus (1,000 containers' records, one attached for
// real, the daemon running: us/status-api-p50/p99,
// us/status-inproc[-cached]-p50/p99, containers) gives the status rows,
// in the quick run too: it takes seconds.

const scaleTarget = 1000 // the containers the targets are stated for

var scaleRatioUnit = regexp.MustCompile(`^ratio/attach-cli-(\d+):10$`)

// scaleN is the containers BenchmarkIsolatorScale put on the host: its
// "containers" figure, or the last mark of its ratio units; scaleTarget
// when it did not run.
func scaleN(bs Benches) int {
	n := 0
	for _, b := range bs {
		if b.Name != "BenchmarkIsolatorScale" {
			continue
		}
		if v, ok := b.Median("containers"); ok {
			return int(v)
		}
		for _, u := range b.Units() {
			if m := scaleRatioUnit.FindStringSubmatch(u); m != nil {
				v, _ := strconv.Atoi(m[1])
				n = max(n, v)
			}
		}
	}
	if n == 0 {
		return scaleTarget
	}
	return n
}

// statusN is the containers BenchmarkIsolatorStatus had on the host;
// scaleTarget when it did not run.
func statusN(bs Benches) int {
	for _, b := range bs {
		if b.Name == "BenchmarkIsolatorStatus" {
			if v, ok := b.Median("containers"); ok {
				return int(v)
			}
		}
	}
	return scaleTarget
}

// isolatorRows are the isolator benchmarks' rows. When the scale host
// stopped short of the containers the targets are stated for (its time
// budget, or WEIR_BENCH_CONTAINERS in make bench-quick), its figures are
// shown and the targets marked not measured.
func isolatorRows(bs Benches) []Row {
	const integ, scale = "./integration", "BenchmarkIsolatorScale"
	n := scaleN(bs)
	at := thousands(n) + " containers"
	short := ""
	if n != scaleTarget {
		short = fmt.Sprintf("the host stopped at %s containers, the target is for %s", thousands(n), thousands(scaleTarget))
	}
	const status = "BenchmarkIsolatorStatus"
	sn := statusN(bs)
	sat := thousands(sn) + " containers"
	sshort := ""
	if sn != scaleTarget {
		sshort = fmt.Sprintf("the host had %s containers, the target is for %s", thousands(sn), thousands(scaleTarget))
	}
	rows := []Row{
		{Metric: "full chain attach+detach, one container, a published port: `weir attach/detach` vs cnitool + reference plugins",
			Pkg: integ, Bench: "BenchmarkIsolatorAttachDetach",
			Weir: ms("ms-p50/weir"), Ref: ms("ms-p50/reference"), Ratio: "ratio-p50/weir", Target: ratioLE(0.1)},
	}
	rows = append(rows, concurrentRows(bs)...)
	return append(rows, []Row{
		{Metric: fmt.Sprintf("container attach (`weir attach`, full chain), the %s vs the 10th on the host", ordinal(n)),
			Pkg: integ, Bench: scale,
			Weir: ms(fmt.Sprintf("ms/attach-cli-%d", n)), Ref: note(ms("ms/attach-cli-10"), "10th"),
			Ratio: fmt.Sprintf("ratio/attach-cli-%d:10", n), Target: ratioLE(1.5), Short: short},
		{Metric: "status p99 with " + sat + ", daemon API (GET /v1/containers/{id})", Pkg: integ, Bench: status,
			Weir:   Col{Unit: "us/status-api-p99", Scale: 1e-3, Show: "ms"},
			Target: Target{OnWeir: true, Op: "<=", Value: 1}, Short: sshort},
		{Metric: "status p50 with " + sat + ", daemon API (GET /v1/containers/{id})", Pkg: integ, Bench: status,
			Weir: Col{Unit: "us/status-api-p50", Scale: 1e-3, Show: "ms"}},
		{Metric: "status p99 with " + sat + ", in-process isolator.Status, the daemon's status cache", Pkg: integ, Bench: status,
			Weir: Col{Unit: "us/status-inproc-cached-p99", Scale: 1e-3, Show: "ms"}},
		{Metric: "status p99 with " + sat + ", in-process isolator.Status, records read every time", Pkg: integ, Bench: status,
			Weir: Col{Unit: "us/status-inproc-p99", Scale: 1e-3, Show: "ms"}},
		{Metric: "`weir serve` resident memory with " + at, Pkg: integ, Bench: scale,
			Weir: Col{Unit: "MB/daemon-rss", Show: "MB"}, Target: Target{OnWeir: true, Op: "<=", Value: 50}, Short: short},
		{Metric: "`weir serve` peak resident memory with " + at, Pkg: integ, Bench: scale,
			Weir: Col{Unit: "MB/daemon-rss-peak", Show: "MB"}},
	}...)
}

// ordinal writes 1000 as "1,000th".
func ordinal(n int) string {
	suffix := "th"
	if n%100 < 11 || n%100 > 13 {
		switch n % 10 {
		case 1:
			suffix = "st"
		case 2:
			suffix = "nd"
		case 3:
			suffix = "rd"
		}
	}
	return thousands(n) + suffix
}
