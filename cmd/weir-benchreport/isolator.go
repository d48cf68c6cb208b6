package main

// The isolator's benchmarks (integration/isolator_bench_test.go) are
// matched by name and unit patterns: "~" starts a regular expression.

// isolatorRows are the rows of the isolator's benchmarks.
func isolatorRows() []Row {
	const integ = "./integration"
	return []Row{
		{Metric: "full chain attach+detach: weir vs cnitool + reference plugins", Pkg: integ, Bench: "~^BenchmarkFullChain",
			Weir: ms("~^ms(-median)?/weir"), Ref: ms("~^ms(-median)?/(cnitool|ref)"), Ratio: "~^ratio(-median)?/weir",
			Target: ratioLE(0.1)},
		{Metric: "container attach: the 1,000th vs the 10th on the host", Pkg: integ, Bench: "~^BenchmarkContainersOnHost",
			Weir: ms("~^ms(-median)?/.*1000"), Ref: note(ms("~^ms(-median)?/.*[^0-9]10$"), "10th"), Ratio: "~^ratio.*1000.*10",
			Target: ratioLE(1.5)},
		{Metric: "status p99", Pkg: integ, Bench: "~^BenchmarkStatus",
			Weir: ms("~p99"), Target: Target{OnWeir: true, Op: "<=", Value: 1}},
		{Metric: "daemon RSS with 1,000 containers", Pkg: integ, Bench: "~^BenchmarkDaemonRSS",
			Weir: Col{Unit: "~(?i)(MB|rss)", Show: "MB"}, Target: Target{OnWeir: true, Op: "<=", Value: 50}},
	}
}

// isolatorPlotSources are the isolator benchmarks' attach latency series.
func isolatorPlotSources() []plotSource { return nil }
