package chain

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/containernetworking/cni/libcni"
)

// defsPluginDir returns a plugin path directory holding an executable file
// for each plugin type.
func defsPluginDir(t *testing.T, types ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, typ := range types {
		if err := os.WriteFile(filepath.Join(dir, typ), []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// seedPlugins is a plugin path with every type the seed's configs use.
func seedPlugins(t *testing.T) []string {
	return []string{defsPluginDir(t, "bridge", "host-local", "loopback", "flannel", "macvlan", "portmap")}
}

// writeDefs writes files (name -> content) into a fresh directory.
func writeDefs(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func compactJSON(t *testing.T, b []byte) string {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatalf("compacting %s: %v", b, err)
	}
	return buf.String()
}

func errorStrings(errs []error) []string {
	out := []string{}
	for _, err := range errs {
		out = append(out, err.Error())
	}
	return out
}

// The seed's three networks and its loopback config load as one-plugin
// lists, with the plugin bytes untouched and libcni agreeing on the result.
func TestLoadDirSeedConfigs(t *testing.T) {
	type want struct {
		name, file, ipam string
		types            []string
	}
	tests := []struct {
		dir  string
		want []want
	}{
		{"seed-bridge", []want{
			{name: "mynet", file: "10-mynet.conf", types: []string{"bridge"}, ipam: "host-local"},
			{name: "99-loopback", file: "99-loopback.conf", types: []string{"loopback"}},
		}},
		{"seed-flannel", []want{{name: "mynet", file: "10-mynet.conf", types: []string{"flannel"}}}},
		{"seed-macvlan", []want{{name: "mynet", file: "10-mynet.conf", types: []string{"macvlan"}, ipam: "host-local"}}},
	}
	path := seedPlugins(t)
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			dir := filepath.Join("testdata", "defs", tt.dir)
			set, err := LoadDir(dir, path)
			if err != nil {
				t.Fatal(err)
			}
			if len(set.Errors) > 0 {
				t.Fatalf("errors: %v", set.Errors)
			}
			var names []string
			for _, w := range tt.want {
				names = append(names, w.name)
			}
			if got := set.Names(); !reflect.DeepEqual(got, names) {
				t.Fatalf("Names() = %q, want %q", got, names)
			}
			for _, w := range tt.want {
				d, err := set.Get(w.name)
				if err != nil {
					t.Fatal(err)
				}
				file := filepath.Join(dir, w.file)
				raw, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				if d.File != file || d.CNIVersion != "0.1.0" {
					t.Errorf("File, CNIVersion = %q, %q; want %q, 0.1.0", d.File, d.CNIVersion, file)
				}
				var types []string
				for _, p := range d.Plugins {
					types = append(types, p.Type)
				}
				if !reflect.DeepEqual(types, w.types) {
					t.Errorf("plugin types = %q, want %q", types, w.types)
				}
				// The plugin's bytes are the file's, without an invented cniVersion or name.
				if got := string(d.Plugins[0].Bytes); got != strings.TrimSpace(string(raw)) {
					t.Errorf("plugin bytes = %s, want the file's %s", got, raw)
				}
				wantList := `{"cniVersion":"0.1.0","name":"` + w.name + `","plugins":[` + compactJSON(t, raw) + `]}`
				if string(d.Bytes) != wantList {
					t.Errorf("Bytes = %s\nwant    %s", d.Bytes, wantList)
				}
				list, err := d.ConfList()
				if err != nil {
					t.Fatal(err)
				}
				if list.Name != w.name || list.CNIVersion != "0.1.0" || len(list.Plugins) != 1 ||
					list.Plugins[0].Network.Type != w.types[0] || list.Plugins[0].Network.IPAM.Type != w.ipam {
					t.Errorf("libcni list = %+v (plugin %+v)", list, list.Plugins[0].Network)
				}
				// libcni's own reading of the same file agrees on the plugin.
				conf, err := libcni.ConfFromFile(file)
				if err != nil {
					t.Fatal(err)
				}
				if a, b := compactJSON(t, conf.Bytes), compactJSON(t, list.Plugins[0].Bytes); !jsonEqual(t, a, b) {
					t.Errorf("libcni plugin = %s, ours = %s", a, b)
				}
			}
		})
	}
}

func jsonEqual(t *testing.T, a, b string) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal([]byte(a), &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(b), &y); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(x, y)
}

