package policy

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
)

// LoadDir loads every *.toml file in dir, in file-name order, skipping
// hidden files and subdirectories. A missing directory, like an empty
// one, is an empty Set: policies are optional. Problems in the files are
// returned together, each an *Error naming the file, line and policy.
func LoadDir(dir string) (*Set, error) {
	s, _, err := LoadDirSources(dir)
	return s, err
}

// LoadDirSources is LoadDir that also returns the content of each file it
// loaded, by file name: exactly the bytes the Set was parsed from (a copy
// read again afterwards might hold an edit made since).
func LoadDirSources(dir string) (*Set, map[string][]byte, error) {
	srcs, err := ReadDirSources(dir)
	if err != nil {
		return nil, nil, err
	}
	s, err := ParseSources(dir, srcs)
	if err != nil {
		return nil, nil, err
	}
	return s, srcs, nil
}

// ReadDirSources reads the policy files of dir (by base name), without
// parsing them. A missing directory has none.
func ReadDirSources(dir string) (map[string][]byte, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string][]byte{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading policy directory: %w", err)
	}
	srcs := map[string][]byte{}
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".toml") || e.IsDir() {
			continue
		}
		src, err := readFile(filepath.Join(dir, name))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		srcs[name] = src
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return srcs, nil
}

// ParseSources parses the policy files of dir that ReadDirSources read.
func ParseSources(dir string, srcs map[string][]byte) (*Set, error) {
	var (
		policies []*Policy
		errs     []error
	)
	for _, name := range slices.Sorted(maps.Keys(srcs)) {
		ps, fileErrs := parseFile(filepath.Join(dir, name), string(srcs[name]))
		policies = append(policies, ps...)
		errs = append(errs, fileErrs...)
	}
	errs = append(errs, duplicates(policies)...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return NewSet(policies...), nil
}

// LoadFiles loads the named policy files, whatever their names, as one
// Set. Policy names must be unique across all of them.
func LoadFiles(paths ...string) (*Set, error) {
	s, _, err := loadFiles(paths)
	return s, err
}

func loadFiles(paths []string) (*Set, map[string][]byte, error) {
	var (
		policies []*Policy
		errs     []error
	)
	srcs := make(map[string][]byte, len(paths))
	for _, path := range paths {
		src, err := readFile(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		srcs[filepath.Base(path)] = src
		ps, fileErrs := parseFile(path, string(src))
		policies = append(policies, ps...)
		errs = append(errs, fileErrs...)
	}
	errs = append(errs, duplicates(policies)...)
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	return NewSet(policies...), srcs, nil
}

// parseFile decodes the policies of one file. It returns what it could
// decode along with every problem found.
// readFile reads a policy file; an error is an *Error naming it.
func readFile(path string) ([]byte, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is in the Error already
		}
		return nil, &Error{File: path, Index: -1, Err: fmt.Errorf("reading: %w", err)}
	}
	return src, nil
}

func parseFile(path, src string) ([]*Policy, []error) {
	fileErr := func(line int, err error) error {
		return &Error{File: path, Line: line, Index: -1, Err: err}
	}
	doc := map[string]any{}
	if _, err := toml.Decode(src, &doc); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, []error{fileErr(pe.Position.Line, syntaxError{pe})}
		}
		return nil, []error{fileErr(0, fmt.Errorf("decoding TOML: %w", err))}
	}
	lay := scanLayout(src)
	var errs []error
	keys := make([]string, 0, len(doc))
	for k := range doc {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if k != "policy" {
			errs = append(errs, fileErr(lay.keyLine(0, len(lay.sections), nil, k, 0),
				fmt.Errorf("unknown key %q (a policy file holds [[policy]] tables)", k)))
		}
	}
	v, ok := doc["policy"]
	if !ok {
		return nil, errs
	}
	tables, ok := asTables(v)
	if !ok {
		return nil, append(errs, fileErr(lay.keyLine(0, len(lay.sections), nil, "policy", 0),
			fmt.Errorf("policy: %w", wrongType("an array of tables ([[policy]])", v))))
	}
	d := &decoder{file: path, lay: lay}
	policies := make([]*Policy, 0, len(tables))
	for i, t := range tables {
		policies = append(policies, d.policy(i, t))
	}
	return policies, append(errs, d.errs...)
}

// duplicates reports every policy whose name an earlier one already has.
func duplicates(policies []*Policy) []error {
	var errs []error
	seen := make(map[string]*Policy, len(policies))
	index := map[string]int{} // position of the next policy in each file
	for _, p := range policies {
		i := index[p.File]
		index[p.File]++
		if p.Name == "" {
			continue
		}
		first, ok := seen[p.Name]
		if !ok {
			seen[p.Name] = p
			continue
		}
		where := first.File
		if first.Line > 0 {
			where = fmt.Sprintf("%s:%d", first.File, first.Line)
		}
		errs = append(errs, &Error{
			File:   p.File,
			Line:   p.Line,
			Policy: p.Name,
			Index:  i,
			Err:    fmt.Errorf("duplicate name: already defined at %s", where),
		})
	}
	return errs
}
