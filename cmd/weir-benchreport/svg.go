package main

import (
	"fmt"
	"html"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// The SVG's geometry: the plot area inside the margins.
const (
	svgW, svgH                         = 720.0, 440.0
	marginL, marginR, marginT, marginB = 72.0, 24.0, 56.0, 64.0
)

var seriesColors = []string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd"}

// axis maps data values to pixels, linear or log10.
type axis struct {
	lo, hi   float64 // data domain (log10 of it when log)
	log      bool
	from, to float64 // pixels
}

func (a axis) pos(v float64) float64 {
	if a.log {
		v = math.Log10(v)
	}
	return a.from + (v-a.lo)/(a.hi-a.lo)*(a.to-a.from)
}

// WriteSVG draws the plot: one line per series, a dot and its value at
// each point, the x axis logarithmic when the points span a decade or more.
func WriteSVG(w io.Writer, p Plot) error {
	var b strings.Builder
	f := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	f(`<svg xmlns="http://www.w3.org/2000/svg" width="%g" height="%g" viewBox="0 0 %g %g" font-family="sans-serif" font-size="12">`+"\n", svgW, svgH, svgW, svgH)
	f(`<rect width="100%%" height="100%%" fill="white"/>` + "\n")
	f(`<text x="%g" y="24" text-anchor="middle" font-size="15" font-weight="bold">%s</text>`+"\n", svgW/2, esc(p.Title))
	f(`<text x="%g" y="42" text-anchor="middle" fill="#555">%s</text>`+"\n", svgW/2, esc(p.Source))

	var xs []float64
	maxY := 0.0
	for _, s := range p.Series {
		for _, pt := range s.Points {
			xs = append(xs, pt.X)
			maxY = math.Max(maxY, pt.Y)
		}
	}
	left, right, top, bottom := marginL, svgW-marginR, marginT, svgH-marginB
	f(`<text x="%g" y="%g" text-anchor="middle">%s</text>`+"\n", (left+right)/2, svgH-18, esc(p.XLabel))
	f(`<text x="18" y="%g" text-anchor="middle" transform="rotate(-90 18 %g)">%s</text>`+"\n", (top+bottom)/2, (top+bottom)/2, esc(p.YLabel))
	if len(xs) == 0 {
		f(`<text x="%g" y="%g" text-anchor="middle" font-size="16" fill="#888">not measured</text>`+"\n", (left+right)/2, (top+bottom)/2)
		f("</svg>\n")
		_, err := io.WriteString(w, b.String())
		return err
	}

	x := xAxis(xs, left+20, right-20)
	step := niceStep(maxY * 1.1 / 5)
	yTop := math.Max(step, math.Ceil(maxY*1.1/step)*step)
	y := axis{lo: 0, hi: yTop, from: bottom, to: top}

	// Grid, ticks and labels.
	for i := 0; float64(i)*step <= yTop+step/2; i++ {
		v := float64(i) * step
		py := y.pos(v)
		f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e5e5e5"/>`+"\n", left, py, right, py)
		f(`<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", left-6, py+4, tickLabel(v))
	}
	for _, v := range uniqueSorted(xs) {
		px := x.pos(v)
		f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e5e5e5"/>`+"\n", px, top, px, bottom)
		f(`<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", px, bottom+18, tickLabel(v))
	}
	f(`<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="black"/>`+"\n", left, bottom, right, bottom)
	f(`<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="black"/>`+"\n", left, top, left, bottom)
	if x.log {
		f(`<text x="%g" y="%g" text-anchor="end" fill="#555" font-size="10">log scale</text>`+"\n", right, bottom+32)
	}

	// The series, then the legend.
	for i, s := range p.Series {
		color := seriesColors[i%len(seriesColors)]
		var pts []string
		for _, pt := range s.Points {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x.pos(pt.X), y.pos(pt.Y)))
		}
		if len(pts) > 1 {
			f(`<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", color, strings.Join(pts, " "))
		}
		for _, pt := range s.Points {
			px, py := x.pos(pt.X), y.pos(pt.Y)
			f(`<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"/>`+"\n", px, py, color)
			dy := -6.0 // the first series' values above its dots, the others' below
			if i > 0 {
				dy = 15
			}
			f(`<text x="%.1f" y="%.1f" fill="%s" font-size="11">%s</text>`+"\n", px+6, py+dy, color, fmtNum(pt.Y))
		}
		ly := top + 16 + float64(i)*18
		f(`<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="%s" stroke-width="2"/>`+"\n", left+12, ly-4, left+36, ly-4, color)
		f(`<text x="%g" y="%g">%s</text>`+"\n", left+42, ly, esc(s.Name))
	}
	f("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// xAxis is logarithmic when every x is positive and they span a decade.
func xAxis(xs []float64, from, to float64) axis {
	lo, hi := xs[0], xs[0]
	for _, v := range xs {
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	if lo > 0 && hi/lo >= 10 {
		return axis{lo: math.Log10(lo), hi: math.Log10(hi), log: true, from: from, to: to}
	}
	if hi == lo {
		lo, hi = lo-1, hi+1
	}
	return axis{lo: lo, hi: hi, from: from, to: to}
}

// niceStep rounds v up to 1, 2 or 5 times a power of ten.
func niceStep(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func uniqueSorted(xs []float64) []float64 {
	out := slices.Clone(xs)
	slices.Sort(out)
	return slices.Compact(out)
}

// tickLabel writes an axis value without trailing zeros: 10, 2.5, 1,000.
func tickLabel(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) >= 1000 {
		return groupThousands(strconv.FormatFloat(v, 'f', 0, 64))
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

func esc(s string) string { return html.EscapeString(s) }
