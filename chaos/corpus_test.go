package chaos

import (
	"fmt"
	"strings"
)

// The bad-input corpus is generated: a valid base of each format, and
// mutators that break one thing each (a line replaced, a string cut
// short, a value of the wrong type or range). Every case names what the
// error must mention: the file and line where the format has lines, the
// field or variable otherwise.

// badFile is one malformed network definition or policy file.
type badFile struct {
	name    string
	ext     string // .toml, .conflist, .conf, .json
	content string
	want    []string // what the error names; "{{file}}" is the file's path
	addTime bool     // the definition loads; the chain's ADD refuses it
}

// Network definitions: the base, line by line (1-based in comments).
var defTOMLLines = []string{
	`cniVersion = "1.1.0"`,         // 1
	`name = "badnet"`,              // 2
	``,                             // 3
	`[[plugins]]`,                  // 4
	`type = "bridge"`,              // 5
	`bridge = "chaosb0"`,           // 6
	`isGateway = true`,             // 7
	`  [plugins.ipam]`,             // 8
	`  type = "host-local"`,        // 9
	`  subnet = "10.80.0.0/24"`,    // 10
	`  dataDir = "{{state}}/ipam"`, // 11
	``,                             // 12
	`[[plugins]]`,                  // 13
	`type = "policy"`,              // 14
	`policyDir = "{{pol}}"`,        // 15
	`stateDir = "{{state}}"`,       // 16
}

// withLine returns lines with line n (1-based) replaced by repl (which may
// hold several lines).
func withLine(lines []string, n int, repl string) string {
	out := append([]string(nil), lines[:n-1]...)
	out = append(out, repl)
	out = append(out, lines[n:]...)
	return strings.Join(out, "\n") + "\n"
}

func defTOML(name string, line int, repl string, want ...string) badFile {
	return badFile{name: name, ext: ".toml", content: withLine(defTOMLLines, line, repl), want: want}
}

func defTOMLAdd(name string, line int, repl string, want ...string) badFile {
	f := defTOML(name, line, repl, want...)
	f.addTime = true
	return f
}

const defJSON = `{
  "cniVersion": "1.1.0",
  "name": "badnet",
  "plugins": [
    {"type": "bridge", "bridge": "chaosb0", "isGateway": true,
     "ipam": {"type": "host-local", "subnet": "10.80.0.0/24", "dataDir": "{{state}}/ipam"}},
    {"type": "policy", "policyDir": "{{pol}}", "stateDir": "{{state}}"}
  ]
}
`

func defJSONWith(name, old, repl string, want ...string) badFile {
	if !strings.Contains(defJSON, old) {
		panic("corpus: " + old + " not in the JSON base")
	}
	return badFile{name: name, ext: ".conflist", content: strings.Replace(defJSON, old, repl, 1), want: want}
}

