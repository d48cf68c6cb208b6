// Package atomicfile writes files so that a reader, or a process restarted
// after a crash, sees either the old content or the new content, never an
// empty or half-written file: the data goes to a temporary file in the same
// directory, is fsynced, renamed over the target, and the directory is
// fsynced so the rename itself survives a power cut.
//
// A process killed between creating the temporary file and renaming it
// leaves the temporary file behind: ".NAME.tmp-DIGITS" beside NAME
// (IsTemp). SweepTemps removes such leftovers once no writer can hold
// them.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// tempPattern is the os.CreateTemp pattern of base's temporary files; the
// "*" becomes decimal digits.
func tempPattern(base string) string { return "." + base + ".tmp-*" }

// WriteFile atomically replaces path with data. The parent directory must exist.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, tempPattern(base))
	if err != nil {
		return fmt.Errorf("creating temporary file for %s: %w", path, err)
	}
	tmpName := tmp.Name()
	committed := false
	defer func() {
		if !committed {
			_ = tmp.Close()
			_ = os.Remove(tmpName)
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", tmpName, err)
	}
	if err := tmp.Chmod(perm); err != nil {
		return fmt.Errorf("setting mode of %s: %w", tmpName, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", tmpName, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", tmpName, err)
	}
	if err := os.Rename(tmpName, path); err != nil {
		return fmt.Errorf("renaming %s to %s: %w", tmpName, path, err)
	}
	committed = true
	return SyncDir(dir)
}

// SyncDir fsyncs a directory so that entries created, renamed or removed in
// it are durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("opening directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}

// CreateExclusive writes data to path atomically, failing with an error
// satisfying errors.Is(err, fs.ErrExist) when path exists: the data goes to
// a synced temporary file (named as WriteFile's), which is then hard-linked
// to path, so that of two processes creating path at once exactly one
// succeeds, and a reader never sees path half written.
func CreateExclusive(path string, data []byte, perm os.FileMode) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, tempPattern(base))
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(perm)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return err
	}
	return SyncDir(dir)
}
