package chain

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/containernetworking/cni/libcni"
)

// The TOML form of the seed's bridge network compiles to the JSON list in
// the golden file, byte for byte (document key order, integers as
// integers), and libcni reads it.
func TestTOMLCompilesToConflist(t *testing.T) {
	file := filepath.Join("testdata", "defs", "toml", "10-mynet.toml")
	d, err := LoadFile(file, seedPlugins(t))
	if err != nil {
		t.Fatal(err)
	}
	golden, err := os.ReadFile(file[:len(file)-len(".toml")] + ".conflist.golden")
	if err != nil {
		t.Fatal(err)
	}
	if want := compactJSON(t, golden); string(d.Bytes) != want {
		t.Fatalf("Bytes =\n%s\nwant\n%s", d.Bytes, want)
	}
	if !bytes.Contains(d.Bytes, []byte(`"mtu":1450,`)) {
		t.Errorf("mtu is not the integer 1450 in %s", d.Bytes)
	}
	if d.Name != "mynet" || d.CNIVersion != "1.0.0" || len(d.Plugins) != 2 || d.Plugins[0].Type != "bridge" || d.Plugins[1].Type != "portmap" {
		t.Errorf("definition = %+v", d)
	}
	if got, want := string(d.Plugins[1].Bytes), `{"type":"portmap","capabilities":{"portMappings":true},"snat":true}`; got != want {
		t.Errorf("plugin 1 bytes = %s, want %s", got, want)
	}

	list, err := libcni.ConfListFromBytes(d.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	viaMethod, err := d.ConfList()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(list, viaMethod) {
		t.Errorf("ConfList() = %+v, want %+v", viaMethod, list)
	}
	if list.Name != "mynet" || list.CNIVersion != "1.0.0" || len(list.Plugins) != 2 {
		t.Fatalf("libcni list = %+v", list)
	}
	if n := list.Plugins[0].Network; n.Type != "bridge" || n.IPAM.Type != "host-local" {
		t.Errorf("libcni plugin 0 = %+v", n)
	}
	if n := list.Plugins[1].Network; n.Type != "portmap" || !n.Capabilities["portMappings"] {
		t.Errorf("libcni plugin 1 = %+v", n)
	}
	var bridge struct {
		MTU  json.Number `json:"mtu"`
		IPAM struct {
			Routes []map[string]string `json:"routes"`
		} `json:"ipam"`
	}
	dec := json.NewDecoder(bytes.NewReader(list.Plugins[0].Bytes))
	dec.UseNumber()
	if err := dec.Decode(&bridge); err != nil {
		t.Fatal(err)
	}
	if bridge.MTU != "1450" {
		t.Errorf("libcni sees mtu %q, want 1450", bridge.MTU)
	}
	wantRoutes := []map[string]string{{"dst": "0.0.0.0/0"}, {"dst": "10.0.0.0/8", "gw": "10.22.0.1"}}
	if !reflect.DeepEqual(bridge.IPAM.Routes, wantRoutes) {
		t.Errorf("routes = %v, want %v", bridge.IPAM.Routes, wantRoutes)
	}
}

// Decoding the compiled JSON gives back what the TOML decodes to: same keys,
// same values, same types (int64 stays int64, float64 stays float64).
func TestTOMLRoundTrip(t *testing.T) {
	seed, err := os.ReadFile(filepath.Join("testdata", "defs", "toml", "10-mynet.toml"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, src string }{
		{"seed bridge", string(seed)},
		{"every value type", `
cniVersion = "1.1.0"
name = "all"
disableGC = true

[[plugins]]
type = "x"
int = 42
negative = -17
big = 9223372036854775807
small = -9223372036854775808
hex = 0xff
float = 1.0
fraction = 0.25
exponent = 6.02e23
tiny = 1e-9
negzero = -0.0
"quoted key" = "v"
"dotted.key" = "v"
html = "<a href='x'>&amp;</a>"
unicode = "snowman \u2603 and tab\t"
multi = """
line one
line two"""
literal = 'C:\path\no-escapes'
empty = ""
ints = [1, 2, 3]
mixed = [1, "two", 3.0, true, [4], { five = 5 }]
nested = [[1, 2], ["a"]]
none = []
inline = { a = 1, b = { c = "d" } }
dotted.a = 1
dotted.b.c = 2
emptytable = {}

  [plugins.sub]
  k = "v"

  [[plugins.sub.list]]
  i = 0

  [[plugins.sub.list]]
  i = 1
  [plugins.sub.list.deep]
  j = "k"

[[plugins]]
type = "y"
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			js, _, err := compileTOML("test.toml", []byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			var fromTOML map[string]any
			if _, err := toml.Decode(tt.src, &fromTOML); err != nil {
				t.Fatal(err)
			}
			dec := json.NewDecoder(bytes.NewReader(js))
			dec.UseNumber()
			var fromJSON any
			if err := dec.Decode(&fromJSON); err != nil {
				t.Fatalf("compiled JSON does not parse: %v\n%s", err, js)
			}
			got, want := typedJSON(t, fromJSON), normalTOML(fromTOML)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("round trip differs\n got %#v\nwant %#v\njson %s", got, want, js)
			}
			if _, err := libcni.ConfListFromBytes(js); err != nil {
				t.Errorf("libcni: %v", err)
			}
		})
	}
}

// typedJSON turns json.Numbers into int64 (no '.', 'e') or float64.
func typedJSON(t *testing.T, v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = typedJSON(t, e)
		}
	case []any:
		for i, e := range v {
			v[i] = typedJSON(t, e)
		}
	case json.Number:
		if strings.ContainsAny(string(v), ".eE") {
			f, err := v.Float64()
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
		i, err := v.Int64()
		if err != nil {
			t.Fatal(err)
		}
		return i
	}
	return v
}

// normalTOML turns arrays of tables ([]map[string]any) into []any, the
// shape JSON decodes arrays to.
func normalTOML(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = normalTOML(e)
		}
	case []map[string]any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = normalTOML(e)
		}
		return out
	case []any:
		for i, e := range v {
			v[i] = normalTOML(e)
		}
	}
	return v
}

func TestJSONFloat(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{1, "1.0"}, {0, "0.0"}, {math.Copysign(0, -1), "-0.0"}, {0.25, "0.25"}, {1450.5, "1450.5"},
		{6.02e23, "6.02e+23"}, {1e21, "1e+21"}, {1e-9, "1e-09"}, {123456789, "123456789.0"},
	}
	for _, tt := range tests {
		if got := jsonFloat(tt.in); got != tt.want {
			t.Errorf("jsonFloat(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestTOMLErrors(t *testing.T) {
	tests := []struct {
		name, src string
		want      string // FILE and BIN stand for the file and the plugin directory
	}{
		{"syntax error", "cniVersion = \"1.0.0\"\nname = \"web\"\n\n[[plugins]]\ntype = \"bridge\"\nmtu = 1450 1500\n",
			`FILE:6:11: expected a top-level item to end with a newline, comment, or EOF, but got '1' instead`},
		{"unterminated string", "name = \"web\n",
			`FILE:1:12: strings cannot contain newlines`},
		{"duplicate key", "name = \"web\"\n[[plugins]]\ntype = \"bridge\"\ntype = \"macvlan\"\n",
			`FILE:4:17: Key 'plugins.type' has already been defined.`},
		{"missing type at plugins[1]", `cniVersion = "1.0.0"
name = "web"

[[plugins]]
type = "bridge"

[[plugins]]
capabilities = { portMappings = true }
snat = true
`, `FILE:7: plugins[1].type: missing`},
		{"missing type in an inline array", `name = "web"
plugins = [
  { type = "bridge" },
  { snat = true },
]
`, `FILE:4: plugins[1].type: missing`},
		{"plugin not installed", `name = "web"
[[plugins]]
type = "bridge"
[[plugins]]
type = "vxlan"  # not installed
`, `FILE:5: plugins[1].type: plugin "vxlan" not found in BIN`},
		{"ipam plugin not installed", `name = "web"
[[plugins]]
type = "bridge"
  [plugins.ipam]
  subnet = "10.22.0.0/16"
  type = "dhcp"
`, `FILE:6: plugins[0].ipam.type: plugin "dhcp" not found in BIN`},
		{"type not a string", "name = \"web\"\n\n[[plugins]]\ntype = [\"bridge\"]\n",
			`FILE:4: plugins[0].type: must be a string, not an array`},
		{"unknown version", "name = \"web\"\ncniVersion = \"0.5.0\"\n[[plugins]]\ntype = \"bridge\"\n",
			`FILE:2: cniVersion: unknown version "0.5.0" (known: 0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0)`},
		{"bad name", "# comment\nname = \"web/1\"\n[[plugins]]\ntype = \"bridge\"\n",
			`FILE:2: name: invalid network name "web/1": invalid characters found in network name`},
		{"no plugins", "name = \"web\"\nplugins = []\n",
			`FILE:2: plugins: empty; a network needs at least one plugin`},
		{"a single plugin is not a list", "name = \"web\"\ntype = \"bridge\"\n",
			`FILE: plugins: missing (this looks like a single plugin; a list holds it in plugins)`},
		{"datetime", "name = \"web\"\n[[plugins]]\ntype = \"bridge\"\n[plugins.args]\nsince = 1979-05-27T07:32:00Z\n",
			`FILE:5: plugins[0].args.since: a TOML datetime has no JSON form; quote it to make it a string`},
		{"nan", "name = \"web\"\n[[plugins]]\ntype = \"bridge\"\nratio = nan\n",
			`FILE:4: plugins[0].ratio: NaN has no JSON form`},
		{"several problems", "name = \"web\"\n[[plugins]]\nbridge = \"cni0\"\n[[plugins]]\ntype = \"vxlan\"\n",
			"FILE:2: plugins[0].type: missing\nFILE:5: plugins[1].type: plugin \"vxlan\" not found in BIN"},
	}
	bin := defsPluginDir(t, "bridge", "host-local")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeDefs(t, map[string]string{"10-web.toml": tt.src})
			file := filepath.Join(dir, "10-web.toml")
			d, err := LoadFile(file, []string{bin})
			if err == nil {
				t.Fatalf("loaded %s, want error", d.Bytes)
			}
			if want := strings.NewReplacer("FILE", file, "BIN", bin).Replace(tt.want); err.Error() != want {
				t.Errorf("error:\n%s\nwant:\n%s", err, want)
			}
		})
	}
}

// A TOML list without name or cniVersion gets them in Bytes, ahead of the
// compiled keys, which are otherwise untouched.
func TestTOMLListDefaults(t *testing.T) {
	dir := writeDefs(t, map[string]string{"20-anon.toml": "[[plugins]]\ntype = \"loopback\"\n"})
	d, err := LoadFile(filepath.Join(dir, "20-anon.toml"), seedPlugins(t))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"cniVersion":"0.1.0","name":"20-anon","plugins":[{"type":"loopback"}]}`; string(d.Bytes) != want {
		t.Errorf("Bytes = %s, want %s", d.Bytes, want)
	}
	if d.Name != "20-anon" || d.CNIVersion != "0.1.0" {
		t.Errorf("Name, CNIVersion = %q, %q", d.Name, d.CNIVersion)
	}
}

func TestTOMLIndexLines(t *testing.T) {
	src := `# header comment [[plugins]]
cniVersion = "1.0.0"
name = """
[[plugins]]
not = "a key"
"""
"quoted.key" = 'lit # not a comment'

[[plugins]]   # first
type = "bridge"
ipam.type = "host-local"
ipam.routes = [
  { dst = "0.0.0.0/0" },  # a comment inside an array
  { dst = "::/0", gw = "fe80::1" },
]

[[ plugins ]]
type = "portmap"
  [plugins . "run time"]
  x = "]"
  [[plugins.list]]
  y = 1
  [[plugins.list]]
  y = 2
`
	if _, err := toml.Decode(src, new(map[string]any)); err != nil {
		t.Fatal(err)
	}
	idx := indexTOML(src)
	tests := []struct {
		path string
		line int
	}{
		{"cniVersion", 2},
		{"name", 3},
		{`"quoted.key"`, 7},
		{"plugins", 9},
		{"plugins[0]", 9},
		{"plugins[0].type", 10},
		{"plugins[0].ipam", 11},
		{"plugins[0].ipam.type", 11},
		{"plugins[0].ipam.routes", 12},
		{"plugins[0].ipam.routes[0].dst", 13},
		{"plugins[0].ipam.routes[1]", 14},
		{"plugins[0].ipam.routes[1].gw", 14},
		{"plugins[0].missing", 9},
		{"plugins[1]", 17},
		{"plugins[1].type", 18},
		{`plugins[1]."run time".x`, 20},
		{"plugins[1].list[0].y", 22},
		{"plugins[1].list[1]", 23},
		{"plugins[1].list[1].y", 24},
		{"plugins[2].type", 9}, // no such plugin: falls back to "plugins"
		{"nothing", 0},
	}
	for _, tt := range tests {
		if got := idx.lineOf(tt.path); got != tt.line {
			t.Errorf("lineOf(%s) = %d, want %d", tt.path, got, tt.line)
		}
	}
	if got := idx.lineOf("not"); got != 0 {
		t.Errorf("a key inside a multi-line string was indexed at line %d", got)
	}
}
