package loopback

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"
	"github.com/vishvananda/netlink"

	"github.com/weirnet/weir/plugins/internal/ifcfg"
	"github.com/weirnet/weir/plugins/pluginkit"
)

// loName is the only interface this plugin touches.
const loName = "lo"

// Plugin is the loopback CNI plugin; it is stateless.
type Plugin struct{}

// New returns the loopback plugin.
func New() *Plugin { return &Plugin{} }

var _ pluginkit.Plugin = (*Plugin)(nil)

// loadConfig decodes the configuration and its prevResult, if any (the
// result of the plugins before this one in a chain).
func loadConfig(stdin []byte) (*types.NetConf, error) {
	var conf types.NetConf
	if err := json.Unmarshal(stdin, &conf); err != nil {
		return nil, pluginkit.Errorf(types.ErrDecodingFailure, "decoding loopback network configuration: %w", err)
	}
	if conf.RawPrevResult != nil {
		if err := version.ParsePrevResult(&conf); err != nil {
			return nil, pluginkit.Errorf(types.ErrDecodingFailure, "parsing prevResult: %w", err)
		}
	}
	return &conf, nil
}

// Add brings lo up in the container's namespace. Its result is the
// prevResult when there is one, and otherwise lo with its addresses.
func (p *Plugin) Add(_ context.Context, _ *pluginkit.Env, args *skel.CmdArgs) (types.Result, error) {
	conf, err := loadConfig(args.StdinData)
	if err != nil {
		return nil, err
	}
	var iface *current.Interface
	var addrs []net.IPNet
	err = ifcfg.InNetNS(args.Netns, func() error {
		link, err := setLo(true)
		if err != nil {
			return err
		}
		iface = &current.Interface{Name: loName, Mac: hwAddr(link), Sandbox: args.Netns}
		addrs, err = loAddrs(link)
		return err
	})
	if err != nil {
		return nil, pluginkit.Errorf(types.ErrInternal, "bringing lo up in netns %s: %w", args.Netns, err)
	}
	if conf.PrevResult != nil {
		return conf.PrevResult, nil
	}
	res := &current.Result{CNIVersion: current.ImplementedSpecVersion, Interfaces: []*current.Interface{iface}}
	for _, a := range addrs {
		res.IPs = append(res.IPs, &current.IPConfig{Interface: current.Int(0), Address: a})
	}
	return res, nil
}

// Del sets lo down in the container's namespace. An empty CNI_NETNS or a
// namespace that no longer exists is success.
func (p *Plugin) Del(_ context.Context, _ *pluginkit.Env, args *skel.CmdArgs) error {
	if _, err := loadConfig(args.StdinData); err != nil {
		return err
	}
	if args.Netns == "" {
		return nil
	}
	err := ifcfg.InNetNS(args.Netns, func() error {
		_, err := setLo(false)
		return err
	})
	if err != nil && !ifcfg.NetNSGone(err) {
		return pluginkit.Errorf(types.ErrInternal, "setting lo down in netns %s: %w", args.Netns, err)
	}
	return nil
}

// Check verifies that lo is up in the container's namespace.
func (p *Plugin) Check(_ context.Context, _ *pluginkit.Env, args *skel.CmdArgs) error {
	if _, err := loadConfig(args.StdinData); err != nil {
		return err
	}
	err := ifcfg.InNetNS(args.Netns, func() error {
		link, err := netlink.LinkByName(loName)
		if err != nil {
			return fmt.Errorf("looking up lo: %w", err)
		}
		if link.Attrs().Flags&net.FlagUp == 0 {
			return errors.New("lo is down")
		}
		return nil
	})
	if err != nil {
		return pluginkit.Errorf(types.ErrInternal, "checking lo in netns %s: %w", args.Netns, err)
	}
	return nil
}

// GC has nothing to collect: lo belongs to its namespace.
func (p *Plugin) GC(context.Context, *pluginkit.Env, *skel.CmdArgs) error { return nil }

// Status is always ready: there is nothing the plugin depends on.
func (p *Plugin) Status(context.Context, *pluginkit.Env, *skel.CmdArgs) error { return nil }
