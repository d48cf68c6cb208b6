// Command weir-benchreport turns the output of weir's benchmarks into the
// report `make bench` prints: one markdown table of the project's targets
// (metric, weir, reference, ratio, target, met?), the raw figures as JSON,
// and an SVG plot of attach latency against the containers on the host.
//
//	weir-benchreport plan [-mode full|quick] [-discover]
//	    prints what scripts/bench runs, one `go test` per line:
//	    package, -bench pattern, -benchtime, -count, environment
//	    (tab-separated); -discover adds the benchmarks of integration/
//	    that the plan does not name (`go test -list`)
//	weir-benchreport [report] [-mode full|quick] [-out DIR] [FILE...]
//	    reads `go test -bench` output (plain or -json) from the files or
//	    stdin, prints the table, writes DIR/results.json and
//	    DIR/attach-latency.svg
//
// Each benchmark runs -count times; every figure in the table is the median
// over those runs of what the benchmark reported (its b.ReportMetric units
// such as ms/weir-exec or ratio-median/reference). Where a benchmark
// reports its own ratio from variants timed interleaved in the same run,
// the ratio column is the median of those paired ratios; otherwise it is
// the ratio of the two medians. A benchmark that failed after it measured
// keeps the figures it logged ("unit value" lines), flagged as such.
package main
