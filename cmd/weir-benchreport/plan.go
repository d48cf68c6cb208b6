package main

import (
	"fmt"
	"io"
	"regexp"
	"strings"
)

// Step is one `go test` invocation of scripts/bench: the benchmarks of pkg
// matching Bench, each run Count times with -benchtime Benchtime, with the
// environment variables Env ("K=V K2=V2") set.
type Step struct {
	Pkg       string
	Bench     string
	Benchtime string
	Count     int
	Env       string
}

// Plan is what `make bench` (full) or `make bench-quick` (quick) runs.
// Quick runs fewer iterations, puts 50 containers on the isolator's scale
// host instead of 1,000 (the status benchmark keeps its 1,000), attaches
// 20 containers at once instead of 100, and leaves out the slowest
// sub-benchmarks and the diagnostics that feed no row of the table.
func Plan(mode string) []Step {
	if mode == "quick" {
		return []Step{
			{"./plugins/host-local", "^BenchmarkAllocateInterleaved$", "300x", 3, ""},
			{"./integration", "^BenchmarkBridgeAddDel$", "3x", 3, ""},
			{"./integration", "^BenchmarkNetAddDel$", "3x", 3, ""},
			{"./integration", "^BenchmarkIsolatorAttachDetach$", "1x", 1, ""},
			{"./integration", "^BenchmarkIsolatorScale$", "1x", 1, "WEIR_BENCH_CONTAINERS=" + quickContainers},
			{"./integration", "^BenchmarkIsolatorStatus$", "1x", 1, ""},
			{"./integration", "^BenchmarkConcurrentAttach$", "1x", 1, "WEIR_BENCH_CONCURRENT=" + quickConcurrent},
			{"./policy/enforce", "^BenchmarkAttach$/^eps=(10|1000)$/", "2x", 1, ""},
			{"./policy/enforce", "^BenchmarkAttachVsReference$", "1x", 1, ""},
			{"./policy/enforce", "^BenchmarkRerender$/^edit-", "3x", 1, ""},
			{"./policy/enforce", "^BenchmarkConnectionRate$", "1x", 1, ""},
			{"./policy/enforce", "^BenchmarkThroughput$", "1x", 1, ""},
			{"./policy/enforce", "^BenchmarkPolicyEditToEnforcement$", "3x", 1, ""},
		}
	}
	return []Step{
		{"./plugins/host-local", "^BenchmarkAllocateInterleaved$", "1000x", 5, ""},
		{"./plugins/host-local", "^BenchmarkReferenceAllocate$", "5x", 3, ""},
		{"./integration", "^BenchmarkBridgeAddDel$", "10x", 5, ""},
		{"./integration", "^BenchmarkNetAddDel$", "10x", 5, ""},
		// At least 15 rounds per run, whatever -benchtime.
		{"./integration", "^BenchmarkIsolatorAttachDetach$", "1x", 3, ""},
		// 1,000 containers (WEIR_BENCH_CONTAINERS, when set, passes
		// through); it measures once per process, so -count 1. The
		// longest step by far: every container's full chain, attached
		// one by one and detached again.
		{"./integration", "^BenchmarkIsolatorScale$", "1x", 1, ""},
		// 1,000 containers' records, one attach: seconds per
		// measurement, each on a fresh host.
		{"./integration", "^BenchmarkIsolatorStatus$", "1x", 3, ""},
		// 100 containers attached at once by each of weir's CLI, its
		// daemon's API and cnitool + the reference plugins, then
		// detached: one round, some 50 s (WEIR_BENCH_CONCURRENT_ROUNDS
		// for more).
		{"./integration", "^BenchmarkConcurrentAttach$", "1x", 1, ""},
		{"./policy/enforce", "^BenchmarkAttach$", "5x", 3, ""},
		{"./policy/enforce", "^BenchmarkAttachVsReference$", "5x", 3, ""},
		{"./policy/enforce", "^BenchmarkRerender$", "5x", 3, ""},
		{"./policy/enforce", "^BenchmarkConnectionRate$", "3x", 3, ""},
		// At least four rounds of streams per run, whatever -benchtime.
		{"./policy/enforce", "^BenchmarkThroughput$", "1x", 3, ""},
		{"./policy/enforce", "^BenchmarkPolicyEditToEnforcement$", "5x", 3, ""},
		// Diagnostics: in results.json, not in the table.
		{"./policy/enforce", "^(BenchmarkAttachPhases|BenchmarkToolFloor|BenchmarkCompile|BenchmarkAttachCPU)$", "1x", 1, ""},
		{"./policy/dataplane", ".", "3x", 1, ""},
		{"./policy/selector", ".", "20000x", 1, ""},
	}
}

// quickContainers is how many containers the isolator's scale benchmark
// puts on the host in the quick run (WEIR_BENCH_CONTAINERS).
const quickContainers = "50"

// quickConcurrent is how many containers the concurrent-attach benchmark
// attaches at once in the quick run (WEIR_BENCH_CONCURRENT).
const quickConcurrent = "20"

// WritePlan prints the plan as scripts/bench reads it: package, pattern,
// benchtime, count, environment ("-" for none), tab-separated, one step a
// line.
func WritePlan(w io.Writer, steps []Step) error {
	for _, s := range steps {
		env := s.Env
		if env == "" {
			env = "-"
		}
		if _, err := fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\n", s.Pkg, s.Bench, s.Benchtime, s.Count, env); err != nil {
			return err
		}
	}
	return nil
}

// Planned reports whether a step of the plan runs benchmark name of pkg.
func Planned(steps []Step, pkg, name string) bool {
	for _, s := range steps {
		if strings.TrimPrefix(s.Pkg, "./") == strings.TrimPrefix(pkg, "./") && benchMatches(s.Bench, name) {
			return true
		}
	}
	return false
}

// benchMatches applies a -bench pattern to a benchmark's full name the
// way the testing package does: the pattern is split at slashes outside
// brackets and parentheses, and element i must match level i of the name
// (levels beyond the pattern's elements match).
func benchMatches(pattern, name string) bool {
	elems := splitPattern(pattern)
	levels := strings.Split(name, "/")
	for i := 0; i < len(elems) && i < len(levels); i++ {
		re, err := regexp.Compile(elems[i])
		if err != nil || !re.MatchString(levels[i]) {
			return false
		}
	}
	return true
}

func splitPattern(s string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[', '(':
			depth++
		case ']', ')':
			depth--
		case '\\':
			i++
		case '/':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}
