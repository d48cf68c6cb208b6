package enforce

import (
	"bytes"
	"os"
	"path/filepath"

	"github.com/hashicorp/go-hclog"

	"github.com/weirnet/weir/internal/atomicfile"
	"github.com/weirnet/weir/policy"
)

// Every policy plugin call is a new process that loads the policy files;
// parsing them costs ~6 ms at a hundred policies. The engine keeps the
// parsed form of each directory's files as last loaded (policy.Set's
// binary encoding) under its manifest, a digest of the files' names and
// contents, and a load whose files have that manifest decodes it instead.
// The file is a shortcut only: missing, damaged or of other files, it is
// ignored and written anew.

// loadParsed reads the policy files of dir and returns them parsed, from
// the parsed copy at cache when it is of the same files.
func loadParsed(dir, cache string, log hclog.Logger) (*policy.Set, map[string][]byte, error) {
	srcs, err := policy.ReadDirSources(dir)
	if err != nil {
		return nil, nil, err
	}
	manifest := manifestOf(srcs)
	if data, err := os.ReadFile(cache); err == nil && bytes.HasPrefix(data, manifest) {
		if s, err := policy.UnmarshalSet(data[len(manifest):]); err == nil {
			return s, srcs, nil
		}
	}
	s, err := policy.ParseSources(dir, srcs)
	if err != nil {
		return nil, nil, err
	}
	err = os.MkdirAll(filepath.Dir(cache), 0o700)
	if err == nil {
		err = atomicfile.WriteFile(cache, append(manifest, s.MarshalBinary()...), 0o600)
	}
	if err != nil {
		log.Debug("cannot keep the parsed policies", "path", cache, "error", err)
	}
	return s, srcs, nil
}
