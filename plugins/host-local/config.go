package hostlocal

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/utils"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/weirnet/weir/plugins/pluginkit"
)

// DefaultDataDir is where networks' address stores live unless the
// configuration's ipam.dataDir says otherwise.
const DefaultDataDir = "/run/weir/ipam"

// Config is a loaded, defaulted and validated host-local configuration.
type Config struct {
	// Network is the network name; it keys the store directory.
	Network    string
	CNIVersion string
	// RangeSets are the range sets in order: runtimeConfig.ipRanges, then
	// the legacy ipam.subnet range, then ipam.ranges. ADD takes one address
	// from each.
	RangeSets  []RangeSet
	Routes     []*types.Route
	DataDir    string
	ResolvConf string
	// Requested are the addresses asked for through CNI_ARGS IP=,
	// args.cni.ips and runtimeConfig.ips, each already matched to its range
	// set.
	Requested []Request
	// ValidAttachments is the GC's list of attachments still in use.
	ValidAttachments []types.GCAttachment
}

// rangeConf is one range as written in the configuration.
type rangeConf struct {
	Subnet     string `json:"subnet"`
	RangeStart string `json:"rangeStart,omitempty"`
	RangeEnd   string `json:"rangeEnd,omitempty"`
	Gateway    string `json:"gateway,omitempty"`
}

type ipamConf struct {
	Type string `json:"type"`
	rangeConf
	Ranges     [][]rangeConf     `json:"ranges"`
	Routes     []json.RawMessage `json:"routes"`
	DataDir    string            `json:"dataDir"`
	ResolvConf string            `json:"resolvConf"`
}

type netConf struct {
	types.NetConf
	IPAM *ipamConf `json:"ipam"`
	Args *struct {
		CNI *struct {
			IPs []string `json:"ips"`
		} `json:"cni"`
	} `json:"args"`
	RuntimeConfig struct {
		IPs      []string      `json:"ips"`
		IPRanges [][]rangeConf `json:"ipRanges"`
	} `json:"runtimeConfig"`
}

// LoadConfig decodes the network configuration (stdin) and the CNI_ARGS
// string into a Config with defaults filled in, and checks it before
// anything touches the store. Errors are *types.Error values naming the
// offending field.
func LoadConfig(stdin []byte, cniArgs string) (*Config, error) {
	c, n, err := loadStoreConfig(stdin)
	if err != nil {
		return nil, err
	}
	if err := c.loadRangeSets(n); err != nil {
		return nil, err
	}
	routes, err := loadRoutes(n.IPAM.Routes)
	if err != nil {
		return nil, err
	}
	c.Routes = routes
	reqs, err := requestedAddrs(n, cniArgs)
	if err != nil {
		return nil, err
	}
	if c.Requested, err = c.matchRequests(reqs); err != nil {
		return nil, err
	}
	return c, nil
}

// loadStoreConfig decodes the configuration and checks only what locating
// the store needs: the network name, the ipam section and dataDir. DEL and GC
// use it alone, so a range that no longer validates cannot block releasing
// addresses.
func loadStoreConfig(stdin []byte) (*Config, *netConf, error) {
	var n netConf
	if err := json.Unmarshal(stdin, &n); err != nil {
		return nil, nil, pluginkit.Errorf(types.ErrDecodingFailure, "decoding network configuration: %w", err)
	}
	if n.Name == "" {
		return nil, nil, pluginkit.ConfigError("name", "host-local needs the network name, which keys its address store")
	}
	if err := utils.ValidateNetworkName(n.Name); err != nil {
		return nil, nil, pluginkit.ConfigError("name", "%s", err.Msg)
	}
	if n.IPAM == nil {
		return nil, nil, pluginkit.ConfigError("ipam", "the ipam section is missing")
	}
	c := &Config{
		Network:          n.Name,
		CNIVersion:       n.CNIVersion,
		DataDir:          n.IPAM.DataDir,
		ResolvConf:       n.IPAM.ResolvConf,
		ValidAttachments: n.ValidAttachments,
	}
	if c.CNIVersion == "" {
		c.CNIVersion = "0.1.0"
	}
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	} else if !filepath.IsAbs(c.DataDir) {
		return nil, nil, pluginkit.ConfigError("ipam.dataDir", "%q is not an absolute path", c.DataDir)
	}
	return c, &n, nil
}

func (c *Config) loadRangeSets(n *netConf) error {
	for i, rs := range n.RuntimeConfig.IPRanges {
		set, err := loadRangeSet(fmt.Sprintf("runtimeConfig.ipRanges[%d]", i), rs)
		if err != nil {
			return err
		}
		c.RangeSets = append(c.RangeSets, set)
	}
	legacy := n.IPAM.rangeConf
	if legacy != (rangeConf{}) {
		r, err := loadRange("ipam.", legacy)
		if err != nil {
			return err
		}
		c.RangeSets = append(c.RangeSets, RangeSet{Field: "ipam.subnet", Ranges: []Range{r}})
	}
	for i, rs := range n.IPAM.Ranges {
		set, err := loadRangeSet(fmt.Sprintf("ipam.ranges[%d]", i), rs)
		if err != nil {
			return err
		}
		c.RangeSets = append(c.RangeSets, set)
	}
	if len(c.RangeSets) == 0 {
		return pluginkit.ConfigError("ipam.ranges", "no address ranges: set ipam.subnet or ipam.ranges")
	}
	v4, v6 := 0, 0
	for i, set := range c.RangeSets {
		for j := range i {
			if other := c.RangeSets[j]; set.Overlaps(other) {
				return pluginkit.ConfigError(set.Field, "overlaps range set %d (%s: %s)", j, other.Field, other)
			}
		}
		if set.Ranges[0].Subnet.Addr().Is4() {
			v4++
		} else {
			v6++
		}
	}
	if old, _ := version.GreaterThanOrEqualTo(c.CNIVersion, "0.3.0"); !old && (v4 > 1 || v6 > 1) {
		return pluginkit.ConfigError("ipam.ranges", "cniVersion %s allows at most one IPv4 and one IPv6 range set", c.CNIVersion)
	}
	return nil
}