func TestLoadFileJSONShapes(t *testing.T) {
	tests := []struct {
		file, content string
		wantName      string
		wantVersion   string
		wantTypes     []string
		wantBytes     string
	}{
		{
			file:        "10-list.conflist",
			content:     `{"cniVersion": "1.1.0", "name": "web", "disableCheck": true, "plugins": [{"type": "bridge", "x": {"y": [1, 2.5]}}, {"type": "portmap", "capabilities": {"portMappings": true}}]}`,
			wantName:    "web",
			wantVersion: "1.1.0",
			wantTypes:   []string{"bridge", "portmap"},
			wantBytes:   `{"cniVersion": "1.1.0", "name": "web", "disableCheck": true, "plugins": [{"type": "bridge", "x": {"y": [1, 2.5]}}, {"type": "portmap", "capabilities": {"portMappings": true}}]}`,
		},
		{
			// A list without name or version gets both, ahead of its own keys.
			file:        "20-anon.conflist",
			content:     `{"plugins": [{"type": "loopback"}]}`,
			wantName:    "20-anon",
			wantVersion: "0.1.0",
			wantTypes:   []string{"loopback"},
			wantBytes:   `{"cniVersion":"0.1.0","name":"20-anon","plugins": [{"type": "loopback"}]}`,
		},
		{
			file:        "30-list.json",
			content:     `{"cniVersion": "0.4.0", "name": "j", "plugins": [{"type": "macvlan", "master": "eth0"}]}`,
			wantName:    "j",
			wantVersion: "0.4.0",
			wantTypes:   []string{"macvlan"},
			wantBytes:   `{"cniVersion": "0.4.0", "name": "j", "plugins": [{"type": "macvlan", "master": "eth0"}]}`,
		},
		{
			file:        "40-single.json",
			content:     `{"cniVersion": "0.3.1", "name": "s", "type": "flannel", "delegate": {"hairpinMode": true}}`,
			wantName:    "s",
			wantVersion: "0.3.1",
			wantTypes:   []string{"flannel"},
			wantBytes:   `{"cniVersion":"0.3.1","name":"s","plugins":[{"cniVersion":"0.3.1","name":"s","type":"flannel","delegate":{"hairpinMode":true}}]}`,
		},
	}
	path := seedPlugins(t)
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			dir := writeDefs(t, map[string]string{tt.file: tt.content})
			d, err := LoadFile(filepath.Join(dir, tt.file), path)
			if err != nil {
				t.Fatal(err)
			}
			var types []string
			for _, p := range d.Plugins {
				types = append(types, p.Type)
			}
			if d.Name != tt.wantName || d.CNIVersion != tt.wantVersion || !reflect.DeepEqual(types, tt.wantTypes) {
				t.Errorf("got %q %q %q, want %q %q %q", d.Name, d.CNIVersion, types, tt.wantName, tt.wantVersion, tt.wantTypes)
			}
			if string(d.Bytes) != tt.wantBytes {
				t.Errorf("Bytes = %s\nwant    %s", d.Bytes, tt.wantBytes)
			}
			list, err := d.ConfList()
			if err != nil {
				t.Fatal(err)
			}
			if list.Name != tt.wantName || list.CNIVersion != tt.wantVersion || len(list.Plugins) != len(tt.wantTypes) {
				t.Errorf("libcni list %q %q with %d plugins", list.Name, list.CNIVersion, len(list.Plugins))
			}
		})
	}
}

