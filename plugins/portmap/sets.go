package portmap

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"

	"github.com/weirnet/weir/plugins/internal/ipset"
	"github.com/weirnet/weir/plugins/internal/masq"
)

// SetPrefix starts the name of every ipset portmap makes. The bridge's
// masquerade (plugins/internal/masq, weir-nat-) and the policy engine's
// dataplane writer (dataplane.HostportSetPrefix) leave these sets alone.
const SetPrefix = "weir-hp-"

// The sets, one of each kind per family (the host's, shared by every
// network), and their types. A hairpin member "ADDR,PROTO:PORT,ADDR"
// matches a container's connection to its own port (src,dst,dst); a
// localhost member "ADDR,PROTO:PORT" matches, with -s 127.0.0.1, the
// host's connection to a published port on 127.0.0.1 (dst,dst).
const (
	HairpinSet4 = SetPrefix + "hairpin4"
	HairpinSet6 = SetPrefix + "hairpin6"
	LocalSet4   = SetPrefix + "local4"
)

// setSpec is one of portmap's sets.
type setSpec struct {
	name, typ string
}

// familySets returns the sets of family f, the hairpin set first.
func familySets(f masq.Family) []setSpec {
	if f == masq.IPv6 {
		return []setSpec{{HairpinSet6, ipset.HashIPPortIP}}
	}
	return []setSpec{{HairpinSet4, ipset.HashIPPortIP}, {LocalSet4, ipset.HashIPPort}}
}

func ipsetFamily(f masq.Family) ipset.Family {
	if f == masq.IPv6 {
		return ipset.IPv6
	}
	return ipset.IPv4
}

// sets is the narrow interface over the kernel's ipsets that portmap
// needs: ipset.Netlink, or a fake in tests.
type sets interface {
	Header(name string) (ipset.Info, error)
	List(name string) (ipset.Info, error)
	Create(name, typ string, f ipset.Family) error
	Add(name string, e ipset.Entry) error
	Del(name string, e ipset.Entry) (bool, error)
	Destroy(name string) error
}

var _ sets = ipset.Netlink{}

// kernel is what portmap changes: the nat tables (through the iptables
// tools) and the ipsets (over netlink).
type kernel struct {
	run  masq.Runner
	sets sets
}

// member is one set member of an attachment.
type member struct {
	set   string
	entry ipset.Entry
}

func protoNumber(p string) uint8 {
	if p == "udp" {
		return unix.IPPROTO_UDP
	}
	return unix.IPPROTO_TCP
}

func ipOf(a netip.Addr) net.IP { return net.IP(a.AsSlice()) }

// members returns p's set members in family f, each commented with the
// attachment: for each container port (per protocol) a hairpin member for
// each pair of the container's addresses (it may reach itself from any of
// them), and for IPv4 a localhost member for each address. An attachment
// without snat, or masquerading by mark, has none.
func (p *plan) members(f masq.Family) []member {
	if !p.SNAT || p.marked() {
		return nil
	}
	type target struct {
		proto uint8
		port  uint16
	}
	var out []member
	seen := map[target]bool{}
	addrs := p.addrs(f)
	for _, m := range p.mappings(f) {
		t := target{protoNumber(m.Protocol), uint16(m.ContainerPort)}
		if seen[t] {
			continue
		}
		seen[t] = true
		for _, dst := range addrs {
			for _, src := range addrs {
				out = append(out, member{hairpinSet(f), ipset.Entry{IP: ipOf(src), Proto: t.proto, Port: t.port, IP2: ipOf(dst), Comment: p.comment()}})
			}
		}
		if f == masq.IPv4 {
			for _, dst := range addrs {
				out = append(out, member{LocalSet4, ipset.Entry{IP: ipOf(dst), Proto: t.proto, Port: t.port, Comment: p.comment()}})
			}
		}
	}
	return out
}

func hairpinSet(f masq.Family) string { return familySets(f)[0].name }

// createSets makes family f's sets; existing ones are success.
func (k kernel) createSets(f masq.Family) error {
	for _, s := range familySets(f) {
		if err := k.sets.Create(s.name, s.typ, ipsetFamily(f)); err != nil {
			return err
		}
	}
	return nil
}

