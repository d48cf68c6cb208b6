package bridge

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/vishvananda/netlink"

	"github.com/weirnet/weir/plugins/internal/ifcfg"
	"github.com/weirnet/weir/plugins/internal/ipam"
	"github.com/weirnet/weir/plugins/pluginkit"
)

// undoTimeout bounds the undo of a failed ADD, which runs even when the
// ADD's own context has ended.
const undoTimeout = 30 * time.Second

// CheckConfig refuses what Add would refuse as bad input — the
// configuration, CNI_NETNS, and the IPAM plugin's configuration — without
// touching the host (see pluginkit.ConfigChecker).
func (p *Plugin) CheckConfig(ctx context.Context, env *pluginkit.Env, args *skel.CmdArgs) error {
	c, err := loadConfig(args.StdinData, args.Args)
	if err != nil {
		return err
	}
	if err := ifcfg.CheckNetNS(args.Netns); err != nil {
		return pluginkit.Errorf(types.ErrInvalidEnvironmentVariables, "CNI_NETNS: %w", err)
	}
	if c.hasIPAM {
		return ipam.CheckConfig(ctx, env, args.StdinData, args)
	}
	return nil
}

// Add attaches the container to the bridge. The configuration, the IPAM
// plugin's included, is checked before anything touches the kernel. Every
// resource it acquires (the bridge when this ADD made it, the veth pair,
// the IPAM allocation, the masquerade rules) is released again if a later
// step fails.
func (p *Plugin) Add(ctx context.Context, env *pluginkit.Env, args *skel.CmdArgs) (types.Result, error) {
	if err := p.CheckConfig(ctx, env, args); err != nil {
		return nil, err
	}
	c, err := loadConfig(args.StdinData, args.Args)
	if err != nil {
		return nil, err
	}
	log := env.Log.With("container_id", args.ContainerID, "ifname", args.IfName, "bridge", c.Bridge)

	success := false
	undo := func(what string, fn func(context.Context) error) {
		if success {
			return
		}
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
		defer cancel()
		if err := fn(uctx); err != nil {
			log.Error("undoing a failed ADD", "step", what, "error", err)
		}
	}

	br, created, err := ensureBridge(c)
	if err != nil {
		return nil, err
	}
	if created {
		// Runs last, once the veth is gone: a bridge this ADD made goes
		// with it, unless another container's port joined it meanwhile.
		// (An IPAM plugin that runs out of process cannot be checked
		// beforehand, so its refusal can come after the bridge exists.)
		defer undo("delete the new bridge", func(context.Context) error { return deleteBridgeIfUnused(c.Bridge) })
	}

	hostName := hostVethName(c, args.ContainerID, args.IfName)
	host, err := createVeth(c, args.Netns, hostName, args.IfName)
	if err != nil {
		return nil, err
	}
	// Deleting the host end removes the container end with it.
	defer undo("delete veth", func(context.Context) error { return deleteLinkByName(hostName) })

	if err := attachPort(c, host, br); err != nil {
		return nil, err
	}
	cont, err := inspectContainerLink(args.Netns, args.IfName)
	if err != nil {
		return nil, err
	}
	if c.MacSpoofChk {
		// Lives on the veth: the veth's undo removes it too.
		if err := setupSpoofCheck(host, cont.mac); err != nil {
			return nil, err
		}
	}

	// IPs refer to the container interface by its index in this list.
	result := &current.Result{
		CNIVersion: current.ImplementedSpecVersion,
		Interfaces: interfaces(br, host, args.IfName, cont, args.Netns),
	}
	if c.hasIPAM {
		ires, err := ipam.Add(ctx, env, args.StdinData, args)
		if err != nil {
			return nil, err
		}
		defer undo("release addresses", func(uctx context.Context) error { return ipam.Del(uctx, env, args.StdinData, args) })
		result.IPs, result.Routes, result.DNS = ires.IPs, ires.Routes, ires.DNS
		gateways := planGateways(c, result)
		if err := configureContainer(args.Netns, args.IfName, result); err != nil {
			return nil, err
		}
		if c.IPMasq {
			att, addrs := c.attachment(args.ContainerID, args.IfName), addresses(result)
			if err := p.masq.Setup(ctx, att, addrs); err != nil {
				return nil, err
			}
			defer undo("remove masquerade rules", func(uctx context.Context) error { return p.masq.Teardown(uctx, att, addrs) })
		}
		for _, gw := range gateways {
			if err := ensureGateway(br, gw, c.ForceAddress); err != nil {
				return nil, err
			}
			if err := enableForwarding(gw.IP); err != nil {
				return nil, err
			}
		}
	} else if err := ifcfg.InNetNS(args.Netns, func() error { return setUp(args.IfName) }); err != nil {
		return nil, err
	}

	// The bridge's and the host end's MACs are read last: ports and
	// addresses may have changed them.
	if br, err = bridgeByName(c.Bridge); err != nil {
		return nil, err
	}
	if host, err = netlinksafe.LinkByName(hostName); err != nil {
		return nil, fmt.Errorf("looking up %s: %w", hostName, err)
	}
	result.Interfaces = interfaces(br, host, args.IfName, cont, args.Netns)
	if c.DNS.Nameservers != nil || c.DNS.Search != nil || c.DNS.Options != nil || c.DNS.Domain != "" {
		result.DNS = c.DNS
	}
	log.Debug("attached", "host_veth", hostName, "ips", len(result.IPs))
	success = true
	return result, nil
}

