package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// WriteTable prints the report: a heading line, the one table, and a few
// lines of totals under it.
func WriteTable(w io.Writer, rep *Report) error {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("## weir vs reference (%s run, medians over repeated runs)\n\n", rep.Mode)
	p("| metric | weir | reference | ratio | target | met? |\n|---|---|---|---|---|---|\n")
	var failures []string // distinct failure messages, footnoted under the table
	footnote := func(reason string) string {
		i := slices.Index(failures, reason)
		if i < 0 {
			failures = append(failures, reason)
			i = len(failures) - 1
		}
		return fmt.Sprintf("[%d]", i+1)
	}
	counts := map[string]int{}
	failedRuns, medians := 0, 0
	for _, r := range rep.Rows {
		ratio := "—"
		if r.Ratio != nil {
			ratio = fmtNum(*r.Ratio)
			if r.RatioFrom == "medians" {
				ratio += "*"
				medians++
			}
		}
		v := verdict(r)
		switch {
		case r.Status == StatusFailed:
			v = "**failed** " + footnote(r.Reason)
		case r.Failed:
			v += " (the run failed after measuring " + footnote(r.Reason) + ")"
			failedRuns++
		}
		p("| %s | %s | %s | %s | %s | %s |\n", r.Metric, cell(r.Weir), cell(r.Ref), ratio, r.Target, v)
		counts[r.Status]++
	}
	p("\nTargets: %d met, %d not met, %d not measured, %d failed.", counts[StatusMet], counts[StatusNotMet],
		counts[StatusNotMeasured], counts[StatusFailed])
	if failedRuns > 0 {
		p(" %d rows have figures a run logged before it failed.", failedRuns)
	}
	if medians > 0 {
		p(" Ratios marked * are the ratio of the two medians; the others are the benchmark's own ratio of variants timed interleaved in one run, median over runs.")
	}
	p("\n")
	for i, f := range failures {
		p("[%d] %s\n", i+1, f)
	}
	if rep.Seconds > 0 {
		p("Benchmarks ran %s in %d go test steps", fmtDuration(rep.Seconds), len(rep.Jobs))
		if rep.Env["cpu"] != "" {
			p(" on %s", rep.Env["cpu"])
		}
		p(".\n")
	}
	if rep.OutDir != "" {
		p("Raw figures: %s/results.json; attach latency plot: %s/attach-latency.svg.\n", rep.OutDir, rep.OutDir)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func cell(f *Figure) string {
	if f == nil {
		return "—"
	}
	s := fmtNum(f.Value) + " " + f.Unit
	if f.Note != "" {
		s += " (" + f.Note + ")"
	}
	return s
}

// verdict is the met? cell of a row that did not fail outright.
func verdict(r Result) string {
	switch r.Status {
	case StatusMet:
		return "yes"
	case StatusNotMet:
		return "**no**"
	case StatusReport:
		if r.Reason != "" && !r.Failed {
			return "— (" + escape(r.Reason) + ")"
		}
		return "—"
	}
	if r.Reason != "" && !r.Failed {
		return r.Status + ": " + escape(r.Reason)
	}
	return r.Status
}

// escape keeps a message inside its table cell.
func escape(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	if len(s) > 160 {
		s = s[:157] + "..."
	}
	return s
}

// fmtNum shows three significant figures or so, thousands separated.
func fmtNum(v float64) string {
	a := math.Abs(v)
	switch {
	case v == 0:
		return "0"
	case a >= 1000:
		return groupThousands(strconv.FormatFloat(math.Round(v), 'f', 0, 64))
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

func groupThousands(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

func fmtDuration(sec float64) string {
	total := int(math.Round(sec))
	m, s := total/60, total%60
	if m == 0 {
		return fmt.Sprintf("%ds", s)
	}
	return fmt.Sprintf("%dm%02ds", m, s)
}
