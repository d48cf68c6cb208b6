package compile

import (
	"strconv"
	"strings"
)

// rule builds one rule specification in the order iptables-save prints it:
// addresses and interfaces, protocol, matches, comment, target.
type rule struct {
	parts    []string
	matches  []string
	comment  string
	qcomment string // comment already quoted, when set
	target   string
}

func newRule(comment string) *rule { return &rule{comment: comment} }

// newRuleQ is newRule with the comment already quoted.
func newRuleQ(quoted string) *rule { return &rule{qcomment: quoted} }

func (r *rule) src(s string) *rule    { r.parts = append(r.parts, "-s", s); return r }
func (r *rule) notSrc(s string) *rule { r.parts = append(r.parts, "!", "-s", s); return r }
func (r *rule) dst(s string) *rule    { r.parts = append(r.parts, "-d", s); return r }
func (r *rule) in(i string) *rule     { r.parts = append(r.parts, "-i", i); return r }
func (r *rule) out(o string) *rule    { r.parts = append(r.parts, "-o", o); return r }
func (r *rule) proto(p string) *rule  { r.parts = append(r.parts, "-p", p); return r }
func (r *rule) match(m ...string) *rule {
	r.matches = append(r.matches, strings.Join(m, " "))
	return r
}
func (r *rule) jump(t ...string) string { r.target = "-j " + strings.Join(t, " "); return r.String() }
func (r *rule) goTo(chain string) string {
	r.target = "-g " + chain
	return r.String()
}

func (r *rule) String() string {
	qc := r.qcomment
	if qc == "" && r.comment != "" {
		qc = quote(r.comment)
	}
	n := len(r.target) + len(qc) + 24
	for _, p := range r.parts {
		n += len(p) + 1
	}
	for _, m := range r.matches {
		n += len(m) + 1
	}
	var b strings.Builder
	b.Grow(n)
	sep := func() {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
	}
	for _, p := range r.parts {
		sep()
		b.WriteString(p)
	}
	for _, m := range r.matches {
		sep()
		b.WriteString(m)
	}
	if qc != "" {
		sep()
		b.WriteString("-m comment --comment ")
		b.WriteString(qc)
	}
	sep()
	b.WriteString(r.target)
	return b.String()
}

func quote(s string) string { return strconv.Quote(s) }

func markMatch(mark string) []string { return []string{"-m mark --mark " + mark + "/" + mark} }

func setMatch(name, dir string, negate bool) string {
	if negate {
		return "-m set ! --match-set " + name + " " + dir
	}
	return "-m set --match-set " + name + " " + dir
}
