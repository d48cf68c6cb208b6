package bridge

import (
	"context"
	"fmt"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"
	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/vishvananda/netlink"

	"github.com/weirnet/weir/plugins/internal/ifcfg"
	"github.com/weirnet/weir/plugins/internal/ipam"
	"github.com/weirnet/weir/plugins/pluginkit"
)

// Check verifies that the attachment ADD made (given as prevResult) is
// still in place: the IPAM allocation, the bridge, the host end of the veth
// enslaved to it and paired with the container's interface, that
// interface's MAC, addresses and routes, and the masquerade rules and MAC
// spoof check when configured.
func (p *Plugin) Check(ctx context.Context, env *pluginkit.Env, args *skel.CmdArgs) error {
	c, err := loadConfig(args.StdinData, args.Args)
	if err != nil {
		return err
	}
	if c.RawPrevResult == nil {
		return pluginkit.ConfigError("prevResult", "CHECK needs the result of ADD")
	}
	if err := version.ParsePrevResult(&c.NetConf.NetConf); err != nil {
		return pluginkit.Errorf(types.ErrDecodingFailure, "decoding prevResult: %w", err)
	}
	res, err := current.NewResultFromResult(c.PrevResult)
	if err != nil {
		return pluginkit.Errorf(types.ErrDecodingFailure, "converting prevResult: %w", err)
	}
	if c.hasIPAM {
		if err := ipam.Check(ctx, env, args.StdinData, args); err != nil {
			return err
		}
	}
	var want *current.Interface
	for _, i := range res.Interfaces {
		if i.Name == args.IfName && i.Sandbox == args.Netns {
			want = i
		}
	}
	if want == nil {
		return fmt.Errorf("prevResult has no interface %s in netns %s", args.IfName, args.Netns)
	}

	br, err := checkBridge(c)
	if err != nil {
		return err
	}
	hostName := hostVethName(c, args.ContainerID, args.IfName)
	host, err := checkHostVeth(c, hostName, br, res)
	if err != nil {
		return err
	}
	cont, err := inspectContainerLink(args.Netns, args.IfName)
	if err != nil {
		return err
	}
	if cont.peerIndex != host.Attrs().Index {
		return fmt.Errorf("%s in netns %s is not paired with host veth %s", args.IfName, args.Netns, hostName)
	}
	if want.Mac != "" && cont.mac.String() != want.Mac {
		return fmt.Errorf("%s in netns %s has MAC %s, prevResult says %s", args.IfName, args.Netns, cont.mac, want.Mac)
	}
	if c.mac != nil && cont.mac.String() != c.mac.String() {
		return fmt.Errorf("%s in netns %s has MAC %s, the configuration asks for %s", args.IfName, args.Netns, cont.mac, c.mac)
	}
	if err := ifcfg.InNetNS(args.Netns, func() error { return ifcfg.CheckIface(args.IfName, res) }); err != nil {
		return fmt.Errorf("checking %s in netns %s: %w", args.IfName, args.Netns, err)
	}
	if c.MacSpoofChk {
		if err := checkSpoofCheck(host); err != nil {
			return err
		}
	}
	if c.IPMasq {
		if err := p.masq.Check(ctx, c.attachment(args.ContainerID, args.IfName), addresses(res)); err != nil {
			return err
		}
	}
	return nil
}

// checkBridge verifies the bridge exists with the configured promiscuous
// mode and VLAN filtering.
func checkBridge(c *config) (*netlink.Bridge, error) {
	br, err := bridgeByName(c.Bridge)
	if err != nil {
		return nil, err
	}
	if c.PromiscMode && br.Promisc == 0 {
		return nil, fmt.Errorf("bridge %q is not promiscuous", c.Bridge)
	}
	if c.Vlan != 0 && (br.VlanFiltering == nil || !*br.VlanFiltering) {
		return nil, fmt.Errorf("bridge %q does not filter VLANs", c.Bridge)
	}
	return br, nil
}

// checkHostVeth verifies the host end: a veth enslaved to br, with the
// configured hairpin mode and VLAN, and the MAC prevResult recorded.
func checkHostVeth(c *config, name string, br *netlink.Bridge, res *current.Result) (netlink.Link, error) {
	host, err := netlinksafe.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("looking up host veth %s: %w", name, err)
	}
	if _, ok := host.(*netlink.Veth); !ok {
		return nil, fmt.Errorf("host interface %s is a %s, not a veth", name, host.Type())
	}
	if host.Attrs().MasterIndex != br.Index {
		return nil, fmt.Errorf("host veth %s is not attached to bridge %q", name, c.Bridge)
	}
	for _, i := range res.Interfaces {
		if i.Name == name && i.Sandbox == "" && i.Mac != "" && i.Mac != host.Attrs().HardwareAddr.String() {
			return nil, fmt.Errorf("host veth %s has MAC %s, prevResult says %s", name, host.Attrs().HardwareAddr, i.Mac)
		}
	}
	pi, err := netlinksafe.LinkGetProtinfo(host)
	if err != nil {
		return nil, fmt.Errorf("reading bridge port flags of %s: %w", name, err)
	}
	if pi.Hairpin != c.HairpinMode {
		return nil, fmt.Errorf("host veth %s has hairpin mode %v, the configuration asks for %v", name, pi.Hairpin, c.HairpinMode)
	}
	if c.Vlan != 0 {
		pvid, err := portPVID(host)
		if err != nil {
			return nil, err
		}
		if pvid != c.Vlan {
			return nil, fmt.Errorf("host veth %s has PVID %d, the configuration asks for VLAN %d", name, pvid, c.Vlan)
		}
	}
	return host, nil
}

// portPVID returns the untagged PVID of a bridge port, 0 when it has none.
func portPVID(port netlink.Link) (int, error) {
	vlans, err := netlinksafe.BridgeVlanList()
	if err != nil {
		return 0, fmt.Errorf("listing bridge VLANs: %w", err)
	}
	for _, v := range vlans[int32(port.Attrs().Index)] {
		if v.PortVID() && v.EngressUntag() {
			return int(v.Vid), nil
		}
	}
	return 0, nil
}
