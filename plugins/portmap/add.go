package portmap

import (
	"context"
	"net/netip"
	"slices"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/hashicorp/go-hclog"

	"github.com/weirnet/weir/plugins/internal/masq"
	"github.com/weirnet/weir/plugins/pluginkit"
)

// Add publishes the container's port mappings and passes prevResult on.
func (p *Plugin) Add(ctx context.Context, env *pluginkit.Env, args *skel.CmdArgs) (types.Result, error) {
	c, err := loadConfig(args.StdinData)
	if err != nil {
		return nil, err
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	if c.prev == nil {
		return nil, pluginkit.ConfigError("prevResult", "portmap is a chained plugin: it must follow a plugin that gives the container its addresses")
	}
	pl, err := c.plan(args, logger(env))
	if err != nil {
		return nil, err
	}
	if err := setup(ctx, hostKernel(), store{dir: c.StateDir}, pl, hostIfaces(c.prev), logger(env)); err != nil {
		return nil, err
	}
	return c.prev, nil
}

func logger(env *pluginkit.Env) hclog.Logger {
	if env == nil || env.Log == nil {
		return hclog.NewNullLogger()
	}
	return env.Log.Named("portmap")
}

// plan builds the attachment's plan from the validated configuration and
// prevResult. Mappings need an address of the container's interface; a
// mapping whose host address is of a family the container lacks can never
// apply and is skipped with a warning, as the reference plugin does.
func (c *config) plan(args *skel.CmdArgs, log hclog.Logger) (*plan, error) {
	pl := &plan{
		Layout: layoutSets, Network: c.Name, ContainerID: args.ContainerID, IfName: args.IfName,
		Mappings: c.mappings, SNAT: c.snat(),
		ConditionsV4: c.ConditionsV4, ConditionsV6: c.ConditionsV6,
	}
	if pl.SNAT {
		pl.MarkMasqBit = c.MarkMasqBit
	}
	if len(pl.Mappings) == 0 {
		return pl, nil
	}
	pl.Addrs = containerAddrs(c.prev, args.IfName)
	if len(pl.Addrs) == 0 {
		return nil, pluginkit.ConfigError("prevResult", "no address of %s: nothing to forward ports to", args.IfName)
	}
	for i, m := range pl.Mappings {
		a, ok := m.hostAddr()
		if !ok {
			continue
		}
		if f := familyOf(a); len(pl.addrs(f)) == 0 {
			log.Warn("skipping a port mapping: the container has no address of its host address's family",
				"mapping", i, "hostIP", m.HostIP, "family", f.String())
		}
	}
	return pl, nil
}

// containerAddrs returns the addresses prevResult gives the container's
// interface ifName (and those it gives no interface), without repeats.
func containerAddrs(res *current.Result, ifName string) []netip.Addr {
	var out []netip.Addr
	for _, ipc := range res.IPs {
		if i := ipc.Interface; i != nil && *i >= 0 && *i < len(res.Interfaces) {
			if iface := res.Interfaces[*i]; iface.Name != ifName || iface.Sandbox == "" {
				continue
			}
		}
		a, ok := netip.AddrFromSlice(ipc.Address.IP)
		if !ok {
			continue
		}
		if a = a.Unmap(); !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// hostIfaces returns the interfaces of prevResult outside the container.
func hostIfaces(res *current.Result) []string {
	var out []string
	for _, i := range res.Interfaces {
		if i.Sandbox == "" && i.Name != "" {
			out = append(out, i.Name)
		}
	}
	return out
}

// setup writes pl's record, rules and set members (writeRules) and lets
// connections from 127.0.0.1 reach the container; any failure undoes all
// of it.
func setup(ctx context.Context, k kernel, st store, pl *plan, ifaces []string, log hclog.Logger) error {
	name := attachmentName(pl.Network, pl.ContainerID, pl.IfName)
	lock, err := st.lock(ctx)
	if err != nil {
		return pluginkit.Errorf(types.ErrTryAgainLater, "locking portmap state of %s: %w", name, err)
	}
	defer lock.Release()
	old, err := st.load(pl.Network, pl.ContainerID, pl.IfName)
	if err != nil {
		log.Warn("ignoring an unreadable portmap record", "attachment", name, "error", err)
		old = nil
	}
	touched, err := writeRules(ctx, k, st, pl, old, log)
	if err != nil || len(touched) == 0 {
		return err
	}
	fams := pl.families()
	if pl.SNAT && slices.Contains(fams, masq.IPv4) {
		if err := enableLocalnet(pl.addrs(masq.IPv4), ifaces); err != nil {
			undoRules(ctx, k, st, pl, touched, log)
			return pluginkit.Errorf(types.ErrInternal, "publishing ports of %s: %w", name, err)
		}
	}
	flushUDP(pl, fams, log)
	return nil
}
