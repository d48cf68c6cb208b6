package hostlocal

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/weirnet/weir/plugins/pluginkit"
)

// Request is one address the runtime asked for, matched to the range set
// that contains it.
type Request struct {
	Addr netip.Addr
	// Source names where the request came from: "CNI_ARGS IP",
	// "args.cni.ips[0]" or "runtimeConfig.ips[0]".
	Source string
	// Set is the index of the range set containing Addr.
	Set int
}

// requestedAddrs collects the requested addresses from CNI_ARGS (IP=a,b;
// other keys are ignored), the config's args.cni.ips and the ips capability
// (runtimeConfig.ips). Entries may carry a prefix length ("10.1.2.3/24"),
// which is ignored: the range's subnet decides it.
func requestedAddrs(n *netConf, cniArgs string) ([]Request, error) {
	var reqs []Request
	vals, err := cniArgsIPs(cniArgs)
	if err != nil {
		return nil, err
	}
	for _, v := range vals {
		a, err := parseRequested(v)
		if err != nil {
			return nil, pluginkit.Errorf(types.ErrInvalidEnvironmentVariables, "invalid CNI_ARGS IP %q: %w", v, err)
		}
		reqs = append(reqs, Request{Addr: a, Source: "CNI_ARGS IP"})
	}
	if n.Args != nil && n.Args.CNI != nil {
		for i, v := range n.Args.CNI.IPs {
			field := fmt.Sprintf("args.cni.ips[%d]", i)
			a, err := parseRequested(v)
			if err != nil {
				return nil, pluginkit.ConfigError(field, "%v", err)
			}
			reqs = append(reqs, Request{Addr: a, Source: field})
		}
	}
	for i, v := range n.RuntimeConfig.IPs {
		field := fmt.Sprintf("runtimeConfig.ips[%d]", i)
		a, err := parseRequested(v)
		if err != nil {
			return nil, pluginkit.ConfigError(field, "%v", err)
		}
		reqs = append(reqs, Request{Addr: a, Source: field})
	}
	return reqs, nil
}

// cniArgsIPs returns the comma-separated values of every IP= pair in a
// CNI_ARGS string ("IgnoreUnknown=1;IP=10.1.2.3;K8S_POD_NAME=x").
func cniArgsIPs(cniArgs string) ([]string, error) {
	var out []string
	for pair := range strings.SplitSeq(cniArgs, ";") {
		k, v, ok := strings.Cut(pair, "=")
		if !ok && strings.TrimSpace(pair) != "" {
			// As the reference plugins' types.LoadArgs: a pair must be
			// KEY=VALUE ("IP" alone is a mistake, not an unknown key).
			return nil, pluginkit.Errorf(types.ErrInvalidEnvironmentVariables, "invalid CNI_ARGS pair %q: want KEY=VALUE", pair)
		}
		if strings.TrimSpace(k) != "IP" {
			continue
		}
		for s := range strings.SplitSeq(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
		if strings.TrimSpace(v) == "" {
			return nil, pluginkit.Errorf(types.ErrInvalidEnvironmentVariables, "invalid CNI_ARGS IP: empty value")
		}
	}
	return out, nil
}

func parseRequested(s string) (netip.Addr, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Addr{}, fmt.Errorf("%q is not an IP address", s)
		}
		return p.Addr().Unmap().WithZone(""), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%q is not an IP address", s)
	}
	return a.Unmap().WithZone(""), nil
}

// matchRequests assigns each requested address to the range set containing
// it. The same address asked for twice counts once; an address in no range
// set, the gateway, or two addresses for one range set are errors.
func (c *Config) matchRequests(reqs []Request) ([]Request, error) {
	var out []Request
	bySet := make(map[int]Request)
	for _, r := range reqs {
		r.Set = -1
		for i, set := range c.RangeSets {
			if rg, ok := set.Find(r.Addr); ok {
				if r.Addr == rg.Gateway {
					return nil, pluginkit.ConfigError(r.Source, "requested address %s is the gateway of %s", r.Addr, rg.Subnet)
				}
				r.Set = i
				break
			}
		}
		if r.Set < 0 {
			return nil, pluginkit.ConfigError(r.Source, "requested address %s is in no range set (%s)", r.Addr, c.describeSets())
		}
		if prev, ok := bySet[r.Set]; ok {
			if prev.Addr == r.Addr {
				continue
			}
			return nil, pluginkit.ConfigError(r.Source, "requested address %s and %s (%s) are both in range set %d; one address per range set",
				r.Addr, prev.Addr, prev.Source, r.Set)
		}
		bySet[r.Set] = r
		out = append(out, r)
	}
	return out, nil
}

func (c *Config) describeSets() string {
	parts := make([]string, len(c.RangeSets))
	for i, s := range c.RangeSets {
		parts[i] = s.String()
	}
	return strings.Join(parts, "; ")
}
