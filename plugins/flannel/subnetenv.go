package flannel

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/weirnet/weir/plugins/pluginkit"
)

// SubnetEnv is flanneld's subnet file: the host's lease in the overlay.
type SubnetEnv struct {
	// Networks are the whole IPv4 flannel networks (FLANNEL_NETWORK, a
	// comma-separated list); containers get a route to each.
	Networks []netip.Prefix
	// Subnet is the host's IPv4 lease as written (FLANNEL_SUBNET, e.g.
	// 192.168.22.129/26: the host's address in its subnet); invalid if
	// there is none.
	Subnet netip.Prefix
	// IPv6Networks and IPv6Subnet are the IPv6 counterparts
	// (FLANNEL_IPV6_NETWORK, FLANNEL_IPV6_SUBNET).
	IPv6Networks []netip.Prefix
	IPv6Subnet   netip.Prefix
	// MTU is the overlay's MTU (FLANNEL_MTU).
	MTU int
	// IPMasq says whether flanneld masquerades traffic leaving the
	// overlay itself (FLANNEL_IPMASQ); if not, the delegate should.
	IPMasq bool
}

// Subnet-file keys.
const (
	keyNetwork     = "FLANNEL_NETWORK"
	keySubnet      = "FLANNEL_SUBNET"
	keyIPv6Network = "FLANNEL_IPV6_NETWORK"
	keyIPv6Subnet  = "FLANNEL_IPV6_SUBNET"
	keyMTU         = "FLANNEL_MTU"
	keyIPMasq      = "FLANNEL_IPMASQ"
)

// LoadSubnetEnv reads and validates flanneld's subnet file. A missing file
// is a try-again-later error (code 11): flanneld is not running yet or has
// not got its lease. A malformed file is an invalid-configuration error
// (code 7) naming the file, line and key.
func LoadSubnetEnv(path string) (*SubnetEnv, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, pluginkit.Errorf(types.ErrTryAgainLater,
			"flannel subnet file %s does not exist: flanneld must be running on this host and have written its lease there (or set \"subnetFile\" to where it writes it)", path)
	}
	if err != nil {
		return nil, pluginkit.Errorf(types.ErrIOFailure, "reading flannel subnet file: %w", err)
	}
	defer f.Close()
	return parseSubnetEnv(path, f)
}

// parseSubnetEnv parses a subnet file's KEY=VALUE lines. Blank lines and
// lines starting with # are skipped, unknown keys ignored, a value may be
// quoted, and a later line wins over an earlier one, as when the shell
// sources the file.
func parseSubnetEnv(path string, r io.Reader) (*SubnetEnv, error) {
	bad := func(line int, format string, a ...any) error {
		return pluginkit.Errorf(types.ErrInvalidNetworkConfig, "%s:%d: %s", path, line, fmt.Sprintf(format, a...))
	}
	se := &SubnetEnv{}
	seen := map[string]int{} // key -> line it was last set on
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok {
			return nil, bad(n, "expected KEY=VALUE, got %q", line)
		}
		key, val = strings.TrimSpace(key), unquote(strings.TrimSpace(val))
		var err error
		switch key {
		case keyNetwork:
			se.Networks, err = parsePrefixes(val, true)
		case keySubnet:
			se.Subnet, err = parsePrefix(val, true)
		case keyIPv6Network:
			se.IPv6Networks, err = parsePrefixes(val, false)
		case keyIPv6Subnet:
			se.IPv6Subnet, err = parsePrefix(val, false)
		case keyMTU:
			se.MTU, err = strconv.Atoi(val)
			if err != nil || se.MTU < 68 || se.MTU > 65535 {
				err = fmt.Errorf("invalid MTU %q: want a number from 68 to 65535", val)
			}
		case keyIPMasq:
			se.IPMasq, err = strconv.ParseBool(val)
			if err != nil {
				err = fmt.Errorf("invalid boolean %q: want true or false", val)
			}
		default:
			continue
		}
		if err != nil {
			return nil, bad(n, "%s: %v", key, err)
		}
		seen[key] = n
	}
	if err := sc.Err(); err != nil {
		return nil, pluginkit.Errorf(types.ErrIOFailure, "reading flannel subnet file %s: %w", path, err)
	}
	if err := se.complete(path, seen); err != nil {
		return nil, err
	}
	return se, nil
}

// complete checks that the file has every key it needs and that each
// subnet lies in one of its family's networks.
func (se *SubnetEnv) complete(path string, seen map[string]int) error {
	var missing []string
	need := func(key string) {
		if _, ok := seen[key]; !ok {
			missing = append(missing, key)
		}
	}
	has4 := seen[keyNetwork] > 0 || seen[keySubnet] > 0
	has6 := seen[keyIPv6Network] > 0 || seen[keyIPv6Subnet] > 0
	if has4 || !has6 {
		need(keyNetwork)
		need(keySubnet)
	}
	if has6 {
		need(keyIPv6Network)
		need(keyIPv6Subnet)
	}
	need(keyMTU)
	need(keyIPMasq)
	if len(missing) > 0 {
		hint := ""
		if !has4 && !has6 {
			hint = fmt.Sprintf(" (or %s and %s)", keyIPv6Network, keyIPv6Subnet)
		}
		return pluginkit.Errorf(types.ErrInvalidNetworkConfig, "flannel subnet file %s is missing %s%s", path, strings.Join(missing, ", "), hint)
	}
	if has4 && !inAny(se.Subnet, se.Networks) {
		return pluginkit.Errorf(types.ErrInvalidNetworkConfig, "%s:%d: %s %s is not inside %s %s",
			path, seen[keySubnet], keySubnet, se.Subnet, keyNetwork, joinPrefixes(se.Networks))
	}
	if has6 && !inAny(se.IPv6Subnet, se.IPv6Networks) {
		return pluginkit.Errorf(types.ErrInvalidNetworkConfig, "%s:%d: %s %s is not inside %s %s",
			path, seen[keyIPv6Subnet], keyIPv6Subnet, se.IPv6Subnet, keyIPv6Network, joinPrefixes(se.IPv6Networks))
	}
	return nil
}

// parsePrefix parses one CIDR of the given family (IPv4 if v4, else IPv6).
func parsePrefix(s string, v4 bool) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("invalid CIDR %q", s)
	}
	if p.Addr().Is4() != v4 || p.Addr().Is4In6() {
		family := "IPv6"
		if v4 {
			family = "IPv4"
		}
		return netip.Prefix{}, fmt.Errorf("%s is not an %s CIDR", s, family)
	}
	return p, nil
}

// parsePrefixes parses a comma-separated list of networks, dropping
// duplicates; each is normalised to its network address.
func parsePrefixes(s string, v4 bool) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range strings.Split(s, ",") {
		p, err := parsePrefix(strings.TrimSpace(part), v4)
		if err != nil {
			return nil, err
		}
		p = p.Masked()
		dup := false
		for _, q := range out {
			dup = dup || q == p
		}
		if !dup {
			out = append(out, p)
		}
	}
	return out, nil
}

// inAny reports whether the subnet lies within one of the networks.
func inAny(subnet netip.Prefix, networks []netip.Prefix) bool {
	for _, n := range networks {
		if n.Bits() <= subnet.Bits() && n.Contains(subnet.Addr()) {
			return true
		}
	}
	return false
}

func joinPrefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

// unquote strips one pair of matching surrounding quotes.
func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}