// badDefinitions returns the malformed network definitions.
func badDefinitions() []badFile {
	full := strings.Join(defTOMLLines, "\n") + "\n"
	fs := []badFile{
		defTOML("toml-unterminated-string", 2, `name = "badnet`, "{{file}}:2"),
		defTOML("toml-duplicate-key", 3, `name = "again"`, "{{file}}:3"),
		defTOML("toml-cniversion-number", 1, `cniVersion = 1.0`, "{{file}}:1", "cniVersion"),
		defTOML("toml-cniversion-unknown", 1, `cniVersion = "9.9.9"`, "{{file}}:1", "cniVersion", "9.9.9"),
		defTOML("toml-name-number", 2, `name = 5`, "{{file}}:2", "name"),
		defTOML("toml-name-slash", 2, `name = "bad/name"`, "{{file}}:2", "name"),
		defTOML("toml-name-dotdot", 2, `name = ".."`, "{{file}}:2", "name"),
		defTOML("toml-name-unicode", 2, `name = "nét"`, "{{file}}:2", "name"),
		defTOML("toml-type-missing", 5, `# no type`, "{{file}}:4", "plugins[0].type", "missing"),
		defTOML("toml-type-empty", 5, `type = ""`, "{{file}}:5", "plugins[0].type"),
		defTOML("toml-type-unknown", 5, `type = "nosuch"`, "{{file}}:5", "plugins[0].type", "nosuch"),
		defTOML("toml-type-number", 5, `type = 7`, "{{file}}:5", "plugins[0].type"),
		defTOML("toml-type-path", 5, `type = "../../bin/sh"`, "{{file}}:5", "plugins[0].type"),
		defTOML("toml-ipam-type-unknown", 9, `  type = "nosuch-ipam"`, "{{file}}:9", "plugins[0].ipam.type", "nosuch-ipam"),
		defTOML("toml-table-not-array", 4, `[plugins]`, "{{file}}:"),
		defTOML("toml-invalid-utf8", 2, "name = \"bad\xff\"", "{{file}}:2"),
		defTOML("toml-nul-byte", 6, "bridge = \"chaos\x00b0\"", "{{file}}:6"),
		defTOML("toml-bare-value", 7, `isGateway = yes`, "{{file}}:7"),
		defTOML("toml-unclosed-array", 10, `  subnet = ["10.80.0.0/24"`, "{{file}}:11"), // where the parser notices
		defTOML("toml-key-without-value", 6, `bridge =`, "{{file}}:6"),
		defTOML("toml-plugins-string", 4, "plugins = \"x\"\n[[plugins2]]", "{{file}}", "plugins"),
		{name: "toml-no-plugins", ext: ".toml", content: strings.Join(defTOMLLines[:3], "\n") + "\n", want: []string{"{{file}}", "plugins", "missing"}},
		{name: "toml-empty-file", ext: ".toml", content: "", want: []string{"{{file}}", "plugins"}},
		{name: "toml-only-comments", ext: ".toml", content: "# nothing here\n", want: []string{"{{file}}", "plugins"}},
		{name: "toml-huge-garbage", ext: ".toml", content: strings.Repeat("= = =\n", 300000), want: []string{"{{file}}:1"}},
		defTOMLAdd("toml-subnet-prefix-33", 10, `  subnet = "10.80.0.0/33"`, "subnet"),
		defTOMLAdd("toml-subnet-word", 10, `  subnet = "banana"`, "subnet"),
		defTOMLAdd("toml-range-outside-subnet", 10, "  subnet = \"10.80.0.0/24\"\n  rangeStart = \"10.81.0.5\"", "rangeStart"),
		defTOMLAdd("toml-datadir-relative", 11, `  dataDir = "relative/dir"`, "dataDir"),
		defTOMLAdd("toml-isgateway-string", 7, `isGateway = "yes"`, "isGateway"),
		defTOMLAdd("toml-bridge-name-long", 6, `bridge = "averyveryverylongbridgename"`, "bridge"),
		defTOMLAdd("toml-mtu-negative", 7, `mtu = -5`, "mtu"),
		defTOMLAdd("toml-vlan-range", 7, `vlan = 5000`, "vlan"),
		defTOMLAdd("toml-gateway-outside", 10, "  subnet = \"10.80.0.0/24\"\n  gateway = \"10.99.0.1\"", "gateway"),
		defTOMLAdd("toml-route-dst-word", 10, "  subnet = \"10.80.0.0/24\"\n  routes = [ { dst = \"nonsense\" } ]", "nonsense"),
		defTOMLAdd("toml-policy-default-action", 16, "stateDir = \"{{state}}\"\ndefaultAction = \"maybe\"", "defaultAction"),
		defTOMLAdd("toml-policy-enforcement", 16, "stateDir = \"{{state}}\"\nenforcement = \"sideways\"", "enforcement"),
		{name: "toml-policy-first", ext: ".toml", addTime: true, want: []string{"prevResult"},
			content: strings.Join(defTOMLLines[:3], "\n") + "\n" + strings.Join(defTOMLLines[12:], "\n") + "\n" + strings.Join(defTOMLLines[3:12], "\n") + "\n"},
		defJSONWith("json-trailing-comma", `"stateDir": "{{state}}"}`, `"stateDir": "{{state}}"},`, "{{file}}:8"),
		defJSONWith("json-single-quotes", `"name": "badnet"`, `'name': 'badnet'`, "{{file}}:3"),
		defJSONWith("json-comment", `"name": "badnet",`, "\"name\": \"badnet\", // the name", "{{file}}:3"),
		defJSONWith("json-plugins-object", `"plugins": [`, `"plugins": {"x": [`, "{{file}}:"),
		defJSONWith("json-plugin-number", `{"type": "policy", "policyDir": "{{pol}}", "stateDir": "{{state}}"}`, `42`, "{{file}}", "plugins[1]"),
		defJSONWith("json-type-missing", `{"type": "policy", `, `{`, "{{file}}", "plugins[1].type", "missing"),
		defJSONWith("json-type-number", `"type": "policy"`, `"type": 7`, "{{file}}", "plugins[1].type"),
		defJSONWith("json-type-unknown", `"type": "policy"`, `"type": "nosuch"`, "{{file}}", "plugins[1].type", "nosuch"),
		defJSONWith("json-cniversion-bad", `"cniVersion": "1.1.0"`, `"cniVersion": "1.x"`, "{{file}}", "cniVersion"),
		defJSONWith("json-cniversion-number", `"cniVersion": "1.1.0"`, `"cniVersion": 110`, "{{file}}", "cniVersion"),
		defJSONWith("json-name-space", `"name": "badnet"`, `"name": "bad net"`, "{{file}}", "name"),
		defJSONWith("json-name-invalid-utf8", `"name": "badnet"`, "\"name\": \"bad\xffnet\"", "{{file}}", "name"),
		defJSONWith("json-nul", `"name": "badnet"`, "\"name\": \"bad\x00net\"", "{{file}}:3"),
		defJSONWith("json-ipam-string", `"ipam": {"type": "host-local", "subnet": "10.80.0.0/24", "dataDir": "{{state}}/ipam"}`, `"ipam": "host-local"`, "{{file}}"),
		{name: "json-truncated", ext: ".conflist", content: defJSON[:len(defJSON)/2], want: []string{"{{file}}:"}},
		{name: "json-array", ext: ".conflist", content: "[" + defJSON + "]", want: []string{"{{file}}", "JSON object", "an array"}},
		{name: "json-string", ext: ".conflist", content: `"a network"`, want: []string{"{{file}}", "a string"}},
		{name: "json-number", ext: ".conflist", content: `42`, want: []string{"{{file}}", "a number"}},
		{name: "json-null", ext: ".conflist", content: `null`, want: []string{"{{file}}", "null"}},
		{name: "json-empty", ext: ".conflist", content: "  \n", want: []string{"{{file}}", "empty"}},
		{name: "json-bom", ext: ".conflist", content: "\ufeff" + defJSON, want: []string{"{{file}}:1"}},
		{name: "json-huge-garbage", ext: ".json", content: "{" + strings.Repeat(`"a":`, 500000), want: []string{"{{file}}"}},
		{name: "json-deep-nesting", ext: ".conflist", content: `{"name":"badnet","plugins":[{"type":"bridge","x":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}]`, want: []string{"{{file}}"}},
		{name: "conf-type-missing", ext: ".conf", content: `{"cniVersion":"1.1.0","name":"badnet","bridge":"chaosb0"}`, want: []string{"{{file}}", "type", "missing"}},
		{name: "conf-is-a-list", ext: ".conf", content: defJSON, want: []string{"{{file}}", "type", ".conflist"}},
		{name: "json-single-unknown-type", ext: ".json", content: `{"cniVersion":"1.1.0","name":"badnet","type":"nosuch"}`, want: []string{"{{file}}", "type", "nosuch"}},
		{name: "dup-name", ext: ".conflist", content: strings.Replace(defJSON, `"badnet"`, `"chaos"`, 1), want: []string{"{{file}}", `"chaos" is already defined`, "10-chaos.conflist"}},
	}
	// A string cut short at each of the first quoted values.
	idx := 0
	for i := 0; i < len(full) && idx < 8; i++ {
		if full[i] == '"' && (i == 0 || full[i-1] != '\\') && strings.Count(full[:i], `"`)%2 == 0 {
			idx++
			line := strings.Count(full[:i], "\n") + 1
			fs = append(fs, badFile{name: fmt.Sprintf("toml-truncated-%d", idx), ext: ".toml", content: full[:i+2], want: []string{fmt.Sprintf("{{file}}:%d", line)}})
		}
	}
	return fs
}

