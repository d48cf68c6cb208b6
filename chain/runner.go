package chain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/types/create"
	"github.com/containernetworking/cni/pkg/version"
	"github.com/hashicorp/go-hclog"
)

// Defaults for a Runner's zero fields.
const (
	DefaultTimeout = 30 * time.Second
	DefaultRetries = 3
	DefaultBackoff = 100 * time.Millisecond
)

// Runner runs network chains for containers and keeps their records.
type Runner struct {
	// Exec finds and runs plugins; weir passes a *pluginkit.Exec so its own
	// plugins run in-process.
	Exec invoke.Exec
	// Path is the plugin search path (CNI_PATH).
	Path []string
	// StateDir holds records and locks (default /run/weir).
	StateDir string
	// Timeout bounds each plugin invocation; Retries bounds the retries of
	// CNI error 11 (0 means DefaultRetries, negative none), waiting Backoff,
	// 2×Backoff, ...
	Timeout time.Duration
	Retries int
	Backoff time.Duration
	Log     hclog.Logger
}

// Attachment is what a container asks of one network.
type Attachment struct {
	ContainerID    string
	NetNS          string
	IfName         string
	Args           [][2]string    // CNI_ARGS
	CapabilityArgs map[string]any // runtimeConfig, for plugins that declare the capability
	ConfigArgs     map[string]any // merged into each plugin's "args" (labels)
}

func (r *Runner) store() Store { return Store{Dir: r.StateDir} }

func (r *Runner) logger() hclog.Logger {
	if r.Log == nil {
		return hclog.NewNullLogger()
	}
	return r.Log
}

func (r *Runner) exec() invoke.Exec {
	g := &guardedExec{Exec: r.Exec, timeout: r.Timeout, retries: r.Retries, backoff: r.Backoff, log: r.logger()}
	if g.timeout <= 0 {
		g.timeout = DefaultTimeout
	}
	switch {
	case g.retries == 0:
		g.retries = DefaultRetries
	case g.retries < 0:
		g.retries = 0
	}
	if g.backoff <= 0 {
		g.backoff = DefaultBackoff
	}
	return g
}

// invoke runs one plugin of list with command and returns its result (ADD).
func (r *Runner) invoke(ctx context.Context, ex invoke.Exec, command string, list *libcni.NetworkConfigList, i int, conf []byte, rec *Record) (types.Result, error) {
	typ := list.Plugins[i].Network.Type
	path, err := ex.FindInPath(typ, r.Path)
	if err != nil {
		return nil, fmt.Errorf("plugin %s failed (%s): %w", typ, command, err)
	}
	args := &invoke.Args{Command: command, ContainerID: rec.ContainerID, NetNS: rec.NetNS, PluginArgs: rec.Args, IfName: rec.IfName, Path: strings.Join(r.Path, ":")}
	if command == "ADD" {
		res, err := invoke.ExecPluginWithResult(ctx, path, conf, args, ex)
		if err != nil {
			return nil, fmt.Errorf("plugin %s failed (add): %w", typ, err)
		}
		return res, nil
	}
	if err := invoke.ExecPluginWithoutResult(ctx, path, conf, args, ex); err != nil {
		return nil, fmt.Errorf("plugin %s failed (%s): %w", typ, strings.ToLower(command), err)
	}
	return nil, nil
}

// Add attaches a container to the network list. Every plugin's
// configuration is checked first where the plugin can do that without
// touching the host (weir's own plugins), so a bad definition is refused
// before anything changes. Then a record is written, and every plugin's ADD
// runs in order, each fed the previous result. When any plugin fails, the
// whole chain is deleted with the same arguments and the record removed, so
// nothing is left behind (see rollback for when the record must stay).
func (r *Runner) Add(ctx context.Context, list *libcni.NetworkConfigList, a Attachment) (types.Result, error) {
	if err := validateAttachment(a); err != nil {
		return nil, err
	}
	lock, err := lockContainer(ctx, r.StateDir, a.ContainerID)
	if err != nil {
		return nil, err
	}
	defer lock.unlock(r.store(), a.ContainerID)
	gc, err := lockOutGC(ctx, r.StateDir)
	if err != nil {
		return nil, err
	}
	defer gc.Release()
	return r.add(ctx, list, a)
}

// add is Add with the container's lock held and GC locked out.
func (r *Runner) add(ctx context.Context, list *libcni.NetworkConfigList, a Attachment) (types.Result, error) {
	st := r.store()
	if old, err := st.Load(a.ContainerID, list.Name); err == nil {
		return nil, fmt.Errorf("container %s is already on network %s (as %s, %s)", a.ContainerID, list.Name, old.IfName, old.State)
	} else if !errors.Is(err, ErrNoRecord) {
		return nil, err
	}
	rec := &Record{
		Network: list.Name, ContainerID: a.ContainerID, IfName: a.IfName, NetNS: a.NetNS, State: StateAdding,
		Args: a.Args, CapabilityArgs: a.CapabilityArgs, ConfigArgs: a.ConfigArgs, Config: list.Bytes,
	}
	if err := r.checkConfigs(ctx, list, rec); err != nil {
		return nil, err
	}
	if err := st.Save(rec); err != nil {
		return nil, err
	}
	log := r.logger().With("container_id", a.ContainerID, "network", list.Name, "ifname", a.IfName)
	ex := r.exec()
	var prev types.Result
	for i := range list.Plugins {
		conf, err := pluginConf(list, i, prev, a.CapabilityArgs, a.ConfigArgs, nil)
		if err == nil {
			prev, err = r.invoke(ctx, ex, "ADD", list, i, conf, rec)
		}
		if err != nil {
			log.Warn("add failed, rolling back", "plugin", list.Plugins[i].Network.Type, "error", err)
			return nil, r.rollback(ctx, list, rec, i, err)
		}
	}
	res, err := convert(prev, list.CNIVersion)
	if err != nil {
		return nil, r.rollback(ctx, list, rec, len(list.Plugins), err)
	}
	raw, err := json.Marshal(res)
	if err != nil {
		return nil, r.rollback(ctx, list, rec, len(list.Plugins), fmt.Errorf("encoding result: %w", err))
	}
	rec.State, rec.Result, rec.Config = StateAdded, raw, nil
	if err := st.Save(rec); err != nil {
		return nil, err
	}
	log.Debug("attached")
	return res, nil
}

func (r *Runner) rollbackTimeout(plugins int) time.Duration {
	t := r.Timeout
	if t <= 0 {
		t = DefaultTimeout
	}
	return time.Duration(plugins+1) * t
}

// convert returns res in the list's version (plugins should already answer
// in it; the last plugin's result is what the runtime gets).
func convert(res types.Result, ver string) (types.Result, error) {
	if res == nil {
		return nil, fmt.Errorf("the chain returned no result")
	}
	out, err := res.GetAsVersion(ver)
	if err != nil {
		return nil, fmt.Errorf("converting result to version %s: %w", ver, err)
	}
	return out, nil
}

// decodeResult parses a recorded result in the list's version.
func decodeResult(raw json.RawMessage, ver string) (types.Result, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	res, err := create.Create(ver, raw)
	if err != nil {
		return nil, fmt.Errorf("decoding recorded result: %w", err)
	}
	return res, nil
}

// chainsSupport reports whether ver has the named command.
func chainsSupport(ver, min string) bool {
	ok, err := version.GreaterThanOrEqualTo(ver, min)
	return err == nil && ok
}
