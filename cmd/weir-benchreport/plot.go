package main

import (
	"slices"
	"strconv"
	"strings"
)

// Point is one measurement: X containers on the host, Y milliseconds.
type Point struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
}

// Series is one line of the plot.
type Series struct {
	Name   string  `json:"name"`
	Points []Point `json:"points"`
}

// Plot is the attach-latency plot's data: attach latency against the
// containers already on the host, weir and the reference.
type Plot struct {
	Title  string   `json:"title"`
	Source string   `json:"source"` // the benchmark and units plotted
	XLabel string   `json:"x_label"`
	YLabel string   `json:"y_label"`
	Series []Series `json:"series"`
}

// plotSource is a benchmark family whose sub-benchmarks are named
// Prefix+N (N the containers on the host), with the units of the two lines.
type plotSource struct {
	Pkg, Prefix       string
	Title             string
	Weir, Ref         string // units
	WeirName, RefName string
}

// plotSources, best first: the plot uses the first with data. The
// isolator's scale benchmark measures weir alone as the host fills up, so
// the side-by-side policy ADD comparison is the one source of both lines.
func plotSources() []plotSource {
	return []plotSource{{
		Pkg: "./policy/enforce", Prefix: "BenchmarkAttachVsReference/eps=",
		Title: "Policy attach latency (one new container's policy ADD) vs containers on the host",
		Weir:  "ms-median/weir-plugin-exec", Ref: "ms-median/reference",
		WeirName: "weir policy plugin (exec'd)", RefName: "reference firewall v1.10.0 (exec'd)",
	}}
}

// BuildPlot picks the first source with data and collects its points,
// each the median over the runs.
func BuildPlot(bs Benches) Plot {
	for _, src := range plotSources() {
		weir := Series{Name: src.WeirName}
		ref := Series{Name: src.RefName}
		for _, b := range bs {
			rest, ok := strings.CutPrefix(b.Name, src.Prefix)
			if !ok || !pkgMatches(b.Pkg, src.Pkg) {
				continue
			}
			n, err := strconv.ParseFloat(strings.SplitN(rest, "/", 2)[0], 64)
			if err != nil {
				continue
			}
			if v, ok := b.Median(src.Weir); ok {
				weir.Points = append(weir.Points, Point{X: n, Y: v})
			}
			if v, ok := b.Median(src.Ref); ok {
				ref.Points = append(ref.Points, Point{X: n, Y: v})
			}
		}
		if len(weir.Points) == 0 && len(ref.Points) == 0 {
			continue
		}
		byX := func(a, b Point) int { return cmpFloat(a.X, b.X) }
		slices.SortFunc(weir.Points, byX)
		slices.SortFunc(ref.Points, byX)
		return Plot{Title: src.Title, Source: src.Prefix + "N: " + src.Weir + ", " + src.Ref,
			XLabel: "containers on the host", YLabel: "attach latency (ms, median)", Series: []Series{weir, ref}}
	}
	return Plot{Title: "Attach latency vs containers on the host", Source: "not measured",
		XLabel: "containers on the host", YLabel: "attach latency (ms, median)"}
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
