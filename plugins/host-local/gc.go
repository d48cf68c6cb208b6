package hostlocal

import (
	"context"
	"errors"
	"net/netip"
	"slices"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"

	"github.com/weirnet/weir/plugins/pluginkit"
)

// GC releases every reservation whose attachment is not in the
// configuration's cni.dev/valid-attachments, removes the index files of
// those attachments and any leftover temporary files, and turns a valid
// attachment's pending index (an interrupted ADD) into a ready one listing
// what the attachment actually holds. An empty list releases everything.
func (p *Plugin) GC(ctx context.Context, env *pluginkit.Env, args *skel.CmdArgs) error {
	c, st, unlock, err := lockExisting(ctx, args.StdinData)
	if err != nil || st == nil {
		return err
	}
	defer unlock()
	log := logger(env).With("network", c.Network)

	valid := make(map[Owner]bool, len(c.ValidAttachments))
	for _, a := range c.ValidAttachments {
		valid[Owner{ContainerID: a.ContainerID, IfName: a.IfName}] = true
	}
	contents, err := st.Scan(true)
	if err != nil {
		return err
	}
	var errs []error
	held := make(map[Owner][]netip.Addr)
	for a, o := range contents.Reservations {
		if valid[o] {
			held[o] = append(held[o], a)
			continue
		}
		log.Info("releasing leaked address", "ip", a, "container_id", o.ContainerID, "ifname", o.IfName)
		if _, err := st.Release(o, a); err != nil {
			errs = append(errs, err)
		}
	}
	indexed := make(map[Owner]bool)
	for _, name := range contents.Indexes {
		ix, err := st.readIndexFile(name)
		switch {
		case errors.Is(err, errCorruptIndex):
			errs = append(errs, st.remove(name))
		case err != nil:
			errs = append(errs, err)
		case ix == nil:
		case !valid[ix.Owner()] || name != indexName(ix.Owner()):
			errs = append(errs, st.remove(name))
		case ix.State != StateReady:
			indexed[ix.Owner()] = true
			errs = append(errs, repairIndex(st, ix.Owner(), held[ix.Owner()]))
		default:
			indexed[ix.Owner()] = true
		}
	}
	// Valid attachments whose reservations have no index (a corrupt index
	// was removed above) get one, so their DEL finds them.
	for o, addrs := range held {
		if !indexed[o] {
			errs = append(errs, repairIndex(st, o, addrs))
		}
	}
	for _, name := range contents.Temps {
		errs = append(errs, st.remove(name))
	}
	errs = append(errs, st.sync())
	return errors.Join(errs...)
}

// repairIndex writes a ready index for o listing addrs, or removes o's index
// when it holds nothing.
func repairIndex(st *Store, o Owner, addrs []netip.Addr) error {
	if len(addrs) == 0 {
		return st.RemoveIndex(o)
	}
	slices.SortFunc(addrs, netip.Addr.Compare)
	return st.WriteIndex(&Index{ContainerID: o.ContainerID, IfName: o.IfName, State: StateReady, IPs: addrs})
}

// Status reports whether the plugin can take a new attachment: it fails with
// code 50 (plugin not available) when any range set has no free address.
func (p *Plugin) Status(ctx context.Context, env *pluginkit.Env, args *skel.CmdArgs) error {
	c, err := LoadConfig(args.StdinData, args.Args)
	if err != nil {
		return err
	}
	st, err := openExisting(c.DataDir, c.Network)
	if err != nil || st == nil {
		return err
	}
	contents, err := st.Scan(false)
	if err != nil {
		return err
	}
	used := make([]uint64, len(c.RangeSets))
	for a := range contents.Reservations {
		for i, set := range c.RangeSets {
			if r, ok := set.Find(a); ok && a != r.Gateway {
				used[i]++
				break
			}
		}
	}
	for i, set := range c.RangeSets {
		if used[i] >= set.capacity() {
			return pluginkit.Errorf(types.ErrPluginNotAvailable, "no free address in range set %d (%s)", i, set.Subnets())
		}
	}
	return nil
}
