package dataplane

import (
	"fmt"
	"strconv"
	"strings"
)

// icmpType is an ICMP type name's number and code range.
type icmpType struct {
	typ, codeMin, codeMax uint8
}

// icmpTypes and icmp6Types are the names iptables accepts (libxt_icmp.c,
// libxt_icmp6.c).
var icmpTypes = map[string]icmpType{
	"any": {0xFF, 0, 0xFF}, "echo-reply": {0, 0, 0xFF}, "pong": {0, 0, 0xFF},
	"destination-unreachable": {3, 0, 0xFF}, "network-unreachable": {3, 0, 0}, "host-unreachable": {3, 1, 1},
	"protocol-unreachable": {3, 2, 2}, "port-unreachable": {3, 3, 3}, "fragmentation-needed": {3, 4, 4},
	"source-route-failed": {3, 5, 5}, "network-unknown": {3, 6, 6}, "host-unknown": {3, 7, 7},
	"network-prohibited": {3, 9, 9}, "host-prohibited": {3, 10, 10}, "tos-network-unreachable": {3, 11, 11},
	"tos-host-unreachable": {3, 12, 12}, "communication-prohibited": {3, 13, 13},
	"host-precedence-violation": {3, 14, 14}, "precedence-cutoff": {3, 15, 15},
	"source-quench": {4, 0, 0xFF}, "redirect": {5, 0, 0xFF}, "network-redirect": {5, 0, 0},
	"host-redirect": {5, 1, 1}, "tos-network-redirect": {5, 2, 2}, "tos-host-redirect": {5, 3, 3},
	"echo-request": {8, 0, 0xFF}, "ping": {8, 0, 0xFF}, "router-advertisement": {9, 0, 0xFF},
	"router-solicitation": {10, 0, 0xFF}, "time-exceeded": {11, 0, 0xFF}, "ttl-exceeded": {11, 0, 0xFF},
	"ttl-zero-during-transit": {11, 0, 0}, "ttl-zero-during-reassembly": {11, 1, 1},
	"parameter-problem": {12, 0, 0xFF}, "ip-header-bad": {12, 0, 0}, "required-option-missing": {12, 1, 1},
	"timestamp-request": {13, 0, 0xFF}, "timestamp-reply": {14, 0, 0xFF},
	"address-mask-request": {17, 0, 0xFF}, "address-mask-reply": {18, 0, 0xFF},
}

var icmp6Types = map[string]icmpType{
	"destination-unreachable": {1, 0, 0xFF}, "no-route": {1, 0, 0}, "communication-prohibited": {1, 1, 1},
	"beyond-scope": {1, 2, 2}, "address-unreachable": {1, 3, 3}, "port-unreachable": {1, 4, 4},
	"failed-policy": {1, 5, 5}, "reject-route": {1, 6, 6}, "packet-too-big": {2, 0, 0xFF},
	"time-exceeded": {3, 0, 0xFF}, "ttl-exceeded": {3, 0, 0xFF}, "ttl-zero-during-transit": {3, 0, 0},
	"ttl-zero-during-reassembly": {3, 1, 1}, "parameter-problem": {4, 0, 0xFF}, "bad-header": {4, 0, 0},
	"unknown-header-type": {4, 1, 1}, "unknown-option": {4, 2, 2}, "echo-request": {128, 0, 0xFF},
	"ping": {128, 0, 0xFF}, "echo-reply": {129, 0, 0xFF}, "pong": {129, 0, 0xFF},
	"router-solicitation": {133, 0, 0xFF}, "router-advertisement": {134, 0, 0xFF},
	"neighbour-solicitation": {135, 0, 0xFF}, "neighbor-solicitation": {135, 0, 0xFF},
	"neighbour-advertisement": {136, 0, 0xFF}, "neighbor-advertisement": {136, 0, 0xFF},
	"redirect": {137, 0, 0xFF},
}

