package enforce

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/weirnet/weir/internal/atomicfile"
	"github.com/weirnet/weir/policy/compile"
)

// index is the endpoints file: every endpoint under policy on this host.
// One file, not one per endpoint, so a render at a thousand endpoints reads
// one file.
type index struct {
	Endpoints map[string]compile.Endpoint `json:"endpoints"` // by Key
}

// Key names an endpoint in the index: network, container, interface.
func Key(network, id, ifName string) string { return network + "/" + id + "/" + ifName }

func (e *Engine) indexPath() string { return filepath.Join(e.dir(), "endpoints.json") }

func (e *Engine) readIndex() (*index, error) {
	idx := &index{Endpoints: map[string]compile.Endpoint{}}
	data, err := os.ReadFile(e.indexPath())
	if errors.Is(err, fs.ErrNotExist) {
		return idx, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading endpoint index: %w", err)
	}
	if err := json.Unmarshal(data, idx); err != nil {
		return nil, fmt.Errorf("decoding endpoint index %s: %w", e.indexPath(), err)
	}
	if idx.Endpoints == nil {
		idx.Endpoints = map[string]compile.Endpoint{}
	}
	return idx, nil
}

func (e *Engine) writeIndex(idx *index) error {
	if err := os.MkdirAll(e.dir(), 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", e.dir(), err)
	}
	data, err := json.Marshal(idx)
	if err != nil {
		return fmt.Errorf("encoding endpoint index: %w", err)
	}
	return atomicfile.WriteFile(e.indexPath(), data, 0o600)
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
