package dataplane

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
)

// optSpec is how an option is spelt canonically and how many values it
// takes (-1: as many words as follow that do not start with "-").
type optSpec struct {
	canon string
	arity int
}

// moduleSpec lists the options of a match or target weir knows.
type moduleSpec map[string]optSpec

func opts(arity int, names ...string) moduleSpec {
	m := moduleSpec{}
	for _, n := range names {
		m[n] = optSpec{canon: n, arity: arity}
	}
	return m
}

func with(m moduleSpec, more ...moduleSpec) moduleSpec {
	for _, x := range more {
		for k, v := range x {
			m[k] = v
		}
	}
	return m
}

var portOpts = moduleSpec{
	"--sport": {"--sport", 1}, "--source-port": {"--sport", 1},
	"--dport": {"--dport", 1}, "--destination-port": {"--dport", 1},
}

// matchSpecs are the matches whose options weir knows (and so can order
// and canonicalise as iptables-save prints them).
var matchSpecs = map[string]moduleSpec{
	"tcp": with(moduleSpec{"--tcp-flags": {"--tcp-flags", 2}, "--syn": {"--syn", 0},
		"--tcp-option": {"--tcp-option", 1}}, portOpts),
	"udp":   with(moduleSpec{}, portOpts),
	"icmp":  opts(1, "--icmp-type"),
	"icmp6": opts(1, "--icmpv6-type"),
	"multiport": {"--ports": {"--ports", 1}, "--sports": {"--sports", 1}, "--source-ports": {"--sports", 1},
		"--dports": {"--dports", 1}, "--destination-ports": {"--dports", 1}},
	"conntrack": opts(1, conntrackOrder...),
	"state":     opts(1, "--state"),
	"set": with(opts(1, "--packets-eq", "--packets-lt", "--packets-gt", "--bytes-eq", "--bytes-lt", "--bytes-gt"),
		moduleSpec{"--match-set": {"--match-set", 2}, "--set": {"--match-set", 2}},
		opts(0, "--return-nomatch", "--update-counters", "--update-subcounters")),
	"comment":  opts(1, "--comment"),
	"mark":     opts(1, "--mark"),
	"physdev":  with(opts(1, "--physdev-in", "--physdev-out"), opts(0, "--physdev-is-in", "--physdev-is-out", "--physdev-is-bridged")),
	"addrtype": with(opts(1, "--src-type", "--dst-type"), opts(0, "--limit-iface-in", "--limit-iface-out")),
}

// targetSpecs are the targets whose options weir knows.
var targetSpecs = map[string]moduleSpec{
	"ACCEPT": {}, "DROP": {}, "RETURN": {},
	"LOG":    with(opts(1, "--log-level", "--log-prefix"), opts(0, logFlags...)),
	"REJECT": opts(1, "--reject-with"),
	"MARK":   opts(1, "--set-xmark", "--set-mark", "--and-mark", "--or-mark", "--xor-mark"),
}

// stringOpts are printed with xtables_save_string (always quoted unless
// plain).
var stringOpts = map[string]bool{"--comment": true, "--log-prefix": true, "--nflog-prefix": true}

// protoMatch is the match a protocol's options load implicitly.
var protoMatch = map[string]string{"tcp": "tcp", "udp": "udp", "icmp": "icmp", "ipv6-icmp": "icmp6"}

var conntrackOrder = []string{"--ctstate", "--ctproto", "--ctorigsrc", "--ctorigdst", "--ctreplsrc",
	"--ctrepldst", "--ctorigsrcport", "--ctorigdstport", "--ctreplsrcport", "--ctrepldstport",
	"--ctstatus", "--ctexpire", "--ctdir"}

var logFlags = []string{"--log-tcp-sequence", "--log-tcp-options", "--log-ip-options", "--log-uid", "--log-macdecode"}

// canonBlock rewrites a known match's or target's options into the order
// and spelling iptables-save prints.
func canonBlock(f Family, b *ruleBlock) error {
	var err error
	switch b.flag + b.name {
	case "-mtcp", "-mudp":
		err = canonPorts(b)
		order(b, "--sport", "--dport", "--tcp-option", "--tcp-flags")
	case "-micmp", "-micmp6":
		for i := range b.opts {
			if b.opts[i].vals[0].s, err = canonICMPType(b.name == "icmp6", b.opts[i].vals[0].s); err != nil {
				return err
			}
		}
	case "-mmultiport":
		for i := range b.opts {
			var ps []string
			for _, p := range strings.Split(b.opts[i].vals[0].s, ",") {
				lo, hi, isRange := strings.Cut(p, ":")
				p = canonPort(lo)
				if isRange {
					p += ":" + canonPort(hi)
				}
				ps = append(ps, p)
			}
			b.opts[i].vals[0].s = strings.Join(ps, ",")
		}
	case "-mconntrack", "-mstate":
		for i := range b.opts {
			if n := b.opts[i].name; n == "--ctstate" || n == "--state" {
				if b.opts[i].vals[0].s, err = canonStates(b.opts[i].vals[0].s); err != nil {
					return err
				}
			}
		}
		order(b, conntrackOrder...)
	case "-mmark":
		b.opts[0].vals[0].s, err = canonMark(b.opts[0].vals[0].s)
	case "-mphysdev":
		order(b, "--physdev-in", "--physdev-out", "--physdev-is-in", "--physdev-is-out", "--physdev-is-bridged")
	case "-jLOG":
		for i := range b.opts {
			if b.opts[i].name == "--log-level" {
				if b.opts[i].vals[0].s, err = canonLogLevel(b.opts[i].vals[0].s); err != nil {
					return err
				}
			}
		}
		b.opts = dropOpt(b.opts, "--log-level", "4")
		order(b, append([]string{"--log-prefix", "--log-level"}, logFlags...)...)
	case "-jREJECT":
		return canonReject(f, b)
	case "-jMARK":
		return canonMarkTarget(b)
	}
	return err
}

