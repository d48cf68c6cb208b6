package main

import (
	"fmt"
	"strings"
)

// Figure is one measured cell: the median over Runs runs, in Unit.
type Figure struct {
	Value   float64 `json:"value"`
	Unit    string  `json:"unit"`
	Note    string  `json:"note,omitempty"`
	Bench   string  `json:"benchmark"`
	Metric  string  `json:"metric"` // the benchmark's unit it came from
	Runs    int     `json:"runs"`
	FromLog bool    `json:"from_log,omitempty"` // logged by a run that then failed
}

// Status of a row.
const (
	StatusMet         = "met"
	StatusNotMet      = "not met"
	StatusReport      = "report only"
	StatusNotMeasured = "not measured"
	StatusFailed      = "failed"
)

// Result is a row evaluated against the benchmark output.
type Result struct {
	Metric    string   `json:"metric"`
	Weir      *Figure  `json:"weir,omitempty"`
	Ref       *Figure  `json:"reference,omitempty"`
	Ratio     *float64 `json:"ratio,omitempty"`
	RatioFrom string   `json:"ratio_from,omitempty"` // "paired" (the benchmark's own) or "medians"
	Target    string   `json:"target"`
	Status    string   `json:"status"`
	Failed    bool     `json:"failed,omitempty"` // the benchmark failed, after measuring when there are figures
	Reason    string   `json:"reason,omitempty"` // why not measured or failed
}

// Evaluate fills every row from the aggregated benchmarks. steps is the
// plan that ran, to tell a benchmark the mode left out from one that
// printed nothing.
func Evaluate(rows []Row, bs Benches, in *Input, steps []Step, mode string) []Result {
	out := make([]Result, 0, len(rows))
	for _, row := range rows {
		out = append(out, evaluate(row, bs, in, steps, mode))
	}
	return out
}

func evaluate(row Row, bs Benches, in *Input, steps []Step, mode string) Result {
	res := Result{Metric: row.Metric, Target: row.Target.String(row.Weir.Show), Status: StatusReport}
	if row.Target.Op != "" {
		res.Status = StatusNotMeasured
	}
	bench := bs.Find(row.Pkg, row.Bench)
	weir, reason := figure(bs, bench, row.Pkg, row.Weir)
	if weir == nil {
		name := row.Bench
		if bench != nil {
			name = bench.Name
		}
		res.Status, res.Reason = missing(row.Pkg, name, reason, in, steps, mode)
		return res
	}
	res.Weir = weir
	var refReason string
	if row.Ref.Unit != "" {
		var why string
		if res.Ref, why = figure(bs, bench, row.Pkg, row.Ref); res.Ref == nil {
			name := row.Ref.Bench
			if name == "" {
				name = row.Bench
			}
			_, why = missing(row.Pkg, name, why, in, steps, mode)
			refReason = "reference not measured: " + why
		}
	}
	if row.Ratio != "" && bench != nil {
		if v, ok := bench.Median(row.Ratio); ok {
			res.Ratio, res.RatioFrom = &v, "paired"
		}
	}
	if res.Ratio == nil && res.Ref != nil && res.Ref.Value != 0 && !row.NoRatio {
		v := weir.Value / res.Ref.Value
		res.Ratio, res.RatioFrom = &v, "medians"
	}
	if row.Target.Op != "" {
		v, have := weir.Value, true
		if !row.Target.OnWeir {
			have = res.Ratio != nil
			if have {
				v = *res.Ratio
			}
		}
		switch {
		case !have:
			res.Status = StatusNotMeasured
		case row.Target.Met(v):
			res.Status = StatusMet
		default:
			res.Status = StatusNotMet
		}
	}
	if res.Ref == nil {
		res.Reason = refReason
	}
	if row.Short != "" && row.Target.Op != "" {
		res.Status, res.Reason = StatusNotMeasured, row.Short
	}
	if f := failure(in, row.Pkg, weir.Bench, true); f != nil {
		res.Failed, res.Reason = true, failReason(f)
	}
	return res
}

// figure is column c's median, from the row's benchmark unless c names
// its own; with a reason when there is none.
func figure(bs Benches, rowBench *Bench, pkg string, c Col) (*Figure, string) {
	b := rowBench
	if c.Bench != "" {
		b = bs.Find(pkg, c.Bench)
	}
	if b == nil {
		return nil, ""
	}
	unit := c.Unit
	v, ok := b.Median(unit)
	if !ok {
		return nil, fmt.Sprintf("%s reported no %s", b.Name, c.Unit)
	}
	scale := c.Scale
	if scale == 0 {
		scale = 1
	}
	return &Figure{Value: v * scale, Unit: c.Show, Note: c.Note, Bench: b.Name, Metric: unit, Runs: len(b.Metrics[unit]), FromLog: b.FromLog}, ""
}

// missing says why a row has no figure: its benchmark failed, skipped,
// was left out of this mode's plan, or does not exist.
func missing(pkg, name, reason string, in *Input, steps []Step, mode string) (string, string) {
	if !Planned(steps, pkg, name) {
		return StatusNotMeasured, "not run in " + mode + " mode"
	}
	if f := failure(in, pkg, name, false); f != nil {
		return StatusFailed, failReason(f)
	}
	if s := findOutcome(in.Skipped, pkg, name, false); s != nil {
		return StatusNotMeasured, "skipped: " + s.Reason
	}
	if reason != "" {
		return StatusNotMeasured, reason
	}
	for _, j := range in.Jobs {
		if j.Exit != 0 && strings.TrimPrefix(j.Pkg, "./") == strings.TrimPrefix(pkg, "./") && benchMatches(j.Bench, name) {
			return StatusFailed, fmt.Sprintf("go test %s -bench %s exited %d: see raw.txt", j.Pkg, j.Bench, j.Exit)
		}
	}
	return StatusNotMeasured, "no output from " + name
}

// failure is the FAIL of the benchmark itself (exact) or also of one of
// its parents or children: a parent fails with any of its children, so
// for a benchmark that printed results only its own FAIL counts.
func failure(in *Input, pkg, name string, exact bool) *Outcome {
	return findOutcome(in.Failed, pkg, name, exact)
}

func findOutcome(outs []Outcome, pkg, name string, exact bool) *Outcome {
	for i := range outs {
		o := &outs[i]
		if !pkgMatches(o.Pkg, pkg) {
			continue
		}
		if o.Name == name || !exact && (strings.HasPrefix(name, o.Name+"/") || strings.HasPrefix(o.Name, name+"/")) {
			return o
		}
	}
	return nil
}

func failReason(o *Outcome) string {
	if o.Reason == "" {
		return o.Name + " failed"
	}
	return o.Name + ": " + o.Reason
}
