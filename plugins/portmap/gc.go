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

// GC removes the network's attachments that are not among the valid ones:
// those it has records of, and those whose rules' or set members' comments
// name the network (a record lost, or never written). Per family: a
// listing of each set, one save, and one restore when anything is stale.
// Records are removed once their rules are.
func (p *Plugin) GC(ctx context.Context, env *pluginkit.Env, args *skel.CmdArgs) error {
	c, err := loadConfig(args.StdinData)
	if err != nil {
		return err
	}
	log := logger(env)
	keep := map[string]bool{}
	keepComments := map[string]bool{}
	validKey := map[[2]string]bool{}
	for _, a := range c.ValidAttachments {
		dn, sn := Chains(c.Name, a.ContainerID, a.IfName)
		keep[dn], keep[sn] = true, true
		keepComments[masq.Attachment{Network: c.Name, ContainerID: a.ContainerID, IfName: a.IfName}.Comment()] = true
		validKey[[2]string{a.ContainerID, a.IfName}] = true
	}
	// Members and the rules by mark are found by their comment: an
	// attachment's of this network, and not a valid one's.
	staleComment := func(comment string) bool {
		n, ok := masq.CommentNetwork(comment)
		return ok && n == c.Name && comment != sharedComment && !keepComments[comment]
	}
	st := store{dir: c.StateDir}
	lock, err := st.lock(ctx)
	if err != nil {
		return pluginkit.Errorf(types.ErrTryAgainLater, "locking portmap state of network %s: %w", c.Name, err)
	}
	defer lock.Release()
	recs, err := st.list(c.Name)
	if err != nil {
		log.Warn("some portmap records do not decode; removing them by name", "network", c.Name, "error", err)
	}
	var stale []record
	var recChains []string
	for _, r := range recs {
		if validKey[[2]string{r.containerID, r.ifName}] {
			continue
		}
		stale = append(stale, r)
		dn, sn := Chains(c.Name, r.containerID, r.ifName)
		recChains = append(recChains, dn, sn)
	}
	pick := func(t *masq.Table) []string { return append(staleChains(t, c.Name, keep), recChains...) }
	k := hostKernel()
	var errs []error
	for _, f := range bothFamilies() {
		if err := k.removeSlow(ctx, f, pick, staleComment); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f, err))
		}
	}
	if len(errs) > 0 {
		return pluginkit.Errorf(types.ErrInternal, "collecting port mappings of network %s: %w", c.Name, errors.Join(errs...))
	}
	for _, r := range stale {
		if r.plan != nil {
			flushUDP(r.plan, r.plan.families(), log)
		}
		if err := st.remove(c.Name, r.containerID, r.ifName); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return pluginkit.Errorf(types.ErrIOFailure, "collecting portmap records of network %s: %w", c.Name, errors.Join(errs...))
	}
	return nil
}
