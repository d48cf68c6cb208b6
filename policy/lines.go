package policy

import (
	"slices"
	"strconv"
	"strings"
)

// The TOML decoder does not say where a value came from, so to put a line
// number on a semantic error weir scans the source once more for the
// things an error can point at: table headers ([policy.x], [[policy]])
// and the keys written at the start of a line. The source has already
// parsed, so the scanner need only be right about valid TOML; on anything
// else it must merely not fail.

// layout is where the tables and keys of a TOML document are.
type layout struct {
	sections []section // sections[0] is the root table, before any header
}

// section is a table header and the keys written under it.
type section struct {
	path  []string // header key; nil for the root
	array bool     // [[path]] rather than [path]
	line  int
	keys  []keyLine
}

// keyLine is a key/value line; key is the first part of a dotted key.
type keyLine struct {
	key  string
	line int
}

// location is what a semantic error is about: policy number policy of the
// file and, when dir is set, its rule number rule in that direction, and
// within that, when set, a key.
type location struct {
	policy int
	dir    Direction
	rule   int
	key    string
}

// line returns the best line for a location: the key's own line when it
// can be found, else the line of the innermost enclosing table; 0 when
// nothing fits.
func (l *layout) line(at location) int {
	policyPath := []string{"policy"}
	ps, ok := l.nthArray(1, len(l.sections), policyPath, at.policy)
	if !ok { // policy = [ {...}, ... ] written inline
		return l.keyLine(0, 1, nil, "policy", 0)
	}
	end := l.nextArray(ps+1, len(l.sections), policyPath)
	if at.dir == "" {
		return l.keyLine(ps, end, policyPath, at.key, l.sections[ps].line)
	}
	rulePath := []string{"policy", string(at.dir)}
	rs, ok := l.nthArray(ps+1, end, rulePath, at.rule)
	if !ok { // ingress = [ {...}, ... ] written inline
		return l.keyLine(ps, end, policyPath, string(at.dir), l.sections[ps].line)
	}
	return l.keyLine(rs, l.nextArray(rs+1, end, rulePath), rulePath, at.key, l.sections[rs].line)
}

// nthArray returns the index of the n-th (from 0) [[path]] header among
// sections[from:to].
func (l *layout) nthArray(from, to int, path []string, n int) (int, bool) {
	for i := from; i < to; i++ {
		if s := l.sections[i]; s.array && slices.Equal(s.path, path) {
			if n == 0 {
				return i, true
			}
			n--
		}
	}
	return 0, false
}

// nextArray returns the index of the next [[path]] header in
// sections[from:to], or to.
func (l *layout) nextArray(from, to int, path []string) int {
	if i, ok := l.nthArray(from, to, path, 0); ok {
		return i
	}
	return to
}

// keyLine finds key in the table that starts at section s and runs to
// section end (exclusive): as a key/value line under s's header, or as
// the header of a sub-table [base.key]. It returns fallback when key is
// empty or not found.
func (l *layout) keyLine(s, end int, base []string, key string, fallback int) int {
	if key == "" {
		return fallback
	}
	for _, k := range l.sections[s].keys {
		if k.key == key {
			return k.line
		}
	}
	want := append(slices.Clip(base), key)
	for i := s + 1; i < end; i++ {
		if s := l.sections[i]; !s.array && slices.Equal(s.path, want) {
			return l.sections[i].line
		}
	}
	return fallback
}

