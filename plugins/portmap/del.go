package portmap

import (
	"context"
	"errors"
	"fmt"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"

	"github.com/weirnet/weir/plugins/internal/masq"
	"github.com/weirnet/weir/plugins/pluginkit"
)

// Del removes the attachment's port mappings. It needs neither prevResult
// nor runtimeConfig (and does not validate them, so the rollback of a
// refused ADD succeeds): the chains are named after the attachment, and the
// record says which families have them. Without a record both families are
// searched. Missing chains and a missing record are success; the record is
// removed only once the rules are gone, so a failed DEL can be retried.
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
	fams := bothFamilies()
	if old != nil {
		fams = old.families()
	}
	dn, sn := Chains(c.Name, args.ContainerID, args.IfName)
	run := runner()
	var errs []error
	for _, f := range fams {
		if err := removeChains(ctx, run, f, func(*masq.Table) []string { return []string{dn, sn} }); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f, err))
		}
	}
	if len(errs) > 0 {
		return pluginkit.Errorf(types.ErrInternal, "removing port mappings of %s: %w", name, errors.Join(errs...))
	}
	flushUDP(old, fams, log)
	if err := st.remove(c.Name, args.ContainerID, args.IfName); err != nil {
		return pluginkit.Errorf(types.ErrIOFailure, "removing the portmap record of %s: %w", name, err)
	}
	return nil
}
