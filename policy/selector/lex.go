package selector

import (
	"fmt"
	"unicode/utf8"
)

type tokKind int

const (
	tokEOF    tokKind = iota
	tokIdent          // a label key or a keyword (all, has, in, not)
	tokString         // a quoted value; text is the value without quotes
	tokEq             // ==
	tokNe             // !=
	tokNot            // !
	tokAnd            // &&
	tokOr             // ||
	tokLParen         // (
	tokRParen         // )
	tokLBrace         // {
	tokRBrace         // }
	tokComma          // ,
)

type token struct {
	kind tokKind
	text string
	pos  int // byte offset in the selector
}

// describe names a token for an error message.
func (t token) describe() string {
	switch t.kind {
	case tokEOF:
		return "end of selector"
	case tokString:
		return "string " + quote(t.text)
	default:
		return fmt.Sprintf("%q", t.text)
	}
}

func isKeyByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '.' || c == '/' || c == '-' || c == '_'
}

// operator returns the kind of a one- or two-character operator, or
// tokEOF when op is none.
func operator(op string) tokKind {
	switch op {
	case "==":
		return tokEq
	case "!=":
		return tokNe
	case "&&":
		return tokAnd
	case "||":
		return tokOr
	case "!":
		return tokNot
	case "(":
		return tokLParen
	case ")":
		return tokRParen
	case "{":
		return tokLBrace
	case "}":
		return tokRBrace
	case ",":
		return tokComma
	}
	return tokEOF
}

// lex splits a selector into tokens, ending with tokEOF.
func lex(s string) ([]token, error) {
	var toks []token
	i := 0
	for {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
			i++
		}
		if i == len(s) {
			return append(toks, token{kind: tokEOF, pos: i}), nil
		}
		start := i
		c := s[i]
		two := ""
		if i+1 < len(s) {
			two = s[i : i+2]
		}
		switch {
		case isKeyByte(c):
			for i < len(s) && isKeyByte(s[i]) {
				i++
			}
			toks = append(toks, token{tokIdent, s[start:i], start})
		case c == '\'' || c == '"':
			j := i + 1
			for j < len(s) && s[j] != c {
				j++
			}
			if j == len(s) {
				return nil, syntaxError(s, start, "unterminated string")
			}
			toks = append(toks, token{tokString, s[i+1 : j], start})
			i = j + 1
		case operator(two) != tokEOF:
			toks = append(toks, token{operator(two), two, start})
			i += 2
		case operator(s[i:i+1]) != tokEOF:
			toks = append(toks, token{operator(s[i : i+1]), s[i : i+1], start})
			i++
		case c == '=' || c == '&' || c == '|':
			return nil, syntaxError(s, start, fmt.Sprintf("unexpected %q (did you mean %q?)", string(c), string(c)+string(c)))
		default:
			r, _ := utf8.DecodeRuneInString(s[i:])
			return nil, syntaxError(s, start, fmt.Sprintf("unexpected character %q", r))
		}
	}
}