// canonICMPType prints an ICMP type as iptables-save does: "any", "TYPE"
// for a whole type, "TYPE/CODE" for one code.
func canonICMPType(v6 bool, v string) (string, error) {
	table := icmpTypes
	if v6 {
		table = icmp6Types
	}
	var t icmpType
	if named, ok := table[strings.ToLower(v)]; ok {
		t = named
	} else {
		typS, codeS, hasCode := strings.Cut(v, "/")
		typ, err := strconv.ParseUint(typS, 10, 8)
		if err != nil {
			return "", fmt.Errorf("unknown icmp type %q", v)
		}
		t = icmpType{uint8(typ), 0, 0xFF}
		if hasCode {
			code, err := strconv.ParseUint(codeS, 10, 8)
			if err != nil {
				return "", fmt.Errorf("bad icmp code in %q", v)
			}
			t.codeMin, t.codeMax = uint8(code), uint8(code)
		}
	}
	if t.typ == 0xFF && !v6 {
		return "any", nil
	}
	s := strconv.Itoa(int(t.typ))
	if t.codeMin != 0 || t.codeMax != 0xFF {
		s += "/" + strconv.Itoa(int(t.codeMin))
	}
	return s, nil
}

// stateOrder is the order libxt_conntrack prints states in.
var stateOrder = []string{"INVALID", "NEW", "RELATED", "ESTABLISHED", "UNTRACKED", "SNAT", "DNAT"}

func canonStates(v string) (string, error) {
	have := map[string]bool{}
	for _, s := range strings.Split(v, ",") {
		s = strings.ToUpper(strings.TrimSpace(s))
		known := false
		for _, k := range stateOrder {
			known = known || k == s
		}
		if !known {
			return "", fmt.Errorf("unknown conntrack state %q", s)
		}
		have[s] = true
	}
	var out []string
	for _, k := range stateOrder {
		if have[k] {
			out = append(out, k)
		}
	}
	return strings.Join(out, ","), nil
}

// parseMark parses "VALUE" or "VALUE/MASK" (any base); a missing mask is
// all ones.
func parseMark(v string) (val, mask uint32, hasMask bool, err error) {
	vs, ms, hasMask := strings.Cut(v, "/")
	n, err := strconv.ParseUint(vs, 0, 32)
	if err != nil {
		return 0, 0, false, fmt.Errorf("bad mark %q", v)
	}
	mask = 0xFFFFFFFF
	if hasMask {
		m, err := strconv.ParseUint(ms, 0, 32)
		if err != nil {
			return 0, 0, false, fmt.Errorf("bad mark mask %q", v)
		}
		mask = uint32(m)
	}
	return uint32(n), mask, hasMask, nil
}

func canonMark(v string) (string, error) {
	val, mask, _, err := parseMark(v)
	if err != nil {
		return "", err
	}
	if mask == 0xFFFFFFFF {
		return fmt.Sprintf("0x%x", val), nil
	}
	return fmt.Sprintf("0x%x/0x%x", val, mask), nil
}

// canonMarkTarget turns every MARK spelling into --set-xmark VALUE/MASK
// (libxt_MARK.c, revision 2).
func canonMarkTarget(b *ruleBlock) error {
	if len(b.opts) != 1 || b.opts[0].neg {
		return fmt.Errorf("MARK takes exactly one of --set-xmark, --set-mark, --and-mark, --or-mark, --xor-mark")
	}
	o := &b.opts[0]
	val, mask, hasMask, err := parseMark(o.vals[0].s)
	if err != nil {
		return err
	}
	switch o.name {
	case "--set-mark":
		if hasMask {
			mask |= val
		}
	case "--and-mark":
		val, mask = 0, ^val
	case "--or-mark":
		mask = val
	case "--xor-mark":
		mask = 0
	}
	o.name = "--set-xmark"
	o.vals = []token{{s: fmt.Sprintf("0x%x/0x%x", val, mask)}}
	return nil
}

var logLevels = map[string]string{
	"emerg": "0", "alert": "1", "crit": "2", "error": "3", "err": "3", "warning": "4", "warn": "4",
	"notice": "5", "info": "6", "debug": "7",
}