// scanLayout finds the headers and keys of a TOML document.
func scanLayout(src string) *layout {
	l := &layout{sections: []section{{}}}
	sc := &scanner{src: src, line: 1}
	lineStart := true // nothing but blanks since the last newline
	depth := 0        // open [ and { of values
	for sc.i < len(src) {
		c := src[sc.i]
		switch {
		case c == '\n':
			sc.line++
			sc.i++
			lineStart = true
			continue
		case c == ' ' || c == '\t' || c == '\r':
			sc.i++
			continue
		case c == '#':
			for sc.i < len(src) && src[sc.i] != '\n' {
				sc.i++
			}
			continue
		}
		if lineStart && depth == 0 {
			lineStart = false
			line, start := sc.line, sc.i
			if c == '[' {
				array := strings.HasPrefix(src[sc.i:], "[[")
				sc.i++
				if array {
					sc.i++
				}
				path := sc.key()
				sc.skipBlanks()
				if sc.i < len(src) && src[sc.i] == ']' {
					sc.i++
					if array && sc.i < len(src) && src[sc.i] == ']' {
						sc.i++
					}
				}
				l.sections = append(l.sections, section{path: path, array: array, line: line})
				continue
			}
			if path := sc.key(); len(path) > 0 {
				last := &l.sections[len(l.sections)-1]
				last.keys = append(last.keys, keyLine{key: path[0], line: line})
			}
			if sc.i > start {
				continue
			}
		}
		lineStart = false
		switch c {
		case '"', '\'':
			sc.str()
			continue
		case '[', '{':
			depth++
		case ']', '}':
			if depth > 0 {
				depth--
			}
		}
		sc.i++
	}
	return l
}

type scanner struct {
	src  string
	i    int
	line int
}

func (sc *scanner) skipBlanks() {
	for sc.i < len(sc.src) && (sc.src[sc.i] == ' ' || sc.src[sc.i] == '\t') {
		sc.i++
	}
}

func isBareKeyByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '_' || c == '-' || c >= 0x80
}

// key reads a possibly dotted, possibly quoted key and returns its parts.
func (sc *scanner) key() []string {
	var parts []string
	for {
		sc.skipBlanks()
		if sc.i >= len(sc.src) {
			return parts
		}
		switch c := sc.src[sc.i]; {
		case c == '"' || c == '\'':
			start := sc.i
			sc.str()
			raw := sc.src[start:sc.i]
			if c == '"' {
				if s, err := strconv.Unquote(raw); err == nil {
					raw = s
				} else {
					raw = strings.Trim(raw, `"`)
				}
			} else {
				raw = strings.Trim(raw, "'")
			}
			parts = append(parts, raw)
		case isBareKeyByte(c):
			start := sc.i
			for sc.i < len(sc.src) && isBareKeyByte(sc.src[sc.i]) {
				sc.i++
			}
			parts = append(parts, sc.src[start:sc.i])
		default:
			return parts
		}
		sc.skipBlanks()
		if sc.i >= len(sc.src) || sc.src[sc.i] != '.' {
			return parts
		}
		sc.i++
	}
}

// str skips a string starting at the current quote, single- or
// multi-line, counting the newlines inside it.
func (sc *scanner) str() {
	q := sc.src[sc.i]
	basic := q == '"'
	triple := strings.Repeat(string(q), 3)
	if strings.HasPrefix(sc.src[sc.i:], triple) {
		sc.i += 3
		for sc.i < len(sc.src) {
			c := sc.src[sc.i]
			switch {
			case basic && c == '\\':
				sc.i++
				if sc.i < len(sc.src) && sc.src[sc.i] == '\n' {
					sc.line++
				}
			case c == '\n':
				sc.line++
			case strings.HasPrefix(sc.src[sc.i:], triple):
				// Up to two more quotes belong to the content: """a""""" ends after all five.
				n := 3
				for n < 5 && sc.i+n < len(sc.src) && sc.src[sc.i+n] == q {
					n++
				}
				sc.i += n
				return
			}
			sc.i++
		}
		return
	}
	sc.i++
	for sc.i < len(sc.src) {
		c := sc.src[sc.i]
		switch {
		case basic && c == '\\':
			if sc.i+1 < len(sc.src) && sc.src[sc.i+1] != '\n' {
				sc.i++
			}
		case c == q:
			sc.i++
			return
		case c == '\n': // invalid TOML; leave the newline to the caller
			return
		}
		sc.i++
	}
}
