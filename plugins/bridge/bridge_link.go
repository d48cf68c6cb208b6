package bridge

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net"

	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/weirnet/weir/plugins/internal/ifcfg"
)

// ensureBridge makes the configured bridge exist and be up, with the
// configured MTU, promiscuous mode and (when a VLAN is set) VLAN filtering.
// A new bridge gets a fixed random MAC; an existing one has its current MAC
// pinned, so the gateway's address does not follow the lowest port's MAC
// as containers come and go. created says this call made the bridge.
func ensureBridge(c *config) (br *netlink.Bridge, created bool, err error) {
	attrs := netlink.NewLinkAttrs()
	attrs.Name = c.Bridge
	attrs.MTU = c.MTU
	mac, err := randomMAC()
	if err != nil {
		return nil, false, err
	}
	attrs.HardwareAddr = mac
	want := &netlink.Bridge{LinkAttrs: attrs}
	if c.Vlan != 0 {
		on := true
		want.VlanFiltering = &on
	}
	err = netlink.LinkAdd(want)
	created = err == nil
	if err != nil && !errors.Is(err, unix.EEXIST) {
		if c.Vlan != 0 && errors.Is(err, unix.EOPNOTSUPP) {
			return nil, false, fmt.Errorf("creating bridge %q with VLAN filtering (vlan %d): %w (the kernel lacks bridge VLAN filtering)", c.Bridge, c.Vlan, err)
		}
		return nil, false, fmt.Errorf("creating bridge %q: %w", c.Bridge, err)
	}
	// From here on, a failure must not leave a bridge this call made.
	defer func() {
		if err != nil && created {
			_ = deleteBridgeIfUnused(c.Bridge)
		}
	}()
	if br, err = bridgeByName(c.Bridge); err != nil {
		return nil, created, err
	}
	if !created {
		if err = adoptBridge(c, br); err != nil {
			return nil, false, err
		}
	}
	if c.PromiscMode && br.Promisc == 0 {
		if err = netlink.SetPromiscOn(br); err != nil {
			return nil, created, fmt.Errorf("setting bridge %q promiscuous: %w", c.Bridge, err)
		}
	}
	// The plugin owns the bridge's routes; router advertisements must not
	// add any. Absent with IPv6 disabled, hence best effort.
	_ = ifcfg.SetSysctl("net/ipv6/conf/"+c.Bridge+"/accept_ra", "0")
	if br.Flags&net.FlagUp == 0 {
		if err = netlink.LinkSetUp(br); err != nil {
			return nil, created, fmt.Errorf("setting bridge %q up: %w", c.Bridge, err)
		}
	}
	br, err = bridgeByName(c.Bridge)
	return br, created, err
}

// deleteBridgeIfUnused deletes the bridge name unless a port is on it (a
// missing bridge is success): for undoing a failed ADD that made the
// bridge, while another container's ADD may have joined it since.
func deleteBridgeIfUnused(name string) error {
	br, err := bridgeByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return err
	}
	links, err := netlinksafe.LinkList()
	if err != nil {
		return fmt.Errorf("listing links for the ports of bridge %q: %w", name, err)
	}
	for _, l := range links {
		if l.Attrs().MasterIndex == br.Index {
			return nil
		}
	}
	if err := netlink.LinkDel(br); err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("deleting bridge %q: %w", name, err)
	}
	return nil
}

// adoptBridge brings a bridge that already existed to the configuration.
func adoptBridge(c *config, br *netlink.Bridge) error {
	if c.Vlan != 0 && (br.VlanFiltering == nil || !*br.VlanFiltering) {
		if err := netlink.BridgeSetVlanFiltering(br, true); err != nil {
			return fmt.Errorf("enabling VLAN filtering on bridge %q (vlan %d): %w", c.Bridge, c.Vlan, err)
		}
	}
	if c.MTU != 0 && br.MTU != c.MTU {
		if err := netlink.LinkSetMTU(br, c.MTU); err != nil {
			return fmt.Errorf("setting bridge %q mtu %d: %w", c.Bridge, c.MTU, err)
		}
	}
	mac := br.HardwareAddr
	if isZeroMAC(mac) {
		// The kernel zeroes a bridge's MAC when its last port leaves.
		var err error
		if mac, err = randomMAC(); err != nil {
			return err
		}
	}
	if err := netlink.LinkSetHardwareAddr(br, mac); err != nil {
		return fmt.Errorf("pinning bridge %q mac %s: %w", c.Bridge, mac, err)
	}
	return nil
}

// bridgeByName looks up a link that must be a bridge.
func bridgeByName(name string) (*netlink.Bridge, error) {
	l, err := netlinksafe.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("looking up bridge %q: %w", name, err)
	}
	br, ok := l.(*netlink.Bridge)
	if !ok {
		return nil, fmt.Errorf("%q exists but is a %s, not a bridge", name, l.Type())
	}
	return br, nil
}

// randomMAC returns a random locally administered unicast MAC, as the kernel
// makes them.
func randomMAC() (net.HardwareAddr, error) {
	mac := make(net.HardwareAddr, 6)
	if _, err := rand.Read(mac); err != nil {
		return nil, fmt.Errorf("generating a MAC address: %w", err)
	}
	mac[0] = mac[0]&0xfe | 0x02
	return mac, nil
}

// ensureGateway puts gw (the gateway address with the container subnet's
// mask) on the bridge. Another address of the bridge in the same subnet is
// replaced when force is set and is an error otherwise; addresses in other
// subnets are left alone, so one bridge can be the gateway of several.
func ensureGateway(br netlink.Link, gw net.IPNet, force bool) error {
	name := br.Attrs().Name
	family := netlink.FAMILY_V4
	if gw.IP.To4() == nil {
		family = netlink.FAMILY_V6
	}
	addrs, err := netlinksafe.AddrList(br, family)
	if err != nil {
		return fmt.Errorf("listing addresses of bridge %q: %w", name, err)
	}
	found := false
	for _, a := range addrs {
		if a.IP.Equal(gw.IP) && a.Mask.String() == gw.Mask.String() {
			found = true
			continue
		}
		if !a.Contains(gw.IP) && !gw.Contains(a.IP) {
			continue
		}
		if !force {
			return fmt.Errorf("bridge %q already has address %s in the subnet of gateway %s (set forceAddress to replace it)", name, a.IPNet, gw.String())
		}
		if err := netlink.AddrDel(br, &netlink.Addr{IPNet: a.IPNet}); err != nil {
			return fmt.Errorf("removing address %s from bridge %q: %w", a.IPNet, name, err)
		}
	}
	if found {
		return nil
	}
	addr := &netlink.Addr{IPNet: &gw}
	if family == netlink.FAMILY_V6 {
		addr.Flags = unix.IFA_F_NODAD // the gateway must answer at once
	}
	if err := netlink.AddrAdd(br, addr); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("adding gateway address %s to bridge %q: %w", gw.String(), name, err)
	}
	return nil
}

// enableForwarding turns on IP forwarding for the gateway's family.
func enableForwarding(ip net.IP) error {
	if ip.To4() != nil {
		return ifcfg.SetSysctl("net/ipv4/ip_forward", "1")
	}
	return ifcfg.SetSysctl("net/ipv6/conf/all/forwarding", "1")
}
