package loopback

import (
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
)

// setLo sets lo up or down in the current namespace and returns it.
func setLo(up bool) (netlink.Link, error) {
	link, err := netlink.LinkByName(loName)
	if err != nil {
		return nil, fmt.Errorf("looking up lo: %w", err)
	}
	if up {
		err = netlink.LinkSetUp(link)
	} else {
		err = netlink.LinkSetDown(link)
	}
	if err != nil {
		return nil, fmt.Errorf("setting lo up=%t: %w", up, err)
	}
	return link, nil
}

// loAddrs returns lo's addresses in the current namespace, IPv4 first. An
// address that is not a loopback address means lo is not what this plugin
// expects, and is an error.
func loAddrs(link netlink.Link) ([]net.IPNet, error) {
	var out []net.IPNet
	for _, family := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		addrs, err := netlink.AddrList(link, family)
		if err != nil {
			return nil, fmt.Errorf("listing addresses of lo: %w", err)
		}
		for _, a := range addrs {
			if !a.IP.IsLoopback() {
				return nil, fmt.Errorf("lo has the non-loopback address %s", a.IPNet)
			}
			out = append(out, *a.IPNet)
		}
	}
	return out, nil
}

// hwAddr is lo's MAC address as the result spells it.
func hwAddr(link netlink.Link) string {
	if hw := link.Attrs().HardwareAddr; len(hw) > 0 {
		return hw.String()
	}
	return "00:00:00:00:00:00"
}
