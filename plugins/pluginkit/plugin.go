package pluginkit

import (
	"context"
	"io"

	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/hashicorp/go-hclog"
)

// Plugin is one CNI plugin. Add returns a result of any version; Dispatch
// converts it to the cniVersion the configuration asked for. Errors should be
// *types.Error values carrying a CNI error code; any other error is reported
// with code 999 (internal).
type Plugin interface {
	Add(ctx context.Context, env *Env, args *skel.CmdArgs) (types.Result, error)
	Del(ctx context.Context, env *Env, args *skel.CmdArgs) error
	Check(ctx context.Context, env *Env, args *skel.CmdArgs) error
	GC(ctx context.Context, env *Env, args *skel.CmdArgs) error
	Status(ctx context.Context, env *Env, args *skel.CmdArgs) error
}

// ConfigChecker is implemented by plugins that can check a configuration
// (and the CNI arguments an ADD would get) without touching the host,
// refusing what their ADD would refuse as bad input. Runtimes call it
// through Exec.CheckConfig for every plugin of a chain before the first ADD,
// so that a definition a late plugin refuses changes nothing.
type ConfigChecker interface {
	CheckConfig(ctx context.Context, env *Env, args *skel.CmdArgs) error
}

// Registry maps a plugin type name ("bridge", "host-local", ...) to its
// implementation. It is built once by the binary's main and never mutated.
type Registry map[string]Plugin

// Env is what a plugin may use besides its arguments: an invoker for
// delegation (IPAM, flannel's bridge delegate) and a logger that writes to
// stderr, never stdout, which carries the result.
type Env struct {
	Exec   invoke.Exec
	Log    hclog.Logger
	Stderr io.Writer
}

// NewStderrLogger returns the logger plugins use: stderr, warnings and above
// unless WEIR_LOG_LEVEL says otherwise.
func NewStderrLogger(name string, w io.Writer, level string) hclog.Logger {
	lvl := hclog.LevelFromString(level)
	if lvl == hclog.NoLevel {
		lvl = hclog.Warn
	}
	return hclog.New(&hclog.LoggerOptions{Name: name, Output: w, Level: lvl})
}
