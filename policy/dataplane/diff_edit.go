package dataplane

import (
	"fmt"
	"hash/fnv"
	"slices"
)

// editMin is the number of rules from which the cache keeps a chain's
// rules and not only their digest, so that a change that only inserts or
// only deletes rules (a dispatch chain gaining or losing one endpoint's
// jump) is written as those inserts or deletes: flushing and rewriting a
// chain of 1,000 rules costs an nf_tables commit of ~50 ms, appending one
// ~3 ms. Small chains are cheap to rewrite and not worth the cache space.
const editMin = 16

// chainEdit changes a chain in place: rules deleted by their 1-based
// positions in the old chain (descending, so each position still names the
// rule meant when it is deleted), or rules inserted at 1-based positions
// (0: appended), in order. Deleting by position and not by specification
// matters: a rule that occurs twice in a chain (the same accept in every
// policy's block) is deleted by specification where it first occurs, which
// reorders the chain, and rule order decides verdicts.
type chainEdit struct {
	name string
	del  []int
	ins  []ruleInsert
}

type ruleInsert struct {
	pos  int
	rule string
}

// editOf returns the edit that turns old into new when new only adds rules
// to old or only removes rules from it.
func editOf(name string, old, new []string) (chainEdit, bool) {
	if slices.Contains(old, "") || slices.Contains(new, "") {
		return chainEdit{}, false // an empty rule cannot be deleted by specification
	}
	e := chainEdit{name: name}
	switch {
	case isSubseq(old, new):
		j := 0
		for i, r := range new {
			if j < len(old) && old[j] == r {
				j++
				continue
			}
			pos := i + 1
			if j == len(old) {
				pos = 0 // nothing of old after it: append
			}
			e.ins = append(e.ins, ruleInsert{pos, r})
		}
	case isSubseq(new, old):
		j := 0
		for i, r := range old {
			if j < len(new) && new[j] == r {
				j++
				continue
			}
			e.del = append(e.del, i+1)
		}
		slices.Reverse(e.del)
	default:
		return chainEdit{}, false
	}
	return e, true
}

// ruleSum is a short checksum of one rule: enough to tell the rules of
// one small chain apart.
func ruleSum(r string) string {
	h := fnv.New32a()
	h.Write([]byte(r))
	return fmt.Sprintf("%08x", h.Sum32())
}

// ruleSums concatenates the ruleSums of rules.
func ruleSums(rules []string) string {
	b := make([]byte, 0, 8*len(rules))
	for _, r := range rules {
		b = append(b, ruleSum(r)...)
	}
	return string(b)
}

// insertsOf returns the edit that turns a chain whose rules have the
// ruleSums old into new when new only adds rules (their text is new's) or
// only removes rules (deleted by position, as editOf does).
func insertsOf(name, old string, new []string) (chainEdit, bool) {
	if len(old)%8 != 0 || slices.Contains(new, "") {
		return chainEdit{}, false
	}
	e := chainEdit{name: name}
	j := 0
	for i, r := range new {
		if j < len(old) && old[j:j+8] == ruleSum(r) {
			j += 8
			continue
		}
		pos := i + 1
		if j == len(old) {
			pos = 0
		}
		e.ins = append(e.ins, ruleInsert{pos, r})
	}
	if j == len(old) {
		return e, true
	}
	// Not only inserts: only deletes, then? Every rule of new must be
	// found in order among old's.
	e.ins = nil
	k := 0
	for i := 0; i < len(old)/8; i++ {
		if k < len(new) && old[8*i:8*i+8] == ruleSum(new[k]) {
			k++
			continue
		}
		e.del = append(e.del, i+1)
	}
	if k != len(new) {
		return chainEdit{}, false // rules were both added and removed
	}
	slices.Reverse(e.del)
	return e, true
}

// isSubseq reports whether a is a subsequence of b.
func isSubseq(a, b []string) bool {
	j := 0
	for _, r := range b {
		if j < len(a) && a[j] == r {
			j++
		}
	}
	return j == len(a)
}
