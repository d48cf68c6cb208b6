package flannel

import (
	"context"
	"errors"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"

	"github.com/weirnet/weir/plugins/pluginkit"
)

// Del runs the delegate's DEL with the configuration ADD saved, then removes
// it. No saved configuration means there is nothing to undo (the delegate's
// ADD never ran, or a DEL already finished): success. A failed delegate DEL
// is reported and the configuration kept, so that a retry can finish.
//
// A saved configuration that cannot be decoded is replaced by one built from
// the current configuration and subnet file, so that the delegate still
// releases the attachment's address; if that cannot be built either, both
// reasons are reported and the file stays.
func (p *Plugin) Del(ctx context.Context, env *pluginkit.Env, args *skel.CmdArgs) error {
	c, err := decodeConfig(args.StdinData)
	if err != nil {
		return err
	}
	path := statePath(c, args.ContainerID, args.IfName)
	log := logger(env).With("container_id", args.ContainerID, "ifname", args.IfName)
	dconf, typ, err := loadDelegate(path)
	switch {
	case errors.Is(err, errNoSaved):
		log.Debug("no saved delegate configuration: nothing to delete", "path", path)
		return nil
	case err != nil:
		var rerr error
		if dconf, typ, rerr = rebuildDelegate(c, args.StdinData); rerr != nil {
			return errors.Join(err, rerr)
		}
		log.Warn("saved delegate configuration is unreadable; deleting with one built from the subnet file", "path", path, "error", err)
	}
	// The runtime's prevResult (the attachment's result) lets the delegate
	// delete exactly what it made, its masquerade rules say, instead of
	// reading the whole nat table to find them (~200 ms at 1,000
	// containers). A prevResult that does not fit is left out: DEL works
	// without one.
	if len(c.PrevResult) > 0 && string(c.PrevResult) != "null" {
		if withPrev, err := withPrevResult(dconf, c.CNIVersion, c.PrevResult); err == nil {
			dconf = withPrev
		} else {
			log.Debug("deleting without prevResult", "error", err)
		}
	}
	if _, err := pluginkit.Delegate(ctx, env, "DEL", typ, dconf, args); err != nil {
		e := pluginkit.AsCNIError(err)
		return &types.Error{Code: e.Code, Msg: e.Msg + " (saved configuration " + path + " kept for a retry)", Details: e.Details}
	}
	return removeDelegate(path)
}

// rebuildDelegate builds the delegate configuration anew, as ADD did.
func rebuildDelegate(c *config, stdin []byte) ([]byte, string, error) {
	full, err := loadConfig(stdin)
	if err != nil {
		return nil, "", err
	}
	se, err := LoadSubnetEnv(c.SubnetFile)
	if err != nil {
		return nil, "", err
	}
	dconf, err := buildDelegate(full, se)
	if err != nil {
		return nil, "", err
	}
	return dconf, full.delegateType, nil
}
