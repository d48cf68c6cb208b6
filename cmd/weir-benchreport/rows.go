package main

import (
	"fmt"
	"strconv"
)

// Col says where a column's figure comes from: a unit a benchmark reported
// with b.ReportMetric (or ns/op), and how to show it.
type Col struct {
	Bench string  // the benchmark, when not the row's
	Unit  string  // the benchmark's unit
	Scale float64 // multiplies the value into Show's unit; 0 means 1
	Show  string  // the unit shown
	Note  string  // shown after the value, in parentheses
}

// Target is the project's goal for a row: the ratio's or weir's figure
// (in Show units) compared with Value. No Op: reported, no goal.
type Target struct {
	OnWeir bool
	Op     string // "<=", ">=" or "=="
	Value  float64
}

func (t Target) String(show string) string {
	if t.Op == "" {
		return "report only"
	}
	op := map[string]string{"<=": "≤", ">=": "≥", "==": "="}[t.Op]
	if t.OnWeir {
		return fmt.Sprintf("%s %s %s", op, strconv.FormatFloat(t.Value, 'f', -1, 64), show)
	}
	return fmt.Sprintf("ratio %s %s", op, strconv.FormatFloat(t.Value, 'f', -1, 64))
}

// Met reports whether v meets the target.
func (t Target) Met(v float64) bool {
	switch t.Op {
	case ">=":
		return v >= t.Value
	case "==":
		return v == t.Value
	}
	return v <= t.Value
}

// Row is one line of the table.
type Row struct {
	Metric  string
	Pkg     string
	Bench   string // full name, without the -GOMAXPROCS suffix
	Weir    Col
	Ref     Col    // no Unit: no reference column
	Ratio   string // the benchmark's per-run ratio unit; "" = the medians' ratio
	NoRatio bool   // counts, not rates or times: no medians' ratio either
	Target  Target
	Short   string // why the figures, when present, do not measure the target
}

func ms(unit string) Col { return Col{Unit: unit, Show: "ms"} }

func note(c Col, n string) Col { c.Note = n; return c }

func ratioLE(v float64) Target { return Target{Op: "<=", Value: v} }
func ratioGE(v float64) Target { return Target{Op: ">=", Value: v} }

