package policy

import (
	"context"
	"net/netip"
	"os"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/vishvananda/netlink"

	"github.com/weirnet/weir/plugins/internal/ifcfg"
	"github.com/weirnet/weir/plugins/pluginkit"
	model "github.com/weirnet/weir/policy"
	"github.com/weirnet/weir/policy/compile"
	"github.com/weirnet/weir/policy/enforce"
)

// Plugin is the policy plugin.
type Plugin struct{}

var (
	_ pluginkit.Plugin        = (*Plugin)(nil)
	_ pluginkit.ConfigChecker = (*Plugin)(nil)
)

// New returns the policy plugin.
func New() *Plugin { return &Plugin{} }

func engine(c *config, env *pluginkit.Env) *enforce.Engine {
	return enforce.New(c.StateDir, env.Log)
}

// CheckConfig refuses a configuration Add would refuse, before any plugin
// of the chain runs (see pluginkit.ConfigChecker). The prevResult it needs
// does not exist yet and is not checked.
func (p *Plugin) CheckConfig(_ context.Context, _ *pluginkit.Env, args *skel.CmdArgs) error {
	_, err := loadConfig(args.StdinData)
	return err
}

// Add programs the container's policy and passes prevResult on.
func (p *Plugin) Add(ctx context.Context, env *pluginkit.Env, args *skel.CmdArgs) (types.Result, error) {
	c, err := loadConfig(args.StdinData)
	if err != nil {
		return nil, err
	}
	if c.prev == nil {
		return nil, pluginkit.ConfigError("prevResult", "the policy plugin must follow a plugin that gives the container its addresses")
	}
	ep, err := endpointFor(c, args)
	if err != nil {
		return nil, err
	}
	if ep.Mode == compile.Host {
		if err := enableBridgeFiltering(); err != nil {
			return nil, err
		}
	}
	if _, err := engine(c, env).Attach(ctx, ep); err != nil {
		return nil, pluginkit.Errorf(types.ErrInternal, "programming policy for %s/%s: %w", args.ContainerID, args.IfName, err)
	}
	return c.prev, nil
}

// Del removes the container's policy; an unknown container is success.
func (p *Plugin) Del(ctx context.Context, env *pluginkit.Env, args *skel.CmdArgs) error {
	c, err := loadConfig(args.StdinData)
	if err != nil {
		return err
	}
	if _, err := engine(c, env).DetachIn(ctx, c.Name, args.ContainerID, args.IfName, args.Netns); err != nil {
		return pluginkit.Errorf(types.ErrInternal, "removing policy of %s/%s: %w", args.ContainerID, args.IfName, err)
	}
	return nil
}

// Check verifies the kernel still enforces the container's policy.
func (p *Plugin) Check(ctx context.Context, env *pluginkit.Env, args *skel.CmdArgs) error {
	c, err := loadConfig(args.StdinData)
	if err != nil {
		return err
	}
	if err := engine(c, env).Check(ctx, c.Name, args.ContainerID, args.IfName); err != nil {
		return pluginkit.Errorf(types.ErrInternal, "checking policy of %s/%s: %w", args.ContainerID, args.IfName, err)
	}
	return nil
}

// GC forgets the network's endpoints that are not valid attachments.
func (p *Plugin) GC(ctx context.Context, env *pluginkit.Env, args *skel.CmdArgs) error {
	c, err := loadConfig(args.StdinData)
	if err != nil {
		return err
	}
	if _, err := engine(c, env).GC(ctx, c.Name, c.ValidAttachments); err != nil {
		return pluginkit.Errorf(types.ErrInternal, "collecting policy endpoints of %s: %w", c.Name, err)
	}
	return nil
}

// Status is code 50 while the policy files do not parse.
func (p *Plugin) Status(_ context.Context, _ *pluginkit.Env, args *skel.CmdArgs) error {
	c, err := loadConfig(args.StdinData)
	if err != nil {
		return err
	}
	if _, err := model.LoadDir(c.PolicyDir); err != nil {
		return pluginkit.Errorf(types.ErrPluginNotAvailable, "policy files in %s do not load: %w", c.PolicyDir, err)
	}
	return nil
}

// endpointFor builds the endpoint: addresses from prevResult, labels from
// args, and where to enforce — on the host at the container's veth when the
// chain made one (bridge), else inside the container's namespace (macvlan).
func endpointFor(c *config, args *skel.CmdArgs) (compile.Endpoint, error) {
	ep := compile.Endpoint{
		Endpoint:      model.Endpoint{ID: args.ContainerID, IfName: args.IfName, Network: c.Name, Labels: c.labels},
		PolicyDir:     c.PolicyDir,
		DefaultAction: model.Action(c.DefaultAction),
	}
	for _, ipc := range c.prev.IPs {
		a, ok := netip.AddrFromSlice(ipc.Address.IP)
		if !ok {
			continue
		}
		if i := ipc.Interface; i == nil || (*i >= 0 && *i < len(c.prev.Interfaces) && c.prev.Interfaces[*i].Name == args.IfName) {
			ep.IPs = append(ep.IPs, a.Unmap())
		}
	}
	if len(ep.IPs) == 0 {
		return ep, pluginkit.ConfigError("prevResult", "no address for %s: nothing to enforce policy on", args.IfName)
	}
	veth := hostVeth(c.prev)
	switch {
	case c.Enforcement == "host" && veth == "":
		return ep, pluginkit.ConfigError("enforcement", "host enforcement needs a host-side veth in prevResult")
	case c.Enforcement == "host" || (c.Enforcement == "auto" && veth != ""):
		ep.Mode, ep.HostIface = compile.Host, veth
	default:
		if err := ifcfg.CheckNetNS(args.Netns); err != nil {
			return ep, pluginkit.Errorf(types.ErrInvalidNetNS, "enforcing in the container's namespace: %w", err)
		}
		ep.Mode, ep.NetNS = compile.NetNS, args.Netns
	}
	return ep, nil
}

// hostVeth returns the host-side veth of prevResult: an interface outside
// the sandbox that is a veth in this namespace.
func hostVeth(res *current.Result) string {
	for _, i := range res.Interfaces {
		if i.Sandbox != "" {
			continue
		}
		if l, err := netlink.LinkByName(i.Name); err == nil && l.Type() == "veth" {
			return i.Name
		}
	}
	return ""
}

// enableBridgeFiltering makes bridged traffic traverse iptables, which
// host-side enforcement needs.
func enableBridgeFiltering() error {
	for _, s := range []string{"net/bridge/bridge-nf-call-iptables", "net/bridge/bridge-nf-call-ip6tables"} {
		if _, err := os.Stat("/proc/sys/" + s); err != nil {
			return pluginkit.Errorf(types.ErrPluginNotAvailable, "bridged traffic cannot be filtered: %s is missing (load br_netfilter: modprobe br_netfilter)", s)
		}
		if err := ifcfg.SetSysctl(s, "1"); err != nil {
			return pluginkit.Errorf(types.ErrInternal, "enabling bridge filtering: %w", err)
		}
	}
	return nil
}
