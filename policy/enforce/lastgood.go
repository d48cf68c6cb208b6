package enforce

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/go-hclog"

	"github.com/weirnet/weir/internal/atomicfile"
	"github.com/weirnet/weir/policy"
	"github.com/weirnet/weir/policy/compile"
)

// A policy directory whose files stop loading (an operator's half-done
// edit) must neither lift enforcement nor block DELs: the last version that
// loaded stays in force. After every successful load the engine keeps a copy
// of the files under <state>/policy/lastgood/<dir hash>/, and a load that
// fails falls back to that copy, with a warning; with no copy the load
// fails.

// loadPolicies loads the policy directories the endpoints use, falling
// back to each directory's last good copy.
func (e *Engine) loadPolicies(eps []compile.Endpoint) (map[string]*policy.Set, error) {
	sets := map[string]*policy.Set{}
	for _, ep := range eps {
		if _, done := sets[ep.PolicyDir]; done {
			continue
		}
		s, err := loadWithFallback(ep.PolicyDir, filepath.Join(e.dir(), "lastgood"), e.Log)
		if err != nil {
			return nil, err
		}
		sets[ep.PolicyDir] = s
	}
	return sets, nil
}

func loadWithFallback(dir, lastGoodRoot string, log hclog.Logger) (*policy.Set, error) {
	h := sha256.Sum256([]byte(dir))
	snap := filepath.Join(lastGoodRoot, hex.EncodeToString(h[:8]))
	s, err := policy.LoadDir(dir)
	if err == nil {
		if serr := snapshot(dir, snap); serr != nil {
			log.Warn("keeping a copy of the policy files", "dir", dir, "error", serr)
		}
		return s, nil
	}
	if _, statErr := os.Stat(snap); statErr != nil {
		return nil, fmt.Errorf("loading policies from %s: %w", dir, err)
	}
	old, oerr := policy.LoadDir(snap)
	if oerr != nil {
		return nil, errors.Join(fmt.Errorf("loading policies from %s: %w", dir, err), fmt.Errorf("loading their last good copy: %w", oerr))
	}
	log.Warn("policy files do not load; the last good version stays in force", "dir", dir, "error", err)
	return old, nil
}

// snapshot copies dir's policy files to snap unless the copy is current
// (same names, sizes and modification times).
func snapshot(dir, snap string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		entries = nil
	} else if err != nil {
		return err
	}
	manifest := map[string]string{}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") || !strings.HasSuffix(e.Name(), ".toml") || e.IsDir() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		manifest[e.Name()] = fmt.Sprintf("%d/%d", info.Size(), info.ModTime().UnixNano())
	}
	want, _ := json.Marshal(manifest)
	if have, err := os.ReadFile(filepath.Join(snap, ".manifest")); err == nil && string(have) == string(want) {
		return nil
	}
	if err := os.RemoveAll(snap); err != nil {
		return err
	}
	if err := os.MkdirAll(snap, 0o700); err != nil {
		return err
	}
	for name := range manifest {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		if err := atomicfile.WriteFile(filepath.Join(snap, name), data, 0o600); err != nil {
			return err
		}
	}
	return atomicfile.WriteFile(filepath.Join(snap, ".manifest"), want, 0o600)
}

// LoadPolicies loads the policy directories the endpoints use, as they are
// now (no fallback): what a render would compile when every file loads.
func LoadPolicies(eps []compile.Endpoint) (map[string]*policy.Set, error) {
	sets := map[string]*policy.Set{}
	for _, ep := range eps {
		if _, done := sets[ep.PolicyDir]; done {
			continue
		}
		s, err := policy.LoadDir(ep.PolicyDir)
		if err != nil {
			return nil, fmt.Errorf("loading policies from %s: %w", ep.PolicyDir, err)
		}
		sets[ep.PolicyDir] = s
	}
	return sets, nil
}
