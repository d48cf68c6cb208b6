package policy_test

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	"github.com/weirnet/weir/policy"
)

// writeFiles writes name -> content into a new directory and returns it.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// names lists the policies of a set in order.
func names(s *policy.Set) []string {
	var out []string
	for _, p := range s.Policies {
		out = append(out, p.Name)
	}
	return out
}

func TestLoadDesignExample(t *testing.T) {
	src, err := os.ReadFile("testdata/design-example.toml")
	if err != nil {
		t.Fatal(err)
	}
	dir := writeFiles(t, map[string]string{"10-db.toml": string(src)})
	set, err := policy.LoadDir(dir)
	if err != nil {
		t.Fatalf("LoadDir: %v", err)
	}
	file := filepath.Join(dir, "10-db.toml")
	if got, want := names(set), []string{"db-accepts-web", "db-no-egress"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("policies = %v, want %v", got, want)
	}

	web := set.Policies[0]
	if web.Order != 100 || web.File != file || web.Line != 1 {
		t.Errorf("db-accepts-web: order %v file %q line %d, want 100 %q 1", web.Order, web.File, web.Line, file)
	}
	if got, want := web.Selector.String(), `app == "db" && env in {"prod", "staging"}`; got != want {
		t.Errorf("selector = %q, want %q", got, want)
	}
	if len(web.Egress) != 0 || len(web.Types) != 0 || len(web.Ingress) != 1 {
		t.Fatalf("db-accepts-web: %d ingress, %d egress rules, types %v; want 1, 0, []", len(web.Ingress), len(web.Egress), web.Types)
	}
	r := web.Ingress[0]
	if r.Action != policy.Allow || r.Protocol != policy.TCP || r.Line != 6 {
		t.Errorf("rule: action %q protocol %q line %d, want allow tcp 6", r.Action, r.Protocol, r.Line)
	}
	if want := []policy.PortRange{{5432, 5432}, {8000, 8080}}; !reflect.DeepEqual(r.Ports, want) {
		t.Errorf("ports = %v, want %v", r.Ports, want)
	}
	if r.Peer.Selector == nil || r.Peer.Selector.String() != `app == "web"` {
		t.Errorf("from.selector = %v, want app == \"web\"", r.Peer.Selector)
	}
	if want := []netip.Prefix{netip.MustParsePrefix("10.22.0.0/16")}; !reflect.DeepEqual(r.Peer.Nets, want) {
		t.Errorf("from.nets = %v, want %v", r.Peer.Nets, want)
	}
	if len(r.Peer.NotNets) != 0 {
		t.Errorf("from.not_nets = %v, want none", r.Peer.NotNets)
	}

	noEgress := set.Policies[1]
	if noEgress.Order != 200 || noEgress.Line != 12 || noEgress.Selector.String() != `app == "db"` {
		t.Errorf("db-no-egress: order %v line %d selector %q", noEgress.Order, noEgress.Line, noEgress.Selector)
	}
	if !reflect.DeepEqual(noEgress.Types, []policy.Direction{policy.Egress}) || len(noEgress.Ingress)+len(noEgress.Egress) != 0 {
		t.Errorf("db-no-egress: types %v, %d rules; want [egress], none", noEgress.Types, len(noEgress.Ingress)+len(noEgress.Egress))
	}
	if !noEgress.Applies(policy.Egress) || noEgress.Applies(policy.Ingress) {
		t.Errorf("db-no-egress applies to egress %v, ingress %v; want true, false", noEgress.Applies(policy.Egress), noEgress.Applies(policy.Ingress))
	}
}

func TestLoadDirMissingOrEmpty(t *testing.T) {
	for name, dir := range map[string]string{
		"missing": filepath.Join(t.TempDir(), "nope"),
		"empty":   t.TempDir(),
		"no toml": writeFiles(t, map[string]string{"README": "not policy", "x.toml.bak": "junk ["}),
	} {
		set, err := policy.LoadDir(dir)
		if err != nil {
			t.Errorf("%s: LoadDir: %v", name, err)
			continue
		}
		if set == nil || set.Len() != 0 {
			t.Errorf("%s: LoadDir = %v, want an empty set", name, set)
		}
	}
}

