package macvlan

import (
	"context"
	"fmt"
	"time"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/vishvananda/netlink"

	"github.com/weirnet/weir/plugins/internal/ifcfg"
	"github.com/weirnet/weir/plugins/internal/ipam"
	"github.com/weirnet/weir/plugins/pluginkit"
)

// Plugin is the macvlan CNI plugin. It is stateless: everything it needs
// comes with each invocation.
type Plugin struct{}

// New returns the macvlan plugin.
func New() *Plugin { return &Plugin{} }

var (
	_ pluginkit.Plugin        = (*Plugin)(nil)
	_ pluginkit.ConfigChecker = (*Plugin)(nil)
)

// undoTimeout bounds the cleanup of a failed ADD, which runs even when the
// ADD's own context has ended.
const undoTimeout = 30 * time.Second

// CheckConfig refuses what Add would refuse as bad input — the
// configuration, a missing master, CNI_NETNS and the IPAM plugin's
// configuration — without touching the host (see pluginkit.ConfigChecker).
func (p *Plugin) CheckConfig(ctx context.Context, env *pluginkit.Env, args *skel.CmdArgs) error {
	c, err := loadConfig(args.StdinData)
	if err != nil {
		return err
	}
	if _, err := resolveMaster(c); err != nil {
		return err
	}
	if err := ifcfg.CheckNetNS(args.Netns); err != nil {
		return pluginkit.Errorf(types.ErrInvalidNetNS, "%w", err)
	}
	if c.hasIPAM() {
		return ipam.CheckConfig(ctx, env, args.StdinData, args)
	}
	return nil
}

// Add creates the container's macvlan interface and configures the
// addresses and routes IPAM hands out.
func (p *Plugin) Add(ctx context.Context, env *pluginkit.Env, args *skel.CmdArgs) (types.Result, error) {
	c, err := loadConfig(args.StdinData)
	if err != nil {
		return nil, err
	}
	master, err := resolveMaster(c)
	if err != nil {
		return nil, err
	}
	if err := ifcfg.CheckNetNS(args.Netns); err != nil {
		return nil, pluginkit.Errorf(types.ErrInvalidNetNS, "%w", err)
	}
	log := env.Log.With("container_id", args.ContainerID, "ifname", args.IfName, "master", c.Master)

	iface, err := createLink(c, master, args.Netns, args.ContainerID, args.IfName)
	if err != nil {
		return nil, err
	}
	success := false
	defer func() {
		if success {
			return
		}
		if err := ifcfg.InNetNS(args.Netns, func() error { return deleteLink(args.IfName) }); err != nil {
			log.Warn("undoing failed ADD: deleting macvlan", "error", err)
		}
	}()

	res := &current.Result{
		CNIVersion: current.ImplementedSpecVersion,
		Interfaces: []*current.Interface{iface},
		DNS:        c.DNS,
	}
	if c.hasIPAM() {
		// The release is armed before the ADD: an IPAM plugin that fails
		// or is killed half way may still hold an address, and DEL of
		// an attachment it never saw is harmless.
		defer func() {
			if success {
				return
			}
			uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
			defer cancel()
			if err := ipam.Del(uctx, env, args.StdinData, args); err != nil {
				log.Warn("undoing failed ADD: releasing IPAM addresses", "error", err)
			}
		}()
		ipamRes, err := ipam.Add(ctx, env, args.StdinData, args)
		if err != nil {
			return nil, err
		}
		for _, ipc := range ipamRes.IPs {
			ipc.Interface = current.Int(0)
		}
		res.IPs = ipamRes.IPs
		res.Routes = ipamRes.Routes
		if isEmptyDNS(res.DNS) {
			res.DNS = ipamRes.DNS
		}
		err = ifcfg.InNetNS(args.Netns, func() error { return ifcfg.ConfigureIface(args.IfName, res) })
		if err != nil {
			return nil, pluginkit.Errorf(types.ErrInternal, "configuring %s in netns %s: %w", args.IfName, args.Netns, err)
		}
	} else {
		err = ifcfg.InNetNS(args.Netns, func() error { return setUp(args.IfName) })
		if err != nil {
			return nil, pluginkit.Errorf(types.ErrInternal, "%w", err)
		}
	}
	success = true
	log.Debug("added", "mac", iface.Mac, "ips", len(res.IPs))
	return res, nil
}

func isEmptyDNS(d types.DNS) bool {
	return len(d.Nameservers) == 0 && d.Domain == "" && len(d.Search) == 0 && len(d.Options) == 0
}

// setUp brings ifName up in the current namespace (the layer-2-only case).
func setUp(ifName string) error {
	link, err := netlink.LinkByName(ifName)
	if err != nil {
		return fmt.Errorf("looking up %s: %w", ifName, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("setting %s up: %w", ifName, err)
	}
	return nil
}
