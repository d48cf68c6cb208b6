package isolator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/go-hclog"

	"github.com/weirnet/weir/chain"
	"github.com/weirnet/weir/internal/atomicfile"
	"github.com/weirnet/weir/internal/netns"
)

// Isolator runs the network lifecycle of containers on this host.
type Isolator struct {
	Runner  *chain.Runner // its StateDir is the isolator's too
	ConfDir string        // network definitions
	Log     hclog.Logger
	// Cache, when set, answers Status from the statuses read before
	// while the container's records are unchanged (see StatusCache): for
	// a long-running process such as the daemon. The isolator forgets a
	// container in it whenever it changes the container's records.
	Cache *StatusCache
}

func (iso *Isolator) log() hclog.Logger {
	if iso.Log == nil {
		return hclog.NewNullLogger()
	}
	return iso.Log
}

func (iso *Isolator) dir(id string) string {
	return filepath.Join(iso.Runner.StateDir, "containers", id)
}

// NSPath is where a container's network namespace is pinned.
func (iso *Isolator) NSPath(id string) string { return filepath.Join(iso.dir(id), "ns") }

func (iso *Isolator) configPath(id string) string { return filepath.Join(iso.dir(id), "config.json") }

// Prepare validates a container's network configuration and records it: the
// id, every network defined and asked for once, port mappings and labels
// well formed. Nothing on the host changes when it fails. Problems in the
// config are *ConfigError values; a container that is already prepared, or
// already on networks, gets an error satisfying errors.Is(err,
// ErrAlreadyPrepared). Two Prepares of one id, in any processes, cannot
// both succeed.
func (iso *Isolator) Prepare(id string, cfg *ContainerConfig) (*PrepareInfo, error) {
	if err := chain.ValidateContainerID(id); err != nil {
		return nil, err
	}
	if cfg != nil && cfg.ContainerInfo != nil && cfg.ContainerInfo.Hostname != "" {
		if err := validateHostname(cfg.ContainerInfo.Hostname); err != nil {
			return nil, &ConfigError{Field: "container_info.hostname", Err: err}
		}
	}
	nets := cfg.networks()
	if _, err := iso.requests(id, "", nets, nil); err != nil {
		return nil, err
	}
	if len(nets) == 0 {
		return &PrepareInfo{Namespaces: []string{}}, nil
	}
	data, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("encoding config of %s: %w", id, err)
	}
	l, err := iso.lock(context.Background(), id)
	if err != nil {
		return nil, err
	}
	defer iso.unlock(l, id)
	defer iso.Cache.forget(id)
	if _, err := os.Stat(iso.configPath(id)); err == nil {
		return nil, fmt.Errorf("container %s is %w", id, ErrAlreadyPrepared)
	}
	if attached, err := (chain.Store{Dir: iso.Runner.StateDir}).Networks(id); err != nil {
		return nil, err
	} else if len(attached) > 0 {
		return nil, fmt.Errorf("container %s is already on networks %s (attached with weir net add?): %w", id, strings.Join(attached, ", "), ErrAlreadyPrepared)
	}
	if err := os.MkdirAll(iso.dir(id), 0o700); err != nil {
		return nil, fmt.Errorf("creating directory of %s: %w", id, err)
	}
	if err := atomicfile.CreateExclusive(iso.configPath(id), data, 0o600); err != nil {
		_ = os.Remove(iso.dir(id)) // only when empty: what Prepare made
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("container %s is %w", id, ErrAlreadyPrepared)
		}
		return nil, fmt.Errorf("recording config of %s: %w", id, err)
	}
	return &PrepareInfo{Namespaces: []string{"network", "mount", "uts"}}, nil
}

