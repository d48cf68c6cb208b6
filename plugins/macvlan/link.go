package macvlan

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"

	"github.com/weirnet/weir/plugins/internal/ifcfg"
	"github.com/weirnet/weir/plugins/pluginkit"
)

// errMasterUnavailable marks the errors that say the master interface is
// not there: not configured and no default route to take it from, or no
// interface of the configured name.
var errMasterUnavailable = errors.New("master interface unavailable")

// routeListV4 lists the current namespace's IPv4 routes, repeating the dump
// when the kernel reports it was interrupted by a concurrent change.
func routeListV4() ([]netlink.Route, error) {
	for attempt := 0; ; attempt++ {
		routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
		if errors.Is(err, netlink.ErrDumpInterrupted) && attempt < 5 {
			continue
		}
		return routes, err
	}
}

// defaultRouteLink returns the name of the interface that carries the
// default IPv4 route in the current (host) namespace's main table.
func defaultRouteLink() (string, error) {
	routes, err := routeListV4()
	if err != nil {
		return "", fmt.Errorf("listing IPv4 routes: %w", err)
	}
	for _, r := range routes {
		if r.Dst != nil {
			if ones, _ := r.Dst.Mask.Size(); ones != 0 {
				continue
			}
		}
		idx := r.LinkIndex
		if idx == 0 && len(r.MultiPath) > 0 {
			idx = r.MultiPath[0].LinkIndex
		}
		if idx == 0 {
			continue
		}
		l, err := netlink.LinkByIndex(idx)
		if err != nil {
			return "", fmt.Errorf("looking up interface %d of the default route: %w", idx, err)
		}
		return l.Attrs().Name, nil
	}
	return "", fmt.Errorf("%w: \"master\" is not set and the host namespace has no default IPv4 route to take it from", errMasterUnavailable)
}

// findMaster returns the master interface in the current (host) namespace,
// filling in c.Master when it was not configured. When the interface is not
// there the error wraps errMasterUnavailable and names it.
func findMaster(c *config) (netlink.Link, error) {
	if c.Master == "" {
		name, err := defaultRouteLink()
		if err != nil {
			return nil, fmt.Errorf("finding the default master interface: %w", err)
		}
		c.Master = name
	}
	m, err := netlink.LinkByName(c.Master)
	if err != nil {
		if isLinkNotFound(err) {
			return nil, fmt.Errorf("%w: master %q not found in the host namespace", errMasterUnavailable, c.Master)
		}
		return nil, fmt.Errorf("looking up master %q: %w", c.Master, err)
	}
	return m, nil
}

// resolveMaster is findMaster for ADD and CHECK: a missing master is an
// invalid configuration, and the configured MTU must not exceed the
// master's.
func resolveMaster(c *config) (netlink.Link, error) {
	m, err := findMaster(c)
	if errors.Is(err, errMasterUnavailable) {
		return nil, pluginkit.Errorf(types.ErrInvalidNetworkConfig, "%w", err)
	}
	if err != nil {
		return nil, pluginkit.Errorf(types.ErrInternal, "%w", err)
	}
	if mtu := m.Attrs().MTU; c.MTU > mtu {
		return nil, pluginkit.ConfigError("mtu", "%d is larger than the MTU %d of master %q", c.MTU, mtu, c.Master)
	}
	return m, nil
}

func isLinkNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf)
}

// tempLinkName returns the name the macvlan device of the attachment
// (containerID, ifName) has between its creation and its rename to
// ifName: "mvtmp" and ten hex digits of a hash of the attachment, a name
// no other link in the container's namespace has (not CNI_IFNAME, not one
// named like the master). It is the same for every ADD and DEL of the
// attachment, so a device left under it by an ADD killed before the
// rename is found and removed by the next ADD or DEL.
func tempLinkName(containerID, ifName string) string {
	h := sha256.Sum256([]byte(containerID + "\x00" + ifName))
	return "mvtmp" + hex.EncodeToString(h[:5])
}

// deleteTempLink removes, in the current (container) namespace, a device
// an interrupted ADD left under the attachment's temporary name. Only a
// macvlan device goes.
func deleteTempLink(containerID, ifName string) error {
	err := deleteLink(tempLinkName(containerID, ifName))
	if errors.Is(err, errNotMacvlan) {
		return nil
	}
	return err
}

