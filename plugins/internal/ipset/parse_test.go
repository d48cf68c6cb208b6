package ipset

import (
	"net"
	"slices"
	"testing"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// listMsg builds one message of a LIST dump as the kernel sends it: the
// nfgenmsg, the set's name, type and family, optionally its header data,
// and its members.
func listMsg(name, typ string, f Family, header bool, entries, refs int, members ...Entry) []byte {
	b := (&nl.Nfgenmsg{NfgenFamily: unix.AF_INET}).Serialize()
	add := func(a *nl.RtAttr) { b = append(b, a.Serialize()...) }
	add(nl.NewRtAttr(nl.IPSET_ATTR_SETNAME, nl.ZeroTerminated(name)))
	add(nl.NewRtAttr(nl.IPSET_ATTR_TYPENAME, nl.ZeroTerminated(typ)))
	add(nl.NewRtAttr(nl.IPSET_ATTR_FAMILY, nl.Uint8Attr(uint8(f))))
	if header {
		data := nl.NewRtAttr(nl.IPSET_ATTR_DATA|unix.NLA_F_NESTED, nil)
		data.AddChild(&nl.Uint32Attribute{Type: nl.IPSET_ATTR_ELEMENTS | unix.NLA_F_NET_BYTEORDER, Value: uint32(entries)})
		data.AddChild(&nl.Uint32Attribute{Type: nl.IPSET_ATTR_REFERENCES | unix.NLA_F_NET_BYTEORDER, Value: uint32(refs)})
		add(data)
	}
	if len(members) > 0 {
		adt := nl.NewRtAttr(nl.IPSET_ATTR_ADT|unix.NLA_F_NESTED, nil)
		for _, m := range members {
			adt.AddChild(entry(m))
		}
		add(adt)
	}
	return b
}

// The attributes Add sends are the ones a listing is parsed from, for each
// type and family; a set spread over several messages is merged.
func TestParseListRoundTrip(t *testing.T) {
	hairpin := []Entry{
		{IP: net.ParseIP("10.22.0.5"), Proto: unix.IPPROTO_TCP, Port: 80, IP2: net.ParseIP("10.22.0.5"), Comment: "weir: net=n id=a if=eth0"},
		{IP: net.ParseIP("10.22.0.6"), Proto: unix.IPPROTO_UDP, Port: 65535, IP2: net.ParseIP("10.22.0.7"), Comment: `weir: net=n id="q" if=eth0`},
	}
	local := []Entry{{IP: net.ParseIP("fd00::5"), Proto: unix.IPPROTO_TCP, Port: 8080, Comment: "c"}}
	plain := []Entry{{IP: net.ParseIP("10.22.0.9")}}
	msgs := [][]byte{
		listMsg("hp", HashIPPortIP, IPv4, true, 2, 1, hairpin[0]),
		listMsg("hp", HashIPPortIP, IPv4, false, 0, 0, hairpin[1]),
		listMsg("lo", HashIPPort, IPv6, true, 1, 0, local...),
		listMsg("ip", HashIP, IPv4, true, 1, 0, plain...),
	}
	sets, err := parseList(msgs)
	if err != nil {
		t.Fatal(err)
	}
	if len(sets) != 3 {
		t.Fatalf("%d sets, want 3: %+v", len(sets), sets)
	}
	want := []struct {
		name, typ     string
		f             Family
		entries, refs int
		members       []Entry
	}{{"hp", HashIPPortIP, IPv4, 2, 1, hairpin}, {"lo", HashIPPort, IPv6, 1, 0, local}, {"ip", HashIP, IPv4, 1, 0, plain}}
	for i, w := range want {
		s := sets[i]
		if s.Name != w.name || s.Type != w.typ || s.Family != w.f || s.Entries != w.entries || s.References != w.refs {
			t.Errorf("set %d: %+v, want %s %s %s %d entries %d refs", i, s, w.name, w.typ, w.f, w.entries, w.refs)
		}
		if !slices.EqualFunc(s.Members, w.members, func(a, b Entry) bool { return a.Key() == b.Key() && a.Comment == b.Comment }) {
			t.Errorf("set %s members %v, want %v", w.name, s.Members, w.members)
		}
	}
	if got := hairpin[1].String(); got != "10.22.0.6,udp:65535,10.22.0.7" {
		t.Errorf("String: %q", got)
	}
	if got := local[0].String(); got != "fd00::5,tcp:8080" {
		t.Errorf("String: %q", got)
	}
}

func TestParseListRefusesBrokenAttributes(t *testing.T) {
	msg := listMsg("hp", HashIPPortIP, IPv4, true, 0, 0)
	msg = append(msg, 0xff, 0x00, 0x02, 0x00) // claims 255 bytes
	if _, err := parseList([][]byte{msg}); err == nil {
		t.Error("a listing with an attribute running past the message parsed")
	}
}

func TestCreateRefusesUnknownType(t *testing.T) {
	if err := (Netlink{}).Create("weir-x", "hash:net,iface", IPv4); err == nil {
		t.Error("Create of a type weir does not make did not fail")
	}
}
