package flannel

import (
	"context"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"

	"github.com/weirnet/weir/plugins/pluginkit"
)

// Status reports the plugin ready when flanneld's subnet file is readable
// and valid and the delegate, given the configuration ADD would build, says
// it is ready too.
func (p *Plugin) Status(ctx context.Context, env *pluginkit.Env, args *skel.CmdArgs) error {
	c, err := loadConfig(args.StdinData)
	if err != nil {
		return err
	}
	se, err := LoadSubnetEnv(c.SubnetFile)
	if err != nil {
		return pluginkit.Errorf(types.ErrPluginNotAvailable, "flannel is not available: %s", pluginkit.AsCNIError(err).Msg)
	}
	dconf, err := buildDelegate(c, se)
	if err != nil {
		return err
	}
	_, err = pluginkit.Delegate(ctx, env, "STATUS", c.delegateType, dconf, args)
	return err
}
