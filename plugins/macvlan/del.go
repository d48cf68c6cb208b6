package macvlan

import (
	"context"
	"errors"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"

	"github.com/weirnet/weir/plugins/internal/ifcfg"
	"github.com/weirnet/weir/plugins/internal/ipam"
	"github.com/weirnet/weir/plugins/pluginkit"
)

// Del releases the attachment's addresses and deletes its macvlan device.
// It is idempotent: an empty or vanished namespace and a missing link are
// success, and the IPAM release is attempted whatever else fails. The
// configuration is only decoded, not validated, so that a network whose
// configuration no longer validates can still be torn down.
func (p *Plugin) Del(ctx context.Context, env *pluginkit.Env, args *skel.CmdArgs) error {
	n, err := decodeConfig(args.StdinData)
	if err != nil {
		return err
	}
	log := env.Log.With("container_id", args.ContainerID, "ifname", args.IfName)
	var errs []error
	if n.IPAM.Type != "" {
		if err := ipam.Del(ctx, env, args.StdinData, args); err != nil {
			errs = append(errs, err)
		}
	}
	if args.Netns != "" {
		err := ifcfg.InNetNS(args.Netns, func() error {
			return errors.Join(deleteLink(args.IfName), deleteTempLink(args.ContainerID, args.IfName))
		})
		switch {
		case ifcfg.NetNSGone(err):
			// The namespace, and the macvlan device with it, is gone.
			log.Debug("netns already gone", "netns", args.Netns)
		case errors.Is(err, errNotMacvlan):
			// Someone else's interface took the name: not ours to delete.
			log.Warn("leaving interface alone", "netns", args.Netns, "reason", err)
		case err != nil:
			errs = append(errs, pluginkit.Errorf(types.ErrInternal, "deleting macvlan %s in netns %s: %w", args.IfName, args.Netns, err))
		}
	}
	return errors.Join(errs...)
}
