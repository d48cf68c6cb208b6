package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// Run is one result line of one benchmark: a run of -count.
type Run struct {
	Pkg     string             // import path, from the "pkg:" header
	Name    string             // full name without the -GOMAXPROCS suffix
	Procs   int                // GOMAXPROCS, 1 when the name has no suffix
	N       int64              // iterations
	Metrics map[string]float64 // unit -> value, ns/op included
	FromLog bool               // the figures a failed benchmark logged, no result line
}

// Outcome is a benchmark that failed or was skipped, with its message.
type Outcome struct {
	Pkg    string             `json:"pkg"`
	Name   string             `json:"name"`
	Reason string             `json:"reason,omitempty"`
	Logged map[string]float64 `json:"logged_metrics,omitempty"` // "unit value" lines it logged
}

// Job is a `go test` invocation of scripts/bench, from its "# weir-bench"
// lines: what ran, how long it took, how it exited.
type Job struct {
	Pkg       string  `json:"pkg"`
	Bench     string  `json:"bench"`
	Benchtime string  `json:"benchtime"`
	Count     int     `json:"count"`
	Env       string  `json:"env,omitempty"`
	Seconds   float64 `json:"seconds"`
	Exit      int     `json:"exit"`
}

// Input is everything read from the benchmark output.
type Input struct {
	Env      map[string]string // goos, goarch, cpu
	Runs     []Run
	Failed   []Outcome
	Skipped  []Outcome
	PkgFail  []string // packages whose test binary ended in FAIL
	Jobs     []Job
	Warnings []string // lines that looked like results but did not parse
}

// testEvent is the part of a `go test -json` (test2json) event we read.
type testEvent struct {
	Action  string
	Package string
	Output  string
}

var procsSuffix = regexp.MustCompile(`^(.+)-(\d+)$`)

// splitProcs splits "BenchmarkX/sub-8" into "BenchmarkX/sub" and 8.
func splitProcs(full string) (string, int) {
	if m := procsSuffix.FindStringSubmatch(full); m != nil {
		if p, err := strconv.Atoi(m[2]); err == nil {
			return m[1], p
		}
	}
	return full, 1
}

// Parse reads `go test -bench` output, plain or -json, possibly several
// invocations concatenated.
func Parse(r io.Reader) (*Input, error) {
	p := &parser{in: &Input{Env: map[string]string{}}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	partial := map[string]string{} // -json: output not yet ended by a newline, by package
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "{") {
			var ev testEvent
			if err := json.Unmarshal([]byte(line), &ev); err == nil && ev.Action != "" {
				if ev.Action != "output" {
					continue
				}
				text := partial[ev.Package] + ev.Output
				lines := strings.Split(text, "\n")
				partial[ev.Package] = lines[len(lines)-1]
				for _, l := range lines[:len(lines)-1] {
					p.line(ev.Package, l)
				}
				continue
			}
		}
		p.line("", line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading benchmark output: %w", err)
	}
	for pkg, rest := range partial {
		if rest != "" {
			p.line(pkg, rest)
		}
	}
	return p.in, nil
}

type parser struct {
	in      *Input
	pkg     string   // from the last "pkg:" header or -json event
	pending string   // a benchmark name printed without its result yet
	outcome *Outcome // the last FAIL/SKIP line, waiting for its message
}

func (p *parser) line(pkg, line string) {
	if pkg != "" {
		p.pkg = pkg
	}
	trimmed := strings.TrimSpace(line)
	if p.outcome != nil {
		if trimmed != "" && line != trimmed && !strings.HasPrefix(trimmed, "---") {
			p.message(trimmed)
			return
		}
		p.outcome = nil
	}
	switch {
	case strings.HasPrefix(line, "# weir-bench "):
		p.job(strings.TrimPrefix(line, "# weir-bench "))
	case strings.HasPrefix(line, "pkg: "):
		p.pkg = strings.TrimSpace(strings.TrimPrefix(line, "pkg: "))
	case strings.HasPrefix(line, "goos: "), strings.HasPrefix(line, "goarch: "), strings.HasPrefix(line, "cpu: "):
		k, v, _ := strings.Cut(line, ": ")
		p.in.Env[k] = strings.TrimSpace(v)
	case strings.HasPrefix(trimmed, "--- FAIL: Benchmark"), strings.HasPrefix(trimmed, "--- SKIP: Benchmark"):
		fields := strings.Fields(trimmed)
		name, _ := splitProcs(fields[2])
		o := Outcome{Pkg: p.pkg, Name: name}
		p.pending = ""
		if fields[1] == "FAIL:" {
			p.in.Failed = append(p.in.Failed, o)
			p.outcome = &p.in.Failed[len(p.in.Failed)-1]
		} else {
			p.in.Skipped = append(p.in.Skipped, o)
			p.outcome = &p.in.Skipped[len(p.in.Skipped)-1]
		}
	case strings.HasPrefix(line, "FAIL\t"):
		if f := strings.Fields(line); len(f) >= 2 {
			p.in.PkgFail = append(p.in.PkgFail, f[1])
		}
	case strings.HasPrefix(line, "Benchmark"):
		fields := strings.Fields(line)
		if r, ok := p.result(fields[0], fields[1:]); ok {
			p.in.Runs = append(p.in.Runs, r)
			p.pending = ""
		} else if r, ok := p.resultInTail(fields[0], fields[1:]); ok {
			p.in.Runs = append(p.in.Runs, r)
			p.pending = ""
		} else if len(fields) > 1 && isInt(fields[1]) {
			p.in.Warnings = append(p.in.Warnings, "unparsed result line: "+line)
		} else {
			// Its result follows after output the benchmark (or a
			// process it ran) wrote meanwhile.
			p.pending = fields[0]
		}
	case p.pending != "" && trimmed != "":
		if r, ok := p.resultInTail(p.pending, strings.Fields(trimmed)); ok {
			p.in.Runs = append(p.in.Runs, r)
			p.pending = ""
		}
	}
}