func TestLoadDirNotADirectory(t *testing.T) {
	dir := writeFiles(t, map[string]string{"file": ""})
	_, err := policy.LoadDir(filepath.Join(dir, "file"))
	if err == nil || !strings.Contains(err.Error(), "reading policy directory") {
		t.Fatalf("LoadDir(a file) = %v, want a reading error", err)
	}
}

func TestLoadDirSkipsAndSorts(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"20-b.toml":           "[[policy]]\nname = \"b\"\norder = 10\n",
		"10-a.toml":           "[[policy]]\nname = \"z\"\norder = 10\n[[policy]]\nname = \"first\"\norder = -5.5\n",
		"30-c.toml":           "[[policy]]\nname = \"no-order\"\n[[policy]]\nname = \"a\"\norder = 10\n",
		".hidden.toml":        "this is not toml [",
		"notes.txt":           "nor this [",
		"sub.toml/inner.toml": "[[policy]]\nname = \"inner\"\n",
		"empty.toml":          "",
		"comments-only.toml":  "# nothing yet\n",
	})
	set, err := policy.LoadDir(dir)
	if err != nil {
		t.Fatalf("LoadDir: %v", err)
	}
	if got, want := names(set), []string{"first", "no-order", "a", "b", "z"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("order = %v, want %v", got, want)
	}
}

func TestLoadFiles(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"one.conf": "[[policy]]\nname = \"one\"\n",
		"two.toml": "[[policy]]\nname = \"two\"\norder = -1\n",
	})
	set, err := policy.LoadFiles(filepath.Join(dir, "one.conf"), filepath.Join(dir, "two.toml"))
	if err != nil {
		t.Fatalf("LoadFiles: %v", err)
	}
	if got, want := names(set), []string{"two", "one"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("policies = %v, want %v", got, want)
	}
	missing := filepath.Join(dir, "missing.toml")
	_, err = policy.LoadFiles(missing)
	var pe *policy.Error
	if err == nil || err.Error() != missing+": reading: no such file or directory" || !errors.Is(err, os.ErrNotExist) || !errors.As(err, &pe) {
		t.Fatalf("LoadFiles(missing) = %v, want a not-exist error naming the file", err)
	}
}

func TestDuplicateNames(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"a.toml": "# first\n[[policy]]\nname = \"web\"\n",
		"b.toml": "[[policy]]\nname = \"other\"\n\n[[policy]]\nname = \"web\"\n[[policy]]\nname = \"other\"\n",
	})
	_, err := policy.LoadDir(dir)
	a, b := filepath.Join(dir, "a.toml"), filepath.Join(dir, "b.toml")
	want := b + `:4: policy "web": duplicate name: already defined at ` + a + ":2\n" +
		b + `:6: policy "other": duplicate name: already defined at ` + b + ":1"
	if err == nil || err.Error() != want {
		t.Fatalf("LoadDir error:\n got %v\nwant %s", err, want)
	}
	var pe *policy.Error
	if !errors.As(err, &pe) || pe.Index != 1 || pe.Policy != "web" {
		t.Fatalf("first error = %#v, want an *Error for policy 1 of b.toml", pe)
	}
}

