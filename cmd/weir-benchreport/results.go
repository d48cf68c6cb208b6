package main

import (
	"encoding/json"
	"io"
	"math"
)

// Report is everything `make bench` found: the table's rows, every
// benchmark's figures run by run, what failed or was skipped, what ran and
// for how long, and the plot's data. It is written as results.json.
type Report struct {
	Mode       string            `json:"mode"`
	Env        map[string]string `json:"env"`
	Seconds    float64           `json:"seconds,omitempty"` // the go test steps' wall time, summed
	Jobs       []Job             `json:"steps,omitempty"`
	Rows       []Result          `json:"rows"`
	Plot       Plot              `json:"attach_latency_plot"`
	Benchmarks []BenchFigures    `json:"benchmarks"`
	Failed     []Outcome         `json:"failed,omitempty"`
	Skipped    []Outcome         `json:"skipped,omitempty"`
	PkgFail    []string          `json:"failed_packages,omitempty"`
	Warnings   []string          `json:"warnings,omitempty"`
	OutDir     string            `json:"-"`
}

// BenchFigures is one benchmark's raw figures.
type BenchFigures struct {
	Pkg     string                  `json:"pkg"`
	Name    string                  `json:"name"`
	FromLog bool                    `json:"from_log,omitempty"` // figures a failed run logged
	Runs    int                     `json:"runs"`
	N       []int64                 `json:"n"`
	Metrics map[string]MetricValues `json:"metrics"`
}

// MetricValues are one unit's values, run by run, and their median.
type MetricValues struct {
	Median float64   `json:"median"`
	Values []float64 `json:"values"`
}

// Build evaluates the rows and the plot over the parsed output.
func Build(in *Input, mode string) *Report {
	bs := Aggregate(WithLogged(in.Runs, in.Failed))
	rep := &Report{Mode: mode, Env: in.Env, Jobs: in.Jobs, Failed: in.Failed, Skipped: in.Skipped,
		PkgFail: in.PkgFail, Warnings: in.Warnings}
	for _, j := range in.Jobs {
		rep.Seconds += j.Seconds
	}
	rep.Seconds = math.Round(rep.Seconds*10) / 10
	rep.Rows = Evaluate(Rows(bs), bs, in, StepsRun(in, mode), mode)
	rep.Plot = BuildPlot(bs)
	for _, b := range bs {
		f := BenchFigures{Pkg: b.Pkg, Name: b.Name, FromLog: b.FromLog, Runs: b.Runs(), N: b.N, Metrics: map[string]MetricValues{}}
		for u, vs := range b.Metrics {
			f.Metrics[u] = MetricValues{Median: median(vs), Values: vs}
		}
		rep.Benchmarks = append(rep.Benchmarks, f)
	}
	return rep
}

// WriteJSON writes the report as indented JSON.
func WriteJSON(w io.Writer, rep *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}
