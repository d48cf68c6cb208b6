package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/weirnet/weir/internal/atomicfile"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "weir-benchreport:", err)
		os.Exit(2)
	}
}

func run(args []string, stdin io.Reader, stdout io.Writer) error {
	cmd := "report"
	if len(args) > 0 && (args[0] == "plan" || args[0] == "report") {
		cmd, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("weir-benchreport "+cmd, flag.ContinueOnError)
	mode := fs.String("mode", "full", "the plan: full (make bench) or quick (make bench-quick)")
	out := fs.String("out", "bench-results", "where results.json and attach-latency.svg are written (report)")
	discover := fs.Bool("discover", false, "plan: also run the benchmarks of "+strings.Join(discoverPkgs, ", ")+" the plan does not name (go test -list)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *mode != "full" && *mode != "quick" {
		return fmt.Errorf("-mode %q: want full or quick", *mode)
	}
	if cmd == "plan" {
		steps := Plan(*mode)
		if *discover {
			more, err := Discover(steps, *mode, goList)
			if err != nil {
				fmt.Fprintf(os.Stderr, "weir-benchreport: running the plan alone: %v\n", err)
			} else {
				steps = more
			}
		}
		return WritePlan(stdout, steps)
	}
	in, err := readInputs(fs.Args(), stdin)
	if err != nil {
		return err
	}
	if len(in.Runs) == 0 && len(in.Failed) == 0 && len(in.Jobs) == 0 {
		return errors.New("no benchmark output in the input (want `go test -bench` output, plain or -json)")
	}
	rep := Build(in, *mode)
	rep.OutDir = *out
	if err := writeFiles(*out, rep); err != nil {
		return err
	}
	return WriteTable(stdout, rep)
}

// readInputs parses the files named, or stdin when none is.
func readInputs(files []string, stdin io.Reader) (*Input, error) {
	if len(files) == 0 {
		return Parse(stdin)
	}
	var all []io.Reader
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("reading benchmark output: %w", err)
		}
		all = append(all, bytes.NewReader(data), bytes.NewReader([]byte("\n")))
	}
	return Parse(io.MultiReader(all...))
}

// writeFiles writes results.json and attach-latency.svg into dir.
func writeFiles(dir string, rep *Report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating the results directory: %w", err)
	}
	var js, svg bytes.Buffer
	if err := WriteJSON(&js, rep); err != nil {
		return fmt.Errorf("encoding results.json: %w", err)
	}
	if err := WriteSVG(&svg, rep.Plot); err != nil {
		return fmt.Errorf("drawing attach-latency.svg: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, "results.json"), js.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing results.json: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, "attach-latency.svg"), svg.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing attach-latency.svg: %w", err)
	}
	return nil
}
