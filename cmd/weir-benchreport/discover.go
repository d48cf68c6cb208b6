package main

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
)

// discoverPkgs are the packages whose benchmarks are all run even when
// the plan does not name them: integration/ gains benchmarks (the
// isolator's) that the report maps by name pattern.
var discoverPkgs = []string{"./integration"}

// otherStep is how a discovered benchmark runs: once per run, as the
// isolator's do (each sets up a host of its own per run).
func otherStep(mode string) (benchtime string, count int) {
	if mode == "quick" {
		return "1x", 1
	}
	return "1x", 3
}

// Discover adds to steps one step per package of discoverPkgs for the
// benchmarks list(pkg) names that no step runs yet.
func Discover(steps []Step, mode string, list func(pkg string) ([]string, error)) ([]Step, error) {
	for _, pkg := range discoverPkgs {
		names, err := list(pkg)
		if err != nil {
			return nil, fmt.Errorf("listing the benchmarks of %s: %w", pkg, err)
		}
		var other []string
		for _, n := range names {
			if !Planned(steps, pkg, n) {
				other = append(other, regexp.QuoteMeta(n))
			}
		}
		if len(other) > 0 {
			bt, count := otherStep(mode)
			steps = append(steps, Step{Pkg: pkg, Bench: "^(" + strings.Join(other, "|") + ")$", Benchtime: bt, Count: count})
		}
	}
	return steps, nil
}

// goList lists a package's benchmarks with `go test -list` ($GO or go).
func goList(pkg string) ([]string, error) {
	goCmd := os.Getenv("GO")
	if goCmd == "" {
		goCmd = "go"
	}
	out, err := exec.Command(goCmd, "test", "-list", "^Benchmark", pkg).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return nil, fmt.Errorf("%w: %s", err, ee.Stderr)
		}
		return nil, err
	}
	var names []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "Benchmark") {
			names = append(names, strings.TrimSpace(l))
		}
	}
	return names, nil
}

// StepsRun are the steps the output says ran (its "# weir-bench" lines),
// or the mode's plan when it has none.
func StepsRun(in *Input, mode string) []Step {
	if len(in.Jobs) == 0 {
		return Plan(mode)
	}
	steps := make([]Step, 0, len(in.Jobs))
	for _, j := range in.Jobs {
		steps = append(steps, Step{Pkg: j.Pkg, Bench: j.Bench, Benchtime: j.Benchtime, Count: j.Count, Env: j.Env})
	}
	return steps
}
