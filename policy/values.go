package policy

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// maxNameLen bounds policy names, which end up in iptables comments.
const maxNameLen = 63

// portRange parses one entry of ports: an integer or a string "80" or
// "8000-8080".
func portRange(v any) (PortRange, error) {
	switch p := v.(type) {
	case int64:
		if p < 1 || p > 65535 {
			return PortRange{}, fmt.Errorf("%d is not a port (1-65535)", p)
		}
		return PortRange{From: int(p), To: int(p)}, nil
	case string:
		lo, hi, isRange := strings.Cut(p, "-")
		from, err1 := portNumber(lo)
		to, err2 := from, err1
		if isRange {
			to, err2 = portNumber(hi)
		}
		switch {
		case err1 != nil || err2 != nil:
			return PortRange{}, fmt.Errorf(`%q is not a port range (want "low-high" with ports 1-65535)`, p)
		case from > to:
			return PortRange{}, fmt.Errorf("%q is not a port range (low > high)", p)
		}
		return PortRange{From: from, To: to}, nil
	default:
		return PortRange{}, wrongType(`a port (80) or range ("8000-8080")`, v)
	}
}

func portNumber(s string) (int, error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return 0, errors.New("not a number")
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, errors.New("out of range")
	}
	return n, nil
}

// parseNet parses a CIDR, masking any host bits ("10.22.1.0/16" is
// 10.22.0.0/16); a bare address is a one-address prefix.
func parseNet(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf(`%q is not a CIDR (want e.g. "10.22.0.0/16")`, s)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf(`%q is not a CIDR (want e.g. "10.22.0.0/16")`, s)
	}
	return p.Masked(), nil
}

// checkName requires a name fit for error messages and rule comments:
// letters, digits, '.', '-', '_', starting with a letter or digit.
func checkName(s string) error {
	if s == "" {
		return errors.New("must not be empty")
	}
	if len(s) > maxNameLen {
		return fmt.Errorf("%q is longer than %d characters", s, maxNameLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '.' && c != '-' && c != '_') {
			return fmt.Errorf("%q is not a valid name (letters, digits, '.', '-', '_', starting with a letter or digit)", s)
		}
	}
	return nil
}

// asTables returns v as a list of tables: [[x]] decodes to
// []map[string]any, x = [{...}] to []any.
func asTables(v any) ([]map[string]any, bool) {
	switch t := v.(type) {
	case []map[string]any:
		return t, true
	case []any:
		tables := make([]map[string]any, 0, len(t))
		for _, e := range t {
			m, ok := e.(map[string]any)
			if !ok {
				return nil, false
			}
			tables = append(tables, m)
		}
		return tables, true
	}
	return nil, false
}

// wrongType says that v is not what was wanted.
func wrongType(want string, v any) error {
	return fmt.Errorf("want %s, got %s", want, tomlType(v))
}

func tomlType(v any) string {
	switch t := v.(type) {
	case string:
		return fmt.Sprintf("string %q", t)
	case int64:
		return fmt.Sprintf("integer %d", t)
	case float64:
		return fmt.Sprintf("float %v", t)
	case bool:
		return fmt.Sprintf("boolean %v", t)
	case time.Time:
		return "datetime"
	case []any, []map[string]any:
		return "array"
	case map[string]any:
		return "table"
	}
	return fmt.Sprintf("%T", v)
}
