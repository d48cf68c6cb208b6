package policy

import (
	"fmt"
	"strings"

	"github.com/BurntSushi/toml"
)

// Error is a problem with a policy file. LoadDir and LoadFiles return all
// the problems they find joined with errors.Join, each an *Error.
type Error struct {
	File   string
	Line   int    // 0 when unknown
	Policy string // the policy's name, "" when it has none or the error is not about one policy
	Index  int    // the policy's position in the file from 0, or -1
	Field  string // the offending field, such as "ingress[0].ports[1]"; "" for the whole policy
	Err    error
}

// Error reads like
//
//	/etc/weir/policies/10-db.toml:7: policy "db-accepts-web": ingress[0].ports[1]: "80-70" is not a port range (low > high)
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	switch {
	case e.Policy != "":
		fmt.Fprintf(&b, "policy %q: ", e.Policy)
	case e.Index >= 0:
		fmt.Fprintf(&b, "policy[%d]: ", e.Index)
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// syntaxError is a file that is not TOML. Its message is the decoder's
// without the decoder's own "toml: line N" prefix, since Error gives the
// line; errors.As still finds the toml.ParseError.
type syntaxError struct{ pe toml.ParseError }

func (e syntaxError) Error() string { return "invalid TOML: " + e.pe.Message }
func (e syntaxError) Unwrap() error { return e.pe }