func canonLogLevel(v string) (string, error) {
	if n, ok := logLevels[strings.ToLower(v)]; ok {
		return n, nil
	}
	if n, err := strconv.ParseUint(v, 10, 8); err == nil && n <= 7 {
		return strconv.FormatUint(n, 10), nil
	}
	return "", fmt.Errorf("bad log level %q", v)
}

// rejectWith maps every --reject-with spelling to what iptables-save
// prints, per family (libipt_REJECT.c, libip6t_REJECT.c).
var rejectWith = map[Family]map[string]string{
	IPv4: {
		"icmp-net-unreachable": "icmp-net-unreachable", "net-unreach": "icmp-net-unreachable",
		"icmp-host-unreachable": "icmp-host-unreachable", "host-unreach": "icmp-host-unreachable",
		"icmp-proto-unreachable": "icmp-proto-unreachable", "proto-unreach": "icmp-proto-unreachable",
		"icmp-port-unreachable": "icmp-port-unreachable", "port-unreach": "icmp-port-unreachable",
		"icmp-net-prohibited": "icmp-net-prohibited", "net-prohib": "icmp-net-prohibited",
		"icmp-host-prohibited": "icmp-host-prohibited", "host-prohib": "icmp-host-prohibited",
		"tcp-reset": "tcp-reset", "tcp-rst": "tcp-reset",
		"icmp-admin-prohibited": "icmp-admin-prohibited", "admin-prohib": "icmp-admin-prohibited",
	},
	IPv6: {
		"icmp6-no-route": "icmp6-no-route", "no-route": "icmp6-no-route",
		"icmp6-adm-prohibited": "icmp6-adm-prohibited", "adm-prohibited": "icmp6-adm-prohibited",
		"icmp6-addr-unreachable": "icmp6-addr-unreachable", "addr-unreach": "icmp6-addr-unreachable",
		"icmp6-port-unreachable": "icmp6-port-unreachable", "port-unreach": "icmp6-port-unreachable",
		"icmp6-policy-fail": "icmp6-policy-fail", "policy-fail": "icmp6-policy-fail",
		"icmp6-reject-route": "icmp6-reject-route", "reject-route": "icmp6-reject-route",
		"tcp-reset": "tcp-reset", "tcp-rst": "tcp-reset",
	},
}

func canonReject(f Family, b *ruleBlock) error {
	def := map[Family]string{IPv4: "icmp-port-unreachable", IPv6: "icmp6-port-unreachable"}[f]
	switch len(b.opts) {
	case 0:
		b.opts = []ruleOpt{{name: "--reject-with", vals: []token{{s: def}}}}
		return nil
	case 1:
		v, ok := rejectWith[f][strings.ToLower(b.opts[0].vals[0].s)]
		if !ok || b.opts[0].neg {
			return fmt.Errorf("bad --reject-with %q for %s", b.opts[0].vals[0].s, f)
		}
		b.opts[0].vals = []token{{s: v}}
		return nil
	}
	return fmt.Errorf("REJECT takes one --reject-with")
}

// tcpFlagOrder is the order libxt_tcp prints flags in.
var tcpFlagOrder = []string{"FIN", "SYN", "RST", "PSH", "ACK", "URG"}

func canonTCPFlags(v string) (string, error) {
	have := map[string]bool{}
	for _, f := range strings.Split(strings.ToUpper(v), ",") {
		switch f {
		case "ALL":
			for _, k := range tcpFlagOrder {
				have[k] = true
			}
		case "NONE":
		default:
			known := false
			for _, k := range tcpFlagOrder {
				known = known || k == f
			}
			if !known {
				return "", fmt.Errorf("unknown tcp flag %q", f)
			}
			have[f] = true
		}
	}
	var out []string
	for _, k := range tcpFlagOrder {
		if have[k] {
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		return "NONE", nil
	}
	return strings.Join(out, ","), nil
}