// TestLoadErrors checks the exact message of each kind of problem. FILE
// stands for the file's path.
func TestLoadErrors(t *testing.T) {
	const head = "[[policy]]\nname = \"p\"\n"
	tests := []struct {
		name, src, want string
	}{
		{"syntax", "[[policy]]\nname = \"p\"\norder = \n", `FILE:3: invalid TOML: expected value but found '\n' instead`},
		{"unknown top-level key", "name = \"p\"\n", `FILE:1: unknown key "name" (a policy file holds [[policy]] tables)`},
		{"policy not tables", "policy = 5\n", `FILE:1: policy: want an array of tables ([[policy]]), got integer 5`},
		{"policy single table", "[policy]\nname = \"p\"\n", `FILE:1: policy: want an array of tables ([[policy]]), got table`},
		{"policy array of non-tables", "policy = [1, 2]\n", `FILE:1: policy: want an array of tables ([[policy]]), got array`},
		{"missing name", "[[policy]]\norder = 1\n", `FILE:1: policy[0]: name: required`},
		{"name not string", "[[policy]]\nname = 7\n", `FILE:2: policy[0]: name: want a string, got integer 7`},
		{"empty name", "[[policy]]\nname = \"\"\n", `FILE:2: policy[0]: name: must not be empty`},
		{"bad name", "[[policy]]\nname = \"a b\"\n", `FILE:2: policy "a b": name: "a b" is not a valid name (letters, digits, '.', '-', '_', starting with a letter or digit)`},
		{"long name", "[[policy]]\nname = \"" + strings.Repeat("x", 64) + "\"\n", `FILE:2: policy "` + strings.Repeat("x", 64) + `": name: "` + strings.Repeat("x", 64) + `" is longer than 63 characters`},
		{"unknown policy key", head + "ordr = 1\n", `FILE:3: policy "p": unknown key "ordr"`},
		{"unknown policy sub-table", head + "[policy.extra]\nx = 1\n", `FILE:3: policy "p": unknown key "extra"`},
		{"order string", head + "order = \"1\"\n", `FILE:3: policy "p": order: want a number, got string "1"`},
		{"order nan", head + "order = nan\n", `FILE:3: policy "p": order: NaN is not a usable order (want a finite number)`},
		{"order inf", head + "order = -inf\n", `FILE:3: policy "p": order: -Inf is not a usable order (want a finite number)`},
		{"selector not string", head + "selector = 1\n", `FILE:3: policy "p": selector: want a string, got integer 1`},
		{"selector syntax", head + "selector = \"app == \"\n", `FILE:3: policy "p": selector: selector "app == ": column 8: expected a quoted value`},
		{"types not array", head + "types = \"ingress\"\n", `FILE:3: policy "p": types: want an array of strings, got string "ingress"`},
		{"types bad", head + "types = [\"ingress\", \"up\"]\n", `FILE:3: policy "p": types[1]: "up" is not a direction (ingress or egress)`},
		{"types twice", head + "types = [\"egress\", \"egress\"]\n", `FILE:3: policy "p": types[1]: "egress" is listed twice`},
		{"types not string", head + "types = [1]\n", `FILE:3: policy "p": types[0]: want a string, got integer 1`},
		{"types without ruled direction", head + "types = [\"egress\"]\n[[policy.ingress]]\naction = \"allow\"\n", `FILE:3: policy "p": types: the policy has ingress rules but types does not list "ingress"`},
		{"ingress not tables", head + "ingress = \"all\"\n", `FILE:3: policy "p": ingress: want an array of tables ([[policy.ingress]]), got string "all"`},
		{"missing action", head + "[[policy.ingress]]\nprotocol = \"tcp\"\n", `FILE:3: policy "p": ingress[0].action: required (allow, deny or log)`},
		{"bad action", head + "[[policy.egress]]\naction = \"accept\"\n", `FILE:4: policy "p": egress[0].action: "accept" is not an action (allow, deny or log)`},
		{"action not string", head + "[[policy.egress]]\naction = true\n", `FILE:4: policy "p": egress[0].action: want a string, got boolean true`},
		{"bad protocol", head + "[[policy.egress]]\naction = \"allow\"\nprotocol = \"sctp\"\n", `FILE:5: policy "p": egress[0].protocol: "sctp" is not a protocol (tcp, udp, icmp or any)`},
		{"empty protocol", head + "[[policy.egress]]\naction = \"allow\"\nprotocol = \"\"\n", `FILE:5: policy "p": egress[0].protocol: "" is not a protocol (tcp, udp, icmp or any)`},
		{"ports without protocol", head + "[[policy.ingress]]\naction = \"allow\"\nports = [80]\n", `FILE:5: policy "p": ingress[0].ports: ports need protocol tcp or udp, not any`},
		{"ports with icmp", head + "[[policy.ingress]]\naction = \"allow\"\nprotocol = \"icmp\"\nports = [80]\n", `FILE:6: policy "p": ingress[0].ports: ports need protocol tcp or udp, not icmp`},
		{"port zero", head + "[[policy.ingress]]\naction = \"allow\"\nprotocol = \"tcp\"\nports = [0]\n", `FILE:6: policy "p": ingress[0].ports[0]: 0 is not a port (1-65535)`},
		{"port too big", head + "[[policy.ingress]]\naction = \"allow\"\nprotocol = \"udp\"\nports = [53, 65536]\n", `FILE:6: policy "p": ingress[0].ports[1]: 65536 is not a port (1-65535)`},
		{"port range reversed", head + "[[policy.ingress]]\naction = \"allow\"\nprotocol = \"tcp\"\nports = [5432, \"80-70\"]\n", `FILE:6: policy "p": ingress[0].ports[1]: "80-70" is not a port range (low > high)`},
		{"port range junk", head + "[[policy.ingress]]\naction = \"allow\"\nprotocol = \"tcp\"\nports = [\"http\"]\n", `FILE:6: policy "p": ingress[0].ports[0]: "http" is not a port range (want "low-high" with ports 1-65535)`},
		{"port range open", head + "[[policy.ingress]]\naction = \"allow\"\nprotocol = \"tcp\"\nports = [\"80-\"]\n", `FILE:6: policy "p": ingress[0].ports[0]: "80-" is not a port range (want "low-high" with ports 1-65535)`},
		{"port range signed", head + "[[policy.ingress]]\naction = \"allow\"\nprotocol = \"tcp\"\nports = [\"+80\"]\n", `FILE:6: policy "p": ingress[0].ports[0]: "+80" is not a port range (want "low-high" with ports 1-65535)`},
		{"port range too big", head + "[[policy.ingress]]\naction = \"allow\"\nprotocol = \"tcp\"\nports = [\"1-70000\"]\n", `FILE:6: policy "p": ingress[0].ports[0]: "1-70000" is not a port range (want "low-high" with ports 1-65535)`},
		{"port float", head + "[[policy.ingress]]\naction = \"allow\"\nprotocol = \"tcp\"\nports = [80.0]\n", `FILE:6: policy "p": ingress[0].ports[0]: want a port (80) or range ("8000-8080"), got float 80`},
		{"ports not array", head + "[[policy.ingress]]\naction = \"allow\"\nprotocol = \"tcp\"\nports = 80\n", `FILE:6: policy "p": ingress[0].ports: want an array of ports (80 or "8000-8080"), got integer 80`},
		{"to in ingress", head + "[[policy.ingress]]\naction = \"allow\"\nto = {}\n", `FILE:5: policy "p": ingress[0]: unknown key "to" (ingress rules take "from")`},
		{"from in egress", head + "[[policy.egress]]\naction = \"allow\"\nfrom = {}\n", `FILE:5: policy "p": egress[0]: unknown key "from" (egress rules take "to")`},
		{"unknown rule key", head + "[[policy.egress]]\naction = \"allow\"\nport = 80\n", `FILE:5: policy "p": egress[0]: unknown key "port"`},
		{"peer not table", head + "[[policy.egress]]\naction = \"allow\"\nto = \"10.0.0.0/8\"\n", `FILE:5: policy "p": egress[0].to: want a table { selector = ..., nets = [...], not_nets = [...] }, got string "10.0.0.0/8"`},
		{"unknown peer key", head + "[[policy.egress]]\naction = \"allow\"\nto = { net = [] }\n", `FILE:5: policy "p": egress[0].to: unknown key "net"`},
		{"peer selector syntax", head + "[[policy.egress]]\naction = \"allow\"\nto = { selector = \"has(app\" }\n", `FILE:5: policy "p": egress[0].to.selector: selector "has(app": column 8: expected ")", found end of selector`},
		{"peer selector type", head + "[[policy.egress]]\naction = \"allow\"\nto = { selector = [] }\n", `FILE:5: policy "p": egress[0].to.selector: want a string, got array`},
		{"bad cidr", head + "[[policy.ingress]]\naction = \"allow\"\nfrom = { nets = [\"10.0.0.0/8\", \"10.0.0.0/33\"] }\n", `FILE:5: policy "p": ingress[0].from.nets[1]: "10.0.0.0/33" is not a CIDR (want e.g. "10.22.0.0/16")`},
		{"bad not_nets", head + "[[policy.ingress]]\naction = \"allow\"\nfrom = { not_nets = [\"fe80::1%eth0\"] }\n", `FILE:5: policy "p": ingress[0].from.not_nets[0]: "fe80::1%eth0" is not a CIDR (want e.g. "10.22.0.0/16")`},
		{"nets not array", head + "[[policy.ingress]]\naction = \"allow\"\nfrom = { nets = \"10.0.0.0/8\" }\n", `FILE:5: policy "p": ingress[0].from.nets: want an array of CIDRs, got string "10.0.0.0/8"`},
		{"nets entry not string", head + "[[policy.ingress]]\naction = \"allow\"\nfrom = { nets = [10] }\n", `FILE:5: policy "p": ingress[0].from.nets[0]: want a CIDR string, got integer 10`},
		{"peer sub-table", head + "[[policy.ingress]]\naction = \"allow\"\n[policy.ingress.from]\nnets = [\"x\"]\n", `FILE:5: policy "p": ingress[0].from.nets[0]: "x" is not a CIDR (want e.g. "10.22.0.0/16")`},
		{"second rule", head + "[[policy.ingress]]\naction = \"allow\"\n\n[[policy.ingress]]\naction = \"nope\"\n", `FILE:7: policy "p": ingress[1].action: "nope" is not an action (allow, deny or log)`},
		{"second policy", head + "[[policy.ingress]]\naction = \"allow\"\n[[policy]]\nname = \"q\"\n[[policy.ingress]]\naction = \"allow\"\n[[policy.ingress]]\naction = \"allow\"\nprotocol = \"x\"\n", `FILE:11: policy "q": ingress[1].protocol: "x" is not a protocol (tcp, udp, icmp or any)`},
		{"inline rules", head + "ingress = [\n  { action = \"allow\" },\n  { action = \"nope\" },\n]\n", `FILE:3: policy "p": ingress[1].action: "nope" is not an action (allow, deny or log)`},
		{"inline policies", "policy = [\n  { name = \"a\" },\n  { name = \"b\", order = \"x\" },\n]\n", `FILE:1: policy "b": order: want a number, got string "x"`},
		{"dotted key", head + "[[policy.egress]]\naction = \"allow\"\nto.selector = \"a ==\"\n", `FILE:5: policy "p": egress[0].to.selector: selector "a ==": column 5: expected a quoted value`},
		{"quoted header", "[[ \"policy\" ]]\nname = \"p\"\n[[ policy . \"egress\" ]] # comment\n\"action\" = 'x'\n", `FILE:4: policy "p": egress[0].action: "x" is not an action (allow, deny or log)`},
		{
			"headers inside strings and arrays are not headers",
			"[[policy]]\nname = \"p\"\nselector = '''app != \"\n[[policy]]\"'''\n[[policy.ingress]]\naction = \"allow\"\nprotocol = \"tcp\"\nports = [\n  80,\n  # [[policy.ingress]]\n  \"\"\"[[x]]\"\"\",\n]\n",
			`FILE:8: policy "p": ingress[0].ports[1]: "[[x]]" is not a port range (want "low-high" with ports 1-65535)`,
		},
		{
			"multi-line inline table (TOML 1.1)",
			head + "[[policy.ingress]]\naction = \"allow\"\nfrom = {\n  nets = [\"10.0.0.0/8\"],\n  selector = \"x\",\n}\n[[policy.ingress]]\nfrom = {}\n",
			"FILE:5: policy \"p\": ingress[0].from.selector: selector \"x\": column 2: expected \"==\", \"!=\", \"in\" or \"not in\" after label key \"x\", found end of selector\n" +
				`FILE:9: policy "p": ingress[1].action: required (allow, deny or log)`,
		},
		{
			"several problems at once",
			"[[policy]]\nname = \"p\"\nbogus = 1\norder = \"x\"\n[[policy]]\n[[policy.egress]]\naction = \"deny\"\nto = { nets = [\"1.2.3.4/40\"] }\n",
			"FILE:3: policy \"p\": unknown key \"bogus\"\n" +
				"FILE:4: policy \"p\": order: want a number, got string \"x\"\n" +
				"FILE:5: policy[1]: name: required\n" +
				"FILE:8: policy[1]: egress[0].to.nets[0]: \"1.2.3.4/40\" is not a CIDR (want e.g. \"10.22.0.0/16\")",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeFiles(t, map[string]string{"p.toml": tt.src})
			file := filepath.Join(dir, "p.toml")
			set, err := policy.LoadDir(dir)
			if err == nil {
				t.Fatalf("LoadDir = %d policies, want an error", set.Len())
			}
			if set != nil {
				t.Errorf("LoadDir returned a set with its error")
			}
			want := strings.ReplaceAll(tt.want, "FILE", file)
			if err.Error() != want {
				t.Fatalf("error:\n got %s\nwant %s", err, want)
			}
			var pe *policy.Error
			if !errors.As(err, &pe) || pe.File != file {
				t.Fatalf("error is not a *policy.Error for %s: %#v", file, err)
			}
		})
	}
}

