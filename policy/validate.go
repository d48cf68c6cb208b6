package policy

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"

	"github.com/weirnet/weir/policy/selector"
)

// policyKeys returns the keys a [[policy]] table may have.
func policyKeys() []string {
	return []string{"egress", "ingress", "name", "order", "selector", "types"}
}

// peerKeys returns the keys a rule's from or to table may have.
func peerKeys() []string { return []string{"nets", "not_nets", "selector"} }

// ruleKeys returns the keys a rule in direction d may have.
func ruleKeys(d Direction) []string {
	return []string{"action", peerKey(d), "ports", "protocol"}
}

// peerKey is the key of a rule's peer: "from" for ingress, "to" for
// egress.
func peerKey(d Direction) string {
	if d == Ingress {
		return "from"
	}
	return "to"
}

// decoder turns the decoded TOML of one file into policies, collecting
// every problem it finds.
type decoder struct {
	file string
	lay  *layout
	errs []error
}

// policyDecoder decodes one policy; name is known once decoded.
type policyDecoder struct {
	*decoder
	index int
	name  string
}

func (d *policyDecoder) fail(at location, field string, err error) {
	at.policy = d.index
	d.errs = append(d.errs, &Error{
		File:   d.file,
		Line:   d.lay.line(at),
		Policy: d.name,
		Index:  d.index,
		Field:  field,
		Err:    err,
	})
}

// policy decodes the index-th [[policy]] table of the file.
func (d *decoder) policy(index int, m map[string]any) *Policy {
	pd := &policyDecoder{decoder: d, index: index}
	p := &Policy{File: d.file, Line: d.lay.line(location{policy: index})}
	top := func(key string) location { return location{key: key} }

	if v, ok := m["name"]; !ok {
		pd.fail(top(""), "name", errors.New("required"))
	} else if s, ok := v.(string); !ok {
		pd.fail(top("name"), "name", wrongType("a string", v))
	} else {
		pd.name = s
		p.Name = s
		if err := checkName(s); err != nil {
			pd.fail(top("name"), "name", err)
		}
	}
	pd.unknownKeys(m, policyKeys(), top, "", "")

	if v, ok := m["order"]; ok {
		switch o := v.(type) {
		case int64:
			p.Order = float64(o)
		case float64:
			if math.IsNaN(o) || math.IsInf(o, 0) {
				pd.fail(top("order"), "order", fmt.Errorf("%v is not a usable order (want a finite number)", o))
			}
			p.Order = o
		default:
			pd.fail(top("order"), "order", wrongType("a number", v))
		}
	}

	p.Selector = selector.All()
	if v, ok := m["selector"]; ok {
		if s, ok := v.(string); !ok {
			pd.fail(top("selector"), "selector", wrongType("a string", v))
		} else if sel, err := selector.Parse(s); err != nil {
			pd.fail(top("selector"), "selector", err)
		} else {
			p.Selector = sel
		}
	}

	if v, ok := m["types"]; ok {
		p.Types = pd.types(v)
	}
	for _, dir := range []Direction{Ingress, Egress} {
		v, ok := m[string(dir)]
		if !ok {
			continue
		}
		tables, ok := asTables(v)
		if !ok {
			pd.fail(top(string(dir)), string(dir), wrongType(fmt.Sprintf("an array of tables ([[policy.%s]])", dir), v))
			continue
		}
		rules := make([]Rule, 0, len(tables))
		for j, t := range tables {
			rules = append(rules, pd.rule(dir, j, t))
		}
		if dir == Ingress {
			p.Ingress = rules
		} else {
			p.Egress = rules
		}
	}

	// Calico ignores rules for a direction its types leave out; weir's
	// design selects by rules or types. Rather than guess which the
	// operator meant, refuse the combination.
	if len(p.Types) > 0 {
		for _, dir := range []Direction{Ingress, Egress} {
			if len(p.Rules(dir)) > 0 && !slices.Contains(p.Types, dir) {
				pd.fail(top("types"), "types", fmt.Errorf("the policy has %s rules but types does not list %q", dir, dir))
			}
		}
	}
	return p
}