func TestLoadFileJSONErrors(t *testing.T) {
	tests := []struct {
		name, file, content string
		want                string // with DIR and BIN standing for the directories
	}{
		{"missing type", "10-mynet.conf", `{"name": "mynet"}`,
			`DIR/10-mynet.conf: type: missing`},
		{"missing type in list", "10-mynet.conflist", `{"cniVersion": "1.0.0", "name": "mynet", "plugins": [{"type": "loopback"}, {"bridge": "cni0"}]}`,
			`DIR/10-mynet.conflist: plugins[1].type: missing`},
		{"type not a string", "10-n.conflist", `{"name": "n", "plugins": [{"type": 7}]}`,
			`DIR/10-n.conflist: plugins[0].type: must be a string, not a number`},
		{"empty type", "10-n.conf", `{"name": "n", "type": ""}`,
			`DIR/10-n.conf: type: empty`},
		{"type is a path", "10-n.conf", `{"name": "n", "type": "../bin/bridge"}`,
			`DIR/10-n.conf: type: invalid plugin type "../bin/bridge": must be a file name`},
		{"plugin not an object", "10-n.conflist", `{"name": "n", "plugins": ["bridge"]}`,
			`DIR/10-n.conflist: plugins[0]: must be a plugin object, not a string`},
		{"unknown version", "10-n.conflist", `{"cniVersion": "0.9.9", "name": "n", "plugins": [{"type": "bridge"}]}`,
			`DIR/10-n.conflist: cniVersion: unknown version "0.9.9" (known: 0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0)`},
		{"version not a string", "10-n.conf", `{"cniVersion": 1, "name": "n", "type": "bridge"}`,
			`DIR/10-n.conf: cniVersion: must be a string, not a number`},
		{"no plugins", "10-n.conflist", `{"cniVersion": "1.0.0", "name": "n", "plugins": []}`,
			`DIR/10-n.conflist: plugins: empty; a network needs at least one plugin`},
		{"plugins not an array", "10-n.conflist", `{"name": "n", "plugins": {"type": "bridge"}}`,
			`DIR/10-n.conflist: plugins: must be an array of plugin objects, not an object`},
		{"single plugin in a conflist", "10-n.conflist", `{"name": "n", "type": "bridge"}`,
			`DIR/10-n.conflist: plugins: missing (this looks like a single plugin; a list holds it in plugins)`},
		{"list in a conf", "10-n.conf", `{"name": "n", "plugins": [{"type": "bridge"}]}`,
			`DIR/10-n.conf: type: missing (this looks like a configuration list; name the file .conflist)`},
		{"plugin not installed", "10-n.conflist", `{"name": "n", "plugins": [{"type": "loopback"}, {"type": "vxlan"}]}`,
			`DIR/10-n.conflist: plugins[1].type: plugin "vxlan" not found in BIN`},
		{"ipam plugin not installed", "10-n.conf", `{"name": "n", "type": "bridge", "ipam": {"type": "dhcp"}}`,
			`DIR/10-n.conf: ipam.type: plugin "dhcp" not found in BIN`},
		{"plugin not executable", "10-n.conf", `{"name": "n", "type": "noexec"}`,
			`DIR/10-n.conf: type: plugin "noexec" at BIN/noexec is not executable`},
		{"bad name", "10-n.conf", `{"name": "my net", "type": "bridge"}`,
			`DIR/10-n.conf: name: invalid network name "my net": invalid characters found in network name`},
		{"name not a string", "10-n.conf", `{"name": ["n"], "type": "bridge"}`,
			`DIR/10-n.conf: name: must be a string, not an array`},
		{"file name not a network name", "my net.conf", `{"type": "bridge"}`,
			`DIR/my net.conf: the file name "my net" is not a valid network name (invalid characters found in network name); set name`},
		{"several problems", "10-n.conflist", `{"cniVersion": "2.0.0", "name": "n", "plugins": [{"type": "vxlan"}, {}]}`,
			"DIR/10-n.conflist: cniVersion: unknown version \"2.0.0\" (known: 0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0)\n" +
				"DIR/10-n.conflist: plugins[0].type: plugin \"vxlan\" not found in BIN\n" +
				"DIR/10-n.conflist: plugins[1].type: missing"},
		{"libcni rejects", "10-n.conflist", `{"name": "n", "disableCheck": "maybe", "plugins": [{"type": "bridge"}]}`,
			`DIR/10-n.conflist: error parsing configuration list: invalid value "maybe" for disableCheck`},
		{"syntax error", "10-mynet.conf", "{\n    \"name\": \"mynet\",\n    \"type\" \"bridge\"\n}\n",
			`DIR/10-mynet.conf:3:12: invalid character '"' after object key`},
		{"trailing comma", "10-mynet.conflist", "{\n  \"name\": \"mynet\",\n  \"plugins\": [\n    {\"type\": \"bridge\"},\n  ]\n}\n",
			`DIR/10-mynet.conflist:5:3: invalid character ']' looking for beginning of value`},
		{"truncated", "10-mynet.conf", "{\"name\": \"mynet\",\n",
			`DIR/10-mynet.conf:1:18: unexpected end of JSON input`},
		{"not an object", "10-n.conflist", `[{"type": "bridge"}]`,
			`DIR/10-n.conflist: must be a JSON object, not an array`},
		{"null", "10-n.json", `null`,
			`DIR/10-n.json: must be a JSON object, not null`},
		{"empty file", "10-n.conf", " \n",
			`DIR/10-n.conf: empty file`},
	}
	bin := defsPluginDir(t, "bridge", "host-local", "loopback")
	if err := os.WriteFile(filepath.Join(bin, "noexec"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeDefs(t, map[string]string{tt.file: tt.content})
			d, err := LoadFile(filepath.Join(dir, tt.file), []string{bin})
			if err == nil {
				t.Fatalf("loaded %s, want error", d.Bytes)
			}
			want := strings.NewReplacer("DIR", dir, "BIN", bin).Replace(tt.want)
			if err.Error() != want {
				t.Errorf("error:\n%s\nwant:\n%s", err, want)
			}
			var de *DefError
			if !errors.As(err, &de) || de.File != filepath.Join(dir, tt.file) {
				t.Errorf("error %#v is not a *DefError naming the file", err)
			}
		})
	}
}

