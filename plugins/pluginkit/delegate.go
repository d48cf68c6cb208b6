package pluginkit

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
)

// Delegate runs another plugin (an IPAM plugin, flannel's bridge) with the
// caller's own CNI arguments but the given command and configuration. The
// arguments are passed explicitly, never read from this process's
// environment, so concurrent in-process invocations cannot see each other's.
// Only ADD returns a result.
func Delegate(ctx context.Context, env *Env, command, pluginType string, conf []byte, args *skel.CmdArgs) (types.Result, error) {
	paths := filepath.SplitList(args.Path)
	pluginPath, err := env.Exec.FindInPath(pluginType, paths)
	if err != nil {
		return nil, Errorf(types.ErrInvalidNetworkConfig, "finding delegate plugin %q in CNI_PATH %q: %w", pluginType, args.Path, err)
	}
	iargs := &invoke.Args{
		Command:       command,
		ContainerID:   args.ContainerID,
		NetNS:         args.Netns,
		PluginArgsStr: args.Args,
		IfName:        args.IfName,
		Path:          args.Path,
	}
	if command == "ADD" {
		res, err := invoke.ExecPluginWithResult(ctx, pluginPath, conf, iargs, env.Exec)
		if err != nil {
			return nil, wrapDelegate(pluginType, command, err)
		}
		return res, nil
	}
	if err := invoke.ExecPluginWithoutResult(ctx, pluginPath, conf, iargs, env.Exec); err != nil {
		return nil, wrapDelegate(pluginType, command, err)
	}
	return nil, nil
}

// DelegateCheckConfig has the delegate plugin check conf and the caller's
// arguments as its ADD would, without running it, when env.Exec can (see
// Exec.CheckConfig); otherwise it only checks that the plugin exists.
func DelegateCheckConfig(ctx context.Context, env *Env, pluginType string, conf []byte, args *skel.CmdArgs) error {
	pluginPath, err := env.Exec.FindInPath(pluginType, filepath.SplitList(args.Path))
	if err != nil {
		return Errorf(types.ErrInvalidNetworkConfig, "finding delegate plugin %q in CNI_PATH %q: %w", pluginType, args.Path, err)
	}
	c, ok := env.Exec.(interface {
		CheckConfig(ctx context.Context, pluginPath string, stdin []byte, environ []string) error
	})
	if !ok {
		return nil
	}
	iargs := &invoke.Args{Command: "ADD", ContainerID: args.ContainerID, NetNS: args.Netns, PluginArgsStr: args.Args, IfName: args.IfName, Path: args.Path}
	if err := c.CheckConfig(ctx, pluginPath, conf, iargs.AsEnv()); err != nil {
		return wrapDelegate(pluginType, "ADD", err)
	}
	return nil
}

func wrapDelegate(pluginType, command string, err error) error {
	e := AsCNIError(err)
	return &types.Error{Code: e.Code, Msg: fmt.Sprintf("delegate %s %s: %s", pluginType, command, e.Msg), Details: e.Details}
}
