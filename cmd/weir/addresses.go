package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/weirnet/weir/chain"
	hostlocal "github.com/weirnet/weir/plugins/host-local"
)

// addressCount is how many addresses of a network's host-local ranges are
// reserved and how many are left.
type addressCount struct {
	Network string
	Used    float64
	Free    float64
}

// addressUsage counts, for every defined network whose chain has a plugin
// with an "ipam" section of type host-local, the reservation files in
// host-local's data dir (<dataDir>/<network>/<address>) that fall in the
// configured ranges (used), and the ranges' size minus used (free). The
// size of a range is rangeStart..rangeEnd, less the gateway when it lies
// inside, as host-local allocates. Kept simple on purpose: ranges given at
// ADD time (runtimeConfig.ipRanges, flannel's subnet.env) are not known
// here, so flannel networks and their delegates are not counted.
func addressUsage(confDir string, pluginPath []string) ([]addressCount, error) {
	set, err := chain.LoadDir(confDir, pluginPath)
	if err != nil {
		return nil, err
	}
	var out []addressCount
	var errs []error
	for _, d := range set.Definitions() {
		for i, p := range d.Plugins {
			var conf struct {
				IPAM json.RawMessage `json:"ipam"`
			}
			if err := json.Unmarshal(p.Bytes, &conf); err != nil || len(conf.IPAM) == 0 {
				continue
			}
			var typ struct {
				Type string `json:"type"`
			}
			if json.Unmarshal(conf.IPAM, &typ) != nil || typ.Type != "host-local" {
				continue
			}
			c, err := countAddresses(d.Name, d.CNIVersion, conf.IPAM)
			if err != nil {
				errs = append(errs, fmt.Errorf("network %s, plugin %d: %w", d.Name, i, err))
				continue
			}
			out = append(out, c)
		}
	}
	return out, errors.Join(errs...)
}

func countAddresses(network, version string, ipam json.RawMessage) (addressCount, error) {
	stdin, err := json.Marshal(map[string]any{"cniVersion": version, "name": network, "ipam": ipam})
	if err != nil {
		return addressCount{}, err
	}
	cfg, err := hostlocal.LoadConfig(stdin, "")
	if err != nil {
		return addressCount{}, err
	}
	var ranges []hostlocal.Range
	size := new(big.Int)
	for _, set := range cfg.RangeSets {
		for _, r := range set.Ranges {
			ranges = append(ranges, r)
			size.Add(size, rangeSize(r))
		}
	}
	used := 0
	entries, err := os.ReadDir(filepath.Join(cfg.DataDir, cfg.Network))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return addressCount{}, fmt.Errorf("reading address store: %w", err)
	}
	for _, e := range entries {
		a, err := netip.ParseAddr(e.Name())
		if err != nil {
			continue // lock, last_reserved_ip.N, temporary files
		}
		for _, r := range ranges {
			if r.Contains(a) {
				used++
				break
			}
		}
	}
	total, _ := new(big.Float).SetInt(size).Float64()
	return addressCount{Network: network, Used: float64(used), Free: max(total-float64(used), 0)}, nil
}

// rangeSize is the number of addresses host-local can hand out from r.
func rangeSize(r hostlocal.Range) *big.Int {
	n := new(big.Int).Sub(new(big.Int).SetBytes(r.End.AsSlice()), new(big.Int).SetBytes(r.Start.AsSlice()))
	n.Add(n, big.NewInt(1))
	if r.Gateway.IsValid() && r.Contains(r.Gateway) {
		n.Sub(n, big.NewInt(1))
	}
	return n
}
