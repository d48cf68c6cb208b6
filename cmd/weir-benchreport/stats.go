package main

import (
	"slices"
	"strings"
)

// Bench is every run of one benchmark: per unit, the value of each run.
type Bench struct {
	Pkg     string
	Name    string
	N       []int64
	Metrics map[string][]float64
	FromLog bool // some figures are from the log of a failed run
}

// Runs is how many result lines the benchmark printed.
func (b *Bench) Runs() int { return len(b.N) }

// Median is the median over the runs of the unit's values.
func (b *Bench) Median(unit string) (float64, bool) {
	vs := b.Metrics[unit]
	if len(vs) == 0 {
		return 0, false
	}
	return median(vs), true
}

// Units are the benchmark's units, sorted.
func (b *Bench) Units() []string {
	us := make([]string, 0, len(b.Metrics))
	for u := range b.Metrics {
		us = append(us, u)
	}
	slices.Sort(us)
	return us
}

// Benches is the aggregated output, in the order benchmarks first appeared.
type Benches []*Bench

// Aggregate groups runs by package and benchmark name.
func Aggregate(runs []Run) Benches {
	var out Benches
	at := map[string]*Bench{}
	for _, r := range runs {
		key := r.Pkg + "\x00" + r.Name
		b := at[key]
		if b == nil {
			b = &Bench{Pkg: r.Pkg, Name: r.Name, Metrics: map[string][]float64{}}
			at[key] = b
			out = append(out, b)
		}
		b.N = append(b.N, r.N)
		b.FromLog = b.FromLog || r.FromLog
		for u, v := range r.Metrics {
			b.Metrics[u] = append(b.Metrics[u], v)
		}
	}
	return out
}

// WithLogged adds to runs, as a run, the figures each failed benchmark
// that printed no result line logged before it failed (a benchmark that
// measured, then failed cleaning up).
func WithLogged(runs []Run, failed []Outcome) []Run {
	have := map[string]bool{}
	for _, r := range runs {
		have[r.Pkg+"\x00"+r.Name] = true
	}
	for _, o := range failed {
		if len(o.Logged) > 0 && !have[o.Pkg+"\x00"+o.Name] {
			runs = append(runs, Run{Pkg: o.Pkg, Name: o.Name, Procs: 1, Metrics: o.Logged, FromLog: true})
		}
	}
	return runs
}

// Find returns the benchmark named name in a package whose import path is
// pkg or ends with "/"+pkg (pkg may be written "./policy/enforce").
func (bs Benches) Find(pkg, name string) *Bench {
	for _, b := range bs {
		if b.Name == name && pkgMatches(b.Pkg, pkg) {
			return b
		}
	}
	return nil
}

// pkgMatches reports whether import path full is the package rel
// ("./policy/enforce", "policy/enforce" or a full import path).
func pkgMatches(full, rel string) bool {
	rel = strings.TrimPrefix(rel, "./")
	return rel == "" || full == rel || strings.HasSuffix(full, "/"+rel)
}

func median(vs []float64) float64 {
	s := slices.Clone(vs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
