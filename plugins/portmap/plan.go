package portmap

import (
	"fmt"
	"net/netip"

	"github.com/weirnet/weir/plugins/internal/masq"
)

// layoutSets marks a record of an attachment whose hairpin and localhost
// masquerade are set members (sets.go). A record without it (Layout 0) is
// an older weir's, whose attachment may still have its own masquerade
// chain (SNATPrefix): DEL removes such an attachment from iptables-save.
const layoutSets = 2

// plan is everything one attachment's rules are rendered from. It is also
// the record state.go keeps, so DEL and GC see what ADD applied.
type plan struct {
	Layout       int          `json:"layout,omitempty"`
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

// chains returns the attachment's DNAT chain and the name of the masquerade
// chain an older weir gave it.
func (p *plan) chains() (dn, legacySN string) { return Chains(p.Network, p.ContainerID, p.IfName) }

// comment is the comment of the attachment's rules and set members.
func (p *plan) comment() string { return p.attachment().Comment() }

// marked reports whether hairpin and localhost traffic is masqueraded by
// mark (markMasqBit) rather than by set membership.
func (p *plan) marked() bool {
	b := p.MarkMasqBit
	return p.SNAT && b != nil && *b >= 0 && *b <= 31
}

// mark returns the markMasqBit match, "" without one.
func (p *plan) mark() string {
	if !p.marked() {
		return ""
	}
	v := uint32(1) << *p.MarkMasqBit
	return fmt.Sprintf("%#x/%#x", v, v)
}

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
