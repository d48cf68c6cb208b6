package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/containernetworking/cni/libcni"

	"github.com/weirnet/weir/chain"
)

const netSynopsis = `weir net add|del|check NAME ID NETNS [--ifname eth0] [--args 'K=V;...'] [--label k=v]... [--publish [IP:]HOST:CONTAINER[/tcp|udp]]...`

// attachFlags are the per-attachment flags of net and run.
type attachFlags struct {
	labels  multi
	publish multi
	args    string
}

func (f *attachFlags) register(fsAdd func(name, usage string, m *multi), fsString func(p *string, name, value, usage string)) {
	fsAdd("label", "container label k=v (repeatable)", &f.labels)
	fsAdd("publish", "publish a port [IP:]HOST:CONTAINER[/tcp|udp] (repeatable)", &f.publish)
	fsString(&f.args, "args", "", "CNI_ARGS for the plugins, 'K=V;K2=V2'")
}

// attachment builds the chain attachment for one network from the flags.
func (f *attachFlags) attachment(network, id, netnsPath, ifName string) (chain.Attachment, error) {
	a := chain.Attachment{ContainerID: id, NetNS: netnsPath, IfName: ifName}
	var err error
	if a.Args, err = chain.ParseCNIArgs(f.args); err != nil {
		return a, usageError{err.Error()}
	}
	labels := map[string]string{}
	for _, l := range f.labels {
		k, v, err := chain.ParseLabel(l)
		if err != nil {
			return a, usageError{err.Error()}
		}
		labels[k] = v
	}
	var pms []chain.PortMapping
	for _, p := range f.publish {
		pm, err := chain.ParsePortMapping(p)
		if err != nil {
			return a, usageError{err.Error()}
		}
		pms = append(pms, pm)
	}
	a.ConfigArgs = chain.LabelArgs(network, labels)
	a.CapabilityArgs = chain.PortMappingArgs(pms)
	return a, nil
}

func (a *app) net(args []string) error {
	fs := newFlagSet("net", netSynopsis, &a.opts)
	ifName := fs.String("ifname", "eth0", "interface name inside the container")
	var af attachFlags
	af.register(func(n, u string, m *multi) { fs.Var(m, n, u) }, fs.StringVar)
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 4 {
		fs.Usage()
		return usageError{"want add|del|check NAME ID NETNS"}
	}
	verb, name, id, nsPath := pos[0], pos[1], pos[2], pos[3]
	if err := chain.ValidateContainerID(id); err != nil {
		return usageError{err.Error()}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r := a.runner()
	switch verb {
	case "add":
		list, err := a.network(name)
		if err != nil {
			return err
		}
		att, err := af.attachment(name, id, nsPath, *ifName)
		if err != nil {
			return err
		}
		res, err := r.Add(ctx, list, att)
		if err != nil {
			return err
		}
		return printJSON(a, res)
	case "del":
		// The record replays the ADD; the current definition is only the
		// fallback for a container weir has no record of.
		list, _ := a.network(name)
		att, err := af.attachment(name, id, nsPath, *ifName)
		if err != nil {
			return err
		}
		return r.Del(ctx, name, att, list)
	case "check":
		if err := r.Check(ctx, name, id); err != nil {
			return err
		}
		if a.opts.json {
			return printJSON(a, map[string]string{"network": name, "container": id, "status": "ok"})
		}
		fmt.Fprintf(a.stdout, "%s on %s: ok\n", id, name)
		return nil
	default:
		return usageError{fmt.Sprintf("unknown net command %q: want add, del or check", verb)}
	}
}

// network loads one definition by name from the conf dir.
func (a *app) network(name string) (*libcni.NetworkConfigList, error) {
	set, err := chain.LoadDir(a.opts.confDir, a.opts.pluginPath())
	if err != nil {
		return nil, err
	}
	def, err := set.Get(name)
	if err != nil {
		return nil, err
	}
	return def.ConfList()
}

func printJSON(a *app, v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "    ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("writing output: %w", err)
	}
	return nil
}