// order sorts a block's options into the given order, unknown ones last.
func order(b *ruleBlock, names ...string) {
	rank := func(n string) int {
		for i, x := range names {
			if x == n {
				return i
			}
		}
		return len(names)
	}
	sort.SliceStable(b.opts, func(i, j int) bool { return rank(b.opts[i].name) < rank(b.opts[j].name) })
}

func dropOpt(os []ruleOpt, name, val string) []ruleOpt {
	out := os[:0]
	for _, o := range os {
		if o.name == name && !o.neg && len(o.vals) == 1 && o.vals[0].s == val {
			continue
		}
		out = append(out, o)
	}
	return out
}

// canonBase canonicalises the value of an IP header option.
func canonBase(f Family, idx int, v string) (string, error) {
	switch baseFlags[idx] {
	case "-s", "-d":
		return canonPrefix(f, v)
	case "-p":
		return canonProto(v), nil
	}
	return v, nil
}

// canonPrefix turns an address, address/len or address/mask into the
// masked address/len iptables-save prints.
func canonPrefix(f Family, v string) (string, error) {
	addrS, maskS, hasMask := strings.Cut(v, "/")
	addr, err := netip.ParseAddr(addrS)
	if err != nil {
		return "", fmt.Errorf("bad address %q (weir writes no host names)", v)
	}
	if (f == IPv4) != addr.Is4() {
		return "", fmt.Errorf("address %q is not %s", v, f)
	}
	bits := addr.BitLen()
	if hasMask {
		if n, err := strconv.Atoi(maskS); err == nil {
			bits = n
		} else if m, err := netip.ParseAddr(maskS); err == nil && m.BitLen() == addr.BitLen() {
			if bits, err = maskLen(m); err != nil {
				return "", fmt.Errorf("address %q: %w", v, err)
			}
		} else {
			return "", fmt.Errorf("bad prefix length in %q", v)
		}
	}
	p, err := addr.Prefix(bits)
	if err != nil {
		return "", fmt.Errorf("bad prefix length in %q", v)
	}
	return p.String(), nil
}

func maskLen(m netip.Addr) (int, error) {
	n, seenZero := 0, false
	for _, c := range m.AsSlice() {
		for bit := 7; bit >= 0; bit-- {
			switch one := c&(1<<bit) != 0; {
			case one && seenZero:
				return 0, fmt.Errorf("non-contiguous mask %s", m)
			case one:
				n++
			default:
				seenZero = true
			}
		}
	}
	return n, nil
}

// canonProto canonicalises -p: lower case, names for the usual numbers,
// "" for all.
func canonProto(p string) string {
	p = strings.ToLower(p)
	switch p {
	case "all", "0":
		return ""
	case "icmpv6", "58":
		return "ipv6-icmp"
	case "1":
		return "icmp"
	case "6":
		return "tcp"
	case "17":
		return "udp"
	case "132":
		return "sctp"
	}
	return p
}

// canonPorts canonicalises the tcp/udp match: numeric ports, full ranges
// dropped, --syn spelt out.
func canonPorts(b *ruleBlock) error {
	out := b.opts[:0]
	for _, o := range b.opts {
		switch o.name {
		case "--sport", "--dport":
			lo, hi, isRange := strings.Cut(o.vals[0].s, ":")
			lo, hi = canonPort(lo), canonPort(hi)
			switch {
			case !isRange || lo == hi:
				o.vals = []token{{s: lo}}
			default:
				if lo == "" {
					lo = "0"
				}
				if hi == "" {
					hi = "65535"
				}
				if lo == "0" && hi == "65535" && !o.neg {
					continue
				}
				o.vals = []token{{s: lo + ":" + hi}}
			}
		case "--syn":
			o = ruleOpt{name: "--tcp-flags", neg: o.neg, vals: []token{{s: "FIN,SYN,RST,ACK"}, {s: "SYN"}}}
			fallthrough
		case "--tcp-flags":
			for i := range o.vals {
				v, err := canonTCPFlags(o.vals[i].s)
				if err != nil {
					return err
				}
				o.vals[i] = token{s: v}
			}
		}
		out = append(out, o)
	}
	b.opts = out
	return nil
}

func canonPort(p string) string {
	if n, err := strconv.ParseUint(p, 10, 16); err == nil {
		return strconv.FormatUint(n, 10)
	}
	return p
}
