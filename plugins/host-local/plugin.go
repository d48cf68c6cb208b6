package hostlocal

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"net/netip"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/hashicorp/go-hclog"

	"github.com/weirnet/weir/plugins/pluginkit"
)

// Plugin is the host-local IPAM plugin. It keeps no state of its own: all of
// it is in the store directories.
type Plugin struct{}

// New returns the host-local plugin.
func New() *Plugin { return &Plugin{} }

var (
	_ pluginkit.Plugin        = (*Plugin)(nil)
	_ pluginkit.ConfigChecker = (*Plugin)(nil)
)

func logger(env *pluginkit.Env) hclog.Logger {
	if env == nil || env.Log == nil {
		return hclog.NewNullLogger()
	}
	return env.Log
}

// CheckConfig refuses what Add would refuse as bad input — the
// configuration, the requested addresses, an unreadable resolvConf —
// without opening the store (see pluginkit.ConfigChecker).
func (p *Plugin) CheckConfig(_ context.Context, _ *pluginkit.Env, args *skel.CmdArgs) error {
	c, err := LoadConfig(args.StdinData, args.Args)
	if err != nil {
		return err
	}
	if c.ResolvConf != "" {
		if _, err := readResolvConf(c.ResolvConf); err != nil {
			return err
		}
	}
	return nil
}

// Add reserves one address from each range set for the attachment
// (container id, ifname) and returns them with the routes and DNS settings.
// An attachment that already holds addresses gets those back.
func (p *Plugin) Add(ctx context.Context, env *pluginkit.Env, args *skel.CmdArgs) (types.Result, error) {
	c, err := LoadConfig(args.StdinData, args.Args)
	if err != nil {
		return nil, err
	}
	var dns types.DNS
	if c.ResolvConf != "" {
		if dns, err = readResolvConf(c.ResolvConf); err != nil {
			return nil, err
		}
	}
	st, err := OpenStore(c.DataDir, c.Network, true)
	if err != nil {
		return nil, err
	}
	unlock, err := st.Lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	o := Owner{ContainerID: args.ContainerID, IfName: args.IfName}
	log := logger(env).With("container_id", o.ContainerID, "ifname", o.IfName, "network", c.Network)
	addrs, err := c.reserve(st, o, log)
	if err != nil {
		return nil, err
	}
	return c.result(addrs, dns), nil
}

// reserve returns the attachment's addresses, one per range set in order:
// the ones it already holds, or new ones. A failure leaves nothing behind.
func (c *Config) reserve(st *Store, o Owner, log hclog.Logger) ([]netip.Addr, error) {
	ix, err := st.ReadIndex(o)
	if err != nil {
		return nil, err
	}
	if ix != nil {
		if ix.State == StateReady {
			addrs, ok, err := c.held(st, ix)
			if err != nil {
				return nil, err
			}
			if ok {
				if err := c.checkRequested(addrs); err != nil {
					return nil, err
				}
				log.Debug("attachment already holds its addresses", "ips", addrs)
				return addrs, nil
			}
			log.Warn("attachment's recorded addresses no longer match the configuration or store; reserving again", "ips", ix.IPs)
		} else {
			log.Warn("found the pending index of an interrupted ADD; releasing its reservations")
		}
		if err := st.release(ix); err != nil {
			return nil, err
		}
	}

	ix = &Index{ContainerID: o.ContainerID, IfName: o.IfName, State: StatePending}
	if err := st.WriteIndex(ix); err != nil {
		return nil, err
	}
	var addrs []netip.Addr
	success := false
	defer func() {
		if success {
			return
		}
		released := true
		for _, a := range addrs {
			if _, err := st.Release(o, a); err != nil {
				log.Error("undoing reservation", "ip", a, "error", err)
				released = false
			}
		}
		if !released {
			return // the pending index makes DEL or a retried ADD scan for it
		}
		if err := st.RemoveIndex(o); err != nil {
			log.Error("removing pending index", "error", err)
		}
	}()

	res, err := st.newReservation(o)
	if err != nil {
		return nil, err
	}
	defer res.close()
	requested := make(map[int]Request, len(c.Requested))
	for _, r := range c.Requested {
		requested[r.Set] = r
	}
	allocated := make(map[int]netip.Addr, len(c.RangeSets))
	for i, set := range c.RangeSets {
		if r, ok := requested[i]; ok {
			if err := reserveRequested(st, res, o, r); err != nil {
				return nil, err
			}
			addrs = append(addrs, r.Addr)
			continue
		}
		a, err := allocate(res, i, set, st.LastReserved(i))
		if err != nil {
			return nil, err
		}
		addrs = append(addrs, a)
		allocated[i] = a
	}
	for i, a := range allocated {
		if err := st.SetLastReserved(i, a); err != nil {
			// Only a hint for the next allocation; the reservation stands.
			log.Warn("recording the round-robin position", "range_set", i, "error", err)
		}
	}
	ix.State, ix.IPs = StateReady, addrs
	if err := st.WriteIndex(ix); err != nil {
		return nil, err
	}
	success = true
	return addrs, nil
}

