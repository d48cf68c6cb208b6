package enforce

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/weirnet/weir/internal/atomicfile"
	"github.com/weirnet/weir/policy/compile"
)

// The compiler's memo (see compile.Memo) lives in memory for a long-lived
// engine and in StateDir/policy/compile.memo between processes: every
// plugin call is a new engine, and without the file each attach would
// generate the chains of every endpoint on the host again. The file is
// only ever a shortcut — an entry is used only when its endpoint's
// signature is unchanged, and a file that is missing, damaged or written
// by another build of weir is ignored — so it is written without a lock of
// its own, and a failure to write it is logged, not returned.

func (e *Engine) memoPath() string { return filepath.Join(e.dir(), "compile.memo") }

// compileMemo returns the engine's memo, read from its file the first time.
func (e *Engine) compileMemo() *compile.Memo {
	if e.memo != nil {
		return e.memo
	}
	e.memo = compile.NewMemo()
	data, err := os.ReadFile(e.memoPath())
	if err != nil {
		return e.memo
	}
	if m, err := compile.UnmarshalMemo(data, e.buildStamp()); err == nil {
		e.memo = m
	} else {
		e.Log.Debug("ignoring the compile memo", "path", e.memoPath(), "error", err)
	}
	return e.memo
}

// saveMemo writes the memo for the next engine.
func (e *Engine) saveMemo(m *compile.Memo) {
	if err := os.MkdirAll(e.dir(), 0o700); err != nil {
		e.Log.Warn("cannot write the compile memo", "error", err)
		return
	}
	if err := atomicfile.WriteFile(e.memoPath(), m.MarshalBinary(e.buildStamp()), 0o600); err != nil {
		e.Log.Warn("cannot write the compile memo", "error", err)
	}
}

// buildStamp identifies the running executable (path, inode, size,
// modification time), so a memo written by another build of the compiler
// is never used. An executable that cannot be identified gets a stamp no
// file carries: its engines keep their memo in memory only.
func (e *Engine) buildStamp() string {
	if e.stamp != "" {
		return e.stamp
	}
	e.stamp = fmt.Sprintf("unidentified %p", e)
	if exe, err := os.Executable(); err == nil {
		var st unix.Stat_t
		if unix.Stat(exe, &st) == nil {
			e.stamp = fmt.Sprintf("%s %d %d %d", exe, st.Ino, st.Size, st.Mtim.Nano())
		}
	}
	return e.stamp
}