func loadRangeSet(field string, rcs []rangeConf) (RangeSet, error) {
	set := RangeSet{Field: field}
	if len(rcs) == 0 {
		return set, pluginkit.ConfigError(field, "empty range set")
	}
	for j, rc := range rcs {
		rfield := fmt.Sprintf("%s[%d]", field, j)
		r, err := loadRange(rfield+".", rc)
		if err != nil {
			return set, err
		}
		if first := set.Ranges; len(first) > 0 && first[0].Subnet.Addr().Is4() != r.Subnet.Addr().Is4() {
			return set, pluginkit.ConfigError(rfield, "mixes address families with %s[0] (%s)", field, first[0].Subnet)
		}
		for k, other := range set.Ranges {
			if r.Overlaps(other) {
				return set, pluginkit.ConfigError(rfield, "overlaps %s[%d] (%s)", field, k, other)
			}
		}
		set.Ranges = append(set.Ranges, r)
	}
	return set, nil
}

// loadRange parses and defaults one range; prefix names its fields
// ("ipam." for the legacy range, "ipam.ranges[0][1]." otherwise).
func loadRange(prefix string, rc rangeConf) (Range, error) {
	var r Range
	field := prefix + "subnet"
	if rc.Subnet == "" {
		return r, pluginkit.ConfigError(field, "a subnet is required")
	}
	p, err := netip.ParsePrefix(rc.Subnet)
	if err != nil {
		return r, pluginkit.ConfigError(field, "%q is not a CIDR: %v", rc.Subnet, err)
	}
	if p.Masked() != p {
		return r, pluginkit.ConfigError(field, "%s has host bits set; the network is %s", p, p.Masked())
	}
	if p.Addr().BitLen()-p.Bits() < 2 {
		return r, pluginkit.ConfigError(field, "%s is too small to allocate from", p)
	}
	r.Subnet = p
	first, last := usable(p)
	r.Start, r.End, r.Gateway = first, last, first
	for _, f := range []struct {
		name, val string
		dst       *netip.Addr
	}{{"rangeStart", rc.RangeStart, &r.Start}, {"rangeEnd", rc.RangeEnd, &r.End}, {"gateway", rc.Gateway, &r.Gateway}} {
		if f.val == "" {
			continue
		}
		a, err := netip.ParseAddr(f.val)
		if err != nil {
			return r, pluginkit.ConfigError(prefix+f.name, "%q is not an IP address", f.val)
		}
		a = a.Unmap().WithZone("")
		if !p.Contains(a) || a.Less(first) || last.Less(a) {
			return r, pluginkit.ConfigError(prefix+f.name, "%s is not a usable address of subnet %s (%s-%s)", a, p, first, last)
		}
		*f.dst = a
	}
	if r.End.Less(r.Start) {
		return r, pluginkit.ConfigError(prefix+"rangeEnd", "%s is before rangeStart %s", r.End, r.Start)
	}
	if r.Start == r.End && r.Start == r.Gateway {
		return r, pluginkit.ConfigError(strings.TrimSuffix(prefix, "."), "range %s holds only the gateway", r)
	}
	return r, nil
}

// usable returns the first and last host addresses of a subnet: network+1,
// and the broadcast-1 for IPv4 or the last address for IPv6.
func usable(p netip.Prefix) (netip.Addr, netip.Addr) {
	first := p.Addr().Next()
	b := p.Addr().AsSlice()
	for i := range b {
		hostBits := max(0, min(8, (i+1)*8-p.Bits()))
		b[i] |= byte(1<<hostBits - 1)
	}
	last, _ := netip.AddrFromSlice(b)
	if last.Is4() {
		last = last.Prev()
	}
	return first, last
}

func loadRoutes(raw []json.RawMessage) ([]*types.Route, error) {
	routes := make([]*types.Route, 0, len(raw))
	for i, m := range raw {
		field := fmt.Sprintf("ipam.routes[%d]", i)
		var probe struct {
			Dst string `json:"dst"`
		}
		if err := json.Unmarshal(m, &probe); err != nil {
			return nil, pluginkit.ConfigError(field, "%v", err)
		}
		if probe.Dst == "" {
			return nil, pluginkit.ConfigError(field+".dst", "a destination is required")
		}
		var r types.Route
		if err := json.Unmarshal(m, &r); err != nil {
			return nil, pluginkit.ConfigError(field, "%v", err)
		}
		routes = append(routes, &r)
	}
	return routes, nil
}