// unknownKeys reports the keys of m not in allowed, in sorted order.
func (d *policyDecoder) unknownKeys(m map[string]any, allowed []string, at func(string) location, field, hint string) {
	var unknown []string
	for k := range m {
		if !slices.Contains(allowed, k) {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	for _, k := range unknown {
		msg := fmt.Sprintf("unknown key %q", k)
		if h := keyHint(k, hint); h != "" {
			msg += " (" + h + ")"
		}
		d.fail(at(k), field, errors.New(msg))
	}
}

// keyHint explains the likely mistake behind an unknown key: to in an
// ingress rule, from in an egress rule.
func keyHint(key, context string) string {
	switch {
	case context == "ingress" && key == "to":
		return `ingress rules take "from"`
	case context == "egress" && key == "from":
		return `egress rules take "to"`
	}
	return ""
}

func (d *policyDecoder) types(v any) []Direction {
	at := location{key: "types"}
	list, ok := v.([]any)
	if !ok {
		d.fail(at, "types", wrongType("an array of strings", v))
		return nil
	}
	types := []Direction{}
	for i, e := range list {
		field := fmt.Sprintf("types[%d]", i)
		s, ok := e.(string)
		if !ok {
			d.fail(at, field, wrongType("a string", e))
			continue
		}
		dir, err := ParseDirection(s)
		if err != nil {
			d.fail(at, field, err)
			continue
		}
		if slices.Contains(types, dir) {
			d.fail(at, field, fmt.Errorf("%q is listed twice", s))
			continue
		}
		types = append(types, dir)
	}
	return types
}

// rule decodes rule j of direction dir.
func (d *policyDecoder) rule(dir Direction, j int, m map[string]any) Rule {
	prefix := fmt.Sprintf("%s[%d]", dir, j)
	at := func(key string) location { return location{dir: dir, rule: j, key: key} }
	r := Rule{Protocol: Any, Line: d.lay.line(at(""))}
	d.unknownKeys(m, ruleKeys(dir), at, prefix, string(dir))

	if v, ok := m["action"]; !ok {
		d.fail(at(""), prefix+".action", errors.New("required (allow, deny or log)"))
	} else if s, ok := v.(string); !ok {
		d.fail(at("action"), prefix+".action", wrongType("a string", v))
	} else if a, err := ParseAction(s); err != nil {
		d.fail(at("action"), prefix+".action", err)
	} else {
		r.Action = a
	}

	if v, ok := m["protocol"]; ok {
		if s, ok := v.(string); !ok {
			d.fail(at("protocol"), prefix+".protocol", wrongType("a string", v))
		} else if p, err := ParseProtocol(s); err != nil || s == "" {
			d.fail(at("protocol"), prefix+".protocol", fmt.Errorf("%q is not a protocol (tcp, udp, icmp or any)", s))
		} else {
			r.Protocol = p
		}
	}

	if v, ok := m["ports"]; ok {
		r.Ports = d.ports(at("ports"), prefix+".ports", v)
		if !r.Protocol.HasPorts() {
			d.fail(at("ports"), prefix+".ports", fmt.Errorf("ports need protocol tcp or udp, not %s", r.Protocol))
		}
	}

	key := peerKey(dir)
	if v, ok := m[key]; ok {
		r.Peer = d.peer(at(key), prefix+"."+key, v)
	}
	return r
}

func (d *policyDecoder) ports(at location, field string, v any) []PortRange {
	list, ok := v.([]any)
	if !ok {
		d.fail(at, field, wrongType(`an array of ports (80 or "8000-8080")`, v))
		return nil
	}
	ports := make([]PortRange, 0, len(list))
	for i, e := range list {
		r, err := portRange(e)
		if err != nil {
			d.fail(at, fmt.Sprintf("%s[%d]", field, i), err)
			continue
		}
		ports = append(ports, r)
	}
	return ports
}

func (d *policyDecoder) peer(at location, field string, v any) Peer {
	m, ok := v.(map[string]any)
	if !ok {
		d.fail(at, field, wrongType("a table { selector = ..., nets = [...], not_nets = [...] }", v))
		return Peer{}
	}
	var p Peer
	d.unknownKeys(m, peerKeys(), func(string) location { return at }, field, "")
	if v, ok := m["selector"]; ok {
		if s, ok := v.(string); !ok {
			d.fail(at, field+".selector", wrongType("a string", v))
		} else if sel, err := selector.Parse(s); err != nil {
			d.fail(at, field+".selector", err)
		} else if strings.TrimSpace(s) != "" {
			p.Selector = sel // an empty selector leaves the peer unconstrained
		}
	}
	if v, ok := m["nets"]; ok {
		p.Nets = d.nets(at, field+".nets", v)
	}
	if v, ok := m["not_nets"]; ok {
		p.NotNets = d.nets(at, field+".not_nets", v)
	}
	return p
}

func (d *policyDecoder) nets(at location, field string, v any) []netip.Prefix {
	list, ok := v.([]any)
	if !ok {
		d.fail(at, field, wrongType("an array of CIDRs", v))
		return nil
	}
	nets := make([]netip.Prefix, 0, len(list))
	for i, e := range list {
		f := fmt.Sprintf("%s[%d]", field, i)
		s, ok := e.(string)
		if !ok {
			d.fail(at, f, wrongType("a CIDR string", e))
			continue
		}
		p, err := parseNet(s)
		if err != nil {
			d.fail(at, f, err)
			continue
		}
		nets = append(nets, p)
	}
	return nets
}
