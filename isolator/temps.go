package isolator

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/weirnet/weir/internal/atomicfile"
	"github.com/weirnet/weir/internal/flock"
)

// StaleTempAge is how old a temporary file of an interrupted atomic write
// (atomicfile: ".NAME.tmp-DIGITS") must be for Recover and GC to remove it
// anywhere under the state directory, where a writer they cannot exclude
// may be at work: a plugin's state, or a container whose chain lock is
// busy. A write holds its temporary file for a moment, and every plugin
// invocation has a timeout far below this.
const StaleTempAge = 10 * time.Minute

// sweepContainer removes every temporary file under the container's
// directory, whatever its age, with the isolator's lock of the container
// held by the caller: it takes the chain runner's lock too, and the
// isolator and the chain runner (chain.Store) are the only writers there,
// each under its lock. When the chain lock stays busy (a `weir net add`
// at work), nothing is removed; the state's sweep gets the files later.
func (iso *Isolator) sweepContainer(ctx context.Context, id string) ([]string, error) {
	if _, err := os.Stat(iso.dir(id)); errors.Is(err, fs.ErrNotExist) {
		return nil, nil // cleaned up: nothing left, and no lock file to make
	}
	wctx, cancel := context.WithTimeout(ctx, busyWait)
	defer cancel()
	l, err := flock.Acquire(wctx, filepath.Join(iso.Runner.StateDir, "locks", id))
	if err != nil {
		if errors.Is(wctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			return nil, nil
		}
		return nil, fmt.Errorf("locking container %s for its temporary files: %w", id, err)
	}
	defer l.Release()
	return atomicfile.SweepTemps(iso.dir(id), 0)
}

// sweepState removes the temporary files under the state directory that
// are older than StaleTempAge, and the lock files of containers without
// records (chain.Runner.SweepLocks).
func (iso *Isolator) sweepState(ctx context.Context) ([]string, error) {
	temps, err := atomicfile.SweepTemps(iso.Runner.StateDir, StaleTempAge)
	locks, lerr := iso.Runner.SweepLocks(ctx)
	for _, l := range locks {
		iso.log().Info("removed the lock file of a container without records", "path", l)
	}
	return temps, errors.Join(err, lerr)
}

// logSwept logs the temporary files a sweep removed.
func (iso *Isolator) logSwept(paths []string) {
	for _, p := range paths {
		iso.log().Info("removed the temporary file of an interrupted write", "path", p)
	}
}