// config reads a prepared container's configuration.
func (iso *Isolator) config(id string) (*ContainerConfig, error) {
	data, err := os.ReadFile(iso.configPath(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("container %s: %w", id, ErrUnknownContainer)
	}
	if err != nil {
		return nil, fmt.Errorf("reading config of %s: %w", id, err)
	}
	cfg := &ContainerConfig{}
	if err := json.Unmarshal(data, cfg); err != nil {
		return nil, fmt.Errorf("decoding config of %s: %w", id, err)
	}
	return cfg, nil
}

// requests resolves the asked networks against the definitions: eth0,
// eth1, ... in the order asked, labels and port mappings as args, plus
// extra capability arguments for every network (the kubelet adapter's pod
// CIDR as ipRanges).
func (iso *Isolator) requests(id, nsPath string, nets []NetworkInfo, extraCaps map[string]any) ([]chain.Request, error) {
	if len(nets) == 0 {
		return nil, nil
	}
	set, err := chain.LoadDir(iso.ConfDir, iso.Runner.Path)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var reqs []chain.Request
	for i, n := range nets {
		field := fmt.Sprintf("container_info.network_infos[%d]", i)
		if n.Name == "" {
			return nil, &ConfigError{Field: field, Err: errors.New("the network has no name")}
		}
		if seen[n.Name] {
			return nil, &ConfigError{Field: field, Err: fmt.Errorf("network %q is asked for twice", n.Name)}
		}
		seen[n.Name] = true
		def, err := set.Get(n.Name)
		if err != nil {
			return nil, &ConfigError{Field: field, Err: err}
		}
		list, err := def.ConfList()
		if err != nil {
			return nil, err
		}
		labels := map[string]string{}
		if n.Labels != nil {
			for j, l := range n.Labels.Labels {
				if l.Key == "" {
					return nil, &ConfigError{Field: fmt.Sprintf("%s.labels.labels[%d].key", field, j), Err: errors.New("empty label key")}
				}
				labels[l.Key] = l.Value
			}
		}
		var pms []chain.PortMapping
		for j, pm := range n.PortMappings {
			proto := strings.ToLower(pm.Protocol)
			if proto == "" {
				proto = "tcp"
			}
			spec := fmt.Sprintf("%d:%d/%s", pm.HostPort, pm.ContainerPort, proto)
			p, err := chain.ParsePortMapping(spec)
			if err != nil {
				return nil, &ConfigError{Field: fmt.Sprintf("%s.port_mappings[%d]", field, j), Err: err}
			}
			pms = append(pms, p)
		}
		caps := chain.PortMappingArgs(pms)
		for k, v := range extraCaps {
			if caps == nil {
				caps = map[string]any{}
			}
			caps[k] = v
		}
		reqs = append(reqs, chain.Request{List: list, Attachment: chain.Attachment{
			ContainerID: id, NetNS: nsPath, IfName: fmt.Sprintf("eth%d", i),
			ConfigArgs: chain.LabelArgs(n.Name, labels), CapabilityArgs: caps,
		}})
	}
	return reqs, nil
}

// Isolate puts the prepared container, whose first process is pid (or
// whose namespace is at nsPath when pid is 0), on its networks: the
// namespace is pinned, every network attached in parallel, and the
// container's files written. It fails as a whole.
func (iso *Isolator) Isolate(ctx context.Context, id string, pid int, nsPath string) (*ContainerStatus, error) {
	return iso.isolate(ctx, id, pid, nsPath, nil)
}

func (iso *Isolator) isolate(ctx context.Context, id string, pid int, nsPath string, extraCaps map[string]any) (*ContainerStatus, error) {
	if err := chain.ValidateContainerID(id); err != nil {
		return nil, err
	}
	l, err := iso.lock(ctx, id)
	if err != nil {
		return nil, err
	}
	defer iso.unlock(l, id)
	defer iso.Cache.forget(id)
	cfg, err := iso.config(id)
	if err != nil {
		return nil, err
	}
	source := nsPath
	if pid > 0 {
		source = fmt.Sprintf("/proc/%d/ns/net", pid)
	}
	if source == "" {
		return nil, fmt.Errorf("isolating %s: give the pid of its first process or its netns path", id)
	}
	pinned := iso.NSPath(id)
	if err := netns.Pin(source, pinned); err != nil {
		return nil, fmt.Errorf("isolating %s: %w", id, err)
	}
	reqs, err := iso.requests(id, pinned, cfg.networks(), extraCaps)
	if err == nil {
		_, err = iso.Runner.AddAll(ctx, reqs)
	}
	if err == nil {
		err = iso.writeFiles(id, cfg)
	}
	if err != nil {
		// AddAll rolled the networks back; release the namespace too.
		return nil, errors.Join(fmt.Errorf("isolating %s: %w", id, err), netns.Remove(pinned))
	}
	iso.log().Info("isolated", "container_id", id, "networks", len(reqs))
	return iso.Status(id)
}

// Cleanup detaches the container from every network it has a record of,
// releases its namespace and removes its directory. A namespace already gone
// (a reboot, the process exited) and partial records are fine; an unknown
// container is success.
func (iso *Isolator) Cleanup(ctx context.Context, id string) error {
	if err := chain.ValidateContainerID(id); err != nil {
		return err
	}
	l, err := iso.lock(ctx, id)
	if err != nil {
		return err
	}
	defer iso.unlock(l, id)
	return iso.cleanup(ctx, id)
}

// cleanup is Cleanup with the container's lock held.
func (iso *Isolator) cleanup(ctx context.Context, id string) error {
	defer iso.Cache.forget(id)
	ns := iso.NSPath(id)
	// The records name the pinned path; when the namespace is gone (a
	// reboot, an unmount) plugins find no namespace there and tear down
	// what lives outside it.
	if err := iso.Runner.DelAll(ctx, id, ""); err != nil {
		return fmt.Errorf("cleaning up %s: %w", id, err)
	}
	if err := netns.Remove(ns); err != nil {
		return fmt.Errorf("cleaning up %s: %w", id, err)
	}
	if err := os.RemoveAll(iso.dir(id)); err != nil {
		return fmt.Errorf("removing directory of %s: %w", id, err)
	}
	iso.log().Info("cleaned up", "container_id", id)
	return nil
}
