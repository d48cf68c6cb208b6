package portmap

import (
	"context"
	"errors"
	"fmt"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"

	"github.com/weirnet/weir/plugins/internal/ipset"
	"github.com/weirnet/weir/plugins/internal/masq"
	"github.com/weirnet/weir/plugins/pluginkit"
)

// Plugin is the portmap plugin. It holds nothing: every call reads its
// configuration, the host's nat tables, ipsets and its records afresh.
type Plugin struct{}

var _ pluginkit.Plugin = (*Plugin)(nil)

// New returns the portmap plugin.
func New() *Plugin { return &Plugin{} }

// bothFamilies returns the address families portmap writes, IPv4 first.
func bothFamilies() []masq.Family { return []masq.Family{masq.IPv4, masq.IPv6} }

// hostKernel returns the host's kernel as portmap changes it: the
// iptables tools and the ipsets over netlink.
func hostKernel() kernel { return kernel{run: masq.ExecRunner{}, sets: ipset.Netlink{}} }

// readNat reads family f's nat table.
func readNat(ctx context.Context, run masq.Runner, f masq.Family) (*masq.Table, error) {
	data, err := run.Save(ctx, f)
	if err != nil {
		return nil, err
	}
	return masq.ParseNat(data)
}

// Status reports code 50 when an iptables tool portmap runs is missing.
func (p *Plugin) Status(_ context.Context, _ *pluginkit.Env, args *skel.CmdArgs) error {
	if _, err := loadConfig(args.StdinData); err != nil {
		return err
	}
	for _, name := range []string{"iptables-save", "iptables-restore", "ip6tables-save", "ip6tables-restore"} {
		if _, err := masq.FindTool(name); err != nil {
			return pluginkit.Errorf(types.ErrPluginNotAvailable, "portmap cannot write rules: %w", err)
		}
	}
	return nil
}

// kernelError wraps a failure to read or write the nat table: code 50 when
// the tools are missing, 999 otherwise.
func kernelError(action string, err error) error {
	if errors.Is(err, masq.ErrNotInstalled) {
		return pluginkit.Errorf(types.ErrPluginNotAvailable, "%s: %w", action, err)
	}
	return pluginkit.Errorf(types.ErrInternal, "%s: %w", action, err)
}

// attachmentName names an attachment in messages.
func attachmentName(network, containerID, ifName string) string {
	return fmt.Sprintf("%s/%s/%s", network, containerID, ifName)
}
