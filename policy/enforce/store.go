package enforce

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/weirnet/weir/internal/atomicfile"
	"github.com/weirnet/weir/internal/bincodec"
	"github.com/weirnet/weir/policy"
	"github.com/weirnet/weir/policy/compile"
)

// index is the endpoints file: every endpoint under policy on this host.
// One file, not one per endpoint, so a render at a thousand endpoints reads
// one file; binary (bincodec), since every attach reads and writes it
// whole and JSON cost ~15 ms of that at a thousand endpoints.
type index struct {
	Endpoints map[string]compile.Endpoint // by Key
}

// Key names an endpoint in the index: network, container, interface.
func Key(network, id, ifName string) string { return compile.Key(network, id, ifName) }

// IndexFile is the endpoints file's name in the engine's directory
// (StateDir/policy).
const IndexFile = "endpoints.idx"

// legacyIndexFile is the JSON index of earlier versions, read when there
// is no binary one and removed by the next write.
const legacyIndexFile = "endpoints.json"

const indexMagic = "weir policy endpoints 1\n"

func (e *Engine) indexPath() string { return filepath.Join(e.dir(), IndexFile) }

// hasIndex reports whether an index was ever written here.
func (e *Engine) hasIndex() bool {
	for _, name := range []string{IndexFile, legacyIndexFile} {
		if _, err := os.Stat(filepath.Join(e.dir(), name)); !errors.Is(err, fs.ErrNotExist) {
			return true
		}
	}
	return false
}

func (e *Engine) readIndex() (*index, error) {
	eps, err := ReadIndexFile(e.indexPath())
	if errors.Is(err, fs.ErrNotExist) {
		eps, err = readLegacyIndex(filepath.Join(e.dir(), legacyIndexFile))
	}
	if errors.Is(err, fs.ErrNotExist) {
		return &index{Endpoints: map[string]compile.Endpoint{}}, nil
	}
	if err != nil {
		return nil, err
	}
	return &index{Endpoints: eps}, nil
}

func (e *Engine) writeIndex(idx *index) error {
	if err := os.MkdirAll(e.dir(), 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", e.dir(), err)
	}
	if err := WriteIndexFile(e.indexPath(), idx.Endpoints); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(e.dir(), legacyIndexFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing the old endpoint index: %w", err)
	}
	return nil
}

// ReadIndexFile reads an endpoints file (the engine's is
// StateDir/policy/IndexFile): the endpoints by Key. A missing file is an
// error satisfying errors.Is(err, fs.ErrNotExist).
func ReadIndexFile(path string) (map[string]compile.Endpoint, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading endpoint index: %w", err)
	}
	eps, err := decodeIndex(data)
	if err != nil {
		return nil, fmt.Errorf("decoding endpoint index %s: %w", path, err)
	}
	return eps, nil
}

// WriteIndexFile writes eps (by Key) as an endpoints file, atomically.
func WriteIndexFile(path string, eps map[string]compile.Endpoint) error {
	if err := atomicfile.WriteFile(path, encodeIndex(eps), 0o600); err != nil {
		return fmt.Errorf("writing endpoint index: %w", err)
	}
	return nil
}

func encodeIndex(eps map[string]compile.Endpoint) []byte {
	e := &bincodec.Encoder{B: make([]byte, 0, 160*len(eps)+64)}
	e.B = append(e.B, indexMagic...)
	e.Uint(uint64(len(eps)))
	for k, ep := range eps {
		e.Str(k)
		e.Str(ep.Network)
		e.Str(ep.ID)
		e.Str(ep.IfName)
		e.Uint(uint64(len(ep.IPs)))
		for _, a := range ep.IPs {
			e.Str(a.String())
		}
		e.StrMap(ep.Labels)
		e.Str(string(ep.Mode))
		e.Str(ep.PolicyDir)
		e.Str(ep.HostIface)
		e.Str(ep.NetNS)
		e.Str(string(ep.DefaultAction))
	}
	return e.B
}

func decodeIndex(data []byte) (map[string]compile.Endpoint, error) {
	if !strings.HasPrefix(string(data[:min(len(data), len(indexMagic))]), indexMagic) {
		return nil, fmt.Errorf("%w: not a weir endpoint index", bincodec.ErrFormat)
	}
	// Strings alias data, which nothing else keeps.
	d := &bincodec.Decoder{B: data[len(indexMagic):], Alias: true}
	n := d.Count()
	eps := make(map[string]compile.Endpoint, n+1)
	for range n {
		k := d.Str()
		ep := compile.Endpoint{Endpoint: policy.Endpoint{Network: d.Str(), ID: d.Str(), IfName: d.Str()}}
		for c := d.Count(); c > 0; c-- {
			a, err := netip.ParseAddr(d.Str())
			if err != nil && d.Err == nil {
				d.Err = fmt.Errorf("%w: %w", bincodec.ErrFormat, err)
			}
			ep.IPs = append(ep.IPs, a)
		}
		ep.Labels = d.StrMap()
		ep.Mode, ep.PolicyDir, ep.HostIface, ep.NetNS = compile.Mode(d.Str()), d.Str(), d.Str(), d.Str()
		ep.DefaultAction = policy.Action(d.Str())
		eps[k] = ep
	}
	if err := d.Finish(); err != nil {
		return nil, err
	}
	return eps, nil
}

// readLegacyIndex reads the JSON index of earlier versions.
func readLegacyIndex(path string) (map[string]compile.Endpoint, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading endpoint index: %w", err)
	}
	var idx struct {
		Endpoints map[string]compile.Endpoint `json:"endpoints"`
	}
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, fmt.Errorf("decoding endpoint index %s: %w", path, err)
	}
	if idx.Endpoints == nil {
		idx.Endpoints = map[string]compile.Endpoint{}
	}
	return idx.Endpoints, nil
}

func (idx *index) list() []compile.Endpoint {
	keys := make([]string, 0, len(idx.Endpoints))
	for k := range idx.Endpoints {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]compile.Endpoint, 0, len(keys))
	for _, k := range keys {
		out = append(out, idx.Endpoints[k])
	}
	return out
}
