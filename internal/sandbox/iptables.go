package sandbox

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// Rules is the sandbox's packet filter as iptables-save prints it, one line
// each: table headers, chain declarations (without their packet counters,
// which traffic changes), rules and COMMIT; comments are left out. Two
// snapshots are equal exactly when no table, chain or rule changed.
type Rules []string

// SaveRules runs tool (iptables-save or ip6tables-save) for table ("" for
// every table) and returns its rules.
func SaveRules(t testing.TB, tool, table string) Rules {
	t.Helper()
	args := []string{}
	if table != "" {
		args = append(args, "-t", table)
	}
	out, err := exec.Command(tool, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", tool, strings.Join(args, " "), err, out)
	}
	return parseRules(string(out))
}

// counters are a chain declaration's packet and byte counts.
var counters = regexp.MustCompile(` \[\d+:\d+\]$`)

func parseRules(out string) Rules {
	var r Rules
	for _, l := range strings.Split(out, "\n") {
		switch {
		case l == "", strings.HasPrefix(l, "#"):
		case strings.HasPrefix(l, ":"):
			r = append(r, counters.ReplaceAllString(l, ""))
		default:
			r = append(r, l)
		}
	}
	return r
}

// Count returns how many lines contain s.
func (r Rules) Count(s string) int {
	n := 0
	for _, l := range r {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}

// Has reports whether a line contains s.
func (r Rules) Has(s string) bool { return r.Count(s) > 0 }

// String returns the lines joined, for messages.
func (r Rules) String() string { return strings.Join(r, "\n") }
