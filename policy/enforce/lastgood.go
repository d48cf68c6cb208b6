package enforce

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/hashicorp/go-hclog"

	"github.com/weirnet/weir/internal/atomicfile"
	"github.com/weirnet/weir/policy"
	"github.com/weirnet/weir/policy/compile"
)

// A policy directory whose files stop loading (an operator's half-done
// edit) must neither lift enforcement nor block DELs: the last version that
// loaded stays in force. After every successful load the engine keeps a copy
// of the files under <state>/policy/lastgood/<dir hash>, and a load that
// fails falls back to that copy, with a warning; with no copy the load
// fails.
//
// The copy holds exactly the bytes that loaded (read once, parsed, then
// written: a file edited between the load and the copy must not put its
// new, perhaps broken, content in the copy), and it is replaced as a whole:
// <dir hash> is a symbolic link to a directory <dir hash>.v<n> written
// beforehand, swapped by a rename, so a process killed part way leaves the
// old copy or the new one, never some of each (a copy missing a file would
// enforce fewer policies than the operator wrote).

// loadPolicies loads the policy directories the endpoints use, falling
// back to each directory's last good copy. It also returns a digest of
// what it loaded: the directories and the content of their files.
func (e *Engine) loadPolicies(eps []compile.Endpoint) (map[string]*policy.Set, string, error) {
	sets := map[string]*policy.Set{}
	manifests := map[string]string{}
	for _, ep := range eps {
		if _, done := sets[ep.PolicyDir]; done {
			continue
		}
		s, m, err := loadWithFallback(ep.PolicyDir, e.dir(), e.Log)
		if err != nil {
			return nil, "", err
		}
		sets[ep.PolicyDir], manifests[ep.PolicyDir] = s, m
	}
	sum := sha256.New()
	for _, dir := range slices.Sorted(maps.Keys(manifests)) {
		fmt.Fprintf(sum, "%q %s", dir, manifests[dir])
	}
	return sets, hex.EncodeToString(sum.Sum(nil)), nil
}

// loadWithFallback loads dir, or its last good copy when it does not load,
// and returns the manifest (a digest of the files) of what it loaded. The
// engine's directory (engineDir) holds the last good copies (lastgood/)
// and the parsed form of the files last loaded (parsed/, see parsed.go).
func loadWithFallback(dir, engineDir string, log hclog.Logger) (*policy.Set, string, error) {
	h := sha256.Sum256([]byte(dir))
	name := hex.EncodeToString(h[:8])
	snap := filepath.Join(engineDir, "lastgood", name)
	s, srcs, err := loadParsed(dir, filepath.Join(engineDir, "parsed", name), log)
	if err == nil {
		manifest := manifestOf(srcs)
		if serr := snapshot(snap, srcs, manifest); serr != nil {
			log.Warn("keeping a copy of the policy files", "dir", dir, "error", serr)
		}
		return s, string(manifest), nil
	}
	if _, statErr := os.Stat(snap); statErr != nil {
		return nil, "", fmt.Errorf("loading policies from %s: %w", dir, err)
	}
	old, srcs, oerr := policy.LoadDirSources(snap)
	if oerr != nil {
		return nil, "", errors.Join(fmt.Errorf("loading policies from %s: %w", dir, err), fmt.Errorf("loading their last good copy: %w", oerr))
	}
	log.Warn("policy files do not load; the last good version stays in force", "dir", dir, "error", err)
	return old, string(manifestOf(srcs)), nil
}

// manifestOf is a digest of a directory's policy files: their names, sizes
// and contents.
func manifestOf(srcs map[string][]byte) []byte {
	sum := sha256.New()
	for _, name := range slices.Sorted(maps.Keys(srcs)) {
		fmt.Fprintf(sum, "%q %d\n", name, len(srcs[name]))
		sum.Write(srcs[name])
	}
	return []byte(hex.EncodeToString(sum.Sum(nil)) + "\n")
}

// snapshot makes snap (a link, see above) name a copy of srcs, unless the
// copy it names is of the same content.
func snapshot(snap string, srcs map[string][]byte, manifest []byte) error {
	names := slices.Sorted(maps.Keys(srcs))
	if have, err := os.ReadFile(filepath.Join(snap, ".manifest")); err == nil && bytes.Equal(have, manifest) {
		return nil
	}
	root, base := filepath.Split(snap)
	if err := os.MkdirAll(root, 0o700); err != nil {
		return err
	}
	version, err := os.MkdirTemp(root, base+".v")
	if err != nil {
		return err
	}
	for _, name := range names {
		if err := atomicfile.WriteFile(filepath.Join(version, name), srcs[name], 0o600); err != nil {
			return errors.Join(err, os.RemoveAll(version))
		}
	}
	if err := atomicfile.WriteFile(filepath.Join(version, ".manifest"), manifest, 0o600); err != nil {
		return errors.Join(err, os.RemoveAll(version))
	}
	// A copy of an older weir is a directory, which a link cannot replace
	// by rename: it goes first (once).
	if st, err := os.Lstat(snap); err == nil && st.IsDir() {
		if err := os.RemoveAll(snap); err != nil {
			return err
		}
	}
	link := filepath.Join(root, "."+base+".link")
	_ = os.Remove(link)
	if err := os.Symlink(filepath.Base(version), link); err != nil {
		return errors.Join(err, os.RemoveAll(version))
	}
	if err := os.Rename(link, snap); err != nil {
		return errors.Join(err, os.Remove(link), os.RemoveAll(version))
	}
	if err := atomicfile.SyncDir(root); err != nil {
		return err
	}
	// Older versions (and those of a process killed before its rename).
	olds, err := filepath.Glob(filepath.Join(root, base+".v*"))
	if err != nil {
		return err
	}
	var errs []error
	for _, o := range olds {
		if o != version {
			errs = append(errs, os.RemoveAll(o))
		}
	}
	return errors.Join(errs...)
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
