package chain

import (
	"sort"
	"strconv"
	"strings"
)

// tomlIndex records, for a TOML document that has already parsed, the line
// each key, table and array element starts on and the order they appear in,
// keyed by the same paths the validator reports ("plugins[1].ipam.type").
// BurntSushi/toml keeps key positions to itself, so a small scanner walks the
// source; it understands just enough TOML to follow keys, headers, strings,
// arrays and inline tables, and any confusion only costs a line number.
type tomlIndex struct {
	lines  map[string]int
	seq    map[string]int
	arrays map[string]int // array-of-tables path -> tables seen so far
}

// lineOf returns the line of path or of its nearest recorded ancestor, or 0.
func (x *tomlIndex) lineOf(path string) int {
	for path != "" {
		if l, ok := x.lines[path]; ok {
			return l
		}
		path = parentPath(path)
	}
	return 0
}

// order returns the position of path in the document, or -1 if unknown.
func (x *tomlIndex) order(path string) int {
	if n, ok := x.seq[path]; ok {
		return n
	}
	return -1
}

func (x *tomlIndex) record(path string, line int) {
	if _, ok := x.seq[path]; ok {
		return
	}
	x.seq[path] = len(x.seq)
	x.lines[path] = line
}

// parentPath strips the last element of a key path: "a.b[2]" -> "a.b" -> "a".
func parentPath(path string) string {
	if strings.HasSuffix(path, "]") {
		if i := strings.LastIndexByte(path, '['); i >= 0 {
			return path[:i]
		}
	}
	// Walk back over a quoted last key, if any, to the separating dot.
	inQuote := false
	for i := len(path) - 1; i >= 0; i-- {
		switch {
		case path[i] == '"' && (i == 0 || path[i-1] != '\\'):
			inQuote = !inQuote
		case path[i] == '.' && !inQuote:
			return path[:i]
		}
	}
	return ""
}

// isBareKey reports whether key can be written unquoted in a key path.
func isBareKey(key string) bool {
	for _, c := range []byte(key) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return key != ""
}

// joinPath appends key to a key path, quoting keys that are not bare.
func joinPath(parent, key string) string {
	if !isBareKey(key) {
		key = strconv.Quote(key)
	}
	if parent == "" {
		return key
	}
	return parent + "." + key
}

func indexPath(parent string, i int) string {
	return parent + "[" + strconv.Itoa(i) + "]"
}

// indexTOML scans src, which must be valid TOML.
func indexTOML(src string) *tomlIndex {
	s := &tomlScanner{
		src: src,
		idx: &tomlIndex{lines: map[string]int{}, seq: map[string]int{}, arrays: map[string]int{}},
	}
	for i := 0; i < len(src); i++ {
		if src[i] == '\n' {
			s.newlines = append(s.newlines, i)
		}
	}
	s.scan()
	return s.idx
}

// scan indexes the document. The index is best effort: a scanner bug must
// cost line numbers, never the load, so a panic ends the scan quietly.
func (s *tomlScanner) scan() {
	defer func() { _ = recover() }()
	s.document()
}

type tomlScanner struct {
	src      string
	pos      int
	newlines []int // offsets of '\n', for line numbers
	idx      *tomlIndex
}

func (s *tomlScanner) line(pos int) int {
	return sort.SearchInts(s.newlines, pos) + 1
}

func (s *tomlScanner) peek() byte {
	if s.pos < len(s.src) {
		return s.src[s.pos]
	}
	return 0
}

func (s *tomlScanner) eof() bool { return s.pos >= len(s.src) }

// skip passes spaces and tabs, and with nl also newlines and comments.
func (s *tomlScanner) skip(nl bool) {
	for !s.eof() {
		switch c := s.peek(); {
		case c == ' ' || c == '\t':
			s.pos++
		case nl && (c == '\n' || c == '\r'):
			s.pos++
		case nl && c == '#':
			s.skipComment()
		default:
			return
		}
	}
}

func (s *tomlScanner) skipComment() {
	if i := strings.IndexByte(s.src[s.pos:], '\n'); i >= 0 {
		s.pos += i
	} else {
		s.pos = len(s.src)
	}
}

func (s *tomlScanner) document() {
	table := ""
	for {
		s.skip(true)
		if s.eof() {
			return
		}
		start := s.pos
		if s.peek() == '[' {
			table = s.header()
		} else {
			s.keyValue(table)
		}
		if s.pos == start { // no progress: give up rather than loop
			return
		}
		s.skip(false)
		if s.peek() == '#' {
			s.skipComment()
		}
	}
}

