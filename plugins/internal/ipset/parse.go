package ipset

import (
	"encoding/binary"
	"fmt"
	"net"
	"strings"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// attrs calls fn with the type (without flags) and value of each netlink
// attribute in b, and fails on one that runs past b.
func attrs(b []byte, fn func(typ uint16, val []byte)) error {
	native := nl.NativeEndian()
	for len(b) >= 4 {
		n := int(native.Uint16(b[0:2]))
		if n < 4 || n > len(b) {
			return fmt.Errorf("netlink attribute of length %d in %d bytes", n, len(b))
		}
		fn(native.Uint16(b[2:4])&nlaTypeMask, b[4:n])
		n = (n + 3) &^ 3
		if n > len(b) {
			n = len(b)
		}
		b = b[n:]
	}
	return nil
}

// cString returns a NUL-terminated attribute's string.
func cString(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\x00")
	return s
}

func be32(b []byte) int {
	if len(b) < 4 {
		return 0
	}
	return int(binary.BigEndian.Uint32(b))
}

// parseList reads the messages of an IPSET_CMD_LIST dump. A large set
// spans several messages, each naming it; they are merged in order.
func parseList(msgs [][]byte) ([]Info, error) {
	var out []Info
	index := map[string]int{}
	for _, msg := range msgs {
		if len(msg) < nl.SizeofNfgenmsg {
			continue
		}
		var s Info
		var members []Entry
		hasHeader := false
		var inner error
		err := attrs(msg[nl.SizeofNfgenmsg:], func(typ uint16, val []byte) {
			switch typ {
			case nl.IPSET_ATTR_SETNAME:
				s.Name = cString(val)
			case nl.IPSET_ATTR_TYPENAME:
				s.Type = cString(val)
			case nl.IPSET_ATTR_FAMILY:
				if len(val) > 0 && val[0] == unix.NFPROTO_IPV6 {
					s.Family = IPv6
				} else {
					s.Family = IPv4
				}
			case nl.IPSET_ATTR_DATA:
				hasHeader = true
				if err := parseHeader(val, &s); err != nil {
					inner = err
				}
			case nl.IPSET_ATTR_ADT:
				ms, err := parseMembers(val)
				if err != nil {
					inner = err
				}
				members = append(members, ms...)
			}
		})
		if err == nil {
			err = inner
		}
		if err != nil {
			return nil, fmt.Errorf("parsing the kernel's ipset listing: %w", err)
		}
		if s.Name == "" {
			continue
		}
		i, seen := index[s.Name]
		if !seen {
			index[s.Name] = len(out)
			out = append(out, s)
			i = len(out) - 1
		} else if hasHeader {
			s.Members = out[i].Members
			out[i] = s
		}
		out[i].Members = append(out[i].Members, members...)
	}
	return out, nil
}

// parseHeader reads the set's data attribute: its counts.
func parseHeader(b []byte, s *Info) error {
	return attrs(b, func(typ uint16, val []byte) {
		switch typ {
		case nl.IPSET_ATTR_ELEMENTS:
			s.Entries = be32(val)
		case nl.IPSET_ATTR_REFERENCES:
			s.References = be32(val)
		}
	})
}

// parseAddr reads a nested address attribute.
func parseAddr(b []byte) (net.IP, error) {
	var ip net.IP
	err := attrs(b, func(typ uint16, val []byte) {
		if (typ == nl.IPSET_ATTR_IPADDR_IPV4 && len(val) == net.IPv4len) || (typ == nl.IPSET_ATTR_IPADDR_IPV6 && len(val) == net.IPv6len) {
			ip = net.IP(append([]byte(nil), val...))
		}
	})
	return ip, err
}

// parseMembers reads an ADT attribute: one data attribute per member.
func parseMembers(b []byte) ([]Entry, error) {
	var out []Entry
	var inner error
	err := attrs(b, func(typ uint16, val []byte) {
		if typ != nl.IPSET_ATTR_DATA {
			return
		}
		var e Entry
		if err := attrs(val, func(typ uint16, val []byte) {
			var err error
			switch typ {
			case nl.IPSET_ATTR_IP:
				e.IP, err = parseAddr(val)
			case nl.IPSET_ATTR_IP2:
				e.IP2, err = parseAddr(val)
			case nl.IPSET_ATTR_PORT:
				if len(val) >= 2 {
					e.Port = binary.BigEndian.Uint16(val)
				}
			case nl.IPSET_ATTR_PROTO:
				if len(val) >= 1 {
					e.Proto = val[0]
				}
			case nl.IPSET_ATTR_COMMENT:
				e.Comment = cString(val)
			}
			if err != nil {
				inner = err
			}
		}); err != nil {
			inner = err
		}
		if e.IP != nil {
			out = append(out, e)
		}
	})
	if err == nil {
		err = inner
	}
	return out, err
}
