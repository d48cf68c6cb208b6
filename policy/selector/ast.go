package selector

import (
	"slices"
	"strings"
)

// Selector is a parsed label selector.
type Selector interface {
	// Matches reports whether a set of labels satisfies the selector. A
	// nil map is an empty set of labels.
	Matches(labels map[string]string) bool
	// String returns the selector's canonical form, which parses back to
	// an equal selector with the same String.
	String() string
}

// All returns the selector that matches every set of labels, all().
func All() Selector { return allSel{} }

type (
	allSel struct{}
	hasSel struct{ key string }
	eqSel  struct{ key, value string }
	neSel  struct{ key, value string }
	inSel  struct {
		key    string
		values []string // sorted, no duplicates
	}
	notInSel struct {
		key    string
		values []string // sorted, no duplicates
	}
	notSel struct{ x Selector }
	andSel struct{ xs []Selector } // at least two, none an andSel
	orSel  struct{ xs []Selector } // at least two, none an orSel
)

func (allSel) Matches(map[string]string) bool { return true }

func (s hasSel) Matches(l map[string]string) bool {
	_, ok := l[s.key]
	return ok
}

func (s eqSel) Matches(l map[string]string) bool {
	v, ok := l[s.key]
	return ok && v == s.value
}

func (s neSel) Matches(l map[string]string) bool {
	v, ok := l[s.key]
	return !ok || v != s.value
}

func (s inSel) Matches(l map[string]string) bool {
	v, ok := l[s.key]
	return ok && contains(s.values, v)
}

func (s notInSel) Matches(l map[string]string) bool {
	v, ok := l[s.key]
	return !ok || !contains(s.values, v)
}

func (s notSel) Matches(l map[string]string) bool { return !s.x.Matches(l) }

func (s andSel) Matches(l map[string]string) bool {
	for _, x := range s.xs {
		if !x.Matches(l) {
			return false
		}
	}
	return true
}

func (s orSel) Matches(l map[string]string) bool {
	for _, x := range s.xs {
		if x.Matches(l) {
			return true
		}
	}
	return false
}

// contains looks v up in a sorted slice. Sets are small, so a linear scan
// beats a binary search for the usual one to five values.
func contains(sorted []string, v string) bool {
	if len(sorted) > 8 {
		_, found := slices.BinarySearch(sorted, v)
		return found
	}
	return slices.Contains(sorted, v)
}

func (allSel) String() string     { return "all()" }
func (s hasSel) String() string   { return "has(" + s.key + ")" }
func (s eqSel) String() string    { return s.key + " == " + quote(s.value) }
func (s neSel) String() string    { return s.key + " != " + quote(s.value) }
func (s inSel) String() string    { return s.key + " in " + set(s.values) }
func (s notInSel) String() string { return s.key + " not in " + set(s.values) }

func (s notSel) String() string {
	switch s.x.(type) {
	case allSel, hasSel, notSel:
		return "!" + s.x.String()
	default:
		return "!(" + s.x.String() + ")"
	}
}

func (s andSel) String() string {
	parts := make([]string, len(s.xs))
	for i, x := range s.xs {
		if _, ok := x.(orSel); ok {
			parts[i] = "(" + x.String() + ")"
		} else {
			parts[i] = x.String()
		}
	}
	return strings.Join(parts, " && ")
}

func (s orSel) String() string {
	parts := make([]string, len(s.xs))
	for i, x := range s.xs {
		parts[i] = x.String()
	}
	return strings.Join(parts, " || ")
}

// quote puts a value in double quotes, or in single quotes when it holds a
// double quote (a value cannot hold both: there are no escapes).
func quote(v string) string {
	if strings.Contains(v, `"`) {
		return "'" + v + "'"
	}
	return `"` + v + `"`
}

func set(values []string) string {
	parts := make([]string, len(values))
	for i, v := range values {
		parts[i] = quote(v)
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// canonicalSet sorts values and drops duplicates.
func canonicalSet(values []string) []string {
	slices.Sort(values)
	return slices.Compact(values)
}

// newAnd joins xs with &&, flattening nested conjunctions.
func newAnd(xs []Selector) Selector {
	var flat []Selector
	for _, x := range xs {
		if a, ok := x.(andSel); ok {
			flat = append(flat, a.xs...)
		} else {
			flat = append(flat, x)
		}
	}
	if len(flat) == 1 {
		return flat[0]
	}
	return andSel{xs: flat}
}

// newOr joins xs with ||, flattening nested disjunctions.
func newOr(xs []Selector) Selector {
	var flat []Selector
	for _, x := range xs {
		if o, ok := x.(orSel); ok {
			flat = append(flat, o.xs...)
		} else {
			flat = append(flat, x)
		}
	}
	if len(flat) == 1 {
		return flat[0]
	}
	return orSel{xs: flat}
}
