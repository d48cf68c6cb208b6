package macvlan

import (
	"context"
	"errors"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"

	"github.com/weirnet/weir/plugins/internal/ipam"
	"github.com/weirnet/weir/plugins/pluginkit"
)

// GC passes the runtime's valid attachments to the IPAM plugin, which
// releases every other address of the network. The macvlan devices
// themselves live and die with their namespaces, so there is nothing else
// to collect.
func (p *Plugin) GC(ctx context.Context, env *pluginkit.Env, args *skel.CmdArgs) error {
	n, err := decodeConfig(args.StdinData)
	if err != nil {
		return err
	}
	if n.IPAM.Type == "" {
		return nil
	}
	return ipam.GC(ctx, env, args.StdinData, args)
}

// Status reports whether the plugin can take new attachments: the master
// interface must exist (code 50 otherwise) and the IPAM plugin must be
// ready.
func (p *Plugin) Status(ctx context.Context, env *pluginkit.Env, args *skel.CmdArgs) error {
	c, err := loadConfig(args.StdinData)
	if err != nil {
		return err
	}
	if _, err := findMaster(c); err != nil {
		code := uint(types.ErrInternal)
		if errors.Is(err, errMasterUnavailable) {
			code = types.ErrPluginNotAvailable
		}
		return pluginkit.Errorf(code, "%w", err)
	}
	if c.hasIPAM() {
		return ipam.Status(ctx, env, args.StdinData, args)
	}
	return nil
}