// header reads "[a.b]" or "[[a.b]]" and returns the table's path.
func (s *tomlScanner) header() string {
	line := s.line(s.pos)
	s.pos++
	array := s.peek() == '['
	if array {
		s.pos++
	}
	keys := s.key()
	s.skip(false)
	for s.peek() == ']' {
		s.pos++
	}
	path := ""
	for i, k := range keys {
		path = joinPath(path, k)
		last := i == len(keys)-1
		switch {
		case last && array:
			s.idx.record(path, line)
			n := s.idx.arrays[path]
			s.idx.arrays[path] = n + 1
			path = indexPath(path, n)
		case s.idx.arrays[path] > 0: // a table inside the latest element
			path = indexPath(path, s.idx.arrays[path]-1)
		}
		s.idx.record(path, line)
	}
	return path
}

// keyValue reads "a.b = value" inside table.
func (s *tomlScanner) keyValue(table string) {
	line := s.line(s.pos)
	path := table
	for _, k := range s.key() {
		path = joinPath(path, k)
		s.idx.record(path, line)
	}
	s.skip(false)
	if s.peek() != '=' {
		s.pos = len(s.src) // not TOML we understand
		return
	}
	s.pos++
	s.skip(false)
	s.value(path)
}

// key reads a dotted key up to "=", "]" or the end of the line.
func (s *tomlScanner) key() []string {
	var keys []string
	for !s.eof() {
		s.skip(false)
		var k string
		switch s.peek() {
		case '"', '\'':
			start := s.pos
			s.str()
			raw := s.src[start:min(s.pos, len(s.src))]
			if len(raw) >= 2 && raw[len(raw)-1] == raw[0] {
				k = raw[1 : len(raw)-1]
			}
			if raw[0] == '"' {
				if u, err := strconv.Unquote(raw); err == nil {
					k = u
				}
			}
		default:
			start := s.pos
			for !s.eof() && !strings.ContainsRune(" \t.=]\n\r#", rune(s.peek())) {
				s.pos++
			}
			k = s.src[start:s.pos]
		}
		keys = append(keys, k)
		s.skip(false)
		if s.peek() != '.' {
			return keys
		}
		s.pos++
	}
	return keys
}

// value reads one value, recording the elements of arrays and the keys of
// inline tables under path.
func (s *tomlScanner) value(path string) {
	switch s.peek() {
	case '"', '\'':
		s.str()
	case '[':
		s.pos++
		for i := 0; ; i++ {
			s.skip(true)
			if s.eof() || s.peek() == ']' {
				break
			}
			elem := indexPath(path, i)
			s.idx.record(elem, s.line(s.pos))
			start := s.pos
			s.value(elem)
			s.skip(true)
			if s.peek() == ',' {
				s.pos++
			} else if s.pos == start {
				s.pos = len(s.src)
			}
		}
		s.pos++
	case '{':
		s.pos++
		for {
			s.skip(true)
			if s.eof() || s.peek() == '}' {
				break
			}
			start := s.pos
			s.keyValue(path)
			s.skip(true)
			if s.peek() == ',' {
				s.pos++
			} else if s.pos == start {
				s.pos = len(s.src)
			}
		}
		s.pos++
	default: // number, bool, datetime (which may contain a space)
		for !s.eof() && !strings.ContainsRune(",]}\n\r#", rune(s.peek())) {
			s.pos++
		}
	}
}

// str skips a basic, literal or multi-line string starting at pos.
func (s *tomlScanner) str() {
	q := s.src[s.pos]
	delim := string(q)
	if strings.HasPrefix(s.src[s.pos:], strings.Repeat(delim, 3)) {
		delim = strings.Repeat(delim, 3)
	}
	s.pos += len(delim)
	for !s.eof() {
		switch {
		case q == '"' && s.peek() == '\\':
			s.pos += 2
		case strings.HasPrefix(s.src[s.pos:], delim):
			s.pos += len(delim)
			// A multi-line string may end with up to two extra quotes.
			for n := 0; len(delim) == 3 && n < 2 && s.peek() == q; n++ {
				s.pos++
			}
			return
		default:
			s.pos++
		}
	}
	s.pos = len(s.src)
}
