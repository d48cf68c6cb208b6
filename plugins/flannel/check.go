package flannel

import (
	"context"
	"errors"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"

	"github.com/weirnet/weir/plugins/pluginkit"
)

// Check runs the delegate's CHECK with the configuration ADD saved and the
// prevResult the runtime passed in.
func (p *Plugin) Check(ctx context.Context, env *pluginkit.Env, args *skel.CmdArgs) error {
	c, err := loadConfig(args.StdinData)
	if err != nil {
		return err
	}
	if len(c.PrevResult) == 0 || string(c.PrevResult) == "null" {
		return pluginkit.ConfigError("prevResult", "CHECK needs the result of ADD")
	}
	path := statePath(c, args.ContainerID, args.IfName)
	dconf, typ, err := loadDelegate(path)
	if errors.Is(err, errNoSaved) {
		return pluginkit.Errorf(types.ErrInternal, "checking container %s interface %s: %w (was ADD run?)", args.ContainerID, args.IfName, err)
	}
	if err != nil {
		return err
	}
	if dconf, err = withPrevResult(dconf, c.CNIVersion, c.PrevResult); err != nil {
		return err
	}
	_, err = pluginkit.Delegate(ctx, env, "CHECK", typ, dconf, args)
	return err
}
