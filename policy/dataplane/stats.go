package dataplane

import "time"

// Stats says what one Apply or Repair did, so callers, tests and
// benchmarks can check that nothing was written when nothing changed and
// that a set member change ran ipset alone.
type Stats struct {
	FromCache bool // the diff was against the cache file, without reading the kernel back
	Fallback  bool // writing from the cache failed (the kernel had drifted); a read-back and a second diff followed

	Reads    int // iptables-save and ipset save runs
	Restores int // iptables-restore and ipset restore runs
	Forks    int // every child process, including backend detection (once per Writer)

	ChainsCreated int // chains that did not exist
	ChainsWritten int // chains created, or flushed and rewritten whole (includes ChainsCreated)
	ChainsEdited  int // chains changed in place: rules only inserted or only deleted
	RulesWritten  int // rules appended to the chains written or inserted into those edited
	RulesDeleted  int // rules deleted from the chains edited
	ChainsDeleted int
	HooksInserted int
	HooksDeleted  int

	SetsCreated    int // including sets re-created with another type
	SetsDestroyed  int
	MembersAdded   int
	MembersRemoved int

	// Relearned counts rules whose read-back text differed from weir's
	// canonical rendering; Repair remembers the kernel's text for them so
	// the next diff does not rewrite them again.
	Relearned int

	// Generation counts the writes into this namespace's cache, so
	// concurrent writers can be ordered after the fact.
	Generation uint64
	Duration   time.Duration
}

// Writes is the number of kernel objects written (chains, hooks, sets,
// members); zero means the dataplane already matched.
func (s Stats) Writes() int {
	return s.ChainsWritten + s.ChainsEdited + s.ChainsDeleted + s.HooksInserted + s.HooksDeleted +
		s.SetsCreated + s.SetsDestroyed + s.MembersAdded + s.MembersRemoved
}
