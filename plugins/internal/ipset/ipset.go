// Package ipset talks to the kernel's ipset subsystem over netlink: create
// and destroy sets, add and delete members, list a set's header (its
// counts) or its members. It knows the set types weir uses — hash:ip,
// hash:ip,port and hash:ip,port,ip, always with member comments — and
// nothing of what the sets are for: the bridge's masquerade
// (plugins/internal/masq) and portmap's hairpin and localhost masquerade
// (plugins/portmap) build on it.
//
// Every call is a few netlink messages in the calling thread's network
// namespace: no fork, and no nf_tables commit. It builds requests with the
// netlink package's nl primitives but not its Ipset* functions, which
// cannot list a set's header without its members (a header must cost the
// same whatever the set holds), parse a listing with a goroutine per
// attribute list (5 ms for 1,000 members here), and type-assert every
// error to syscall.Errno.
package ipset

import (
	"errors"
	"fmt"
	"net"
	"strconv"

	"golang.org/x/sys/unix"
)

// Family is a set's address family, as netfilter numbers it.
type Family uint8

// The two families.
const (
	IPv4 Family = unix.NFPROTO_IPV4
	IPv6 Family = unix.NFPROTO_IPV6
)

func (f Family) String() string {
	if f == IPv6 {
		return "inet6"
	}
	return "inet"
}

// The set types weir makes.
const (
	// HashIP holds addresses: Entry.IP.
	HashIP = "hash:ip"
	// HashIPPort holds an address and a protocol's port: Entry.IP,
	// Entry.Proto, Entry.Port.
	HashIPPort = "hash:ip,port"
	// HashIPPortIP holds an address, a protocol's port and a second
	// address: Entry.IP, Entry.Proto, Entry.Port, Entry.IP2.
	HashIPPortIP = "hash:ip,port,ip"
)

// revisions are the revisions Create asks for: the first of each type with
// member comments (Linux 3.10), which every kernel weir supports has.
var revisions = map[string]uint8{HashIP: 2, HashIPPort: 3, HashIPPortIP: 3}

// Entry is one member of a set. Which fields count depends on the set's
// type; the others are zero.
type Entry struct {
	IP      net.IP
	Proto   uint8  // unix.IPPROTO_TCP or IPPROTO_UDP, with Port
	Port    uint16 // with Proto
	IP2     net.IP // hash:ip,port,ip's third part
	Comment string
}

// String renders the member as the ipset tool does, without the comment:
// "10.0.0.5", "10.0.0.5,tcp:80", "10.0.0.5,tcp:80,10.0.0.5".
func (e Entry) String() string {
	s := e.IP.String()
	if e.Proto != 0 || e.Port != 0 {
		s += "," + protoName(e.Proto) + ":" + strconv.Itoa(int(e.Port))
	}
	if e.IP2 != nil {
		s += "," + e.IP2.String()
	}
	return s
}

// Key is the member without its comment, comparable: what the kernel
// tells members apart by.
func (e Entry) Key() string { return e.String() }

func protoName(p uint8) string {
	switch p {
	case unix.IPPROTO_TCP:
		return "tcp"
	case unix.IPPROTO_UDP:
		return "udp"
	}
	return strconv.Itoa(int(p))
}

// Info is what a listing tells of one set.
type Info struct {
	Name       string
	Type       string
	Family     Family
	Entries    int // members, as the kernel counts them
	References int // rules (and other kernel users) that match on the set
	// Members are the set's members; empty when only headers were listed.
	Members []Entry
}

// ErrSetMissing says a set does not exist.
var ErrSetMissing = errors.New("ipset does not exist")

// ErrSetInUse says a set cannot be destroyed because a rule still matches
// on it.
var ErrSetInUse = errors.New("ipset is in use")

// checkType refuses a type Create does not know.
func checkType(typ string) (uint8, error) {
	rev, ok := revisions[typ]
	if !ok {
		return 0, fmt.Errorf("ipset type %q is not one weir makes", typ)
	}
	return rev, nil
}
