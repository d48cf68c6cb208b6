package policy

import (
	"fmt"
	"math"
	"net/netip"
	"strings"

	"github.com/weirnet/weir/internal/bincodec"
	"github.com/weirnet/weir/policy/selector"
)

// A parsed Set in binary (bincodec), so that a process that loads the same
// files again — every policy plugin call is a new process — need not parse
// their TOML again: at a hundred policies parsing costs ~6 ms, decoding
// this a tenth of that. Selectors are kept as their canonical text and
// parsed again (they round-trip). The encoding is the engine's cache, not
// an interchange format: a reader rejects anything it did not write.

const setMagic = "weir policy set 1\n"

// MarshalBinary encodes the set.
func (s *Set) MarshalBinary() []byte {
	e := &bincodec.Encoder{B: append(make([]byte, 0, 256*len(s.Policies)+64), setMagic...)}
	sel := func(x selector.Selector) {
		if x == nil {
			e.Str("")
			return
		}
		e.Str(x.String())
	}
	nets := func(ps []netip.Prefix) {
		e.Uint(uint64(len(ps)))
		for _, p := range ps {
			e.Str(p.String())
		}
	}
	rules := func(rs []Rule) {
		e.Uint(uint64(len(rs)))
		for _, r := range rs {
			e.Str(string(r.Action))
			e.Str(string(r.Protocol))
			e.Uint(uint64(len(r.Ports)))
			for _, p := range r.Ports {
				e.Uint(uint64(p.From))
				e.Uint(uint64(p.To))
			}
			sel(r.Peer.Selector)
			nets(r.Peer.Nets)
			nets(r.Peer.NotNets)
			e.Uint(uint64(r.Line))
		}
	}
	e.Uint(uint64(len(s.Policies)))
	for _, p := range s.Policies {
		e.Str(p.Name)
		e.Uint(math.Float64bits(p.Order))
		sel(p.Selector)
		rules(p.Ingress)
		rules(p.Egress)
		e.Uint(uint64(len(p.Types)))
		for _, t := range p.Types {
			e.Str(string(t))
		}
		e.Str(p.File)
		e.Uint(uint64(p.Line))
	}
	return e.B
}

// UnmarshalSet decodes what MarshalBinary wrote.
func UnmarshalSet(data []byte) (*Set, error) {
	if !strings.HasPrefix(string(data[:min(len(data), len(setMagic))]), setMagic) {
		return nil, fmt.Errorf("decoding a policy set: %w", bincodec.ErrFormat)
	}
	d := &bincodec.Decoder{B: data[len(setMagic):]}
	fail := func(err error) {
		if d.Err == nil {
			d.Err = fmt.Errorf("%w: %w", bincodec.ErrFormat, err)
		}
	}
	sel := func() selector.Selector {
		s := d.Str()
		if s == "" {
			return nil
		}
		x, err := selector.Parse(s)
		if err != nil {
			fail(err)
		}
		return x
	}
	nets := func() []netip.Prefix {
		var out []netip.Prefix
		for n := d.Count(); n > 0; n-- {
			p, err := netip.ParsePrefix(d.Str())
			if err != nil {
				fail(err)
			}
			out = append(out, p)
		}
		return out
	}
	rules := func() []Rule {
		var out []Rule
		for n := d.Count(); n > 0; n-- {
			r := Rule{Action: Action(d.Str()), Protocol: Protocol(d.Str())}
			for c := d.Count(); c > 0; c-- {
				r.Ports = append(r.Ports, PortRange{From: int(d.Uint()), To: int(d.Uint())})
			}
			r.Peer.Selector, r.Peer.Nets, r.Peer.NotNets = sel(), nets(), nets()
			r.Line = int(d.Uint())
			out = append(out, r)
		}
		return out
	}
	n := d.Count()
	ps := make([]*Policy, 0, n)
	for range n {
		p := &Policy{Name: d.Str(), Order: math.Float64frombits(d.Uint()), Selector: sel()}
		p.Ingress, p.Egress = rules(), rules()
		for c := d.Count(); c > 0; c-- {
			p.Types = append(p.Types, Direction(d.Str()))
		}
		p.File, p.Line = d.Str(), int(d.Uint())
		ps = append(ps, p)
	}
	if err := d.Finish(); err != nil {
		return nil, fmt.Errorf("decoding a policy set: %w", err)
	}
	return &Set{Policies: ps}, nil
}