// masqUp reports whether family f's masquerade chain has its rules: the
// hairpin set is referenced, and only those rules match on it. One header
// listing, whatever the set holds.
func (k kernel) masqUp(f masq.Family) bool {
	h, err := k.sets.Header(hairpinSet(f))
	return err == nil && h.References > 0
}

// addMembers puts p's members of family f into their sets (replacing the
// comment of a member that is there).
func (k kernel) addMembers(p *plan, f masq.Family) error {
	for _, m := range p.members(f) {
		if err := k.sets.Add(m.set, m.entry); err != nil {
			return err
		}
	}
	return nil
}

// delMembers deletes p's members of family f by their value, whatever
// their comment; missing members and sets are success.
func (k kernel) delMembers(p *plan, f masq.Family) error {
	for _, m := range p.members(f) {
		if _, err := k.sets.Del(m.set, m.entry); err != nil && !errors.Is(err, ipset.ErrSetMissing) {
			return err
		}
	}
	return nil
}

// dropMembers deletes from family f's sets every member whose comment
// owned chooses: a listing of each set, which grows with the containers,
// so only the paths that do not know an attachment's members use it.
func (k kernel) dropMembers(f masq.Family, owned func(comment string) bool) error {
	for _, s := range familySets(f) {
		info, err := k.sets.List(s.name)
		if errors.Is(err, ipset.ErrSetMissing) {
			continue
		}
		if err != nil {
			return err
		}
		for _, m := range info.Members {
			if !owned(m.Comment) {
				continue
			}
			if _, err := k.sets.Del(s.name, m); err != nil && !errors.Is(err, ipset.ErrSetMissing) {
				return err
			}
		}
	}
	return nil
}

// setsEmpty reports whether every set of family f is empty or missing: no
// attachment needs the family's static masquerade rules any more.
func (k kernel) setsEmpty(f masq.Family) (bool, error) {
	for _, s := range familySets(f) {
		h, err := k.sets.Header(s.name)
		if errors.Is(err, ipset.ErrSetMissing) {
			continue
		}
		if err != nil {
			return false, err
		}
		if h.Entries > 0 {
			return false, nil
		}
	}
	return true, nil
}

// destroyWait bounds how long destroySets waits for the kernel to let go
// of a set whose last rule was just deleted.
const destroyWait = 2 * time.Second

// destroySets destroys family f's sets, missing ones being success. With
// wait (the rules matching on them were just deleted) a set in use is
// tried again for a while, as the kernel may release a deleted rule's hold
// a moment after the commit; without, a set in use is left alone.
func (k kernel) destroySets(ctx context.Context, f masq.Family, wait bool) error {
	var errs []error
	for _, s := range familySets(f) {
		deadline := time.Now().Add(destroyWait)
		delay := time.Millisecond
		for {
			err := k.sets.Destroy(s.name)
			if !errors.Is(err, ipset.ErrSetInUse) {
				errs = append(errs, err)
				break
			}
			if !wait {
				break
			}
			if time.Now().After(deadline) {
				errs = append(errs, err)
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("destroying ipset %s: %w", s.name, ctx.Err())
			case <-time.After(delay):
			}
			if delay < 50*time.Millisecond {
				delay *= 2
			}
		}
	}
	return errors.Join(errs...)
}

// checkMembers verifies that p's members of family f are in their sets
// with p's comment.
func (k kernel) checkMembers(p *plan, f masq.Family) error {
	listed := map[string]map[string]string{} // set -> member -> comment
	for _, m := range p.members(f) {
		have, ok := listed[m.set]
		if !ok {
			info, err := k.sets.List(m.set)
			if errors.Is(err, ipset.ErrSetMissing) {
				return fmt.Errorf("%s ipset %s is missing", f, m.set)
			}
			if err != nil {
				return err
			}
			have = map[string]string{}
			for _, e := range info.Members {
				have[e.Key()] = e.Comment
			}
			listed[m.set] = have
		}
		c, ok := have[m.entry.Key()]
		if !ok {
			return fmt.Errorf("%s is not in ipset %s", m.entry, m.set)
		}
		if c != m.entry.Comment {
			return fmt.Errorf("%s is in ipset %s for %q, not for %q", m.entry, m.set, c, m.entry.Comment)
		}
	}
	return nil
}
