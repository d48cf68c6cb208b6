package chain

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/containernetworking/cni/libcni"
)

// Definition is one validated network: a CNI network configuration list.
type Definition struct {
	Name       string // the list's name, or its file's name without extension
	File       string // the file it was read from
	CNIVersion string // the list's version; DefaultVersion when it declares none
	Plugins    []PluginDef
	// Bytes is the whole configuration list as JSON, as libcni reads it: the
	// file's own JSON (compiled from TOML, or a single plugin wrapped in a
	// one-plugin list), with "name" and "cniVersion" added when the file
	// leaves them out.
	Bytes []byte

	nameLine int // line of the name key in a TOML file, for errors
}

// PluginDef is one link of a network's chain.
type PluginDef struct {
	Type  string
	Bytes []byte // the plugin's configuration JSON, untouched
}

// ConfList returns the definition as libcni's configuration list.
func (d *Definition) ConfList() (*libcni.NetworkConfigList, error) {
	list, err := libcni.ConfListFromBytes(d.Bytes)
	if err != nil {
		return nil, fmt.Errorf("network %q from %s: %w", d.Name, d.File, err)
	}
	return list, nil
}

// MarshalJSONIndent returns the configuration list as indented JSON.
func (d *Definition) MarshalJSONIndent(prefix, indent string) ([]byte, error) {
	var buf bytes.Buffer
	if err := json.Indent(&buf, d.Bytes, prefix, indent); err != nil {
		return nil, fmt.Errorf("indenting network %q: %w", d.Name, err)
	}
	return buf.Bytes(), nil
}

// IsDefinitionFile reports whether LoadDir reads the file with this name:
// *.toml, *.conflist, *.conf and *.json, except hidden files (editors' and
// atomic writers' temporary files start with a dot).
func IsDefinitionFile(name string) bool {
	if strings.HasPrefix(name, ".") {
		return false
	}
	switch filepath.Ext(name) {
	case ".toml", ".conflist", ".conf", ".json":
		return true
	}
	return false
}

// LoadFile reads and validates one definition file. The plugin types it
// names must be executable files in one of pluginPath's directories; an
// empty pluginPath skips that check. The error is a *DefError, or several
// joined with errors.Join when the file has several problems.
func LoadFile(path string, pluginPath []string) (*Definition, error) {
	return loadFile(path, newPluginFinder(pluginPath))
}

func loadFile(path string, finder *pluginFinder) (*Definition, error) {
	// Only regular files: reading a FIFO would block every attach.
	var data []byte
	fi, err := os.Stat(path)
	if err == nil && !fi.Mode().IsRegular() {
		return nil, &DefError{File: path, Msg: "not a regular file"}
	}
	if err == nil {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		msg := err.Error()
		var pe *fs.PathError
		if errors.As(err, &pe) {
			msg = pe.Err.Error()
		}
		return nil, &DefError{File: path, Msg: "reading: " + msg, Err: err}
	}
	b := &builder{file: path, finder: finder}
	ext := filepath.Ext(path)
	if ext == ".toml" {
		js, idx, err := compileTOML(path, data)
		if err != nil {
			return nil, err
		}
		b.lineOf = idx.lineOf
		data = js
	}
	top, err := jsonObject(path, data)
	if err != nil {
		return nil, err
	}
	switch ext {
	case ".conf":
		return b.single(top, data, true)
	case ".json":
		if _, ok := top["plugins"]; !ok {
			return b.single(top, data, false)
		}
	}
	return b.list(top, data)
}

// Set is the network definitions of one directory, read at one moment.
type Set struct {
	Dir string
	// Errors holds one error per file that failed to load, in file order.
	Errors []error

	defs    map[string]*Definition
	names   []string          // good definitions, in file order
	claimed map[string]string // name -> the file that defined it first
	bad     map[string]error  // names whose first file failed to load
}

// LoadDir reads every definition file in dir (see IsDefinitionFile) in
// file-name order. Files that fail to load, and later files reusing a name,
// are reported in Set.Errors and leave the others usable; the error is only
// for a directory that cannot be read. Nothing is cached: each call reads the
// files afresh, so edits apply to the next operation.
func LoadDir(dir string, pluginPath []string) (*Set, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading network definitions: %w", err)
	}
	s := &Set{Dir: dir, defs: map[string]*Definition{}, claimed: map[string]string{}, bad: map[string]error{}}
	finder := newPluginFinder(pluginPath)
	for _, e := range entries {
		// Skip directories, FIFOs, sockets and devices; follow symlinks.
		fileOrLink := e.Type().IsRegular() || e.Type()&fs.ModeSymlink != 0
		if !fileOrLink || !IsDefinitionFile(e.Name()) {
			continue
		}
		s.add(loadFile(filepath.Join(dir, e.Name()), finder))
	}
	return s, nil
}

func (s *Set) add(d *Definition, err error) {
	if err != nil {
		s.Errors = append(s.Errors, err)
		var de *DefError
		if errors.As(err, &de) && de.Network != "" {
			if _, dup := s.claimed[de.Network]; !dup {
				s.claimed[de.Network] = de.File
				s.bad[de.Network] = err
			}
		}
		return
	}
	if first, dup := s.claimed[d.Name]; dup {
		s.Errors = append(s.Errors, &DefError{File: d.File, Line: d.nameLine, Path: "name", Network: d.Name,
			Msg: fmt.Sprintf("network %q is already defined in %s", d.Name, first)})
		return
	}
	s.claimed[d.Name] = d.File
	s.defs[d.Name] = d
	s.names = append(s.names, d.Name)
}

// Get returns the definition named name. The error is an
// *UnknownNetworkError listing the known names, or the load error of the
// file that defines name.
func (s *Set) Get(name string) (*Definition, error) {
	if d, ok := s.defs[name]; ok {
		return d, nil
	}
	if err, ok := s.bad[name]; ok {
		return nil, fmt.Errorf("network %q is not usable: %w", name, err)
	}
	return nil, &UnknownNetworkError{Name: name, Dir: s.Dir, Known: s.Names()}
}

// Names returns the names of the usable definitions, in file order.
func (s *Set) Names() []string {
	return append([]string(nil), s.names...)
}

// Definitions returns the usable definitions, in file order.
func (s *Set) Definitions() []*Definition {
	out := make([]*Definition, len(s.names))
	for i, n := range s.names {
		out[i] = s.defs[n]
	}
	return out
}

// Err joins the set's errors, or returns nil when every file loaded.
func (s *Set) Err() error { return errors.Join(s.Errors...) }

// Validate loads dir as LoadDir does and returns every problem found, for
// `weir networks validate DIR`.
func Validate(dir string, pluginPath []string) error {
	s, err := LoadDir(dir, pluginPath)
	if err != nil {
		return err
	}
	return s.Err()
}
