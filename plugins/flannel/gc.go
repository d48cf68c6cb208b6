package flannel

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"

	"github.com/weirnet/weir/plugins/pluginkit"
)

// GC removes the saved configurations of attachments the runtime no longer
// lists in cni.dev/valid-attachments, then runs the delegate's GC with a
// configuration built from the subnet file and the valid attachments, which
// releases the stale attachments' addresses. Without a subnet file (flanneld
// not running) the delegate's GC is skipped and left to a later GC.
func (p *Plugin) GC(ctx context.Context, env *pluginkit.Env, args *skel.CmdArgs) error {
	c, err := loadConfig(args.StdinData)
	if err != nil {
		return err
	}
	log := logger(env)
	valid := make(map[string]bool, len(c.ValidAttachments))
	for _, a := range c.ValidAttachments {
		valid[statePath(c, a.ContainerID, a.IfName)] = true
	}
	errs := []error{removeStale(c, valid, log.Info)}

	se, err := LoadSubnetEnv(c.SubnetFile)
	var cerr *types.Error
	if errors.As(err, &cerr) && cerr.Code == types.ErrTryAgainLater {
		log.Warn("skipping the delegate's GC", "reason", err)
		return errors.Join(errs...)
	}
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	dconf, err := buildDelegate(c, se)
	if err == nil {
		dconf, err = withGCAttachments(dconf, c.ValidAttachments)
	}
	if err == nil {
		_, err = pluginkit.Delegate(ctx, env, "GC", c.delegateType, dconf, args)
	}
	return errors.Join(append(errs, err)...)
}

// removeStale removes the network's saved configurations that are not in
// valid. Temporary files of interrupted writes (dot files) are left alone:
// one may belong to an ADD in progress.
func removeStale(c *config, valid map[string]bool, logf func(string, ...any)) error {
	dir := filepath.Join(c.DataDir, c.Name)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return pluginkit.Errorf(types.ErrIOFailure, "listing saved delegate configurations: %w", err)
	}
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".json") {
			continue
		}
		path := filepath.Join(dir, name)
		if valid[path] {
			continue
		}
		logf("removing the saved configuration of a stale attachment", "path", path)
		errs = append(errs, removeDelegate(path))
	}
	return errors.Join(errs...)
}
