package selector_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/weirnet/weir/policy/selector"
)

func TestParseCanonical(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"", "all()"},
		{"   \t\n", "all()"},
		{"all()", "all()"},
		{" all ( ) ", "all()"},
		{"app == 'db'", `app == "db"`},
		{`app=="db"`, `app == "db"`},
		{"app != 'db'", `app != "db"`},
		{`msg == 'say "hi"'`, `msg == 'say "hi"'`},
		{`msg == "it's"`, `msg == "it's"`},
		{"k == ''", `k == ""`},
		{"env in {'prod','staging'}", `env in {"prod", "staging"}`},
		{"env in { 'staging' , \"prod\", 'prod' }", `env in {"prod", "staging"}`},
		{"env in {}", `env in {}`},
		{"env not in {'b','a'}", `env not in {"a", "b"}`},
		{"has(app)", "has(app)"},
		{"has( app )", "has(app)"},
		{"!has(app)", "!has(app)"},
		{"! has(app)", "!has(app)"},
		{"!!has(app)", "!!has(app)"},
		{"!all()", "!all()"},
		{"!app == 'x'", `!(app == "x")`},
		{"!(app == 'x')", `!(app == "x")`},
		{"example.com/tier-1_x == 'a'", `example.com/tier-1_x == "a"`},
		{"a == 'x' && b == 'y'", `a == "x" && b == "y"`},
		{"a == 'x' && (b == 'y' && c == 'z')", `a == "x" && b == "y" && c == "z"`},
		{"(a == 'x' && b == 'y') && c == 'z'", `a == "x" && b == "y" && c == "z"`},
		{"a == 'x' || b == 'y' && c == 'z'", `a == "x" || b == "y" && c == "z"`},
		{"(a == 'x' || b == 'y') && c == 'z'", `(a == "x" || b == "y") && c == "z"`},
		{"a == 'x' || (b == 'y' || c == 'z')", `a == "x" || b == "y" || c == "z"`},
		{"!(a == 'x' && b == 'y')", `!(a == "x" && b == "y")`},
		{"((((has(a)))))", "has(a)"},
		{"app == 'db' && env in {'prod','staging'}", `app == "db" && env in {"prod", "staging"}`},
		// Keywords are keys unless they are followed by "(".
		{"has == 'x'", `has == "x"`},
		{"all != 'x'", `all != "x"`},
		{"in in {'x'}", `in in {"x"}`},
		{"not not in {'x'}", `not not in {"x"}`},
		{"a=='x'&&!has(b)||c!='y'", `a == "x" && !has(b) || c != "y"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			sel, err := selector.Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if got := sel.String(); got != tt.want {
				t.Fatalf("Parse(%q).String() = %q, want %q", tt.in, got, tt.want)
			}
			again, err := selector.Parse(sel.String())
			if err != nil {
				t.Fatalf("re-parsing %q: %v", sel.String(), err)
			}
			if again.String() != tt.want {
				t.Fatalf("re-parsed String() = %q, want %q", again.String(), tt.want)
			}
		})
	}
}

func TestMatches(t *testing.T) {
	web := map[string]string{"app": "web", "env": "prod"}
	db := map[string]string{"app": "db", "env": "staging", "example.com/tier": "2"}
	none := map[string]string{}
	tests := []struct {
		sel    string
		labels map[string]string
		want   bool
	}{
		{"", nil, true},
		{"", none, true},
		{"all()", web, true},
		{"!all()", web, false},
		{"app == 'web'", web, true},
		{"app == 'web'", db, false},
		{"app == 'web'", none, false},
		{"app == 'web'", nil, false},
		{"app != 'web'", web, false},
		{"app != 'web'", db, true},
		{"app != 'web'", none, true}, // absent counts as "not equal"
		{"app == ''", map[string]string{"app": ""}, true},
		{"app == ''", none, false},
		{"env in {'prod','staging'}", web, true},
		{"env in {'prod','staging'}", db, true},
		{"env in {'prod','staging'}", none, false},
		{"env in {}", web, false},
		{"env not in {'prod'}", web, false},
		{"env not in {'prod'}", db, true},
		{"env not in {'prod'}", none, true},
		{"env not in {}", web, true},
		{"has(app)", web, true},
		{"has(app)", none, false},
		{"has(app)", map[string]string{"app": ""}, true},
		{"!has(app)", none, true},
		{"!has(app)", web, false},
		{"has(example.com/tier)", db, true},
		{"example.com/tier == '2'", db, true},
		{"app == 'db' && env in {'prod','staging'}", db, true},
		{"app == 'db' && env in {'prod','staging'}", web, false},
		{"app == 'db' && env in {'prod'}", db, false},
		{"app == 'web' || app == 'db'", db, true},
		{"app == 'web' || app == 'db'", none, false},
		{"!(app == 'web' || app == 'db')", none, true},
		{"!app == 'web'", web, false},
		{"!app == 'web'", db, true},
		// && binds tighter than ||.
		{"app == 'web' || app == 'db' && env == 'prod'", web, true},
		{"app == 'web' || app == 'db' && env == 'prod'", db, false},
		{"(app == 'web' || app == 'db') && env == 'prod'", db, false},
		{"(app == 'web' || app == 'db') && env == 'prod'", web, true},
		{"env in {'a','b','c','d','e','f','g','h','i','staging'}", db, true},
		{"env in {'a','b','c','d','e','f','g','h','i','staging'}", web, false},
	}
	for _, tt := range tests {
		sel, err := selector.Parse(tt.sel)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.sel, err)
		}
		if got := sel.Matches(tt.labels); got != tt.want {
			t.Errorf("%q.Matches(%v) = %v, want %v", tt.sel, tt.labels, got, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"app == ", `selector "app == ": column 8: expected a quoted value`},
		{"app == db", `selector "app == db": column 8: expected a quoted value`},
		{"app", `selector "app": column 4: expected "==", "!=", "in" or "not in" after label key "app", found end of selector`},
		{"app = 'x'", `selector "app = 'x'": column 5: unexpected "=" (did you mean "=="?)`},
		{"a == 'x' & b == 'y'", `selector "a == 'x' & b == 'y'": column 10: unexpected "&" (did you mean "&&"?)`},
		{"a == 'x' | b == 'y'", `selector "a == 'x' | b == 'y'": column 10: unexpected "|" (did you mean "||"?)`},
		{"app == 'db", `selector "app == 'db": column 8: unterminated string`},
		{"app == \"db'", `selector "app == \"db'": column 8: unterminated string`},
		{"app == 'db' env == 'x'", `selector "app == 'db' env == 'x'": column 13: unexpected "env"`},
		{"(app == 'db'", `selector "(app == 'db'": column 13: expected ")", found end of selector`},
		{"app == 'db')", `selector "app == 'db')": column 12: unexpected ")"`},
		{"has(app", `selector "has(app": column 8: expected ")", found end of selector`},
		{"has()", `selector "has()": column 5: expected a label key, found ")"`},
		{"has('app')", `selector "has('app')": column 5: expected a label key, found string "app"`},
		{"all(x)", `selector "all(x)": column 5: expected ")" after "all(", found "x"`},
		{"env in 'a'", `selector "env in 'a'": column 8: expected "{", found string "a"`},
		{"env in {'a' 'b'}", `selector "env in {'a' 'b'}": column 13: expected "," or "}", found string "b"`},
		{"env in {'a',}", `selector "env in {'a',}": column 13: expected a quoted value`},
		{"env in {a}", `selector "env in {a}": column 9: expected a quoted value`},
		{"env not {'a'}", `selector "env not {'a'}": column 9: expected "in" after "not"`},
		{"&& a == 'x'", `selector "&& a == 'x'": column 1: expected a label key, has(), all(), "!" or "(", found "&&"`},
		{"a == 'x' &&", `selector "a == 'x' &&": column 12: expected a label key, has(), all(), "!" or "(", found end of selector`},
		{"!", `selector "!": column 2: expected a label key, has(), all(), "!" or "(", found end of selector`},
		{"()", `selector "()": column 2: expected a label key, has(), all(), "!" or "(", found ")"`},
		{"app == 'x' && ü == 'y'", `selector "app == 'x' && ü == 'y'": column 15: unexpected character 'ü'`},
		{"ü == 'x' && app", `selector "ü == 'x' && app": column 1: unexpected character 'ü'`},
		{"'é' == app", `selector "'é' == app": column 1: expected a label key, has(), all(), "!" or "(", found string "é"`},
		{"x == 'é' && y", `selector "x == 'é' && y": column 14: expected "==", "!=", "in" or "not in" after label key "y", found end of selector`},
		{strings.Repeat("(", 200) + "has(a)" + strings.Repeat(")", 200), ""},
		{strings.Repeat("!", 200) + "has(a)", ""},
	}
	for _, tt := range tests {
		name := tt.in
		if len(name) > 40 {
			name = name[:40]
		}
		t.Run(name, func(t *testing.T) {
			sel, err := selector.Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %q, want an error", tt.in, sel)
			}
			var se *selector.SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) error %T is not a *SyntaxError", tt.in, err)
			}
			if se.Selector != tt.in {
				t.Errorf("SyntaxError.Selector = %q, want %q", se.Selector, tt.in)
			}
			if tt.want == "" {
				if !strings.Contains(err.Error(), "nested more than 100 deep") {
					t.Errorf("Parse: %v, want a nesting error", err)
				}
				return
			}
			if err.Error() != tt.want {
				t.Errorf("Parse(%q) error:\n got %s\nwant %s", tt.in, err, tt.want)
			}
		})
	}
}

// TestNestingLimit checks that the limit is on depth, not length: a long
// flat selector is fine.
func TestNestingLimit(t *testing.T) {
	long := strings.Repeat("has(a) && ", 10000) + "has(b)"
	if _, err := selector.Parse(long); err != nil {
		t.Fatalf("long flat selector: %v", err)
	}
	ok := strings.Repeat("(", 100) + "has(a)" + strings.Repeat(")", 100)
	if _, err := selector.Parse(ok); err != nil {
		t.Fatalf("100 levels of parentheses: %v", err)
	}
}

func TestEquivalentSpellings(t *testing.T) {
	groups := [][]string{
		{"app == 'db' && env in {'prod','staging'}", `app=="db"&&env in{"staging","prod"}`, "(app == 'db') && (env in {'staging', 'prod', 'prod'})"},
		{"", "all()", " all ( ) "},
		{"!has(a)", "! has ( a )", "(!(has(a)))"},
	}
	for _, g := range groups {
		want := selector.MustParse(g[0]).String()
		for _, s := range g[1:] {
			if got := selector.MustParse(s).String(); got != want {
				t.Errorf("Parse(%q).String() = %q, want %q (as for %q)", s, got, want, g[0])
			}
		}
	}
}

func TestMustParsePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("MustParse of a bad selector did not panic")
		}
	}()
	selector.MustParse("app ==")
}

func TestAll(t *testing.T) {
	if got := selector.All().String(); got != "all()" {
		t.Fatalf("All().String() = %q", got)
	}
	if !selector.All().Matches(nil) {
		t.Fatal("All() does not match nil labels")
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", "all()", "app == 'db' && env in {'prod','staging'}", "!has(a) || b != \"x\"",
		"k not in {}", "((a == 'x'))", "app == ", "a == 'x' & b", "has(a", "'é'",
		`m == 'say "hi"'`, "!(a == 'x' && b == 'y') || c in {'1'}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sel, err := selector.Parse(s)
		if err != nil {
			var se *selector.SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q): error %T is not a *SyntaxError", s, err)
			}
			if se.Column < 1 || se.Column > len([]rune(s))+1 {
				t.Fatalf("Parse(%q): column %d out of range", s, se.Column)
			}
			return
		}
		canon := sel.String()
		again, err := selector.Parse(canon)
		if err != nil {
			t.Fatalf("Parse(%q).String() = %q does not re-parse: %v", s, canon, err)
		}
		if again.String() != canon {
			t.Fatalf("canonical form not stable: %q -> %q -> %q", s, canon, again.String())
		}
		labels := map[string]string{"app": "db", "env": "prod", "a": "x"}
		if sel.Matches(labels) != again.Matches(labels) {
			t.Fatalf("%q and its canonical form %q disagree on %v", s, canon, labels)
		}
		sel.Matches(nil)
	})
}

func BenchmarkMatches(b *testing.B) {
	labels := map[string]string{
		"app": "db", "env": "staging", "team": "payments", "example.com/tier": "2",
	}
	for _, s := range []string{
		"app == 'db'",
		"app == 'db' && env in {'prod','staging'}",
		"(app == 'web' || app == 'api') && !has(canary) || env not in {'dev','test','qa'} && example.com/tier == '2'",
	} {
		sel := selector.MustParse(s)
		b.Run(sel.String(), func(b *testing.B) {
			for b.Loop() {
				sel.Matches(labels)
			}
		})
	}
}
