package portmap

import (
	"context"
	"fmt"
	"slices"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"

	"github.com/weirnet/weir/plugins/internal/masq"
	"github.com/weirnet/weir/plugins/pluginkit"
)

// Check verifies that the rules and set members of the configuration's
// mappings for the addresses in prevResult are in place, exactly, and that
// ADD's record is.
func (p *Plugin) Check(ctx context.Context, env *pluginkit.Env, args *skel.CmdArgs) error {
	c, err := loadConfig(args.StdinData)
	if err != nil {
		return err
	}
	if err := c.validate(); err != nil {
		return err
	}
	if c.prev == nil {
		return pluginkit.ConfigError("prevResult", "CHECK needs the chain's result")
	}
	pl, err := c.plan(args, logger(env))
	if err != nil {
		return err
	}
	fams := pl.families()
	if len(fams) == 0 {
		return nil
	}
	name := attachmentName(pl.Network, pl.ContainerID, pl.IfName)
	rec, err := store{dir: c.StateDir}.load(pl.Network, pl.ContainerID, pl.IfName)
	if err != nil {
		return pluginkit.Errorf(types.ErrIOFailure, "checking port mappings of %s: %w", name, err)
	}
	if rec == nil {
		return pluginkit.Errorf(types.ErrInternal, "checking port mappings of %s: the portmap record is missing", name)
	}
	k := hostKernel()
	for _, f := range fams {
		t, err := readNat(ctx, k.run, f)
		if err != nil {
			return kernelError("reading the "+f.String()+" nat table", err)
		}
		err = verify(t, pl, f)
		if err == nil {
			err = k.checkMembers(pl, f)
		}
		if err != nil {
			return pluginkit.Errorf(types.ErrInternal, "checking port mappings of %s: %w", name, err)
		}
	}
	return nil
}

// verify compares family f's nat table with what setupBatch writes for pl:
// the hooks, the jump, exactly the attachment's rules in its DNAT chain,
// and with snat the shared masquerade rules and the attachment's own (by
// mark). Rules are compared argument by argument, in any order, against
// what iptables-save printed. The jump into the DNAT chain is only
// required to exist: its conditions are the operator's text, which
// iptables-save may print differently. The set members are checkMembers'.
func verify(t *masq.Table, pl *plan, f masq.Family) error {
	for _, h := range hooks(pl.SNAT) {
		if !hasJump(t, h.chain, h.args[len(h.args)-1]) {
			return fmt.Errorf("%s %s has no jump to %s", f, h.chain, h.args[len(h.args)-1])
		}
	}
	dnat, masqs, jumps := pl.attachmentRules(f)
	for _, j := range jumps {
		if !hasJump(t, j.chain, j.args[len(j.args)-1]) {
			return fmt.Errorf("%s %s has no jump to %s", f, j.chain, j.args[len(j.args)-1])
		}
	}
	dn, _ := pl.chains()
	if err := sameRules(t, f, dn, dnat); err != nil {
		return err
	}
	if !pl.SNAT {
		return nil
	}
	for _, r := range catRules(masqRules(f), masqs) {
		if !hasRule(t, r) {
			return fmt.Errorf("%s rule \"-A %s %s\" is missing", f, r.chain, r.text())
		}
	}
	return nil
}

// sameRules checks that chain exists and holds exactly want.
func sameRules(t *masq.Table, f masq.Family, chain string, want []ruleSpec) error {
	if !t.Chains[chain] {
		return fmt.Errorf("%s nat chain %s is missing", f, chain)
	}
	var have [][]string
	for _, r := range t.Rules {
		if r.Chain == chain {
			args, err := masq.SplitArgs(r.Spec)
			if err != nil {
				return fmt.Errorf("reading %s rule %q: %w", f, r.Spec, err)
			}
			slices.Sort(args)
			have = append(have, args)
		}
	}
	for _, w := range want {
		args := slices.Clone(w.args)
		slices.Sort(args)
		i := slices.IndexFunc(have, func(h []string) bool { return slices.Equal(h, args) })
		if i < 0 {
			return fmt.Errorf("%s rule \"-A %s %s\" is missing", f, chain, w.text())
		}
		have = slices.Delete(have, i, i+1)
	}
	if len(have) > 0 {
		return fmt.Errorf("%s nat chain %s has %d rule(s) portmap did not write", f, chain, len(have))
	}
	return nil
}
