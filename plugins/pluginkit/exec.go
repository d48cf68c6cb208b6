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

// Exec implements invoke.Exec. A plugin file that is weir's own binary (the
// same file as Self, directly or through a link) runs in-process, selected by
// the file's base name; every other file is executed in a new process group
// that is killed, group and all, when ctx is done.
type Exec struct {
	// Self is the path of weir's multi-call binary. Empty means "this
	// process's executable".
	Self string
	// Plugins are the in-process implementations by type name.
	Plugins Registry
	// Log receives in-process plugins' diagnostics; nil discards them.
	Log hclog.Logger
	// Stderr receives executed plugins' stderr; nil discards it.
	Stderr io.Writer

	version.PluginDecoder

	selfOnce sync.Once
	selfInfo os.FileInfo
}

var _ invoke.Exec = (*Exec)(nil)

// FindInPath finds a plugin by type in the given directories, as libcni does.
func (e *Exec) FindInPath(plugin string, paths []string) (string, error) {
	return invoke.FindInPath(plugin, paths)
}

// InProcess reports the in-process implementation for pluginPath, if the file
// is weir's own binary and its name is a registered type.
func (e *Exec) InProcess(pluginPath string) (Plugin, bool) {
	p, ok := e.Plugins[filepath.Base(pluginPath)]
	if !ok {
		return nil, false
	}
	e.selfOnce.Do(func() {
		self := e.Self
		if self == "" {
			var err error
			if self, err = os.Executable(); err != nil {
				return
			}
		}
		e.selfInfo, _ = os.Stat(self)
	})
	if e.selfInfo == nil {
		return nil, false
	}
	st, err := os.Stat(pluginPath)
	if err != nil || !os.SameFile(st, e.selfInfo) {
		return nil, false
	}
	return p, true
}

// ExecPlugin runs the plugin at pluginPath with stdin and environ and returns
// its stdout. A plugin's error comes back as *types.Error.
func (e *Exec) ExecPlugin(ctx context.Context, pluginPath string, stdin []byte, environ []string) ([]byte, error) {
	if p, ok := e.InProcess(pluginPath); ok {
		log := e.Log
		if log == nil {
			log = hclog.NewNullLogger()
		}
		stderr := e.Stderr
		if stderr == nil {
			stderr = io.Discard
		}
		env := &Env{Exec: e, Log: log.Named(filepath.Base(pluginPath)), Stderr: stderr}
		out, terr := Dispatch(ctx, p, env, environ, stdin)
		if terr != nil {
			return nil, terr
		}
		return out, nil
	}
	return e.execFile(ctx, pluginPath, stdin, environ)
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
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if e.Stderr != nil && stderr.Len() > 0 {
		_, _ = e.Stderr.Write(stderr.Bytes())
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
		if err := json.Unmarshal(stdout, &e); err != nil {
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