// resultInTail finds "N value ns/op ..." at the end of fields, after
// whatever else was written on the same line.
func (p *parser) resultInTail(name string, fields []string) (Run, bool) {
	for i := range fields {
		if (len(fields)-i)%2 == 1 && isInt(fields[i]) {
			if r, ok := p.result(name, fields[i:]); ok {
				if _, hasNs := r.Metrics["ns/op"]; hasNs {
					return r, true
				}
			}
		}
	}
	return Run{}, false
}

// message takes one indented line under a FAIL or SKIP: the last log
// line (with its continuation lines) is the reason, as b.Fatal logs last;
// "unit value" log lines are kept as the figures the benchmark logged
// before it failed.
func (p *parser) message(line string) {
	o := p.outcome
	if !fileLine.MatchString(line) {
		if o.Reason != "" && len(o.Reason) < maxReason {
			o.Reason += " " + line
		}
		return
	}
	msg := stripFileLine(line)
	if m := loggedMetric.FindStringSubmatch(msg); m != nil {
		if v, err := strconv.ParseFloat(m[2], 64); err == nil {
			if o.Logged == nil {
				o.Logged = map[string]float64{}
			}
			o.Logged[m[1]] = v
			return
		}
	}
	o.Reason = msg
}

const maxReason = 300

// loggedMetric is a log line "unit value", the unit with a slash in it
// ("ms/attach-cli-10   88.120").
var loggedMetric = regexp.MustCompile(`^(\S+/\S+)\s+(-?[0-9.]+(?:e[-+]?[0-9]+)?)$`)

// result parses "N value unit value unit ..." of benchmark name.
func (p *parser) result(name string, fields []string) (Run, bool) {
	if len(fields) < 3 || len(fields)%2 != 1 {
		return Run{}, false
	}
	n, err := strconv.ParseInt(fields[0], 10, 64)
	if err != nil {
		return Run{}, false
	}
	r := Run{Pkg: p.pkg, N: n, Metrics: map[string]float64{}}
	r.Name, r.Procs = splitProcs(name)
	for i := 1; i < len(fields); i += 2 {
		v, err := strconv.ParseFloat(fields[i], 64)
		if err != nil {
			return Run{}, false
		}
		r.Metrics[fields[i+1]] = v
	}
	return r, true
}

// job parses "pkg=X bench=Y benchtime=Z count=C env=K=V,K2=V2 seconds=S
// exit=E" (env "-": none).
func (p *parser) job(s string) {
	var j Job
	for _, kv := range strings.Fields(s) {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "pkg":
			j.Pkg = v
		case "bench":
			j.Bench = v
		case "benchtime":
			j.Benchtime = v
		case "count":
			j.Count, _ = strconv.Atoi(v)
		case "env":
			if v != "-" {
				j.Env = strings.ReplaceAll(v, ",", " ")
			}
		case "seconds":
			j.Seconds, _ = strconv.ParseFloat(v, 64)
		case "exit":
			j.Exit, _ = strconv.Atoi(v)
		}
	}
	p.in.Jobs = append(p.in.Jobs, j)
}

func isInt(s string) bool {
	_, err := strconv.ParseInt(s, 10, 64)
	return err == nil
}

var fileLine = regexp.MustCompile(`^[\w.-]+\.go:\d+: `)

// stripFileLine drops the "x_test.go:12: " prefix of a test log line.
func stripFileLine(s string) string { return fileLine.ReplaceAllString(s, "") }
