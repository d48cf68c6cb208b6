package dataplane

import (
	"fmt"
	"strings"
)

// token is one word of a rule specification as iptables-restore splits it.
// quoted records that the word was (partly) written in double quotes, which
// makes it a value even when it starts with "-" or is "!".
type token struct {
	s      string
	quoted bool
}

// tokenize splits a rule the way iptables-restore does (xshared.c
// add_param_to_argv): words are separated by blanks; a double quote opens a
// quoted stretch in which blanks are literal and a backslash escapes the
// next character; a closing quote ends the word. Outside quotes a backslash
// is an ordinary character. Unlike iptables-restore, an unterminated quote
// or a line break is an error: iptables would silently swallow the rest of
// the line (or the batch) into one word.
func tokenize(rule string) ([]token, error) {
	out := make([]token, 0, 24)
	for i := 0; i < len(rule); {
		switch c := rule[i]; c {
		case ' ', '\t':
			i++
			continue
		case '\n', '\r', 0:
			return nil, fmt.Errorf("rule contains a line break or NUL byte")
		}
		// A word: bare characters and quoted stretches until a blank
		// outside quotes, or a closing quote (which ends the word, as in
		// iptables-restore). Words without escapes are slices of rule.
		start, quoted := i, false
		var b *strings.Builder
		for i < len(rule) {
			c := rule[i]
			if c == ' ' || c == '\t' {
				break
			}
			if c == '\n' || c == '\r' || c == 0 {
				return nil, fmt.Errorf("rule contains a line break or NUL byte")
			}
			if c != '"' {
				if b != nil {
					b.WriteByte(c)
				}
				i++
				continue
			}
			// A quoted stretch.
			if b == nil {
				b = &strings.Builder{}
				b.WriteString(rule[start:i])
			}
			quoted = true
			i++
			closed := false
			for i < len(rule) {
				c := rule[i]
				if c == '\n' || c == '\r' || c == 0 {
					return nil, fmt.Errorf("rule contains a line break or NUL byte")
				}
				if c == '\\' && i+1 < len(rule) {
					b.WriteByte(rule[i+1])
					i += 2
					continue
				}
				i++
				if c == '"' {
					closed = true
					break
				}
				b.WriteByte(c)
			}
			if !closed {
				return nil, fmt.Errorf("rule has an unterminated quote")
			}
			break // a closing quote ends the word
		}
		if b != nil {
			out = append(out, token{s: b.String(), quoted: quoted})
		} else {
			out = append(out, token{s: rule[start:i]})
		}
	}
	return out, nil
}

// saveString writes a string value the way iptables-save does
// (xtables_save_string): bare when it consists only of letters, digits,
// '_' and '-', otherwise in double quotes, with each double quote,
// backslash and single quote escaped by a backslash.
func saveString(b *strings.Builder, v string) {
	bare := v != ""
	for i := 0; i < len(v) && bare; i++ {
		c := v[i]
		bare = c == '_' || c == '-' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
	}
	if bare {
		b.WriteString(v)
		return
	}
	b.WriteByte('"')
	for i := 0; i < len(v); i++ {
		if c := v[i]; c == '"' || c == '\\' || c == '\'' {
			b.WriteByte('\\')
		}
		b.WriteByte(v[i])
	}
	b.WriteByte('"')
}

// jumpTarget returns the chain a rule jumps (-j) or goes (-g) to, or "".
func jumpTarget(rule string) string {
	toks, err := tokenize(rule)
	if err != nil {
		return ""
	}
	for i := 0; i+1 < len(toks); i++ {
		t := toks[i]
		if t.quoted {
			continue
		}
		switch t.s {
		case "-j", "--jump", "-g", "--goto":
			return toks[i+1].s
		}
	}
	return ""
}
