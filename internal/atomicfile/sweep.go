package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// IsTemp reports whether name (a base name) is that of a temporary file of
// WriteFile or CreateExclusive: "." + the target's name + ".tmp-" + the
// decimal digits os.CreateTemp puts there.
func IsTemp(name string) bool {
	i := strings.LastIndex(name, ".tmp-")
	if i < 2 || name[0] != '.' {
		return false // no dot first, or no target name before ".tmp-"
	}
	digits := name[i+len(".tmp-"):]
	if digits == "" {
		return false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// SweepTemps removes the temporary files of writes that never finished —
// regular files whose name IsTemp — found in root and the directories
// under it, when they were last modified at least olderThan ago. A writer
// holds its temporary file for the time of one write and fsync, so any age
// well beyond that is safe; olderThan 0 removes them all, for a caller
// that knows no writer can be at work (it holds the locks every writer
// takes). Symbolic links are not followed, and directories on another
// file system (a mount point under root) are not entered. It returns the
// paths it removed, and every error met on the way after trying
// everything; a root that does not exist holds nothing.
func SweepTemps(root string, olderThan time.Duration) ([]string, error) {
	rootInfo, err := os.Lstat(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sweeping temporary files under %s: %w", root, err)
	}
	dev := deviceOf(rootInfo)
	cutoff := time.Now().Add(-olderThan)
	var removed []string
	var errs []error
	walkErr := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) { // removed meanwhile
				errs = append(errs, err)
			}
			if d != nil && d.IsDir() && path != root {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if path != root {
				if info, err := d.Info(); err == nil && deviceOf(info) != dev {
					return fs.SkipDir
				}
			}
			return nil
		}
		if !d.Type().IsRegular() || !IsTemp(d.Name()) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
			return nil
		}
		if info.ModTime().After(cutoff) {
			return nil
		}
		if err := os.Remove(path); err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, fmt.Errorf("removing temporary file %s: %w", path, err))
			}
			return nil
		}
		removed = append(removed, path)
		return nil
	})
	if walkErr != nil {
		errs = append(errs, walkErr)
	}
	return removed, errors.Join(errs...)
}

// deviceOf is the device a file is on, or 0 when the system does not say.
func deviceOf(info fs.FileInfo) uint64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Dev)
	}
	return 0
}

// RemoveTempsOf removes the temporary files that interrupted writes of
// path left beside it, whatever their age: for a caller that is the only
// writer of path right now (a CNI plugin during an ADD or DEL of the
// attachment path belongs to: runtimes never run two at once). It returns
// the paths it removed.
func RemoveTempsOf(path string) ([]string, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	matches, err := filepath.Glob(filepath.Join(dir, globEscape(tempPattern(base))))
	if err != nil {
		return nil, fmt.Errorf("finding temporary files of %s: %w", path, err)
	}
	var removed []string
	var errs []error
	for _, m := range matches {
		if !IsTemp(filepath.Base(m)) {
			continue
		}
		if err := os.Remove(m); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, m)
	}
	return removed, errors.Join(errs...)
}

// globEscape escapes the glob metacharacters of a pattern's literal part
// (everything but its final "*").
func globEscape(pattern string) string {
	lit := strings.TrimSuffix(pattern, "*")
	var b strings.Builder
	for _, c := range lit {
		if strings.ContainsRune(`*?[\`, c) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String() + "*"
}
