package pluginkit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"
	"github.com/hashicorp/go-hclog"
)

// Exec implements invoke.Exec. A plugin file that is weir's own binary runs
// in-process, selected by the file's base name; every other file is
// executed in a new process group that is killed, group and all, when ctx
// is done.
//
// weir's own binary is, directly or through links, the file now at Self's
// path, or, without Self, the file this process was started from — even
// after it was replaced or removed on disk — or the file now at that path.
// So a daemon whose binary is rebuilt or upgraded in place under it keeps
// running weir's plugins in-process, with its own code, as it does
// everything else until it restarts: one build runs the chain runner and
// the plugins it drives (their records and state stay of one version), and
// no plugin call starts paying for a fork. A file of any other identity in
// the plugin path, a reference plugin say, is always executed, whatever its
// name.
type Exec struct {
	// Self is the path of weir's multi-call binary. Empty means "this
	// process's executable" (os.Executable).
	Self string
	// Plugins are the in-process implementations by type name.
	Plugins Registry
	// Log receives in-process plugins' diagnostics; nil discards them.
	Log hclog.Logger
	// Stderr receives executed plugins' stderr; nil discards it.
	Stderr io.Writer

	version.PluginDecoder

	selfOnce sync.Once
	selfPath string      // Self, or this process's executable's path
	running  os.FileInfo // without Self, the file this process runs; nil if unknown
}

var _ invoke.Exec = (*Exec)(nil)

// FindInPath finds a plugin by type in the given directories, as libcni does.
func (e *Exec) FindInPath(plugin string, paths []string) (string, error) {
	return invoke.FindInPath(plugin, paths)
}

// InProcess reports the in-process implementation for pluginPath, if the file
// is weir's own binary (see Exec) and its name is a registered type.
func (e *Exec) InProcess(pluginPath string) (Plugin, bool) {
	p, ok := e.Plugins[filepath.Base(pluginPath)]
	if !ok {
		return nil, false
	}
	e.selfOnce.Do(e.findSelf)
	st, err := os.Stat(pluginPath)
	if err != nil {
		return nil, false
	}
	if e.running != nil && os.SameFile(st, e.running) {
		return p, true
	}
	// Stat Self's path afresh: weir rebuilt or upgraded there since.
	if e.selfPath == "" {
		return nil, false
	}
	if now, err := os.Stat(e.selfPath); err == nil && os.SameFile(st, now) {
		return p, true
	}
	return nil, false
}

// findSelf sets selfPath and running. Without Self, the running file is
// /proc/self/exe's: the inode this process runs, kept by the kernel while
// it runs (so never reused for another file), when its path names another
// (os.Executable gives the path, without the kernel's " (deleted)"). A
// file at Self is no process's: its inode may be freed and reused once it
// is replaced, so only what is at its path counts.
func (e *Exec) findSelf() {
	if e.Self != "" {
		e.selfPath = e.Self
		return
	}
	e.selfPath, _ = os.Executable()
	if st, err := os.Stat("/proc/self/exe"); err == nil {
		e.running = st
	} else if e.selfPath != "" {
		e.running, _ = os.Stat(e.selfPath)
	}
}

// env is the Env of an in-process call of the plugin at pluginPath.
func (e *Exec) env(pluginPath string) *Env {
	log := e.Log
	if log == nil {
		log = hclog.NewNullLogger()
	}
	stderr := e.Stderr
	if stderr == nil {
		stderr = io.Discard
	}
	return &Env{Exec: e, Log: log.Named(filepath.Base(pluginPath)), Stderr: stderr}
}

// ExecPlugin runs the plugin at pluginPath with stdin and environ and returns
// its stdout. A plugin's error comes back as *types.Error.
func (e *Exec) ExecPlugin(ctx context.Context, pluginPath string, stdin []byte, environ []string) ([]byte, error) {
	if p, ok := e.InProcess(pluginPath); ok {
		out, terr := Dispatch(ctx, p, e.env(pluginPath), environ, stdin)
		if terr != nil {
			return nil, terr
		}
		return out, nil
	}
	return e.execFile(ctx, pluginPath, stdin, environ)
}

