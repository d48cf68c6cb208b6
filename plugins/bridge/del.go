package bridge

import (
	"context"
	"errors"
	"fmt"
	"net"

	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/containernetworking/cni/pkg/skel"

	"github.com/weirnet/weir/plugins/internal/ifcfg"
	"github.com/weirnet/weir/plugins/internal/ipam"
	"github.com/weirnet/weir/plugins/pluginkit"
)

// Del detaches the container. It is idempotent and best effort: every step
// runs whatever the others did, a missing namespace, link or rule is
// success, and all failures are reported together. Nothing in it needs the
// container's namespace or its previous result. One exception: when the
// masquerade could not be removed, the addresses stay allocated until a
// DEL that removes it, since masq deletes its set members by address and a
// retried DEL would otherwise take the masquerade of a container given a
// released address meanwhile.
func (p *Plugin) Del(ctx context.Context, env *pluginkit.Env, args *skel.CmdArgs) error {
	c, err := loadConfig(args.StdinData, args.Args)
	if err != nil {
		return err
	}
	var errs []error
	if args.Netns != "" {
		err := ifcfg.InNetNS(args.Netns, func() error { return deleteLinkByName(args.IfName) })
		if err != nil && !ifcfg.NetNSGone(err) {
			errs = append(errs, fmt.Errorf("deleting %s in netns %s: %w", args.IfName, args.Netns, err))
		}
	}
	// Still there when the namespace is gone but not yet destroyed, or
	// when DEL came without a namespace.
	if err := deleteLinkByName(hostVethName(c, args.ContainerID, args.IfName)); err != nil {
		errs = append(errs, err)
	}
	masqFailed := false
	if c.IPMasq {
		if err := p.masq.Teardown(ctx, c.attachment(args.ContainerID, args.IfName), prevAddresses(c)); err != nil {
			errs = append(errs, err)
			masqFailed = true
		}
	}
	if c.hasIPAM && !masqFailed {
		if err := ipam.Del(ctx, env, args.StdinData, args); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		env.Log.Warn("DEL incomplete", "container_id", args.ContainerID, "ifname", args.IfName, "errors", len(errs))
	}
	return errors.Join(errs...)
}

// prevAddresses returns the addresses DEL's prevResult gives the container,
// or nil when there is no usable prevResult: masquerade teardown then finds
// the container's set members by their comment instead of by address.
func prevAddresses(c *config) []net.IPNet {
	if c.RawPrevResult == nil {
		return nil
	}
	if err := version.ParsePrevResult(&c.NetConf.NetConf); err != nil {
		return nil
	}
	res, err := current.NewResultFromResult(c.PrevResult)
	if err != nil {
		return nil
	}
	return addresses(res)
}
