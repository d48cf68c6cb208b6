package chain

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// Fuzz targets for what weir reads from operators and runtimes: network
// definition files (TOML and JSON) and the command-line argument parsers.
// `make chaos` runs each for a while; plain `go test` runs the seeds.

// checkDefError checks that a load error is one or more *DefError of the
// file, each with a line inside it.
func checkDefError(t *testing.T, path, src string, err error) {
	t.Helper()
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	lines := strings.Count(src, "\n") + 1
	for _, e := range errs {
		var de *DefError
		if !errors.As(e, &de) {
			t.Fatalf("error %T is not a *DefError: %v", e, e)
		}
		if de.File != path || !strings.HasPrefix(e.Error(), path) {
			t.Fatalf("error does not name the file %s: %v", path, e)
		}
		if de.Line < 0 || de.Line > lines+1 || de.Col < 0 {
			t.Fatalf("error at line %d col %d of a %d-line file: %v", de.Line, de.Col, lines, e)
		}
		if de.Msg == "" {
			t.Fatalf("error without a message: %#v", de)
		}
	}
}

// checkDefinition checks a loaded definition and that its JSON loads
// again, as a .conflist, to the same network.
func checkDefinition(t *testing.T, d *Definition, dir string) {
	t.Helper()
	if !json.Valid(d.Bytes) {
		t.Fatalf("the definition's JSON is not valid: %q", d.Bytes)
	}
	if d.Name == "" || d.CNIVersion == "" || len(d.Plugins) == 0 {
		t.Fatalf("loaded a definition without a name, version or plugins: %+v", d)
	}
	list, err := d.ConfList()
	if err != nil {
		t.Fatalf("libcni does not read what the loader accepted: %v\n%s", err, d.Bytes)
	}
	if list.Name != d.Name || list.CNIVersion != d.CNIVersion || len(list.Plugins) != len(d.Plugins) {
		t.Fatalf("libcni reads %s %s with %d plugins, the loader %s %s with %d", list.Name, list.CNIVersion, len(list.Plugins), d.Name, d.CNIVersion, len(d.Plugins))
	}
	for i, p := range d.Plugins {
		if p.Type == "" || p.Type != list.Plugins[i].Network.Type {
			t.Fatalf("plugin %d: type %q, libcni reads %q", i, p.Type, list.Plugins[i].Network.Type)
		}
	}
	again := filepath.Join(dir, "again.conflist")
	if err := os.WriteFile(again, d.Bytes, 0o644); err != nil {
		t.Fatal(err)
	}
	d2, err := LoadFile(again, nil)
	if err != nil {
		t.Fatalf("the compiled JSON does not load again: %v\n%s", err, d.Bytes)
	}
	var a, b any
	_ = json.Unmarshal(d.Bytes, &a)
	_ = json.Unmarshal(d2.Bytes, &b)
	if d2.Name != d.Name || d2.CNIVersion != d.CNIVersion || !reflect.DeepEqual(a, b) {
		t.Fatalf("round trip changed the network:\n%s\n%s", d.Bytes, d2.Bytes)
	}
}

func addDefSeeds(f *testing.F, exts ...string) {
	f.Helper()
	for _, ext := range exts {
		paths, _ := filepath.Glob("testdata/defs/*/*" + ext)
		for _, p := range paths {
			src, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(string(src))
		}
	}
}

func FuzzLoadTOML(f *testing.F) {
	addDefSeeds(f, ".toml")
	f.Add("cniVersion = \"1.1.0\"\nname = \"n\"\n[[plugins]]\ntype = \"bridge\"\n  [plugins.ipam]\n  type = \"host-local\"\n  ranges = [[{ subnet = \"10.1.0.0/16\" }]]\n")
	f.Add("name = \"n\"\nplugins = [ { type = \"loopback\" }, { type = \"x\", capabilities = { portMappings = true } } ]\n")
	f.Add("[[plugins]]\ntype = 'bridge'\nwhen = 1979-05-27T07:32:00Z\nbig = 9223372036854775807\nf = inf\n")
	f.Add("name = \"n\"\n[[plugins]]\ntype = \"\"\"\nbridge\"\"\"\n")
	dir := f.TempDir()
	path := filepath.Join(dir, "fuzz.toml")
	f.Fuzz(func(t *testing.T, src string) {
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		d, err := LoadFile(path, nil)
		if err != nil {
			if d != nil {
				t.Fatal("LoadFile returned a definition with an error")
			}
			checkDefError(t, path, src, err)
			return
		}
		checkDefinition(t, d, dir)
	})
}