// Policies: the base, line by line.
var polLines = []string{
	`[[policy]]`,                     // 1
	`name     = "bad-base"`,          // 2
	`order    = 100`,                 // 3
	`selector = "app == 'db'"`,       // 4
	``,                               // 5
	`[[policy.ingress]]`,             // 6
	`action   = "allow"`,             // 7
	`protocol = "tcp"`,               // 8
	`ports    = [5432, "8000-8080"]`, // 9
	`from     = { selector = "app == 'web'", nets = ["10.77.0.0/16"], not_nets = [] }`, // 10
	``,                                     // 11
	`[[policy.egress]]`,                    // 12
	`action = "allow"`,                     // 13
	`to     = { nets = ["10.77.0.1/32"] }`, // 14
}

func pol(name string, line int, repl string, want ...string) badFile {
	return badFile{name: name, ext: ".toml", content: withLine(polLines, line, repl), want: want}
}

// badPolicies returns the malformed policy files.
func badPolicies() []badFile {
	base := strings.Join(polLines, "\n") + "\n"
	return []badFile{
		pol("pol-unterminated-string", 2, `name = "bad-base`, "{{file}}:2"),
		pol("pol-unknown-key", 3, `colour = "red"`, "{{file}}:3", "colour"),
		pol("pol-selector-syntax", 4, `selector = "app =="`, "{{file}}:4", `"bad-base"`, "selector"),
		pol("pol-selector-number", 4, `selector = 5`, "{{file}}:4", "selector"),
		pol("pol-selector-deep", 4, `selector = "`+strings.Repeat("(", 5000)+`a == 'b'"`, "{{file}}:4", "selector"),
		pol("pol-peer-selector", 10, `from = { selector = "app ==" }`, "{{file}}:10", "from"),
		pol("pol-action-unknown", 7, `action = "permit"`, "{{file}}:7", "permit"),
		pol("pol-action-missing", 7, `# no action`, "{{file}}", `"bad-base"`, "action"),
		pol("pol-protocol-unknown", 8, `protocol = "sctp"`, "{{file}}:8", "sctp"),
		pol("pol-port-too-big", 9, `ports = [70000]`, "{{file}}:9", "70000"),
		pol("pol-port-zero", 9, `ports = [0]`, "{{file}}:9", "ports"),
		pol("pol-range-reversed", 9, `ports = ["9000-8000"]`, "{{file}}:9", "9000-8000"),
		pol("pol-port-word", 9, `ports = ["http"]`, "{{file}}:9", "http"),
		pol("pol-ports-not-array", 9, `ports = 5432`, "{{file}}:9", "ports"),
		pol("pol-ports-icmp", 8, `protocol = "icmp"`, "{{file}}", "ports"),
		pol("pol-ports-without-protocol", 8, `# any protocol`, "{{file}}", "ports"),
		pol("pol-cidr-prefix", 10, `from = { nets = ["10.0.0.0/99"] }`, "{{file}}:10", "10.0.0.0/99"),
		pol("pol-not-nets-word", 10, `from = { not_nets = ["x"] }`, "{{file}}:10", "not_nets"),
		pol("pol-nets-string", 10, `from = { nets = "10.0.0.0/8" }`, "{{file}}:10", "nets"),
		pol("pol-peer-unknown-key", 10, `from = { labels = "x" }`, "{{file}}:10", "labels"),
		pol("pol-ingress-to", 10, `to = { nets = ["10.0.0.0/8"] }`, "{{file}}:10", "to"),
		pol("pol-egress-from", 14, `from = { nets = ["10.77.0.1/32"] }`, "{{file}}:14", "from"),
		pol("pol-order-string", 3, `order = "first"`, "{{file}}:3", "order"),
		pol("pol-types-unknown", 3, `types = ["sideways"]`, "{{file}}:3", "sideways"),
		pol("pol-name-missing", 2, `# no name`, "{{file}}", "name"),
		pol("pol-name-empty", 2, `name = ""`, "{{file}}:2", "name"),
		pol("pol-invalid-utf8", 2, "name = \"bad\xff\"", "{{file}}:2"),
		{name: "pol-orphan-rule", ext: ".toml", content: "[[policy.ingress]]\naction = \"allow\"\n", want: []string{"{{file}}", "[[policy]]"}},
		{name: "pol-policy-string", ext: ".toml", content: "policy = \"x\"\n", want: []string{"{{file}}", "policy"}},
		{name: "pol-duplicate-name", ext: ".toml", content: base + "\n" + base, want: []string{"{{file}}", `"bad-base"`}},
		{name: "pol-truncated", ext: ".toml", content: base[:len(base)/2], want: []string{"{{file}}:"}},
	}
}
