package portmap

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/hashicorp/go-hclog"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/weirnet/weir/plugins/internal/ifcfg"
	"github.com/weirnet/weir/plugins/internal/masq"
)

// enableLocalnet lets connections from 127.0.0.1 be routed to the
// container (after OUTPUT's DNAT) by setting route_localnet on the host
// interface the kernel routes the container's IPv4 address through — the
// bridge, for a bridge network. When no route says which, it is set on the
// host-side interfaces of prevResult, and when there are none on "all".
func enableLocalnet(addrs []netip.Addr, hostIfaces []string) error {
	var names []string
	seen := map[string]bool{}
	for _, a := range addrs {
		if !a.Is4() {
			continue
		}
		if name := routeIface(a); name != "" && !seen[name] {
			seen[name] = true
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		for _, n := range hostIfaces {
			if _, err := netlinksafe.LinkByName(n); err == nil {
				names = append(names, n)
			}
		}
	}
	if len(names) == 0 {
		names = []string{"all"}
	}
	for _, n := range names {
		if err := ifcfg.SetSysctl("net/ipv4/conf/"+n+"/route_localnet", "1"); err != nil {
			return fmt.Errorf("letting 127.0.0.1 reach the container through %s: %w", n, err)
		}
	}
	return nil
}

// routeIface returns the interface the host routes a through, or "".
func routeIface(a netip.Addr) string {
	routes, err := netlink.RouteGet(net.IP(a.AsSlice()))
	if err != nil {
		return ""
	}
	for _, r := range routes {
		if l, err := netlink.LinkByIndex(r.LinkIndex); err == nil {
			return l.Attrs().Name
		}
	}
	return ""
}

// flushUDP drops the conntrack entries of p's udp host ports in the given
// families. Without this a flow that was tracked before the rules changed
// (a datagram sent before ADD, or a live flow at DEL) keeps its old
// translation. Failures are only logged: the rules are right either way.
func flushUDP(p *plan, fams []masq.Family, log hclog.Logger) {
	if p == nil {
		return
	}
	for _, f := range fams {
		family := netlink.InetFamily(unix.AF_INET)
		if f == masq.IPv6 {
			family = unix.AF_INET6
		}
		for _, m := range p.mappings(f) {
			if m.Protocol != "udp" {
				continue
			}
			filter := &netlink.ConntrackFilter{}
			err := filter.AddProtocol(unix.IPPROTO_UDP)
			if err == nil {
				err = filter.AddPort(netlink.ConntrackOrigDstPort, uint16(m.HostPort))
			}
			if err != nil {
				log.Warn("building conntrack filter", "port", m.HostPort, "error", err)
				continue
			}
			if _, err := netlinksafe.ConntrackDeleteFilters(netlink.ConntrackTable, family, filter); err != nil {
				log.Warn("dropping stale udp conntrack entries", "family", f.String(), "port", m.HostPort, "error", err)
			}
		}
	}
}
