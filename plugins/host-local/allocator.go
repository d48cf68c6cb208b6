package hostlocal

import (
	"fmt"
	"iter"
	"math"
	"math/big"
	"net/netip"
	"strings"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/weirnet/weir/plugins/pluginkit"
)

// Range is one contiguous block of allocatable addresses in a subnet.
type Range struct {
	Subnet     netip.Prefix
	Start, End netip.Addr // inclusive
	Gateway    netip.Addr // never allocated
}

// Contains reports whether a lies between Start and End.
func (r Range) Contains(a netip.Addr) bool {
	return a.BitLen() == r.Start.BitLen() && !a.Less(r.Start) && !r.End.Less(a)
}

// Overlaps reports whether two ranges share an address.
func (r Range) Overlaps(o Range) bool {
	return r.Start.BitLen() == o.Start.BitLen() && !r.End.Less(o.Start) && !o.End.Less(r.Start)
}

func (r Range) String() string {
	return fmt.Sprintf("%s %s-%s", r.Subnet, r.Start, r.End)
}

// size is the number of allocatable addresses in r (the gateway excluded),
// saturating at MaxUint64.
func (r Range) size() uint64 {
	d := new(big.Int).Sub(new(big.Int).SetBytes(r.End.AsSlice()), new(big.Int).SetBytes(r.Start.AsSlice()))
	d.Add(d, big.NewInt(1))
	if r.Contains(r.Gateway) {
		d.Sub(d, big.NewInt(1))
	}
	if !d.IsUint64() {
		return math.MaxUint64
	}
	return d.Uint64()
}

// RangeSet is a list of ranges of one address family; an attachment gets one
// address from each range set.
type RangeSet struct {
	// Field names the set in the configuration, for error messages.
	Field  string
	Ranges []Range
}

// Find returns the range of s that contains a.
func (s RangeSet) Find(a netip.Addr) (Range, bool) {
	for _, r := range s.Ranges {
		if r.Contains(a) {
			return r, true
		}
	}
	return Range{}, false
}

// Overlaps reports whether any range of s overlaps any range of o.
func (s RangeSet) Overlaps(o RangeSet) bool {
	for _, r := range s.Ranges {
		for _, q := range o.Ranges {
			if r.Overlaps(q) {
				return true
			}
		}
	}
	return false
}

func (s RangeSet) String() string {
	parts := make([]string, len(s.Ranges))
	for i, r := range s.Ranges {
		parts[i] = r.String()
	}
	return strings.Join(parts, ", ")
}

// Subnets lists the set's subnets, comma-separated.
func (s RangeSet) Subnets() string {
	parts := make([]string, len(s.Ranges))
	for i, r := range s.Ranges {
		parts[i] = r.Subnet.String()
	}
	return strings.Join(parts, ",")
}

// capacity is the number of allocatable addresses in s, saturating.
func (s RangeSet) capacity() uint64 {
	var n uint64
	for _, r := range s.Ranges {
		sz := r.size()
		if n+sz < n {
			return math.MaxUint64
		}
		n += sz
	}
	return n
}

// candidates yields every allocatable address of s once, in round-robin
// order: starting after last when last is in s (wrapping from the end of the
// last range to the start of the first), otherwise from the start of the
// first range. Gateways are skipped.
func (s RangeSet) candidates(last netip.Addr) iter.Seq[netip.Addr] {
	return func(yield func(netip.Addr) bool) {
		n := len(s.Ranges)
		ri, a := 0, s.Ranges[0].Start
		for i, r := range s.Ranges {
			if last.IsValid() && r.Contains(last) {
				ri, a = i, last.Next()
				if last == r.End {
					ri = (i + 1) % n
					a = s.Ranges[ri].Start
				}
				break
			}
		}
		firstRi, first := ri, a
		for {
			r := s.Ranges[ri]
			if a != r.Gateway && !yield(a) {
				return
			}
			if a == r.End {
				ri = (ri + 1) % n
				a = s.Ranges[ri].Start
			} else {
				a = a.Next()
			}
			if ri == firstRi && a == first {
				return
			}
		}
	}
}

// allocate reserves for res's owner the next free address of range set idx
// in round-robin order, starting after last. It does not record the new
// position; the caller does once the whole ADD has succeeded.
func allocate(res *reservation, idx int, set RangeSet, last netip.Addr) (netip.Addr, error) {
	for a := range set.candidates(last) {
		ok, err := res.link(a)
		if err != nil {
			return netip.Addr{}, err
		}
		if ok {
			return a, nil
		}
	}
	return netip.Addr{}, exhausted(idx, set)
}

func exhausted(idx int, set RangeSet) error {
	return pluginkit.Errorf(types.ErrInternal, "no free address in range set %d (%s)", idx, set.Subnets())
}
