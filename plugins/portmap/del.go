package portmap

import (
	"context"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"

	"github.com/weirnet/weir/plugins/pluginkit"
)

// Del removes the attachment's port mappings. It needs neither prevResult
// nor runtimeConfig (and does not validate them, so the rollback of a
// refused ADD succeeds): the chains are named after the attachment, its
// rules and set members carry its comment, and the record says which
// families have them and, in the common case, exactly which rules and
// members to delete, without reading the nat table or listing a set
// (removeRules). Without a record both families are searched. Missing
// chains, members and a missing record are success; the record is removed
// only once the rules are gone, so a failed DEL can be retried.
func (p *Plugin) Del(ctx context.Context, env *pluginkit.Env, args *skel.CmdArgs) error {
	c, err := loadConfig(args.StdinData)
	if err != nil {
		return err
	}
	log := logger(env)
	st := store{dir: c.StateDir}
	name := attachmentName(c.Name, args.ContainerID, args.IfName)
	lock, err := st.lock(ctx)
	if err != nil {
		return pluginkit.Errorf(types.ErrTryAgainLater, "locking portmap state of %s: %w", name, err)
	}
	defer lock.Release()
	old, err := st.load(c.Name, args.ContainerID, args.IfName)
	if err != nil {
		log.Warn("ignoring an unreadable portmap record; searching both families", "attachment", name, "error", err)
		old = nil
	}
	if old != nil && (old.Network != c.Name || old.ContainerID != args.ContainerID || old.IfName != args.IfName) {
		log.Warn("ignoring a portmap record that names another attachment; searching both families",
			"attachment", name, "record", attachmentName(old.Network, old.ContainerID, old.IfName))
		old = nil
	}
	fams := bothFamilies()
	if old != nil {
		fams = old.families()
	}
	if err := removeRules(ctx, hostKernel(), st, c.Name, args.ContainerID, args.IfName, old, fams, log); err != nil {
		return pluginkit.Errorf(types.ErrInternal, "removing port mappings of %s: %w", name, err)
	}
	flushUDP(old, fams, log)
	if err := st.remove(c.Name, args.ContainerID, args.IfName); err != nil {
		return pluginkit.Errorf(types.ErrIOFailure, "removing the portmap record of %s: %w", name, err)
	}
	return nil
}