func FuzzLoadJSON(f *testing.F) {
	for _, ext := range []string{".conflist", ".conf", ".json"} {
		paths, _ := filepath.Glob("testdata/defs/*/*" + ext)
		for _, p := range paths {
			src, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(string(src), uint8(0))
			f.Add(string(src), uint8(1))
		}
	}
	f.Add(`{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"bridge","ipam":{"type":"host-local"}}]}`, uint8(0))
	f.Add(`{"name":"n","type":"bridge"}`, uint8(1))
	f.Add(`{"cniVersion":"0.3.1","cniVersions":["0.4.0","1.1.0"],"name":"n","plugins":[{"type":"x"}]}`, uint8(2))
	f.Add(`{"plugins":[]}`, uint8(0))
	dir := f.TempDir()
	exts := []string{".conflist", ".conf", ".json"}
	f.Fuzz(func(t *testing.T, src string, kind uint8) {
		path := filepath.Join(dir, "fuzz"+exts[int(kind)%len(exts)])
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(path)
		d, err := LoadFile(path, nil)
		if err != nil {
			if d != nil {
				t.Fatal("LoadFile returned a definition with an error")
			}
			checkDefError(t, path, src, err)
			return
		}
		checkDefinition(t, d, dir)
	})
}

func FuzzParseCNIArgs(f *testing.F) {
	for _, s := range []string{"", "IP=10.1.2.3", "IgnoreUnknown=1;IP=10.1.2.3;K8S_POD_NAME=x", "A=;B=1", "a=b=c", ";", "=v", "K", "A=1;;B=2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		kvs, err := ParseCNIArgs(s)
		if err != nil {
			if !strings.Contains(err.Error(), "CNI args") {
				t.Fatalf("ParseCNIArgs(%q): the error does not say what it is about: %v", s, err)
			}
			return
		}
		parts := make([]string, 0, len(kvs))
		for _, kv := range kvs {
			if kv[0] == "" || strings.ContainsAny(kv[0], "=;") || strings.Contains(kv[1], ";") {
				t.Fatalf("ParseCNIArgs(%q) = %q: a bad pair", s, kvs)
			}
			parts = append(parts, kv[0]+"="+kv[1])
		}
		if back := strings.Join(parts, ";"); back != s {
			t.Fatalf("ParseCNIArgs(%q) = %q, which joins back to %q", s, kvs, back)
		}
	})
}

func FuzzParsePortMapping(f *testing.F) {
	for _, s := range []string{"8080:80", "53:53/udp", "127.0.0.1:8080:80/tcp", "[::1]:8080:80", "80", "8080:80/sctp", "0:80", "1.2.3:80:80", "::1:80:80", "65535:65535/UDP", "01:002"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		pm, err := ParsePortMapping(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "port mapping ") {
				t.Fatalf("ParsePortMapping(%q): the error does not say what it is about: %v", s, err)
			}
			return
		}
		if pm.HostPort < 1 || pm.HostPort > 65535 || pm.ContainerPort < 1 || pm.ContainerPort > 65535 {
			t.Fatalf("ParsePortMapping(%q) = %+v: a port out of range", s, pm)
		}
		if pm.Protocol != "tcp" && pm.Protocol != "udp" {
			t.Fatalf("ParsePortMapping(%q) = %+v: protocol", s, pm)
		}
		spec := fmt.Sprintf("%d:%d/%s", pm.HostPort, pm.ContainerPort, pm.Protocol)
		if pm.HostIP != "" {
			host := pm.HostIP
			if strings.Contains(host, ":") {
				host = "[" + host + "]"
			}
			spec = host + ":" + spec
		}
		again, err := ParsePortMapping(spec)
		if err != nil || again != pm {
			t.Fatalf("ParsePortMapping(%q) = %+v, written back as %q it parses to %+v (%v)", s, pm, spec, again, err)
		}
	})
}

func FuzzParseLabel(f *testing.F) {
	for _, s := range []string{"app=web", "app=", "=web", "app", "a=b=c", "", "ünï=cödé"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, v, err := ParseLabel(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "label ") {
				t.Fatalf("ParseLabel(%q): the error does not say what it is about: %v", s, err)
			}
			return
		}
		if k == "" || strings.Contains(k, "=") || k+"="+v != s {
			t.Fatalf("ParseLabel(%q) = %q, %q", s, k, v)
		}
	})
}

func FuzzValidateContainerID(f *testing.F) {
	for _, s := range []string{"c1", "", "..", "../x", "a/b", "a..b", ".hidden", "x\x00y", strings.Repeat("a", 128), strings.Repeat("a", 129), "ünï", "a:b", "A_b-c.d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if ValidateContainerID(id) != nil {
			return
		}
		// An id that passes is one directory name under the state
		// directory, nothing else.
		const dir = "/run/weir/containers"
		p := filepath.Join(dir, id)
		if len(id) > MaxIDLength || filepath.Dir(p) != dir || filepath.Base(p) != id || strings.ContainsAny(id, "/\x00") || strings.Contains(id, "..") || strings.HasPrefix(id, ".") || strings.HasPrefix(id, "-") {
			t.Fatalf("ValidateContainerID accepted %q", id)
		}
	})
}
