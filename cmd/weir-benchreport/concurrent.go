package main

// BenchmarkConcurrentAttach (integration/concurrent_bench_test.go)
// attaches N containers at once (100; 20 in the quick run,
// WEIR_BENCH_CONCURRENT) with `weir attach`, with the daemon's API and with
// cnitool + the reference plugins, in interleaved rounds: the wall time of
// each variant's N attaches (ms-p50/<variant>, median over rounds), its
// ratio to the reference's (ratio-p50/weir, ratio-p50/weir-api), and the
// addresses held by more than one container (dup-addrs/weir: both weir
// variants, dup-addrs/reference); containers/round says how many. When it
// finds a duplicate it fails, after logging its figures.

const (
	concBench  = "BenchmarkConcurrentAttach"
	concTarget = 100 // the containers at once issue 6 asks for
)

// concN is the containers BenchmarkConcurrentAttach attached at once:
// its "containers/round" figure, concTarget when it did not run.
func concN(bs Benches) int {
	for _, b := range bs {
		if b.Name == concBench {
			if v, ok := b.Median("containers/round"); ok {
				return int(v)
			}
		}
	}
	return concTarget
}

// concurrentRows are its rows: the wall times (no target in the issues:
// reported), and no address handed out twice (weir's figure must be 0;
// the reference's is shown beside it).
func concurrentRows(bs Benches) []Row {
	const integ = "./integration"
	n := concN(bs)
	at := thousands(n) + " concurrent attaches"
	sec := func(unit string) Col { return Col{Unit: unit, Scale: 1e-3, Show: "s"} }
	return []Row{
		{Metric: at + " (full chain, a published port each), wall time: `weir attach` vs cnitool + reference plugins",
			Pkg: integ, Bench: concBench, Weir: sec("ms-p50/weir"), Ref: sec("ms-p50/reference"), Ratio: "ratio-p50/weir"},
		{Metric: at + ", wall time: `weir serve` API (POST /v1/containers/{id}) vs cnitool + reference plugins",
			Pkg: integ, Bench: concBench, Weir: sec("ms-p50/weir-api"), Ref: sec("ms-p50/reference"), Ratio: "ratio-p50/weir-api"},
		{Metric: at + ": no IPv4 address held by two containers (weir: CLI and API, every round)",
			Pkg: integ, Bench: concBench,
			Weir:    Col{Unit: "dup-addrs/weir", Show: "duplicates"},
			Ref:     Col{Unit: "dup-addrs/reference", Show: "duplicates"},
			NoRatio: true, Target: Target{OnWeir: true, Op: "==", Value: 0}},
	}
}
