package chain

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/utils"
)

// knownVersions are the CNI spec versions a definition may declare; treat
// it as a constant.
var knownVersions = []string{"0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"}

// DefaultVersion is the cniVersion of a definition that declares none.
const DefaultVersion = "0.1.0"

// builder validates one file's definition, collecting every problem.
type builder struct {
	file   string
	lineOf func(path string) int // TOML only
	finder *pluginFinder
	name   string
	errs   []error
}

func (b *builder) fail(path, format string, a ...any) {
	e := &DefError{File: b.file, Path: path, Msg: fmt.Sprintf(format, a...), Network: b.name}
	if b.lineOf != nil {
		e.Line = b.lineOf(path)
	}
	b.errs = append(b.errs, e)
}

func (b *builder) err() error { return errors.Join(b.errs...) }

// list builds a definition from a configuration list whose members are top;
// data is the whole list.
func (b *builder) list(top map[string]json.RawMessage, data []byte) (*Definition, error) {
	name, hasName := b.nameOf(top)
	version, hasVersion := b.versionOf(top)
	d := &Definition{Name: name, File: b.file}
	if b.lineOf != nil {
		d.nameLine = b.lineOf("name")
	}
	raw, ok := top["plugins"]
	var plugins []json.RawMessage
	switch {
	case !ok && top["type"] != nil:
		b.fail("plugins", "missing (this looks like a single plugin; a list holds it in plugins)")
	case !ok:
		b.fail("plugins", "missing")
	case json.Unmarshal(raw, &plugins) != nil:
		b.fail("plugins", "must be an array of plugin objects, not %s", jsonKind(raw))
	case len(plugins) == 0:
		b.fail("plugins", "empty; a network needs at least one plugin")
	}
	for i, p := range plugins {
		if pd, ok := b.plugin(indexPath("plugins", i), p); ok {
			d.Plugins = append(d.Plugins, pd)
		}
	}
	if len(b.errs) > 0 {
		return nil, b.err()
	}
	d.Bytes = withListDefaults(data, name, hasName, version, hasVersion)
	return b.finish(d)
}

// single builds a one-plugin definition from a plugin configuration.
func (b *builder) single(top map[string]json.RawMessage, data []byte, hint bool) (*Definition, error) {
	name, _ := b.nameOf(top)
	version, _ := b.versionOf(top)
	d := &Definition{Name: name, File: b.file}
	if _, ok := top["type"]; !ok && hint && top["plugins"] != nil {
		b.fail("type", "missing (this looks like a configuration list; name the file .conflist)")
	} else if pd, ok := b.plugin("", data); ok {
		d.Plugins = append(d.Plugins, pd)
	}
	if len(b.errs) > 0 {
		return nil, b.err()
	}
	var buf bytes.Buffer
	buf.WriteString(`{"cniVersion":` + jsonQuote(version) + `,"name":` + jsonQuote(name) + `,"plugins":[`)
	if err := json.Compact(&buf, data); err != nil {
		return nil, &DefError{File: b.file, Msg: err.Error(), Err: err}
	}
	buf.WriteString("]}")
	d.Bytes = buf.Bytes()
	return b.finish(d)
}

// finish checks that libcni reads the list as validated and records the
// version it settles on.
func (b *builder) finish(d *Definition) (*Definition, error) {
	list, err := libcni.NetworkConfFromBytes(d.Bytes)
	if err != nil {
		return nil, &DefError{File: b.file, Msg: err.Error(), Network: d.Name, Err: err}
	}
	d.CNIVersion = list.CNIVersion
	if !slices.Contains(knownVersions, d.CNIVersion) { // only via cniVersions
		b.fail("cniVersions", "unknown version %q (known: %s)", d.CNIVersion, strings.Join(knownVersions, ", "))
		return nil, b.err()
	}
	return d, nil
}

// nameOf returns the definition's name: its "name", else the file's name
// without extension.
func (b *builder) nameOf(top map[string]json.RawMessage) (string, bool) {
	raw, ok := top["name"]
	if !ok {
		b.name = strings.TrimSuffix(filepath.Base(b.file), filepath.Ext(b.file))
		if err := utils.ValidateNetworkName(b.name); err != nil {
			b.fail("", "the file name %q is not a valid network name (%s); set name", b.name, err.Msg)
		}
		return b.name, false
	}
	name, ok := jsonString(raw)
	if !ok {
		b.fail("name", "must be a string, not %s", jsonKind(raw))
		return "", true
	}
	if err := utils.ValidateNetworkName(name); err != nil {
		b.fail("name", "invalid network name %q: %s", name, err.Msg)
	}
	b.name = name
	return name, true
}

