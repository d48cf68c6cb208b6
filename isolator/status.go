package isolator

import (
	"errors"
	"fmt"

	"os"
	"sort"

	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"

	"github.com/weirnet/weir/chain"
)

// Container states in a ContainerStatus.
const (
	StatePreparing = "preparing" // prepared, not isolated
	StateIsolated  = "isolated"  // every network attached
	StatePartial   = "partial"   // an attach was cut short; Recover undoes it
)

// Status reports a container's networks and addresses from its records.
// With a Cache, a status read before is answered from it while the files
// it was read from are unchanged; the caller owns what it gets either way.
func (iso *Isolator) Status(id string) (*ContainerStatus, error) {
	if err := chain.ValidateContainerID(id); err != nil {
		return nil, err
	}
	if iso.Cache != nil {
		return iso.Cache.status(id, iso.dir(id), iso.readStatus)
	}
	return iso.readStatus(id)
}

// StatusJSON is Status's JSON (Mesos's ContainerStatus with weir's
// fields), indented by two spaces and ending in a newline. With a Cache it
// is encoded once per change of the records: the bytes returned may be
// shared, and must not be modified.
func (iso *Isolator) StatusJSON(id string) ([]byte, error) {
	if err := chain.ValidateContainerID(id); err != nil {
		return nil, err
	}
	if iso.Cache != nil {
		return iso.Cache.statusJSON(id, iso.dir(id), iso.readStatus)
	}
	st, err := iso.readStatus(id)
	if err != nil {
		return nil, err
	}
	return encodeStatus(st)
}

// readStatus is Status from the records, every time. Status's cache
// (cache.go) depends on it reading nothing but the files fingerprint
// stats: keep the two in step.
func (iso *Isolator) readStatus(id string) (*ContainerStatus, error) {
	cfg, cfgErr := iso.config(id)
	store := chain.Store{Dir: iso.Runner.StateDir}
	nets, err := store.Networks(id)
	if err != nil {
		return nil, err
	}
	if cfgErr != nil && len(nets) == 0 {
		return nil, cfgErr
	}
	st := &ContainerStatus{ContainerID: id, NetworkInfos: []NetworkInfo{}, Interfaces: map[string]string{}, State: StateIsolated}
	if _, err := os.Stat(iso.NSPath(id)); err == nil {
		st.NetNS = iso.NSPath(id)
	}
	order := networkOrder(cfg, nets)
	for _, name := range order {
		rec, res, err := iso.Runner.Result(id, name)
		if errors.Is(err, chain.ErrNoRecord) {
			continue
		}
		if err != nil {
			return nil, err
		}
		info := NetworkInfo{Name: name}
		if cfg != nil {
			for _, n := range cfg.networks() {
				if n.Name == name {
					info.Labels, info.PortMappings = n.Labels, n.PortMappings
				}
			}
		}
		if rec.State != chain.StateAdded {
			st.State = StatePartial
		}
		st.Interfaces[name] = rec.IfName
		if res != nil {
			cur, err := current.NewResultFromResult(res)
			if err != nil {
				return nil, fmt.Errorf("decoding result of %s on %s: %w", id, name, err)
			}
			for _, ipc := range cur.IPs {
				proto := "IPv4"
				if ipc.Address.IP.To4() == nil {
					proto = "IPv6"
				}
				info.IPAddresses = append(info.IPAddresses, IPAddress{Protocol: proto, IPAddress: ipc.Address.IP.String()})
			}
		}
		st.NetworkInfos = append(st.NetworkInfos, info)
	}
	if len(nets) == 0 && len(cfg.networks()) > 0 {
		st.State = StatePreparing
	}
	return st, nil
}

// networkOrder lists the recorded networks in the order the config asked
// for them (eth0 first), then any others by name.
func networkOrder(cfg *ContainerConfig, recorded []string) []string {
	have := map[string]bool{}
	for _, n := range recorded {
		have[n] = true
	}
	var out []string
	for _, n := range cfg.networks() {
		if have[n.Name] {
			out = append(out, n.Name)
			delete(have, n.Name)
		}
	}
	var rest []string
	for n := range have {
		rest = append(rest, n)
	}
	sort.Strings(rest)
	return append(out, rest...)
}

// List returns the status of every container the isolator has a record of.
func (iso *Isolator) List() ([]*ContainerStatus, error) {
	ids, err := chain.Store{Dir: iso.Runner.StateDir}.Containers()
	if err != nil {
		return nil, err
	}
	sort.Strings(ids)
	if iso.Cache != nil {
		iso.Cache.retain(ids)
	}
	out := []*ContainerStatus{}
	for _, id := range ids {
		st, err := iso.Status(id)
		if errors.Is(err, ErrUnknownContainer) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

// Usage returns the traffic counters of the container's interfaces, read in
// its namespace.
func (iso *Isolator) Usage(id string) ([]InterfaceUsage, error) {
	st, err := iso.Status(id)
	if err != nil {
		return nil, err
	}
	if st.NetNS == "" {
		return nil, fmt.Errorf("container %s has no network namespace", id)
	}
	var out []InterfaceUsage
	err = ns.WithNetNSPath(st.NetNS, func(ns.NetNS) error {
		for _, n := range st.NetworkInfos {
			ifName := st.Interfaces[n.Name]
			l, err := netlink.LinkByName(ifName)
			if err != nil {
				return fmt.Errorf("reading %s: %w", ifName, err)
			}
			s := l.Attrs().Statistics
			u := InterfaceUsage{Network: n.Name, Interface: ifName}
			if s != nil {
				u.RxBytes, u.TxBytes, u.RxPackets, u.TxPackets = s.RxBytes, s.TxBytes, s.RxPackets, s.TxPackets
				u.RxDropped, u.TxDropped = s.RxDropped, s.TxDropped
			}
			out = append(out, u)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("usage of %s: %w", id, err)
	}
	return out, nil
}