func reserveRequested(st *Store, res *reservation, o Owner, r Request) error {
	ok, err := res.link(r.Addr)
	if err != nil || ok {
		return err
	}
	holder, held, err := st.Owner(r.Addr)
	if err != nil {
		return err
	}
	if held && holder == o {
		return nil // a stray reservation of this very attachment
	}
	return pluginkit.Errorf(types.ErrInternal, "requested address %s (%s) is already reserved by %s", r.Addr, r.Source, holder)
}

// held returns the addresses a ready index lists, ordered by range set, when
// they still fit the configuration (exactly one per range set) and are all
// still reserved for the attachment.
func (c *Config) held(st *Store, ix *Index) ([]netip.Addr, bool, error) {
	if len(ix.IPs) != len(c.RangeSets) {
		return nil, false, nil
	}
	addrs := make([]netip.Addr, len(c.RangeSets))
	for _, a := range ix.IPs {
		i := c.setOf(a)
		if i < 0 || addrs[i].IsValid() {
			return nil, false, nil
		}
		o, ok, err := st.Owner(a)
		if err != nil {
			return nil, false, err
		}
		if !ok || o != ix.Owner() {
			return nil, false, nil
		}
		addrs[i] = a
	}
	return addrs, true, nil
}

// checkRequested fails when the runtime asks for addresses other than those
// the attachment already holds.
func (c *Config) checkRequested(addrs []netip.Addr) error {
	for _, r := range c.Requested {
		if addrs[r.Set] != r.Addr {
			return pluginkit.Errorf(types.ErrInternal, "requested address %s (%s), but the attachment already holds %s; delete it first", r.Addr, r.Source, addrs[r.Set])
		}
	}
	return nil
}

// setOf returns the index of the range set containing a, or -1.
func (c *Config) setOf(a netip.Addr) int {
	for i, set := range c.RangeSets {
		if _, ok := set.Find(a); ok {
			return i
		}
	}
	return -1
}

// result builds the ADD result: addrs[i] comes from range set i.
func (c *Config) result(addrs []netip.Addr, dns types.DNS) *current.Result {
	res := &current.Result{CNIVersion: current.ImplementedSpecVersion, Routes: c.Routes, DNS: dns}
	for i, a := range addrs {
		rg, _ := c.RangeSets[i].Find(a)
		res.IPs = append(res.IPs, &current.IPConfig{
			Address: net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(rg.Subnet.Bits(), a.BitLen())},
			Gateway: rg.Gateway.AsSlice(),
		})
	}
	return res
}

// Del releases the attachment's addresses. Nothing to release (no store, no
// index) is success.
func (p *Plugin) Del(ctx context.Context, env *pluginkit.Env, args *skel.CmdArgs) error {
	_, st, unlock, err := lockExisting(ctx, args.StdinData)
	if err != nil || st == nil {
		return err
	}
	defer unlock()
	o := Owner{ContainerID: args.ContainerID, IfName: args.IfName}
	ix, err := st.ReadIndex(o)
	if err != nil || ix == nil {
		return err
	}
	if ix.State != StateReady {
		logger(env).Warn("releasing an interrupted ADD's reservations by scanning the store", "container_id", o.ContainerID, "ifname", o.IfName)
	}
	return st.release(ix)
}

// openExisting opens the store of network under dataDir without creating
// it: a store that does not exist is nil, with no error.
func openExisting(dataDir, network string) (*Store, error) {
	st, err := OpenStore(dataDir, network, false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, pluginkit.Errorf(types.ErrIOFailure, "%w", err)
	}
	return st, nil
}

// lockExisting prepares DEL and GC, which have nothing to do in a store
// that does not exist: it loads what locates the store, opens the store
// without creating it and locks it. A missing store is nil (and so is the
// unlock function).
func lockExisting(ctx context.Context, stdin []byte) (*Config, *Store, func(), error) {
	c, _, err := loadStoreConfig(stdin)
	if err != nil {
		return nil, nil, nil, err
	}
	st, err := openExisting(c.DataDir, c.Network)
	if err != nil || st == nil {
		return c, nil, nil, err
	}
	unlock, err := st.Lock(ctx)
	if err != nil {
		return c, nil, nil, err
	}
	return c, st, unlock, nil
}
