package ipset

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// Netlink is the kernel's ipsets. Each request opens its socket in the
// calling thread's network namespace.
type Netlink struct{}

// What nl does not define, from linux/netfilter/ipset/ip_set.h.
const (
	flagListHeader = 1 << 2 // IPSET_FLAG_LIST_HEADER: list headers only
	nlaTypeMask    = 0x3fff // clears NLA_F_NESTED and NLA_F_NET_BYTEORDER
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

// execute sends req and maps the kernel's answer to the package's errors.
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

// Create makes an empty set of type typ (one of the package's types) and
// family f whose members carry comments. Without NLM_F_EXCL the kernel
// accepts a set of the name that exists with the same type and options
// (it does not compare the family): that is success.
func (Netlink) Create(name, typ string, f Family) error {
	rev, err := checkType(typ)
	if err != nil {
		return fmt.Errorf("creating ipset %s: %w", name, err)
	}
	req := request(nl.IPSET_CMD_CREATE, name)
	req.AddData(nl.NewRtAttr(nl.IPSET_ATTR_TYPENAME, nl.ZeroTerminated(typ)))
	req.AddData(nl.NewRtAttr(nl.IPSET_ATTR_REVISION, nl.Uint8Attr(rev)))
	req.AddData(nl.NewRtAttr(nl.IPSET_ATTR_FAMILY, nl.Uint8Attr(uint8(f))))
	data := nl.NewRtAttr(nl.IPSET_ATTR_DATA|unix.NLA_F_NESTED, nil)
	data.AddChild(&nl.Uint32Attribute{Type: nl.IPSET_ATTR_CADT_FLAGS | unix.NLA_F_NET_BYTEORDER, Value: nl.IPSET_FLAG_WITH_COMMENT})
	req.AddData(data)
	if _, err := execute(req); err != nil {
		return fmt.Errorf("creating ipset %s: %w", name, err)
	}
	return nil
}

// addr returns the nested attribute of an address.
func addr(typ int, ip []byte) *nl.RtAttr {
	a := nl.NewRtAttr(nl.IPSET_ATTR_IPADDR_IPV6|unix.NLA_F_NET_BYTEORDER, ip)
	if len(ip) == 4 {
		a = nl.NewRtAttr(nl.IPSET_ATTR_IPADDR_IPV4|unix.NLA_F_NET_BYTEORDER, ip)
	}
	return nl.NewRtAttr(typ|unix.NLA_F_NESTED, a.Serialize())
}

// ipBytes returns ip in 4 bytes for IPv4, 16 otherwise.
func ipBytes(ip net.IP) []byte {
	if v4 := ip.To4(); v4 != nil {
		return v4
	}
	return ip.To16()
}

// entry returns the data attribute of one member.
func entry(e Entry) *nl.RtAttr {
	data := nl.NewRtAttr(nl.IPSET_ATTR_DATA|unix.NLA_F_NESTED, nil)
	data.AddChild(addr(nl.IPSET_ATTR_IP, ipBytes(e.IP)))
	if e.Proto != 0 || e.Port != 0 {
		port := binary.BigEndian.AppendUint16(nil, e.Port)
		data.AddChild(nl.NewRtAttr(nl.IPSET_ATTR_PORT|unix.NLA_F_NET_BYTEORDER, port))
		data.AddChild(nl.NewRtAttr(nl.IPSET_ATTR_PROTO, nl.Uint8Attr(e.Proto)))
	}
	if e.IP2 != nil {
		data.AddChild(addr(nl.IPSET_ATTR_IP2, ipBytes(e.IP2)))
	}
	if e.Comment != "" {
		data.AddChild(nl.NewRtAttr(nl.IPSET_ATTR_COMMENT, nl.ZeroTerminated(e.Comment)))
	}
	data.AddChild(&nl.Uint32Attribute{Type: nl.IPSET_ATTR_LINENO | unix.NLA_F_NET_BYTEORDER, Value: 0})
	return data
}

// Add puts e into the set. Without NLM_F_EXCL an existing member is
// success, and its comment is replaced. A missing set is ErrSetMissing.
func (Netlink) Add(name string, e Entry) error {
	req := request(nl.IPSET_CMD_ADD, name)
	req.AddData(entry(e))
	if _, err := execute(req); err != nil {
		return fmt.Errorf("adding %s to ipset %s: %w", e, name, err)
	}
	return nil
}

// Del removes the member e (its comment aside) from the set and reports
// whether it was there. With NLM_F_EXCL the kernel says when the member is
// missing, which is success; a missing set is ErrSetMissing.
func (Netlink) Del(name string, e Entry) (bool, error) {
	e.Comment = ""
	req := request(nl.IPSET_CMD_DEL, name)
	req.Flags |= unix.NLM_F_EXCL
	req.AddData(entry(e))
	_, err := execute(req)
	if errors.Is(err, nl.IPSetError(nl.IPSET_ERR_EXIST)) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("deleting %s from ipset %s: %w", e, name, err)
	}
	return true, nil
}

// Destroy removes the set. A missing set is success; a set a rule still
// matches on is ErrSetInUse.
func (Netlink) Destroy(name string) error {
	_, err := execute(request(nl.IPSET_CMD_DESTROY, name))
	if err != nil && !errors.Is(err, ErrSetMissing) {
		return fmt.Errorf("destroying ipset %s: %w", name, err)
	}
	return nil
}

// Header returns the named set without its members, ErrSetMissing when
// there is none. It costs the same whatever the set holds.
func (Netlink) Header(name string) (Info, error) { return one(name, true) }

// List returns the named set with its members, ErrSetMissing when there is
// none.
func (Netlink) List(name string) (Info, error) { return one(name, false) }

// Headers returns every set of the namespace without members.
func (Netlink) Headers() ([]Info, error) { return list("", true) }

func one(name string, headerOnly bool) (Info, error) {
	sets, err := list(name, headerOnly)
	if err != nil {
		return Info{}, err
	}
	if len(sets) != 1 {
		return Info{}, fmt.Errorf("listing ipset %s: the kernel answered with %d sets", name, len(sets))
	}
	return sets[0], nil
}

// list dumps one set (or all, name "") with or without members. A dump
// that a concurrent change interrupted is tried again.
func list(name string, headerOnly bool) ([]Info, error) {
	what := "ipsets"
	if name != "" {
		what = "ipset " + name
	}
	for try := 0; ; try++ {
		req := request(nl.IPSET_CMD_LIST, name)
		if headerOnly {
			req.AddData(&nl.Uint32Attribute{Type: nl.IPSET_ATTR_FLAGS | unix.NLA_F_NET_BYTEORDER, Value: flagListHeader})
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