func TestLoadFilePluginPath(t *testing.T) {
	conf := `{"name": "n", "type": "bridge", "ipam": {"type": "host-local"}}`
	first := defsPluginDir(t, "bridge")
	second := defsPluginDir(t, "host-local")
	noexec := t.TempDir()
	if err := os.WriteFile(filepath.Join(noexec, "bridge"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path []string
		want string // "" for success
	}{
		{"found across directories", []string{first, second}, ""},
		{"non-executable file shadowed by a later executable", []string{noexec, first, second}, ""},
		{"no plugin path skips the check", nil, ""},
		{"missing from the path", []string{first}, `DIR/10-n.conf: ipam.type: plugin "host-local" not found in ` + first},
		{"listed path in the message", []string{noexec, second}, `DIR/10-n.conf: type: plugin "bridge" at ` + noexec + `/bridge is not executable`},
	}
	dir := writeDefs(t, map[string]string{"10-n.conf": conf})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadFile(filepath.Join(dir, "10-n.conf"), tt.path)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if want := strings.ReplaceAll(tt.want, "DIR", dir); got != want {
				t.Errorf("error = %q, want %q", got, want)
			}
		})
	}
}

// One bad file is reported and does not hide the good ones; files that are
// not definitions are ignored.
func TestLoadDirKeepsGoodFiles(t *testing.T) {
	dir := writeDefs(t, map[string]string{
		"10-a.conflist":   `{"cniVersion": "1.0.0", "name": "a", "plugins": [{"type": "bridge"}]}`,
		"20-broken.toml":  "name = \"broken\"\nplugins = [\n",
		"30-b.conf":       `{"cniVersion": "0.4.0", "name": "b", "type": "macvlan", "master": "eth0"}`,
		"40-c.json":       `{"name": "c", "type": "bridge",}`,
		"50-d.toml":       "name = \"d\"\n[[plugins]]\ntype = \"loopback\"\n",
		"60-e.conflist":   `{"name": "e", "plugins": [{"type": "nope"}]}`,
		"README.md":       "# not a definition",
		"10-a.conflist~":  "backup, ignored",
		".70-hidden.conf": `{"name": "hidden", "type": "nope"}`,
	})
	if err := os.Mkdir(filepath.Join(dir, "80-dir.conf"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "81-fifo.conf"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("30-b.conf", filepath.Join(dir, "82-link.conf")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("nowhere.conf", filepath.Join(dir, "83-dangling.conf")); err != nil {
		t.Fatal(err)
	}
	path := seedPlugins(t)
	set, err := LoadDir(dir, path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := set.Names(), []string{"a", "b", "d"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Names() = %q, want %q", got, want)
	}
	var files []string
	for _, d := range set.Definitions() {
		files = append(files, filepath.Base(d.File))
	}
	if want := []string{"10-a.conflist", "30-b.conf", "50-d.toml"}; !reflect.DeepEqual(files, want) {
		t.Errorf("Definitions() files = %q, want %q", files, want)
	}
	wantErrs := []string{
		dir + "/20-broken.toml:2:12: unexpected EOF; expected value",
		dir + "/40-c.json:1:32: invalid character '}' looking for beginning of object key string",
		dir + `/60-e.conflist: plugins[0].type: plugin "nope" not found in ` + path[0],
		dir + `/82-link.conf: name: network "b" is already defined in ` + dir + `/30-b.conf`,
		dir + `/83-dangling.conf: reading: no such file or directory`,
	}
	if got := errorStrings(set.Errors); !reflect.DeepEqual(got, wantErrs) {
		t.Errorf("Errors =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantErrs, "\n"))
	}
	err = Validate(dir, path)
	if got, want := err.Error(), strings.Join(wantErrs, "\n"); got != want {
		t.Errorf("Validate =\n%s\nwant\n%s", got, want)
	}
}

func TestLoadDirDuplicateNames(t *testing.T) {
	tests := []struct {
		name     string
		files    map[string]string
		wantErrs []string // DIR and BIN stand for the directories
		wantFile string   // the file Get("mynet") returns
		wantGet  string   // or the error it returns
	}{
		{
			name: "second file is the error",
			files: map[string]string{
				"10-a.conf":     `{"name": "mynet", "type": "bridge"}`,
				"20-b.toml":     "cniVersion = \"1.0.0\"\nname = \"mynet\"\n[[plugins]]\ntype = \"macvlan\"\n",
				"30-c.conf":     `{"name": "other", "type": "loopback"}`,
				"40-d.conflist": `{"name": "mynet", "plugins": [{"type": "loopback"}]}`,
			},
			wantErrs: []string{
				`DIR/20-b.toml:2: name: network "mynet" is already defined in DIR/10-a.conf`,
				`DIR/40-d.conflist: name: network "mynet" is already defined in DIR/10-a.conf`,
			},
			wantFile: "10-a.conf",
		},
		{
			// A broken first definition keeps its name: fixing it later must
			// not silently switch the network to another file.
			name: "broken first file keeps the name",
			files: map[string]string{
				"10-a.conf": `{"name": "mynet", "type": "vxlan"}`,
				"20-b.conf": `{"name": "mynet", "type": "bridge"}`,
			},
			wantErrs: []string{
				`DIR/10-a.conf: type: plugin "vxlan" not found in BIN`,
				`DIR/20-b.conf: name: network "mynet" is already defined in DIR/10-a.conf`,
			},
			wantGet: `network "mynet" is not usable: DIR/10-a.conf: type: plugin "vxlan" not found in BIN`,
		},
		{
			// A file's name without extension counts as its name.
			name: "file name against a name key",
			files: map[string]string{
				"mynet.conf":  `{"type": "loopback"}`,
				"zz.conflist": `{"name": "mynet", "plugins": [{"type": "bridge"}]}`,
			},
			wantErrs: []string{`DIR/zz.conflist: name: network "mynet" is already defined in DIR/mynet.conf`},
			wantFile: "mynet.conf",
		},
	}
	bin := defsPluginDir(t, "bridge", "macvlan", "loopback")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeDefs(t, tt.files)
			r := strings.NewReplacer("DIR", dir, "BIN", bin)
			set, err := LoadDir(dir, []string{bin})
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, e := range tt.wantErrs {
				want = append(want, r.Replace(e))
			}
			if got := errorStrings(set.Errors); !reflect.DeepEqual(got, want) {
				t.Errorf("Errors =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			d, err := set.Get("mynet")
			switch {
			case tt.wantFile != "" && err != nil:
				t.Errorf("Get: %v", err)
			case tt.wantFile != "" && d.File != filepath.Join(dir, tt.wantFile):
				t.Errorf("Get returned %s, want %s", d.File, tt.wantFile)
			case tt.wantGet != "" && (err == nil || err.Error() != r.Replace(tt.wantGet)):
				t.Errorf("Get error = %v, want %s", err, r.Replace(tt.wantGet))
			}
		})
	}
}

func TestSetGetUnknown(t *testing.T) {
	dir := filepath.Join("testdata", "defs", "seed-bridge")
	set, err := LoadDir(dir, seedPlugins(t))
	if err != nil {
		t.Fatal(err)
	}
	_, err = set.Get("web")
	want := `network "web" is not defined in testdata/defs/seed-bridge (known: mynet, 99-loopback)`
	if err == nil || err.Error() != want {
		t.Fatalf("Get error = %v, want %s", err, want)
	}
	var ue *UnknownNetworkError
	if !errors.As(err, &ue) || ue.Name != "web" || !reflect.DeepEqual(ue.Known, []string{"mynet", "99-loopback"}) {
		t.Errorf("error %#v", err)
	}

	empty, err := LoadDir(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := empty.Get("web"); err == nil || !strings.HasSuffix(err.Error(), "(known: none)") {
		t.Errorf("Get on an empty set = %v", err)
	}
}

func TestLoadDirUnreadable(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	_, err := LoadDir(missing, nil)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadDir(missing) = %v, want a not-exist error", err)
	}
	if want := "reading network definitions: open " + missing + ": no such file or directory"; err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	if err := Validate(missing, nil); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Validate(missing) = %v", err)
	}
}

// Each load reads the files afresh: an edit applies to the next load.
func TestLoadDirPicksUpEdits(t *testing.T) {
	dir := writeDefs(t, map[string]string{"10-web.toml": "name = \"web\"\n[[plugins]]\ntype = \"bridge\"\nmtu = 1500\n"})
	path := seedPlugins(t)
	load := func() *Set {
		t.Helper()
		set, err := LoadDir(dir, path)
		if err != nil {
			t.Fatal(err)
		}
		return set
	}
	before, err := load().Get("web")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "10-web.toml"), []byte("name = \"web\"\n[[plugins]]\ntype = \"bridge\"\nmtu = 9000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "20-db.conf"), []byte(`{"name": "db", "type": "macvlan"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	set := load()
	after, err := set.Get("web")
	if err != nil {
		t.Fatal(err)
	}
	if got := string(before.Plugins[0].Bytes); got != `{"type":"bridge","mtu":1500}` {
		t.Errorf("before = %s", got)
	}
	if got := string(after.Plugins[0].Bytes); got != `{"type":"bridge","mtu":9000}` {
		t.Errorf("after = %s", got)
	}
	if got := set.Names(); !reflect.DeepEqual(got, []string{"web", "db"}) {
		t.Errorf("Names() = %q", got)
	}
}

func TestMarshalJSONIndent(t *testing.T) {
	d, err := LoadFile(filepath.Join("testdata", "defs", "seed-bridge", "99-loopback.conf"), nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := d.MarshalJSONIndent("", "  ")
	if err != nil {
		t.Fatal(err)
	}
	want := "{\n  \"cniVersion\": \"0.1.0\",\n  \"name\": \"99-loopback\",\n  \"plugins\": [\n    {\n      \"type\": \"loopback\"\n    }\n  ]\n}"
	if string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestDefErrorRendering(t *testing.T) {
	tests := []struct {
		err  DefError
		want string
	}{
		{DefError{File: "/etc/cni/net.d/10-web.toml", Line: 7, Path: "plugins[1].type", Msg: "missing"}, "/etc/cni/net.d/10-web.toml:7: plugins[1].type: missing"},
		{DefError{File: "/a.conf", Line: 3, Col: 12, Msg: "invalid character"}, "/a.conf:3:12: invalid character"},
		{DefError{File: "/a.conf", Path: "type", Msg: "missing"}, "/a.conf: type: missing"},
		{DefError{File: "/a.conf", Col: 4, Msg: "x"}, "/a.conf: x"},
		{DefError{Path: "name", Msg: "empty"}, "name: empty"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
	cause := errors.New("cause")
	if err := (&DefError{File: "f", Err: cause}); !errors.Is(err, cause) {
		t.Error("DefError does not unwrap to its cause")
	}
}

// LoadDir runs on every attach: it must stay cheap (no forks, one stat per
// plugin type and directory).
func BenchmarkLoadDir(b *testing.B) {
	dir := b.TempDir()
	bin := b.TempDir()
	for _, typ := range []string{"bridge", "host-local", "portmap", "loopback"} {
		if err := os.WriteFile(filepath.Join(bin, typ), nil, 0o755); err != nil {
			b.Fatal(err)
		}
	}
	toml, err := os.ReadFile(filepath.Join("testdata", "defs", "toml", "10-mynet.toml"))
	if err != nil {
		b.Fatal(err)
	}
	conf, err := os.ReadFile(filepath.Join("testdata", "defs", "seed-bridge", "10-mynet.conf"))
	if err != nil {
		b.Fatal(err)
	}
	for i := range 10 {
		n := strconv.Itoa(i)
		if err := os.WriteFile(filepath.Join(dir, "t"+n+".toml"), bytes.Replace(toml, []byte(`"mynet"`), []byte(`"t`+n+`"`), 1), 0o644); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "c"+n+".conf"), bytes.Replace(conf, []byte(`"mynet"`), []byte(`"c`+n+`"`), 1), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		set, err := LoadDir(dir, []string{bin})
		if err != nil || len(set.Errors) > 0 || len(set.Names()) != 20 {
			b.Fatalf("LoadDir: %v %v %v", err, set.Errors, set.Names())
		}
	}
}
