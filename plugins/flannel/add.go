package flannel

import (
	"context"
	"errors"
	"time"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/hashicorp/go-hclog"

	"github.com/weirnet/weir/plugins/pluginkit"
)

// Add builds the delegate configuration from the configuration and the
// subnet file, saves it, and runs the delegate's ADD with it. The
// configuration is saved first, so that a crash during the delegate's ADD
// leaves what DEL needs to undo it. If the delegate fails, its DEL undoes
// whatever it did and the saved configuration is removed.
func (p *Plugin) Add(ctx context.Context, env *pluginkit.Env, args *skel.CmdArgs) (types.Result, error) {
	c, err := loadConfig(args.StdinData)
	if err != nil {
		return nil, err
	}
	se, err := LoadSubnetEnv(c.SubnetFile)
	if err != nil {
		return nil, err
	}
	dconf, err := buildDelegate(c, se)
	if err != nil {
		return nil, err
	}
	path := statePath(c, args.ContainerID, args.IfName)
	log := logger(env).With("container_id", args.ContainerID, "ifname", args.IfName, "delegate", c.delegateType)
	if err := saveDelegate(path, dconf); err != nil {
		return nil, err
	}
	log.Debug("saved delegate configuration", "path", path, "conf", string(dconf))

	res, err := pluginkit.Delegate(ctx, env, "ADD", c.delegateType, dconf, args)
	if err != nil {
		return nil, errors.Join(err, undoAdd(ctx, env, log, c.delegateType, dconf, args, path))
	}
	return res, nil
}

// undoTimeout bounds the undo of a failed ADD, which runs even when the
// ADD's own context has ended (the delegate may have timed out).
const undoTimeout = 30 * time.Second

// undoAdd runs the delegate's DEL after its failed ADD and removes the saved
// configuration. If the DEL fails too, the configuration stays, so that the
// runtime's DEL can finish the job.
func undoAdd(ctx context.Context, env *pluginkit.Env, log hclog.Logger, typ string, dconf []byte, args *skel.CmdArgs, path string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
	defer cancel()
	if _, err := pluginkit.Delegate(ctx, env, "DEL", typ, dconf, args); err != nil {
		log.Warn("undoing failed ADD: delegate DEL failed; keeping the saved configuration for a later DEL", "path", path, "error", err)
		return err
	}
	return removeDelegate(path)
}

// logger returns env's logger, or one that discards.
func logger(env *pluginkit.Env) hclog.Logger {
	if env == nil || env.Log == nil {
		return hclog.NewNullLogger()
	}
	return env.Log
}
