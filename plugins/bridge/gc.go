package bridge

import (
	"context"
	"errors"

	"github.com/containernetworking/cni/pkg/skel"

	"github.com/weirnet/weir/plugins/internal/ipam"
	"github.com/weirnet/weir/plugins/internal/masq"
	"github.com/weirnet/weir/plugins/pluginkit"
)

// GC releases what the network holds for attachments that are not in the
// configuration's cni.dev/valid-attachments: the IPAM plugin gets the same
// GC, and the network's masquerade of other attachments (set members, and
// the chains of an older weir) is removed, whatever ipMasq says now, since
// it may have been on when they were made.
// Veths vanish with their namespaces and need no collecting.
func (p *Plugin) GC(ctx context.Context, env *pluginkit.Env, args *skel.CmdArgs) error {
	c, err := loadConfig(args.StdinData, args.Args)
	if err != nil {
		return err
	}
	var errs []error
	if c.hasIPAM {
		if err := ipam.GC(ctx, env, args.StdinData, args); err != nil {
			errs = append(errs, err)
		}
	}
	valid := make([]masq.Attachment, 0, len(c.ValidAttachments))
	for _, a := range c.ValidAttachments {
		valid = append(valid, c.attachment(a.ContainerID, a.IfName))
	}
	if err := p.masq.GC(ctx, c.Name, valid); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Status reports whether the network can take new attachments, which is
// the IPAM plugin's answer.
func (p *Plugin) Status(ctx context.Context, env *pluginkit.Env, args *skel.CmdArgs) error {
	c, err := loadConfig(args.StdinData, args.Args)
	if err != nil {
		return err
	}
	if !c.hasIPAM {
		return nil
	}
	return ipam.Status(ctx, env, args.StdinData, args)
}
