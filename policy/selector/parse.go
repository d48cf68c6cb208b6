package selector

import (
	"fmt"
	"unicode/utf8"
)

// maxDepth bounds the nesting of parentheses and negations, so a hostile
// selector cannot exhaust the stack.
const maxDepth = 100

// SyntaxError is a selector that does not parse. Column counts characters
// from 1; a column one past the end means the selector ended too soon.
type SyntaxError struct {
	Selector string
	Column   int
	Msg      string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("selector %q: column %d: %s", e.Selector, e.Column, e.Msg)
}

func syntaxError(s string, pos int, msg string) *SyntaxError {
	return &SyntaxError{Selector: s, Column: utf8.RuneCountInString(s[:pos]) + 1, Msg: msg}
}

// Parse parses a selector. The empty (or all-blank) selector is all().
// Errors are *SyntaxError.
func Parse(s string) (Selector, error) {
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	p := &parser{src: s, toks: toks}
	if p.peek().kind == tokEOF {
		return All(), nil
	}
	sel, err := p.expr(0)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tokEOF {
		return nil, p.errorf(t, "unexpected %s", t.describe())
	}
	return sel, nil
}

// MustParse is Parse for selectors known to be valid, such as constants
// in tests; it panics on a syntax error.
func MustParse(s string) Selector {
	sel, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return sel
}

type parser struct {
	src  string
	toks []token
	i    int
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tokEOF {
		p.i++
	}
	return t
}

func (p *parser) errorf(t token, format string, args ...any) error {
	return syntaxError(p.src, t.pos, fmt.Sprintf(format, args...))
}

func (p *parser) expect(kind tokKind, what string) (token, error) {
	t := p.next()
	if t.kind != kind {
		return t, p.errorf(t, "expected %s, found %s", what, t.describe())
	}
	return t, nil
}

func (p *parser) expr(depth int) (Selector, error) {
	x, err := p.and(depth)
	if err != nil {
		return nil, err
	}
	xs := []Selector{x}
	for p.peek().kind == tokOr {
		p.next()
		y, err := p.and(depth)
		if err != nil {
			return nil, err
		}
		xs = append(xs, y)
	}
	return newOr(xs), nil
}

func (p *parser) and(depth int) (Selector, error) {
	x, err := p.unary(depth)
	if err != nil {
		return nil, err
	}
	xs := []Selector{x}
	for p.peek().kind == tokAnd {
		p.next()
		y, err := p.unary(depth)
		if err != nil {
			return nil, err
		}
		xs = append(xs, y)
	}
	return newAnd(xs), nil
}

func (p *parser) unary(depth int) (Selector, error) {
	if depth > maxDepth {
		return nil, p.errorf(p.peek(), "nested more than %d deep", maxDepth)
	}
	if p.peek().kind == tokNot {
		p.next()
		x, err := p.unary(depth + 1)
		if err != nil {
			return nil, err
		}
		return notSel{x: x}, nil
	}
	return p.primary(depth)
}

func (p *parser) primary(depth int) (Selector, error) {
	t := p.next()
	switch t.kind {
	case tokLParen:
		x, err := p.expr(depth + 1)
		if err != nil {
			return nil, err
		}
		if _, err := p.expect(tokRParen, `")"`); err != nil {
			return nil, err
		}
		return x, nil
	case tokIdent:
		if p.peek().kind == tokLParen && (t.text == "all" || t.text == "has") {
			return p.call(t)
		}
		return p.comparison(t.text)
	default:
		return nil, p.errorf(t, "expected a label key, has(), all(), \"!\" or \"(\", found %s", t.describe())
	}
}

// call parses the rest of all() or has(key) after the name.
func (p *parser) call(name token) (Selector, error) {
	p.next() // (
	if name.text == "all" {
		if _, err := p.expect(tokRParen, `")" after "all("`); err != nil {
			return nil, err
		}
		return allSel{}, nil
	}
	key, err := p.expect(tokIdent, "a label key")
	if err != nil {
		return nil, err
	}
	if _, err := p.expect(tokRParen, `")"`); err != nil {
		return nil, err
	}
	return hasSel{key: key.text}, nil
}

// comparison parses the operator and value after a label key.
func (p *parser) comparison(key string) (Selector, error) {
	op := p.next()
	switch {
	case op.kind == tokEq || op.kind == tokNe:
		v := p.next()
		if v.kind != tokString {
			return nil, p.errorf(v, "expected a quoted value")
		}
		if op.kind == tokEq {
			return eqSel{key: key, value: v.text}, nil
		}
		return neSel{key: key, value: v.text}, nil
	case op.kind == tokIdent && op.text == "in":
		values, err := p.set()
		if err != nil {
			return nil, err
		}
		return inSel{key: key, values: values}, nil
	case op.kind == tokIdent && op.text == "not":
		if in := p.next(); in.kind != tokIdent || in.text != "in" {
			return nil, p.errorf(in, `expected "in" after "not"`)
		}
		values, err := p.set()
		if err != nil {
			return nil, err
		}
		return notInSel{key: key, values: values}, nil
	default:
		return nil, p.errorf(op, `expected "==", "!=", "in" or "not in" after label key %q, found %s`, key, op.describe())
	}
}

// set parses {'a', 'b', ...}; the braces may be empty.
func (p *parser) set() ([]string, error) {
	if _, err := p.expect(tokLBrace, `"{"`); err != nil {
		return nil, err
	}
	var values []string
	if p.peek().kind == tokRBrace {
		p.next()
		return values, nil
	}
	for {
		v := p.next()
		if v.kind != tokString {
			return nil, p.errorf(v, "expected a quoted value")
		}
		values = append(values, v.text)
		sep := p.next()
		if sep.kind == tokRBrace {
			return canonicalSet(values), nil
		}
		if sep.kind != tokComma {
			return nil, p.errorf(sep, `expected "," or "}", found %s`, sep.describe())
		}
	}
}