func TestSyntaxErrorUnwraps(t *testing.T) {
	dir := writeFiles(t, map[string]string{"p.toml": "[[policy]]\nname = \n"})
	_, err := policy.LoadDir(dir)
	var pe toml.ParseError
	if !errors.As(err, &pe) || pe.Position.Line != 2 {
		t.Fatalf("error %v does not unwrap to a toml.ParseError at line 2", err)
	}
}

func TestLoadAccepts(t *testing.T) {
	const head = "[[policy]]\nname = \"p\"\n"
	tests := []struct {
		name, src string
		check     func(t *testing.T, p *policy.Policy)
	}{
		{"no selector is all()", head, func(t *testing.T, p *policy.Policy) {
			if p.Selector.String() != "all()" || p.Order != 0 {
				t.Errorf("selector %q order %v, want all() 0", p.Selector, p.Order)
			}
		}},
		{"float order", head + "order = 1.5\n", func(t *testing.T, p *policy.Policy) {
			if p.Order != 1.5 {
				t.Errorf("order = %v", p.Order)
			}
		}},
		{"protocol defaults to any", head + "[[policy.egress]]\naction = \"log\"\n", func(t *testing.T, p *policy.Policy) {
			if r := p.Egress[0]; r.Protocol != policy.Any || r.Action != policy.Log || !r.Peer.IsZero() || r.Line != 3 {
				t.Errorf("rule = %+v", r)
			}
		}},
		{"port strings", head + "[[policy.ingress]]\naction = \"allow\"\nprotocol = \"udp\"\nports = [\"53\", \"1000 - 2000\", \"7-7\", 65535]\n", func(t *testing.T, p *policy.Policy) {
			want := []policy.PortRange{{53, 53}, {1000, 2000}, {7, 7}, {65535, 65535}}
			if !reflect.DeepEqual(p.Ingress[0].Ports, want) {
				t.Errorf("ports = %v, want %v", p.Ingress[0].Ports, want)
			}
		}},
		{"nets are masked, bare addresses are hosts", head + "[[policy.ingress]]\naction = \"allow\"\nfrom = { nets = [\"10.22.1.7/16\", \"192.0.2.1\", \"2001:db8::1/32\", \"::ffff:198.51.100.1\"] }\n", func(t *testing.T, p *policy.Policy) {
			want := []netip.Prefix{
				netip.MustParsePrefix("10.22.0.0/16"), netip.MustParsePrefix("192.0.2.1/32"),
				netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("198.51.100.1/32"),
			}
			if !reflect.DeepEqual(p.Ingress[0].Peer.Nets, want) {
				t.Errorf("nets = %v, want %v", p.Ingress[0].Peer.Nets, want)
			}
		}},
		{"empty peer selector is no constraint", head + "[[policy.ingress]]\naction = \"allow\"\nfrom = { selector = \"  \" }\n", func(t *testing.T, p *policy.Policy) {
			if !p.Ingress[0].Peer.IsZero() {
				t.Errorf("peer = %+v, want zero", p.Ingress[0].Peer)
			}
		}},
		{"types with matching rules", head + "types = [\"ingress\", \"egress\"]\n[[policy.ingress]]\naction = \"deny\"\n", func(t *testing.T, p *policy.Policy) {
			if !p.Applies(policy.Ingress) || !p.Applies(policy.Egress) {
				t.Errorf("applies = %v/%v", p.Applies(policy.Ingress), p.Applies(policy.Egress))
			}
		}},
		{"empty types", head + "types = []\n[[policy.ingress]]\naction = \"deny\"\n", func(t *testing.T, p *policy.Policy) {
			if !p.Applies(policy.Ingress) || p.Applies(policy.Egress) {
				t.Errorf("applies = %v/%v", p.Applies(policy.Ingress), p.Applies(policy.Egress))
			}
		}},
		{"inline rules get the key's line", head + "\negress = [{ action = \"allow\" }]\n", func(t *testing.T, p *policy.Policy) {
			if p.Egress[0].Line != 4 {
				t.Errorf("line = %d, want 4", p.Egress[0].Line)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeFiles(t, map[string]string{"p.toml": tt.src})
			set, err := policy.LoadDir(dir)
			if err != nil {
				t.Fatalf("LoadDir: %v", err)
			}
			if set.Len() != 1 {
				t.Fatalf("%d policies, want 1", set.Len())
			}
			tt.check(t, set.Policies[0])
		})
	}
}

// TestInvalidTestdata loads each file of testdata/invalid on its own.
func TestInvalidTestdata(t *testing.T) {
	want := map[string]string{
		"10-db.toml":                  `FILE:7: policy "db-accepts-web": ingress[0].ports[1]: "80-70" is not a port range (low > high)`,
		"bad-selector.toml":           `FILE:3: policy "web": selector: selector "app == ": column 8: expected a quoted value`,
		"bad-peer-selector.toml":      `FILE:7: policy "web": egress[0].to.selector: selector "tier in {'db' 'cache'}": column 15: expected "," or "}", found string "cache"`,
		"ports-without-protocol.toml": `FILE:7: policy "web": ingress[0].ports: ports need protocol tcp or udp, not any`,
		"unknown-key.toml":            `FILE:7: policy "web": ingress[0]: unknown key "to" (ingress rules take "from")`,
		"missing-action.toml":         `FILE:5: policy "web": ingress[0].action: required (allow, deny or log)`,
		"bad-cidr.toml":               `FILE:7: policy "web": egress[0].to.not_nets[0]: "10.0.0.0/33" is not a CIDR (want e.g. "10.22.0.0/16")`,
		"bad-type.toml":               `FILE:3: policy "web": types[1]: "sideways" is not a direction (ingress or egress)`,
		"missing-name.toml":           `FILE:4: policy[1]: name: required`,
		"syntax.toml":                 `FILE:3: invalid TOML: expected value but found '\n' instead`,
	}
	files, err := filepath.Glob("testdata/invalid/*.toml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(want) {
		t.Errorf("%d files in testdata/invalid, %d expected errors", len(files), len(want))
	}
	for _, file := range files {
		_, err := policy.LoadFiles(file)
		w, ok := want[filepath.Base(file)]
		if !ok {
			t.Errorf("%s: no expected error", file)
			continue
		}
		w = strings.ReplaceAll(w, "FILE", file)
		if err == nil || err.Error() != w {
			t.Errorf("%s:\n got %v\nwant %s", file, err, w)
		}
	}
	// The whole directory at once reports every file's problems.
	_, err = policy.LoadDir("testdata/invalid")
	for _, file := range files {
		if err == nil || !strings.Contains(err.Error(), file+":") {
			t.Errorf("LoadDir(testdata/invalid) error does not name %s", file)
		}
	}
}

// TestLoadDirExampleFromDesign keeps the testdata copy honest: the whole
// directory loads without error.
func TestLoadDirTestdata(t *testing.T) {
	set, err := policy.LoadDir("testdata")
	if err != nil {
		t.Fatalf("LoadDir(testdata): %v", err)
	}
	if got, want := names(set), []string{"db-accepts-web", "db-no-egress"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("policies = %v, want %v", got, want)
	}
}