func (b *builder) versionOf(top map[string]json.RawMessage) (string, bool) {
	raw, ok := top["cniVersion"]
	if !ok {
		return DefaultVersion, false
	}
	v, ok := jsonString(raw)
	switch {
	case !ok:
		b.fail("cniVersion", "must be a string, not %s", jsonKind(raw))
	case !slices.Contains(knownVersions, v):
		b.fail("cniVersion", "unknown version %q (known: %s)", v, strings.Join(knownVersions, ", "))
	}
	return v, true
}

// plugin checks one plugin configuration at path ("" for a single-plugin
// file): an object with a type that is installed, as is its IPAM plugin.
func (b *builder) plugin(path string, raw json.RawMessage) (PluginDef, bool) {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil || m == nil {
		b.fail(path, "must be a plugin object, not %s", jsonKind(raw))
		return PluginDef{}, false
	}
	typ, ok := b.pluginType(joinPath(path, "type"), m["type"])
	if !ok {
		return PluginDef{}, false
	}
	var ipam map[string]json.RawMessage
	if json.Unmarshal(m["ipam"], &ipam) == nil {
		if t, ok := jsonString(ipam["type"]); ok && t != "" {
			b.pluginType(joinPath(joinPath(path, "ipam"), "type"), ipam["type"])
		}
	}
	return PluginDef{Type: typ, Bytes: bytes.TrimSpace(raw)}, true
}

func (b *builder) pluginType(path string, raw json.RawMessage) (string, bool) {
	if raw == nil {
		b.fail(path, "missing")
		return "", false
	}
	typ, ok := jsonString(raw)
	switch {
	case !ok:
		b.fail(path, "must be a string, not %s", jsonKind(raw))
	case typ == "":
		b.fail(path, "empty")
	case strings.ContainsRune(typ, os.PathSeparator) || typ == "." || typ == "..":
		b.fail(path, "invalid plugin type %q: must be a file name", typ)
	default:
		if msg := b.finder.check(typ); msg != "" {
			b.fail(path, "%s", msg)
			return "", false
		}
		return typ, true
	}
	return "", false
}

// withListDefaults returns list with "cniVersion" and "name" members added
// when it lacks them, so that libcni reads the same name and version as the
// loader; everything else is kept byte for byte.
func withListDefaults(list []byte, name string, hasName bool, version string, hasVersion bool) []byte {
	if hasName && hasVersion {
		return list
	}
	var add string
	if !hasVersion {
		add += `"cniVersion":` + jsonQuote(version) + ","
	}
	if !hasName {
		add += `"name":` + jsonQuote(name) + ","
	}
	// The list is a non-empty object (it has plugins): insert after '{'.
	i := bytes.IndexByte(list, '{') + 1
	out := make([]byte, 0, len(list)+len(add))
	out = append(out, list[:i]...)
	out = append(out, add...)
	return append(out, list[i:]...)
}

// pluginFinder looks plugin types up in the plugin path, once per type.
type pluginFinder struct {
	path []string
	seen map[string]string // type -> problem ("" when installed)
}

func newPluginFinder(path []string) *pluginFinder {
	return &pluginFinder{path: path, seen: map[string]string{}}
}

// check returns "" when typ is an executable file in the plugin path (or
// when there is no plugin path to check), else what is wrong.
func (f *pluginFinder) check(typ string) string {
	if len(f.path) == 0 {
		return ""
	}
	if msg, ok := f.seen[typ]; ok {
		return msg
	}
	msg := fmt.Sprintf("plugin %q not found in %s", typ, strings.Join(f.path, string(os.PathListSeparator)))
	for _, dir := range f.path {
		file, err := invoke.FindInPath(typ, []string{dir})
		if err != nil {
			continue
		}
		if fi, err := os.Stat(file); err == nil && fi.Mode().Perm()&0o111 != 0 {
			msg = ""
			break
		}
		msg = fmt.Sprintf("plugin %q at %s is not executable", typ, file)
	}
	f.seen[typ] = msg
	return msg
}