// CheckConfig checks stdin and environ (an ADD's) for the plugin at
// pluginPath without running its ADD: for an in-process plugin that
// implements ConfigChecker, as Dispatch would parse them and then by the
// plugin's own CheckConfig. Executed plugins, and plugins that cannot
// check, pass. A refusal comes back as *types.Error.
func (e *Exec) CheckConfig(ctx context.Context, pluginPath string, stdin []byte, environ []string) error {
	p, ok := e.InProcess(pluginPath)
	if !ok {
		return nil
	}
	c, ok := p.(ConfigChecker)
	if !ok {
		return nil
	}
	inv, terr := ParseInvocation(environ, stdin)
	if terr != nil {
		return terr
	}
	if _, terr := checkConfig(inv.Command, stdin); terr != nil {
		return terr
	}
	if err := c.CheckConfig(ctx, e.env(pluginPath), &inv.Args); err != nil {
		return AsCNIError(err)
	}
	return nil
}

// textBusyRetries bounds the retries of a plugin file being written right now.
const textBusyRetries = 5

func (e *Exec) execFile(ctx context.Context, pluginPath string, stdin []byte, environ []string) ([]byte, error) {
	for attempt := 0; ; attempt++ {
		out, err := e.runOnce(ctx, pluginPath, stdin, environ)
		if errors.Is(err, syscall.ETXTBSY) && attempt < textBusyRetries {
			select {
			case <-ctx.Done():
				return nil, fmt.Errorf("running plugin %s: %w", pluginPath, ctx.Err())
			case <-time.After(200 * time.Millisecond):
			}
			continue
		}
		return out, err
	}
}

func (e *Exec) runOnce(ctx context.Context, pluginPath string, stdin []byte, environ []string) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, pluginPath)
	cmd.Env = environ
	cmd.Stdin = bytes.NewReader(stdin)
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// Kill the plugin's whole process group: a plugin that forked
		// helpers (iptables, a delegate) must not outlive its timeout.
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	// A plugin may leave a helper behind that holds its stdout or stderr
	// (a daemon it did not detach from the pipes): a second after the
	// plugin exits, the pipes are closed and its answer taken as it is.
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if e.Stderr != nil && stderr.Len() > 0 {
		_, _ = e.Stderr.Write(stderr.Bytes())
	}
	if errors.Is(err, exec.ErrWaitDelay) && ctx.Err() == nil {
		// The plugin itself exited 0 (Run reports a failed exit first).
		err = nil
	}
	if err == nil {
		return stdout.Bytes(), nil
	}
	if errors.Is(err, syscall.ETXTBSY) {
		return nil, err
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return nil, &types.Error{Code: types.ErrInternal, Msg: fmt.Sprintf("plugin %s killed: %v", pluginPath, ctxErr)}
	}
	return nil, pluginError(err, stdout.Bytes(), stderr.Bytes())
}

// pluginError turns a failed run into the error the plugin printed, or a
// description of how it failed when it printed none.
func pluginError(runErr error, stdout, stderr []byte) error {
	var e types.Error
	switch {
	case len(bytes.TrimSpace(stdout)) > 0:
		if err := json.Unmarshal(stdout, &e); err != nil || e.Code == 0 {
			return &types.Error{Code: types.ErrInternal, Msg: fmt.Sprintf("plugin failed (%v) and its output is not a CNI error: %q", runErr, truncate(stdout))}
		}
		return &e
	case len(stderr) > 0:
		return &types.Error{Code: types.ErrInternal, Msg: fmt.Sprintf("plugin failed (%v): %q", runErr, truncate(stderr))}
	default:
		return &types.Error{Code: types.ErrInternal, Msg: fmt.Sprintf("plugin failed with no error message: %v", runErr)}
	}
}

func truncate(b []byte) []byte {
	const max = 512
	if len(b) > max {
		return b[:max]
	}
	return b
}
