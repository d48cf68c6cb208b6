package masq

import (
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// NetlinkSets talks to the kernel's ipset subsystem over netlink: no fork,
// a few tens of microseconds a call. Each request opens its socket in the
// calling thread's network namespace.
//
// It builds and sends requests with the netlink package's nl primitives
// but not its Ipset* functions, which cannot list a set's header without
// its members (Header is what Setup asks on every call, and must not grow
// with the set), parse a listing with a goroutine per attribute list (5 ms
// for 1,000 members here), and type-assert every error to syscall.Errno.
type NetlinkSets struct{}

var _ Sets = NetlinkSets{}

// What nl does not define, from linux/netfilter/ipset/ip_set.h.
const (
	ipsetFlagListHeader = 1 << 2 // IPSET_FLAG_LIST_HEADER: list headers only
	ipsetTypeName       = "hash:ip"
	// ipsetRevision is the first revision of hash:ip with comments
	// (Linux 3.10): every kernel weir supports has it.
	ipsetRevision = 2
	nlaTypeMask   = 0x3fff // clears NLA_F_NESTED and NLA_F_NET_BYTEORDER
)

// request starts an ipset request for cmd, about set name ("" for all).
func request(cmd int, name string) *nl.NetlinkRequest {
	req := nl.NewNetlinkRequest(cmd|(unix.NFNL_SUBSYS_IPSET<<8), nl.GetIpsetFlags(cmd))
	req.AddData(&nl.Nfgenmsg{NfgenFamily: unix.AF_INET, Version: nl.NFNETLINK_V0})
	req.AddData(nl.NewRtAttr(nl.IPSET_ATTR_PROTOCOL, nl.Uint8Attr(nl.IPSET_PROTOCOL)))
	if name != "" {
		req.AddData(nl.NewRtAttr(nl.IPSET_ATTR_SETNAME, nl.ZeroTerminated(name)))
	}
	return req
}

// execute sends req and maps the kernel's answer to masq's errors.
func execute(req *nl.NetlinkRequest) ([][]byte, error) {
	msgs, err := req.Execute(unix.NETLINK_NETFILTER, 0)
	if err == nil {
		return msgs, nil
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		switch {
		case errno == syscall.ENOENT:
			return nil, ErrSetMissing
		case errno == nl.IPSET_ERR_BUSY || errno == nl.IPSET_ERR_REFERENCED:
			return nil, ErrSetInUse
		case errno >= nl.IPSET_ERR_PRIVATE:
			return nil, nl.IPSetError(errno)
		}
	}
	return nil, err
}

func nfproto(f Family) uint8 {
	if f == IPv6 {
		return unix.NFPROTO_IPV6
	}
	return unix.NFPROTO_IPV4
}

// Create implements Sets. Without NLM_F_EXCL the kernel accepts a set of
// the name that exists with the same type and options (it does not compare
// the family, which masq's set names already encode).
func (NetlinkSets) Create(name string, f Family) error {
	req := request(nl.IPSET_CMD_CREATE, name)
	req.AddData(nl.NewRtAttr(nl.IPSET_ATTR_TYPENAME, nl.ZeroTerminated(ipsetTypeName)))
	req.AddData(nl.NewRtAttr(nl.IPSET_ATTR_REVISION, nl.Uint8Attr(ipsetRevision)))
	req.AddData(nl.NewRtAttr(nl.IPSET_ATTR_FAMILY, nl.Uint8Attr(nfproto(f))))
	data := nl.NewRtAttr(nl.IPSET_ATTR_DATA|unix.NLA_F_NESTED, nil)
	data.AddChild(&nl.Uint32Attribute{Type: nl.IPSET_ATTR_CADT_FLAGS | unix.NLA_F_NET_BYTEORDER, Value: nl.IPSET_FLAG_WITH_COMMENT})
	req.AddData(data)
	if _, err := execute(req); err != nil {
		return fmt.Errorf("creating ipset %s: %w", name, err)
	}
	return nil
}

// entry returns the data attribute of one member.
func entry(ip net.IP, comment string) *nl.RtAttr {
	data := nl.NewRtAttr(nl.IPSET_ATTR_DATA|unix.NLA_F_NESTED, nil)
	addr := nl.NewRtAttr(nl.IPSET_ATTR_IPADDR_IPV6|unix.NLA_F_NET_BYTEORDER, ip.To16())
	if v4 := ip.To4(); v4 != nil {
		addr = nl.NewRtAttr(nl.IPSET_ATTR_IPADDR_IPV4|unix.NLA_F_NET_BYTEORDER, v4)
	}
	data.AddChild(nl.NewRtAttr(nl.IPSET_ATTR_IP|unix.NLA_F_NESTED, addr.Serialize()))
	if comment != "" {
		data.AddChild(nl.NewRtAttr(nl.IPSET_ATTR_COMMENT, nl.ZeroTerminated(comment)))
	}
	data.AddChild(&nl.Uint32Attribute{Type: nl.IPSET_ATTR_LINENO | unix.NLA_F_NET_BYTEORDER, Value: 0})
	return data
}

// Add implements Sets. Without NLM_F_EXCL an existing member is success,
// and its comment is replaced.
func (NetlinkSets) Add(name string, m Member) error {
	req := request(nl.IPSET_CMD_ADD, name)
	req.AddData(entry(m.IP, m.Comment))
	if _, err := execute(req); err != nil {
		return fmt.Errorf("adding %s to ipset %s: %w", m.IP, name, err)
	}
	return nil
}

// Del implements Sets. With NLM_F_EXCL the kernel says when the member
// is missing, which is success.
func (NetlinkSets) Del(name string, ip net.IP) (bool, error) {
	req := request(nl.IPSET_CMD_DEL, name)
	req.Flags |= unix.NLM_F_EXCL
	req.AddData(entry(ip, ""))
	_, err := execute(req)
	if errors.Is(err, nl.IPSetError(nl.IPSET_ERR_EXIST)) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("deleting %s from ipset %s: %w", ip, name, err)
	}
	return true, nil
}

