package policy

import (
	"testing"

	"github.com/BurntSushi/toml"
)

func TestScanLayout(t *testing.T) {
	src := "# comment [[policy]]\r\n" + // 1
		"top = \"[[policy]]\" # [x]\r\n" + // 2
		"[[policy]]\r\n" + // 3
		"name = \"\"\"a\r\n" + // 4
		"[[policy]] \\\"\"\" \r\n" + // 5
		"b\"\"\"\"\"\r\n" + // 6  closing """ plus two content quotes
		"order = 1\r\n" + // 7
		"[[ policy . 'ingress' ]]\r\n" + // 8
		"ports = [\r\n" + // 9
		"  'x\\', \"[[policy]]\",\r\n" + // 10 a literal string ends at the quote after the backslash
		"]\r\n" + // 11
		"from.nets = []\r\n" + // 12
		"[\"policy\".ingress]\r\n" // 13 not valid TOML here, but must not confuse the scanner
	l := scanLayout(src)
	type sec struct {
		path  string
		array bool
		line  int
	}
	var got []sec
	for _, s := range l.sections[1:] {
		p := ""
		for i, part := range s.path {
			if i > 0 {
				p += "."
			}
			p += part
		}
		got = append(got, sec{p, s.array, s.line})
	}
	want := []sec{{"policy", true, 3}, {"policy.ingress", true, 8}, {"policy.ingress", false, 13}}
	if len(got) != len(want) {
		t.Fatalf("sections = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("section %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if k := l.sections[0].keys; len(k) != 1 || k[0] != (keyLine{"top", 2}) {
		t.Errorf("root keys = %+v", k)
	}
	if k := l.sections[1].keys; len(k) != 2 || k[0] != (keyLine{"name", 4}) || k[1] != (keyLine{"order", 7}) {
		t.Errorf("policy keys = %+v", k)
	}
	if k := l.sections[2].keys; len(k) != 2 || k[0] != (keyLine{"ports", 9}) || k[1] != (keyLine{"from", 12}) {
		t.Errorf("rule keys = %+v", k)
	}
	for _, tt := range []struct {
		at   location
		want int
	}{
		{location{}, 3},
		{location{key: "order"}, 7},
		{location{key: "selector"}, 3}, // absent: the policy's header
		{location{policy: 1}, 0},       // no such policy
		{location{dir: Ingress}, 8},
		{location{dir: Ingress, key: "from"}, 12},
		{location{dir: Ingress, key: "action"}, 8},
		{location{dir: Ingress, rule: 1}, 13}, // no such [[policy.ingress]]: the [policy.ingress] table
		{location{dir: Egress}, 3},
	} {
		if got := l.line(tt.at); got != tt.want {
			t.Errorf("line(%+v) = %d, want %d", tt.at, got, tt.want)
		}
	}
}

// TestScanLayoutMatchesDecoder checks that the scanner counts one
// [[policy]] header per policy the decoder sees, on inputs that hide
// header-like text in strings, comments and arrays.
func TestScanLayoutMatchesDecoder(t *testing.T) {
	for _, src := range []string{
		"[[policy]]\nx = '''\n[[policy]]\n'''\n[[policy]]\n",
		"[[policy]]\nx = \"\"\"\n[[policy]]\\\"\"\"\"\n[[policy]]\n",
		"[[policy]]\nx = [\n[\n1],\n]\n# [[policy]]\n",
		"[[policy]]\nx = { a = [\n'[[policy]]',\n] }\n[[policy]]\n[[policy]]\n",
		"[[policy]]\n'k.[[policy]]' = 1\n[[policy]]\n",
	} {
		var doc struct{ Policy []map[string]any }
		if _, err := toml.Decode(src, &doc); err != nil {
			t.Fatalf("%q: %v", src, err)
		}
		n := 0
		for _, s := range scanLayout(src).sections {
			if s.array && len(s.path) == 1 && s.path[0] == "policy" {
				n++
			}
		}
		if n != len(doc.Policy) {
			t.Errorf("%q: scanner found %d [[policy]] headers, decoder %d policies", src, n, len(doc.Policy))
		}
	}
}
