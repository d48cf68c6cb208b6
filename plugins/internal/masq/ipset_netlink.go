package masq

import (
	"net"

	"github.com/weirnet/weir/plugins/internal/ipset"
)

// NetlinkSets is the kernel's ipsets as masq uses them: hash:ip sets with
// member comments, driven over netlink by plugins/internal/ipset (no fork,
// a few tens of microseconds a call, a header listing that costs the same
// whatever the set holds). Each request opens its socket in the calling
// thread's network namespace.
type NetlinkSets struct{}

var _ Sets = NetlinkSets{}

func ipsetFamily(f Family) ipset.Family {
	if f == IPv6 {
		return ipset.IPv6
	}
	return ipset.IPv4
}

func info(i ipset.Info) SetInfo {
	s := SetInfo{Name: i.Name, Family: IPv4, Entries: i.Entries, References: i.References}
	if i.Family == ipset.IPv6 {
		s.Family = IPv6
	}
	for _, e := range i.Members {
		s.Members = append(s.Members, Member{IP: e.IP, Comment: e.Comment})
	}
	return s
}

// Create implements Sets. The kernel accepts a set of the name that exists
// with the same type and options (it does not compare the family, which
// masq's set names already encode).
func (NetlinkSets) Create(name string, f Family) error {
	return ipset.Netlink{}.Create(name, ipset.HashIP, ipsetFamily(f))
}

// Add implements Sets: an existing member is success, and its comment is
// replaced.
func (NetlinkSets) Add(name string, m Member) error {
	return ipset.Netlink{}.Add(name, ipset.Entry{IP: m.IP, Comment: m.Comment})
}

// Del implements Sets: the kernel says when the member is missing, which
// is success.
func (NetlinkSets) Del(name string, ip net.IP) (bool, error) {
	return ipset.Netlink{}.Del(name, ipset.Entry{IP: ip})
}

// Destroy implements Sets.
func (NetlinkSets) Destroy(name string) error { return ipset.Netlink{}.Destroy(name) }

// Header implements Sets.
func (NetlinkSets) Header(name string) (SetInfo, error) {
	i, err := ipset.Netlink{}.Header(name)
	if err != nil {
		return SetInfo{}, err
	}
	return info(i), nil
}

// List implements Sets.
func (NetlinkSets) List(name string) (SetInfo, error) {
	i, err := ipset.Netlink{}.List(name)
	if err != nil {
		return SetInfo{}, err
	}
	return info(i), nil
}

// Headers implements Sets.
func (NetlinkSets) Headers() ([]SetInfo, error) {
	all, err := ipset.Netlink{}.Headers()
	if err != nil {
		return nil, err
	}
	out := make([]SetInfo, len(all))
	for i, s := range all {
		out[i] = info(s)
	}
	return out, nil
}
