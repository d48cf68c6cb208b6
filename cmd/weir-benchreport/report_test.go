package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update to accept):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// testdata/quick-sample.txt and full-sample.txt are the raw output of a
// real `make bench-quick` and `make bench` (where the isolator's scale
// benchmark stopped at 500 containers, its time budget spent); their last
// two steps (BenchmarkConcurrentAttach, BenchmarkThroughput) are the real
// output of those steps of the plan run later on their own, appended.
func TestGolden(t *testing.T) {
	for _, mode := range []string{"quick", "full"} {
		t.Run(mode, func(t *testing.T) {
			data, err := os.ReadFile("testdata/" + mode + "-sample.txt")
			if err != nil {
				t.Fatal(err)
			}
			in, err := Parse(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			rep := Build(in, mode)
			rep.OutDir = "bench-results"
			var table, js, svg bytes.Buffer
			if err := WriteTable(&table, rep); err != nil {
				t.Fatal(err)
			}
			if err := WriteJSON(&js, rep); err != nil {
				t.Fatal(err)
			}
			if err := WriteSVG(&svg, rep.Plot); err != nil {
				t.Fatal(err)
			}
			golden(t, mode+"-sample.table.md", table.Bytes())
			golden(t, mode+"-sample.results.json", js.Bytes())
			golden(t, mode+"-sample.attach-latency.svg", svg.Bytes())
		})
	}
}

func TestRunWritesFiles(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	if err := run([]string{"report", "-mode", "quick", "-out", dir, "testdata/quick-sample.txt"}, nil, &out); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "|---|---|---|---|---|---|"); n != 1 {
		t.Errorf("%d tables printed, want one:\n%s", n, out.String())
	}
	for _, f := range []string{"results.json", "attach-latency.svg"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s not written: %v", f, err)
		}
	}
}

func TestRunRejectsEmptyInput(t *testing.T) {
	err := run([]string{"-out", t.TempDir()}, strings.NewReader("hello\nPASS\n"), &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "no benchmark output") {
		t.Errorf("got %v", err)
	}
	if err := run([]string{"plan", "-mode", "fast"}, nil, &bytes.Buffer{}); err == nil || err.Error() != `-mode "fast": want full or quick` {
		t.Errorf("got %v", err)
	}
}

func TestRunPlan(t *testing.T) {
	for _, mode := range []string{"full", "quick"} {
		var out bytes.Buffer
		if err := run([]string{"plan", "-mode", mode}, nil, &out); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
		if len(lines) != len(Plan(mode)) {
			t.Fatalf("%s: %d lines for %d steps", mode, len(lines), len(Plan(mode)))
		}
		for _, l := range lines {
			if f := strings.Split(l, "\t"); len(f) != 5 || !strings.HasPrefix(f[0], "./") || f[4] == "" {
				t.Errorf("%s: bad plan line %q", mode, l)
			}
		}
	}
}
