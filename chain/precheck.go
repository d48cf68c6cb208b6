package chain

import (
	"context"
	"fmt"
	"strings"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
)

// ConfigChecker is an invoke.Exec that can check a plugin's configuration
// the way the plugin's ADD would, without running the ADD or touching the
// host. weir's pluginkit.Exec is one, for weir's own plugins; plugins it
// cannot check pass.
type ConfigChecker interface {
	CheckConfig(ctx context.Context, pluginPath string, stdin []byte, environ []string) error
}

// checkConfigs finds every plugin of list and has the ones Exec can check
// check their configuration (without prevResult, which does not exist yet)
// before the first ADD: a definition or argument that a plugin late in the
// chain refuses then changes nothing, where the ADDs before it would have
// left their bridge, address store and rules behind.
func (r *Runner) checkConfigs(ctx context.Context, list *libcni.NetworkConfigList, rec *Record) error {
	checker, _ := r.Exec.(ConfigChecker)
	for i, p := range list.Plugins {
		typ := p.Network.Type
		path, err := r.Exec.FindInPath(typ, r.Path)
		if err != nil {
			return fmt.Errorf("plugin %s failed (add): %w", typ, err)
		}
		if checker == nil {
			continue
		}
		conf, err := pluginConf(list, i, nil, rec.CapabilityArgs, rec.ConfigArgs, nil)
		if err != nil {
			return err
		}
		args := &invoke.Args{Command: "ADD", ContainerID: rec.ContainerID, NetNS: rec.NetNS, PluginArgs: rec.Args, IfName: rec.IfName, Path: strings.Join(r.Path, ":")}
		if err := checker.CheckConfig(ctx, path, conf, args.AsEnv()); err != nil {
			return fmt.Errorf("plugin %s failed (add): %w", typ, err)
		}
	}
	return nil
}
