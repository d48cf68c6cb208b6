package hostlocal

import (
	"context"
	"net/netip"
	"slices"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"

	"github.com/weirnet/weir/plugins/pluginkit"
)

// Check verifies that the attachment holds one address in every range set
// and that each is still reserved for it.
func (p *Plugin) Check(ctx context.Context, env *pluginkit.Env, args *skel.CmdArgs) error {
	c, err := LoadConfig(args.StdinData, args.Args)
	if err != nil {
		return err
	}
	o := Owner{ContainerID: args.ContainerID, IfName: args.IfName}
	st, err := openExisting(c.DataDir, c.Network)
	if err != nil {
		return err
	}
	var ix *Index
	if st != nil {
		if ix, err = st.ReadIndex(o); err != nil {
			return err
		}
	}
	if ix == nil {
		return pluginkit.Errorf(types.ErrUnknownContainer, "no addresses reserved for %s on network %s", o, c.Network)
	}
	if ix.State != StateReady {
		return pluginkit.Errorf(types.ErrInternal, "the ADD of %s on network %s did not complete", o, c.Network)
	}
	for i, set := range c.RangeSets {
		j := slices.IndexFunc(ix.IPs, func(a netip.Addr) bool { _, ok := set.Find(a); return ok })
		if j < 0 {
			return pluginkit.Errorf(types.ErrInternal, "%s holds no address in range set %d (%s)", o, i, set.Subnets())
		}
		holder, ok, err := st.Owner(ix.IPs[j])
		if err != nil {
			return err
		}
		if !ok || holder != o {
			return pluginkit.Errorf(types.ErrInternal, "address %s of %s is no longer reserved for it", ix.IPs[j], o)
		}
	}
	return nil
}
