package ifcfg

import (
	"errors"
	"fmt"
	"net"
	"syscall"

	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/vishvananda/netlink"
)

// ipsFor returns the result's IPs that belong to the interface named ifName.
// An IP without an interface index belongs to ifName.
func ipsFor(ifName string, res *current.Result) ([]*current.IPConfig, error) {
	var out []*current.IPConfig
	for _, ipc := range res.IPs {
		if ipc.Interface != nil {
			i := *ipc.Interface
			if i < 0 || i >= len(res.Interfaces) {
				return nil, fmt.Errorf("address %s has invalid interface index %d", ipc.Address.String(), i)
			}
			if res.Interfaces[i].Name != ifName {
				continue
			}
		}
		out = append(out, ipc)
	}
	return out, nil
}

// ConfigureIface applies res to the link ifName in the current namespace:
// every address of the interface, the link up, then the routes (a route
// without a gateway uses the gateway of the first address of its family).
// Call it inside the container's namespace.
func ConfigureIface(ifName string, res *current.Result) error {
	link, err := netlink.LinkByName(ifName)
	if err != nil {
		return fmt.Errorf("looking up %s: %w", ifName, err)
	}
	ips, err := ipsFor(ifName, res)
	if err != nil {
		return err
	}
	var gw4, gw6 net.IP
	for _, ipc := range ips {
		if ipc.Address.IP.To4() == nil {
			// An IPv6 address needs IPv6 enabled on the link; keep it
			// across a down/up so routes stay valid.
			_ = SetSysctl("net/ipv6/conf/"+ifName+"/disable_ipv6", "0")
			_ = SetSysctl("net/ipv6/conf/"+ifName+"/keep_addr_on_down", "1")
			if gw6 == nil {
				gw6 = ipc.Gateway
			}
		} else if gw4 == nil {
			gw4 = ipc.Gateway
		}
		addr := &netlink.Addr{IPNet: &ipc.Address}
		if err := netlink.AddrAdd(link, addr); err != nil && !errors.Is(err, syscall.EEXIST) {
			return fmt.Errorf("adding address %s to %s: %w", ipc.Address.String(), ifName, err)
		}
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("setting %s up: %w", ifName, err)
	}
	for _, r := range res.Routes {
		gw := r.GW
		if gw == nil {
			if r.Dst.IP.To4() != nil {
				gw = gw4
			} else {
				gw = gw6
			}
		}
		route := &netlink.Route{LinkIndex: link.Attrs().Index, Dst: &r.Dst, Gw: gw, Priority: r.Priority, MTU: r.MTU, Table: tableOrMain(r.Table)}
		if r.Scope != nil {
			route.Scope = netlink.Scope(*r.Scope)
		}
		if err := netlink.RouteReplace(route); err != nil {
			return fmt.Errorf("adding route to %s via %s on %s: %w", r.Dst.String(), gw, ifName, err)
		}
	}
	return nil
}

func tableOrMain(t *int) int {
	if t == nil {
		return 0
	}
	return *t
}

// CheckIface verifies, in the current namespace, that ifName exists, is up
// and carries every address res gives it, and that every route of res is
// present. It is CHECK's common part.
func CheckIface(ifName string, res *current.Result) error {
	link, err := netlink.LinkByName(ifName)
	if err != nil {
		return fmt.Errorf("looking up %s: %w", ifName, err)
	}
	if link.Attrs().Flags&net.FlagUp == 0 {
		return fmt.Errorf("interface %s is down", ifName)
	}
	ips, err := ipsFor(ifName, res)
	if err != nil {
		return err
	}
	have, err := netlink.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		return fmt.Errorf("listing addresses of %s: %w", ifName, err)
	}
	for _, ipc := range ips {
		found := false
		for _, a := range have {
			if a.IPNet.IP.Equal(ipc.Address.IP) && a.IPNet.Mask.String() == ipc.Address.Mask.String() {
				found = true
				break
			}
		}
		if !found {
			return fmt.Errorf("interface %s lacks address %s", ifName, ipc.Address.String())
		}
	}
	for _, r := range res.Routes {
		dst := r.Dst
		routes, err := netlink.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Dst: &dst, Table: tableOrMain(r.Table)}, netlink.RT_FILTER_DST)
		if err != nil {
			return fmt.Errorf("listing routes to %s: %w", dst.String(), err)
		}
		if len(routes) == 0 && !isDefault(&dst) {
			return fmt.Errorf("route to %s is missing", dst.String())
		}
		if len(routes) == 0 {
			all, err := netlink.RouteList(nil, netlink.FAMILY_ALL)
			if err != nil {
				return fmt.Errorf("listing routes: %w", err)
			}
			ok := false
			for _, rt := range all {
				if (rt.Dst == nil || isDefault(rt.Dst)) && (rt.Gw.To4() != nil) == (dst.IP.To4() != nil) {
					ok = true
				}
			}
			if !ok {
				return fmt.Errorf("default route %s is missing", dst.String())
			}
		}
	}
	return nil
}

func isDefault(n *net.IPNet) bool {
	ones, _ := n.Mask.Size()
	return ones == 0
}