// Rows are the report's metrics with the project's targets, in the order
// printed; bs tells how many containers the isolator's scale benchmark
// used.
func Rows(bs Benches) []Row {
	const enforce, integ = "./policy/enforce", "./integration"
	rows := []Row{
		{Metric: "ADD+DEL bridge+host-local: weir binary exec'd vs reference plugins", Pkg: integ, Bench: "BenchmarkBridgeAddDel",
			Weir: ms("ms/weir-exec"), Ref: ms("ms/reference"), Ratio: "ratio/weir-exec", Target: ratioLE(0.5)},
		{Metric: "ADD+DEL bridge+host-local: weir in-process vs reference plugins", Pkg: integ, Bench: "BenchmarkBridgeAddDel",
			Weir: ms("ms/weir-in-process"), Ref: ms("ms/reference"), Ratio: "ratio/weir-in-process"},
		{Metric: "host-local ADD+DEL with 10,000 vs 10 allocated (weir)", Pkg: "./plugins/host-local", Bench: "BenchmarkAllocateInterleaved",
			Weir:  Col{Unit: "ns/cycle@10000", Scale: 1e-3, Show: "µs", Note: "10,000"},
			Ref:   Col{Unit: "ns/cycle@10", Scale: 1e-3, Show: "µs", Note: "weir, 10"},
			Ratio: "ratio", Target: ratioLE(1.5)},
		{Metric: "host-local ADD+DEL at 10,000 allocated: weir in-process vs reference exec'd", Pkg: "./plugins/host-local", Bench: "BenchmarkAllocateInterleaved",
			Weir: Col{Unit: "ns/cycle@10000", Scale: 1e-6, Show: "ms"},
			Ref:  Col{Bench: "BenchmarkReferenceAllocate/allocated=10000", Unit: "ns/op", Scale: 1e-6, Show: "ms"}},
		{Metric: "seed bridge net attach+detach: `weir net` (weir plugins in-process) vs cnitool + reference", Pkg: integ, Bench: "BenchmarkNetAddDel",
			Weir: ms("ms/weir-net+weir"), Ref: ms("ms/cnitool+reference"), Ratio: "ratio/weir-net+weir", Target: ratioLE(0.2)},
		{Metric: "seed bridge net attach+detach: `weir net` with the reference plugins vs cnitool", Pkg: integ, Bench: "BenchmarkNetAddDel",
			Weir: ms("ms/weir-net+reference"), Ref: ms("ms/cnitool+reference"), Ratio: "ratio/weir-net+reference", Target: ratioLE(1.0)},
	}
	for _, mode := range []struct{ engine, what string }{{"warm", "daemon engine"}, {"fresh", "plugin path, fresh engine"}} {
		for _, n := range []int{10, 100, 1000} {
			r := Row{Metric: fmt.Sprintf("policy programming, one new endpoint with %s present (%s)", thousands(n), mode.what),
				Pkg: enforce, Bench: fmt.Sprintf("BenchmarkAttach/eps=%d/engine=%s", n, mode.engine),
				Weir: ms("ms-median/attach")}
			if n == 1000 {
				r.Target = Target{OnWeir: true, Op: "<=", Value: 10}
			}
			rows = append(rows, r)
		}
	}
	for _, n := range []int{10, 100, 1000} {
		rows = append(rows, Row{Metric: fmt.Sprintf("policy ADD with %s present: weir policy plugin exec'd vs reference firewall", thousands(n)),
			Pkg: enforce, Bench: fmt.Sprintf("BenchmarkAttachVsReference/eps=%d", n),
			Weir: ms("ms-median/weir-plugin-exec"), Ref: ms("ms-median/reference"), Ratio: "ratio-median/weir-plugin-exec"})
	}
	rows = append(rows,
		Row{Metric: "policy full re-render, 1,000 endpoints × 100 policies, after a rule edit", Pkg: enforce, Bench: "BenchmarkRerender/edit-rule",
			Weir: ms("ms-median/render"), Target: Target{OnWeir: true, Op: "<=", Value: 200}},
		Row{Metric: "policy full re-render, 1,000 endpoints × 100 policies, after an order edit (every chain changes)", Pkg: enforce, Bench: "BenchmarkRerender/edit-order",
			Weir: ms("ms-median/render"), Target: Target{OnWeir: true, Op: "<=", Value: 200}},
		Row{Metric: "policy repair, 1,000 endpoints, nothing changed (full read-back)", Pkg: enforce, Bench: "BenchmarkRerender/repair",
			Weir: ms("ms-median/render")},
		Row{Metric: "new-connection rate, 1,000 endpoints + 100 policies vs no policy", Pkg: enforce, Bench: "BenchmarkConnectionRate",
			Weir: Col{Unit: "conn/s-policy", Show: "conn/s"}, Ref: Col{Unit: "conn/s-none", Show: "conn/s", Note: "no policy"},
			Ratio: "ratio-policy/none", Target: ratioGE(0.9)},
		Row{Metric: "new-connection rate, one conntrack rule only vs no policy (the floor)", Pkg: enforce, Bench: "BenchmarkConnectionRate",
			Weir: Col{Unit: "conn/s-ct-only", Show: "conn/s"}, Ref: Col{Unit: "conn/s-none", Show: "conn/s", Note: "no policy"},
			Ratio: "ratio-ct-only/none"},
		// No target in the issues for throughput: reported.
		Row{Metric: "dataplane throughput, one TCP stream, 1,000 endpoints + 100 policies vs no policy", Pkg: enforce, Bench: "BenchmarkThroughput",
			Weir: Col{Unit: "Gbit/s-policy", Show: "Gbit/s"}, Ref: Col{Unit: "Gbit/s-none", Show: "Gbit/s", Note: "no policy"},
			Ratio: "ratio-policy/none"},
		Row{Metric: "dataplane throughput, one TCP stream, one conntrack rule only vs no policy (the floor)", Pkg: enforce, Bench: "BenchmarkThroughput",
			Weir: Col{Unit: "Gbit/s-ct-only", Show: "Gbit/s"}, Ref: Col{Unit: "Gbit/s-none", Show: "Gbit/s", Note: "no policy"},
			Ratio: "ratio-ct-only/none"},
		Row{Metric: "policy edit to enforcement, 1,000 endpoints: a port allowed", Pkg: enforce, Bench: "BenchmarkPolicyEditToEnforcement",
			Weir: ms("ms-median/allow-enforced")},
		Row{Metric: "policy edit to enforcement, 1,000 endpoints: a port denied again", Pkg: enforce, Bench: "BenchmarkPolicyEditToEnforcement",
			Weir: ms("ms-median/deny-enforced")},
	)
	return append(rows, isolatorRows(bs)...)
}

// thousands writes 1000 as "1,000".
func thousands(n int) string {
	if n < 1000 {
		return fmt.Sprint(n)
	}
	return fmt.Sprintf("%s,%03d", thousands(n/1000), n%1000)
}
