package bridge

import (
	"errors"
	"fmt"
	"net"

	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/weirnet/weir/plugins/internal/ifcfg"
)

// hostVethName is the stable name of the attachment's host-side veth.
func hostVethName(c *config, containerID, ifName string) string {
	return ifcfg.HostLinkName("veth", c.Name, containerID, ifName)
}

// createVeth makes the veth pair: hostName in this namespace, ifName
// directly in the namespace at netnsPath (never moved, so it is never
// visible on the host under the container's name), both with the
// configured MTU, the container end with the configured MAC, the host end
// without IPv6.
func createVeth(c *config, netnsPath, hostName, ifName string) (netlink.Link, error) {
	if _, err := netlinksafe.LinkByName(hostName); err == nil {
		return nil, fmt.Errorf("host interface %s already exists: the attachment is already set up (DEL it first)", hostName)
	}
	netns, err := ns.GetNS(netnsPath)
	if err != nil {
		return nil, fmt.Errorf("opening netns %s: %w", netnsPath, err)
	}
	defer netns.Close()
	attrs := netlink.NewLinkAttrs()
	attrs.Name = hostName
	attrs.MTU = c.MTU
	veth := &netlink.Veth{
		LinkAttrs:        attrs,
		PeerName:         ifName,
		PeerNamespace:    netlink.NsFd(int(netns.Fd())),
		PeerHardwareAddr: c.mac,
		PeerMTU:          uint32(c.MTU),
	}
	if err := netlink.LinkAdd(veth); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return nil, fmt.Errorf("creating veth %s/%s: interface %s already exists in netns %s", hostName, ifName, ifName, netnsPath)
		}
		return nil, fmt.Errorf("creating veth %s with peer %s in netns %s: %w", hostName, ifName, netnsPath, err)
	}
	host, err := netlinksafe.LinkByName(hostName)
	if err != nil {
		return nil, fmt.Errorf("looking up new veth %s: %w", hostName, err)
	}
	disableIPv6(hostName)
	return host, nil
}

// disableIPv6 turns IPv6 off on the host end before it comes up: a bridge
// port forwards frames and needs no address. With IPv6 on, every port got a
// link-local address and three routes in the host's IPv6 table (3,000 at
// 1,000 containers, which the kernel walks whole as ports come and go),
// and sent DAD probes, router solicitations and MLD reports into its
// container. Bridged IPv6, the container's own IPv6 and the bridge's
// addresses are unaffected. Best effort: the knob is absent when IPv6 is
// disabled.
func disableIPv6(hostName string) {
	_ = ifcfg.SetSysctl("net/ipv6/conf/"+hostName+"/disable_ipv6", "1")
}

// attachPort enslaves the host end to the bridge, sets hairpin mode, puts
// the port untagged in the configured VLAN (as its PVID, and in no other
// VLAN) and brings it up.
func attachPort(c *config, host netlink.Link, br *netlink.Bridge) error {
	name := host.Attrs().Name
	if err := netlink.LinkSetMaster(host, br); err != nil {
		return fmt.Errorf("attaching %s to bridge %q: %w", name, br.Name, err)
	}
	if err := netlink.LinkSetHairpin(host, c.HairpinMode); err != nil {
		return fmt.Errorf("setting hairpin mode of %s: %w", name, err)
	}
	if c.Vlan != 0 {
		vlans, err := netlinksafe.BridgeVlanList()
		if err != nil {
			return fmt.Errorf("listing VLANs of %s: %w", name, err)
		}
		for _, v := range vlans[int32(host.Attrs().Index)] {
			if err := netlink.BridgeVlanDel(host, v.Vid, false, false, false, true); err != nil {
				return fmt.Errorf("removing default VLAN %d from %s: %w", v.Vid, name, err)
			}
		}
		if err := netlink.BridgeVlanAdd(host, uint16(c.Vlan), true, true, false, true); err != nil {
			return fmt.Errorf("putting %s in VLAN %d: %w", name, c.Vlan, err)
		}
	}
	if err := netlink.LinkSetUp(host); err != nil {
		return fmt.Errorf("setting %s up: %w", name, err)
	}
	return nil
}

// containerLink describes the container end of the veth.
type containerLink struct {
	mac       net.HardwareAddr
	index     int
	peerIndex int // the host end's index in the host namespace
}

// inspectContainerLink reads ifName inside the namespace at netnsPath,
// which must be a veth.
func inspectContainerLink(netnsPath, ifName string) (*containerLink, error) {
	var out containerLink
	err := ifcfg.InNetNS(netnsPath, func() error {
		l, err := netlinksafe.LinkByName(ifName)
		if err != nil {
			return fmt.Errorf("looking up %s in netns %s: %w", ifName, netnsPath, err)
		}
		veth, ok := l.(*netlink.Veth)
		if !ok {
			return fmt.Errorf("%s in netns %s is a %s, not a veth", ifName, netnsPath, l.Type())
		}
		peer, err := netlink.VethPeerIndex(veth)
		if err != nil {
			return fmt.Errorf("reading the peer of %s in netns %s: %w", ifName, netnsPath, err)
		}
		out = containerLink{mac: l.Attrs().HardwareAddr, index: l.Attrs().Index, peerIndex: peer}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// deleteLinkByName removes a link of this namespace; a missing one is
// success.
func deleteLinkByName(name string) error {
	l, err := netlinksafe.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return fmt.Errorf("looking up %s: %w", name, err)
	}
	if err := netlink.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("deleting %s: %w", name, err)
	}
	return nil
}

// interfaces returns the result's interface list: the bridge, the host end
// and the container end, in that order (IPs refer to index 2).
func interfaces(br netlink.Link, host netlink.Link, ifName string, cont *containerLink, netnsPath string) []*current.Interface {
	return []*current.Interface{
		{Name: br.Attrs().Name, Mac: br.Attrs().HardwareAddr.String()},
		{Name: host.Attrs().Name, Mac: host.Attrs().HardwareAddr.String()},
		{Name: ifName, Mac: cont.mac.String(), Sandbox: netnsPath},
	}
}
