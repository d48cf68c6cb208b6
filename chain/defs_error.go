package chain

import (
	"fmt"
	"strconv"
	"strings"
)

// DefError is a problem with one network definition file. It renders as
// "file:line:col: path: msg", leaving out the parts that are unknown: Line
// and Col are known for syntax errors and, in TOML files, for the line of the
// offending key or table; Path is the key path inside the definition, e.g.
// "plugins[1].type".
type DefError struct {
	File    string
	Line    int    // 1-based; 0 when unknown
	Col     int    // 1-based; 0 when unknown
	Path    string // key path, e.g. "plugins[0].ipam.type"; empty for the whole file
	Msg     string
	Network string // the definition's name when it was known before the error
	Err     error  // the underlying error, if any (syntax error, I/O error)
}

func (e *DefError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
		if e.Col > 0 {
			b.WriteString(":" + strconv.Itoa(e.Col))
		}
	}
	for _, part := range []string{e.Path, e.Msg} {
		if part == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteString(": ")
		}
		b.WriteString(part)
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *DefError) Unwrap() error { return e.Err }

// UnknownNetworkError is returned by Set.Get for a name no file defines.
type UnknownNetworkError struct {
	Name  string
	Dir   string
	Known []string // the names the directory does define, in file order
}

func (e *UnknownNetworkError) Error() string {
	known := "none"
	if len(e.Known) > 0 {
		known = strings.Join(e.Known, ", ")
	}
	return fmt.Sprintf("network %q is not defined in %s (known: %s)", e.Name, e.Dir, known)
}