// Destroy implements Sets.
func (NetlinkSets) Destroy(name string) error {
	_, err := execute(request(nl.IPSET_CMD_DESTROY, name))
	if err != nil && !errors.Is(err, ErrSetMissing) {
		return fmt.Errorf("destroying ipset %s: %w", name, err)
	}
	return nil
}

// Header implements Sets.
func (NetlinkSets) Header(name string) (SetInfo, error) {
	sets, err := list(name, true)
	if err != nil {
		return SetInfo{}, err
	}
	if len(sets) != 1 {
		return SetInfo{}, fmt.Errorf("listing ipset %s: the kernel answered with %d sets", name, len(sets))
	}
	return sets[0], nil
}

// List implements Sets.
func (NetlinkSets) List(name string) (SetInfo, error) {
	sets, err := list(name, false)
	if err != nil {
		return SetInfo{}, err
	}
	if len(sets) != 1 {
		return SetInfo{}, fmt.Errorf("listing ipset %s: the kernel answered with %d sets", name, len(sets))
	}
	return sets[0], nil
}

// Headers implements Sets.
func (NetlinkSets) Headers() ([]SetInfo, error) { return list("", true) }

// list dumps one set (or all, name "") with or without members. A dump
// that a concurrent change interrupted is tried again.
func list(name string, headerOnly bool) ([]SetInfo, error) {
	what := "ipsets"
	if name != "" {
		what = "ipset " + name
	}
	for try := 0; ; try++ {
		req := request(nl.IPSET_CMD_LIST, name)
		if headerOnly {
			req.AddData(&nl.Uint32Attribute{Type: nl.IPSET_ATTR_FLAGS | unix.NLA_F_NET_BYTEORDER, Value: ipsetFlagListHeader})
		}
		msgs, err := execute(req)
		if errors.Is(err, nl.ErrDumpInterrupted) && try < 3 {
			continue
		}
		if errors.Is(err, ErrSetMissing) {
			return nil, err
		}
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", what, err)
		}
		sets, err := parseList(msgs)
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", what, err)
		}
		return sets, nil
	}
}
