package portmap

import (
	"net/netip"

	"github.com/weirnet/weir/plugins/internal/masq"
)

// plan is everything one attachment's rules are rendered from. It is also
// the record state.go keeps, so DEL and GC see what ADD applied.
type plan struct {
	Network      string       `json:"network"`
	ContainerID  string       `json:"containerID"`
	IfName       string       `json:"ifName"`
	Mappings     []mapping    `json:"mappings"`
	Addrs        []netip.Addr `json:"addresses"`
	SNAT         bool         `json:"snat"`
	MarkMasqBit  *int         `json:"markMasqBit,omitempty"`
	ConditionsV4 []string     `json:"conditionsV4,omitempty"`
	ConditionsV6 []string     `json:"conditionsV6,omitempty"`
}

func (p *plan) attachment() masq.Attachment {
	return masq.Attachment{Network: p.Network, ContainerID: p.ContainerID, IfName: p.IfName}
}

func (p *plan) chains() (dn, sn string) { return Chains(p.Network, p.ContainerID, p.IfName) }

func familyOf(a netip.Addr) masq.Family {
	if a.Is4() {
		return masq.IPv4
	}
	return masq.IPv6
}

// addrs returns the container's addresses of family f.
func (p *plan) addrs(f masq.Family) []netip.Addr {
	var out []netip.Addr
	for _, a := range p.Addrs {
		if familyOf(a) == f {
			out = append(out, a)
		}
	}
	return out
}

// hostAddr returns the mapping's host address; ok is false without one
// (or, in a damaged record, with one that does not parse).
func (m mapping) hostAddr() (netip.Addr, bool) {
	a, err := netip.ParseAddr(m.HostIP)
	return a, err == nil
}

// mappings returns the mappings that apply to family f: those without a
// host address and those whose host address is of that family.
func (p *plan) mappings(f masq.Family) []mapping {
	var out []mapping
	for _, m := range p.Mappings {
		if a, ok := m.hostAddr(); m.HostIP == "" || (ok && familyOf(a) == f) {
			out = append(out, m)
		}
	}
	return out
}

// families returns the families that get rules: those with both an
// address and a mapping.
func (p *plan) families() []masq.Family {
	var out []masq.Family
	for _, f := range bothFamilies() {
		if len(p.addrs(f)) > 0 && len(p.mappings(f)) > 0 {
			out = append(out, f)
		}
	}
	return out
}