// planGateways points every IP at the container interface (index 2), fills
// in the gateway (the subnet's first address) where IPAM gave none and the
// bridge is the gateway, adds a default route per family for
// isDefaultGateway, and returns the addresses the bridge must carry.
func planGateways(c *config, res *current.Result) []net.IPNet {
	var gws []net.IPNet
	defaultDone := map[bool]bool{} // by "is IPv4"
	for _, r := range res.Routes {
		if ones, _ := r.Dst.Mask.Size(); ones == 0 {
			defaultDone[r.Dst.IP.To4() != nil] = true
		}
	}
	for _, ipc := range res.IPs {
		ipc.Interface = current.Int(2)
		v4 := ipc.Address.IP.To4() != nil
		if ipc.Gateway == nil && c.IsGateway {
			ipc.Gateway = firstHost(ipc.Address)
		}
		if c.IsDefaultGateway && !defaultDone[v4] {
			dst := net.IPNet{IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)}
			if v4 {
				dst = net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}
			}
			res.Routes = append(res.Routes, &types.Route{Dst: dst, GW: ipc.Gateway})
			defaultDone[v4] = true
		}
		if c.IsGateway {
			gws = append(gws, net.IPNet{IP: ipc.Gateway, Mask: ipc.Address.Mask})
		}
	}
	return gws
}

// firstHost returns the first address of n's subnet.
func firstHost(n net.IPNet) net.IP {
	ip := n.IP.Mask(n.Mask)
	if v4 := ip.To4(); v4 != nil {
		ip = v4
	}
	out := make(net.IP, len(ip))
	copy(out, ip)
	for i := len(out) - 1; i >= 0; i-- {
		out[i]++
		if out[i] != 0 {
			break
		}
	}
	return out
}

// configureContainer applies the result to ifName inside the namespace.
//
// arp_notify asks the kernel to announce the link's addresses as it comes
// up, so that neighbours learn a (possibly reused) address's new MAC. It is
// set over netlink: nothing under /proc/sys/net is touched in the
// container's namespace unless the result has an IPv6 address (see
// ifcfg.EnableARPNotify for what each namespace's first lookup there costs
// the whole host).
//
// An IPv6 address must be usable at once, so with one, DAD is turned off
// on the link (accept_dad=0). Without one, the link gets no IPv6 at all —
// no link-local address (addr_gen_mode none, see ifcfg.NoIPv6LinkLocal),
// as Docker does for IPv4-only networks: nothing weir configures needs it,
// policy drops such a container's IPv6 anyway, and the kernel's own
// link-local address made the link send MLD reports and router
// solicitations, each flooded to every port of the bridge through
// br_netfilter. (With DAD turned off for it, they went out the moment the
// link came up, from a work item holding RTNL, and the route additions
// below waited ~11 ms for them at 1,000 containers; with DAD, a second or
// two later, loading the host while other containers attach.)
func configureContainer(netnsPath, ifName string, res *current.Result) error {
	return ifcfg.InNetNS(netnsPath, func() error {
		// Best effort, as the sysctl was: IPv4 and the knob are always
		// there in practice.
		_ = ifcfg.EnableARPNotify(ifName)
		if hasIPv6(res) {
			// Absent when IPv6 is disabled.
			_ = ifcfg.SetSysctl("net/ipv6/conf/"+ifName+"/accept_dad", "0")
		} else {
			// Fails only where IPv6 is off already.
			_ = ifcfg.NoIPv6LinkLocal(ifName)
		}
		if err := ifcfg.ConfigureIface(ifName, res); err != nil {
			return fmt.Errorf("configuring %s in netns %s: %w", ifName, netnsPath, err)
		}
		return nil
	})
}

// hasIPv6 reports whether the result has an IPv6 address (all of a bridge
// result's addresses are the container interface's).
func hasIPv6(res *current.Result) bool {
	for _, ipc := range res.IPs {
		if ipc.Address.IP.To4() == nil {
			return true
		}
	}
	return false
}

// setUp brings a link of the current namespace up.
func setUp(name string) error {
	l, err := netlinksafe.LinkByName(name)
	if err != nil {
		return fmt.Errorf("looking up %s: %w", name, err)
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return fmt.Errorf("setting %s up: %w", name, err)
	}
	return nil
}

// addresses returns the result's addresses with their subnets.
func addresses(res *current.Result) []net.IPNet {
	out := make([]net.IPNet, 0, len(res.IPs))
	for _, ipc := range res.IPs {
		out = append(out, ipc.Address)
	}
	return out
}