// createLink creates the macvlan device on master and places it in the
// namespace at netnsPath under the name ifName. The device is created
// straight into the container namespace (the netlink request carries the
// namespace), so it is never visible in the host namespace, then renamed
// there. On failure nothing is left behind. It returns the interface as the
// result describes it.
func createLink(c *config, master netlink.Link, netnsPath, containerID, ifName string) (*current.Interface, error) {
	netns, err := ns.GetNS(netnsPath)
	if err != nil {
		return nil, pluginkit.Errorf(types.ErrInvalidNetNS, "opening netns %q: %w", netnsPath, err)
	}
	defer netns.Close()

	tmpName := tempLinkName(containerID, ifName)
	if err := ifcfg.InNetNS(netnsPath, func() error { return deleteTempLink(containerID, ifName) }); err != nil {
		return nil, pluginkit.Errorf(types.ErrInternal, "removing what an interrupted ADD left: %w", err)
	}
	attrs := netlink.NewLinkAttrs()
	attrs.Name = tmpName
	attrs.MTU = c.MTU
	attrs.ParentIndex = master.Attrs().Index
	attrs.Namespace = netlink.NsFd(int(netns.Fd()))
	if c.mac != nil {
		attrs.HardwareAddr = c.mac
	}
	mv := &netlink.Macvlan{LinkAttrs: attrs, Mode: c.mode}
	if err := netlink.LinkAdd(mv); err != nil {
		return nil, pluginkit.Errorf(types.ErrInternal, "creating macvlan on master %q: %w", c.Master, err)
	}

	iface := &current.Interface{Name: ifName, Sandbox: netnsPath}
	err = ifcfg.InNetNS(netnsPath, func() error {
		created, err := netlink.LinkByName(tmpName)
		if err != nil {
			return fmt.Errorf("looking up new macvlan %s: %w", tmpName, err)
		}
		// The index stays the same across the rename, so created
		// deletes the device whatever its name.
		if err := netlink.LinkSetName(created, ifName); err != nil {
			_ = netlink.LinkDel(created)
			return fmt.Errorf("renaming macvlan %s to %s: %w", tmpName, ifName, err)
		}
		link, err := netlink.LinkByName(ifName)
		if err != nil {
			_ = netlink.LinkDel(created)
			return fmt.Errorf("looking up renamed macvlan %s: %w", ifName, err)
		}
		iface.Mac = link.Attrs().HardwareAddr.String()
		// Announce the (new) MAC address as soon as the link goes up so
		// that neighbours' caches do not keep a previous owner's:
		// arp_notify over netlink (see ifcfg.EnableARPNotify for why not
		// /proc/sys); ndisc_notify has no netlink setter.
		_ = ifcfg.EnableARPNotify(ifName)
		_ = ifcfg.SetSysctl("net/ipv6/conf/"+ifName+"/ndisc_notify", "1")
		return nil
	})
	if err != nil {
		return nil, pluginkit.Errorf(types.ErrInternal, "%w", err)
	}
	return iface, nil
}

// errNotMacvlan says a link named like the container interface is not a
// macvlan device, so this plugin did not make it.
var errNotMacvlan = errors.New("not a macvlan link")

// deleteLink removes the macvlan device ifName in the current namespace. A
// missing link is success; a link of another type is left alone and
// reported with errNotMacvlan.
func deleteLink(ifName string) error {
	link, err := netlink.LinkByName(ifName)
	if err != nil {
		if isLinkNotFound(err) {
			return nil
		}
		return fmt.Errorf("looking up %s: %w", ifName, err)
	}
	if _, ok := link.(*netlink.Macvlan); !ok {
		return fmt.Errorf("not deleting %s, a %s link: %w", ifName, link.Type(), errNotMacvlan)
	}
	if err := netlink.LinkDel(link); err != nil && !isLinkNotFound(err) {
		return fmt.Errorf("deleting %s: %w", ifName, err)
	}
	return nil
}

// checkLink verifies, in the current (container) namespace, that ifName is
// the macvlan device ADD made: its type, mode, master, MAC and MTU.
// hostNsID is the host namespace's id as the container namespace knows it
// (-1 when unknown).
func checkLink(c *config, ifName string, masterIndex, hostNsID int, wantMAC string) error {
	link, err := netlink.LinkByName(ifName)
	if err != nil {
		return fmt.Errorf("looking up %s: %w", ifName, err)
	}
	mv, ok := link.(*netlink.Macvlan)
	if !ok {
		return fmt.Errorf("interface %s is a %s link, not macvlan", ifName, link.Type())
	}
	if mv.Mode != c.mode {
		return fmt.Errorf("interface %s has macvlan mode %s, want %s", ifName, modeName(mv.Mode), c.Mode)
	}
	// IFLA_LINK is the master's index in the namespace that the
	// link-netnsid names, which must be the host's.
	a := mv.Attrs()
	if hostNsID >= 0 && a.NetNsID >= 0 && a.NetNsID != hostNsID {
		return fmt.Errorf("interface %s hangs off an interface in another namespace (netnsid %d), not master %q in the host's (netnsid %d)",
			ifName, a.NetNsID, c.Master, hostNsID)
	}
	if a.ParentIndex != masterIndex {
		return fmt.Errorf("interface %s hangs off interface %d, not master %q (index %d)", ifName, a.ParentIndex, c.Master, masterIndex)
	}
	if wantMAC != "" {
		want, err := net.ParseMAC(wantMAC)
		if err != nil {
			return fmt.Errorf("parsing MAC %q of %s in prevResult: %w", wantMAC, ifName, err)
		}
		if a.HardwareAddr.String() != want.String() {
			return fmt.Errorf("interface %s has MAC %s, prevResult says %s", ifName, a.HardwareAddr, want)
		}
	}
	if c.MTU != 0 && a.MTU != c.MTU {
		return fmt.Errorf("interface %s has MTU %d, want %d", ifName, a.MTU, c.MTU)
	}
	return nil
}
