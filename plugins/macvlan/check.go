package macvlan

import (
	"context"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"

	"github.com/weirnet/weir/plugins/internal/ifcfg"
	"github.com/weirnet/weir/plugins/internal/ipam"
	"github.com/weirnet/weir/plugins/pluginkit"
)

// Check verifies that the container's macvlan interface is still what ADD
// made and prevResult describes: a macvlan device of the configured mode on
// the master, with the result's MAC, addresses and routes; then asks the
// IPAM plugin whether the addresses are still held.
func (p *Plugin) Check(ctx context.Context, env *pluginkit.Env, args *skel.CmdArgs) error {
	c, err := loadConfig(args.StdinData)
	if err != nil {
		return err
	}
	prev, err := prevResult(c)
	if err != nil {
		return err
	}
	master, err := resolveMaster(c)
	if err != nil {
		return err
	}
	iface := findInterface(prev, args.IfName, args.Netns)
	if iface == nil {
		return pluginkit.ConfigError("prevResult", "no interface %s in netns %s", args.IfName, args.Netns)
	}
	hostNsID := hostNsIDFrom(args.Netns)
	err = ifcfg.InNetNS(args.Netns, func() error {
		if err := checkLink(c, args.IfName, master.Attrs().Index, hostNsID, iface.Mac); err != nil {
			return err
		}
		return ifcfg.CheckIface(args.IfName, prev)
	})
	if err != nil {
		return pluginkit.Errorf(types.ErrInternal, "checking %s in netns %s: %w", args.IfName, args.Netns, err)
	}
	if c.hasIPAM() {
		if err := ipam.Check(ctx, env, args.StdinData, args); err != nil {
			return err
		}
	}
	return nil
}

// prevResult returns the configuration's prevResult as a current result,
// or an error when there is none: CHECK has nothing to compare without it.
func prevResult(c *config) (*current.Result, error) {
	if c.RawPrevResult == nil {
		return nil, pluginkit.ConfigError("prevResult", "CHECK needs the result of ADD and there is none")
	}
	if err := version.ParsePrevResult(&c.NetConf.NetConf); err != nil {
		return nil, pluginkit.Errorf(types.ErrDecodingFailure, "parsing prevResult: %w", err)
	}
	res, err := current.NewResultFromResult(c.PrevResult)
	if err != nil {
		return nil, pluginkit.Errorf(types.ErrDecodingFailure, "converting prevResult: %w", err)
	}
	return res, nil
}

// findInterface returns the result's interface named ifName in the sandbox
// netns.
func findInterface(res *current.Result, ifName, netns string) *current.Interface {
	for _, i := range res.Interfaces {
		if i.Name == ifName && i.Sandbox == netns {
			return i
		}
	}
	return nil
}

// hostNsIDFrom returns the id the container namespace at netnsPath gives
// the current (host) namespace, or -1 when it has none or cannot be read.
// A macvlan device's IFLA_LINK is an index in the namespace with this id.
func hostNsIDFrom(netnsPath string) int {
	host, err := ns.GetCurrentNS()
	if err != nil {
		return -1
	}
	defer host.Close()
	id := -1
	_ = ifcfg.InNetNS(netnsPath, func() error {
		if v, err := netlink.GetNetNsIdByFd(int(host.Fd())); err == nil {
			id = v
		}
		return nil
	})
	return id
}
