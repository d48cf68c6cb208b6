package chaos

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// long reports whether the long form runs (WEIR_CHAOS=long).
func long() bool { return os.Getenv("WEIR_CHAOS") == "long" }

// size picks the short or the long form's number.
func size(short, long_ int) int {
	if long() {
		return long_
	}
	return short
}

// tally is what the suite did and found, printed as its summary line.
var tally struct {
	crashes, leaks          atomic.Int64 // processes killed; invariant violations after recovery
	ops, dupIPs, opFailures atomic.Int64 // churn operations; addresses held twice; operations that failed
	opsPlanned              atomic.Int64 // churn operations planned (the time budget may stop it sooner)
	badInputs, stateChanges atomic.Int64 // bad inputs tried; those that changed the host
	faults, faultLeaks      atomic.Int64 // plugin fault scenarios; those that left something behind
	checks, checkViolations atomic.Int64 // invariant checks run; violations found by them (but the self-test's)
	ran                     sync.Map     // names of the tests that ran (not skipped)
	crashPoints             sync.Map     // "op/stage" -> *atomic.Int64
	kinds                   sync.Map     // violation kind -> *atomic.Int64, over every counted check
}

// countViolations adds violations to the per-kind counts.
func countViolations(v []violation) {
	for _, x := range v {
		c, _ := tally.kinds.LoadOrStore(x.kind, new(atomic.Int64))
		c.(*atomic.Int64).Add(1)
	}
}

func countCrashPoint(op, stage string) {
	v, _ := tally.crashPoints.LoadOrStore(op+"/"+stage, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

// summary is the suite's one-line verdict.
func summary() string {
	return fmt.Sprintf("crashes %d, leaks %d; ops %d, duplicate IPs %d; bad inputs %d, state changes %d",
		tally.crashes.Load(), tally.leaks.Load(), tally.ops.Load(), tally.dupIPs.Load(), tally.badInputs.Load(), tally.stateChanges.Load())
}

// details is the summary's second line: the rest of the counters and where
// the crashes landed.
func details() string {
	var pts []string
	tally.crashPoints.Range(func(k, v any) bool {
		pts = append(pts, fmt.Sprintf("%s=%d", k, v.(*atomic.Int64).Load()))
		return true
	})
	sort.Strings(pts)
	var kinds []string
	tally.kinds.Range(func(k, v any) bool {
		kinds = append(kinds, fmt.Sprintf("%s=%d", k, v.(*atomic.Int64).Load()))
		return true
	})
	sort.Strings(kinds)
	return fmt.Sprintf("churn ops %d of %d planned, %d failed; plugin faults %d, left behind %d; invariant checks %d, violations %d (%s); crash points: %s",
		tally.ops.Load(), tally.opsPlanned.Load(), tally.opFailures.Load(), tally.faults.Load(), tally.faultLeaks.Load(), tally.checks.Load(), tally.checkViolations.Load(),
		strings.Join(kinds, " "), strings.Join(pts, " "))
}

// TestMain runs the suite (short form unless WEIR_CHAOS=long) and prints
// its summary. go test shows a passing package's output only with -v, so
// the summary also goes to the file WEIR_CHAOS_SUMMARY names, when set:
// `make test` prints it from there.
func TestMain(m *testing.M) {
	code := m.Run()
	ran := false
	tally.ran.Range(func(any, any) bool { ran = true; return false })
	if ran {
		mode := "short"
		if long() {
			mode = "long"
		}
		out := fmt.Sprintf("chaos (%s form): %s\nchaos (%s form): %s\n", mode, summary(), mode, details())
		fmt.Print(out)
		if path := os.Getenv("WEIR_CHAOS_SUMMARY"); path != "" {
			if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
				fmt.Fprintf(os.Stderr, "chaos: writing the summary to %s: %v\n", path, err)
			}
		}
	}
	os.Exit(code)
}
