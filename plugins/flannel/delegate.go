package flannel

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/weirnet/weir/internal/atomicfile"
	"github.com/weirnet/weir/plugins/pluginkit"
)

// buildDelegate returns the delegate's network configuration for c on the
// host lease se, as the reference flannel plugin builds it:
//
//	{"cniVersion": <c's>, "name": <c's>, "type": "bridge", "mtu": FLANNEL_MTU,
//	 "ipMasq": !FLANNEL_IPMASQ, "isGateway": true,
//	 "ipam": {"type": "host-local", "ranges": [[{"subnet": <FLANNEL_SUBNET's network>}], ...],
//	          "routes": [{"dst": FLANNEL_NETWORK}, ...]}}
//
// with c's top-level ipam keys as the ipam section's base (its routes come
// first), then c's delegate keys over the top level and delegate.ipam's keys
// over the ipam section, and finally c's runtimeConfig, args and
// capabilities as the runtime passed them. isGateway is only set for the
// bridge delegate. The JSON has sorted keys, so equal inputs give equal
// bytes.
func buildDelegate(c *config, se *SubnetEnv) ([]byte, error) {
	d := map[string]json.RawMessage{}
	if c.CNIVersion != "" {
		d["cniVersion"] = mustJSON(c.CNIVersion)
	}
	d["name"] = mustJSON(c.Name)
	d["type"] = mustJSON(defaultDelegateType)
	d["mtu"] = mustJSON(se.MTU)
	// If flanneld does not masquerade traffic leaving the overlay, the
	// delegate must.
	d["ipMasq"] = mustJSON(!se.IPMasq)

	ipam, err := delegateIPAM(c, se)
	if err != nil {
		return nil, err
	}
	for k, v := range c.Delegate {
		if k == "ipam" {
			continue
		}
		d[k] = v
	}
	if c.delegateType == "bridge" {
		if _, ok := c.Delegate["isGateway"]; !ok {
			d["isGateway"] = mustJSON(true)
		}
	}
	for k, v := range c.delegateIPAM {
		ipam[k] = v
	}
	if d["ipam"], err = json.Marshal(ipam); err != nil {
		return nil, pluginkit.Errorf(types.ErrInvalidNetworkConfig, "encoding delegate ipam section: %w", err)
	}
	passThrough(d, "runtimeConfig", c.RuntimeConfig)
	passThrough(d, "args", c.Args)
	passThrough(d, "capabilities", c.RawCapabilities)
	out, err := json.Marshal(d)
	if err != nil {
		// Only an invalid raw value from the configuration can get here.
		return nil, pluginkit.Errorf(types.ErrInvalidNetworkConfig, "encoding delegate configuration: %w", err)
	}
	return out, nil
}

// delegateIPAM returns the generated ipam section: host-local over the
// host's subnets, with a route to every flannel network.
func delegateIPAM(c *config, se *SubnetEnv) (map[string]json.RawMessage, error) {
	type rangeConf struct {
		Subnet string `json:"subnet"`
	}
	type route struct {
		Dst string `json:"dst"`
	}
	ipam := make(map[string]json.RawMessage, len(c.IPAM)+3)
	for k, v := range c.IPAM {
		ipam[k] = v
	}
	if _, ok := ipam["type"]; !ok {
		ipam["type"] = mustJSON("host-local")
	}
	ranges := [][]rangeConf{}
	routes := []json.RawMessage{}
	if raw, ok := c.IPAM["routes"]; ok {
		if err := json.Unmarshal(raw, &routes); err != nil {
			return nil, pluginkit.ConfigError("ipam.routes", "must be a list of routes, got %s", raw)
		}
	}
	if se.Subnet.IsValid() {
		ranges = append(ranges, []rangeConf{{Subnet: se.Subnet.Masked().String()}})
	}
	if se.IPv6Subnet.IsValid() {
		ranges = append(ranges, []rangeConf{{Subnet: se.IPv6Subnet.Masked().String()}})
	}
	for _, n := range append(append([]netip.Prefix{}, se.Networks...), se.IPv6Networks...) {
		routes = append(routes, mustJSON(route{Dst: n.String()}))
	}
	ipam["ranges"] = mustJSON(ranges)
	ipam["routes"] = mustJSON(routes)
	return ipam, nil
}

// withGCAttachments returns the delegate configuration with the runtime's
// list of valid attachments, for the delegate's GC.
func withGCAttachments(dconf []byte, valid []types.GCAttachment) ([]byte, error) {
	return setKeys(dconf, map[string]any{"cni.dev/valid-attachments": valid})
}

// withPrevResult returns a saved delegate configuration for CHECK and DEL:
// the runtime's prevResult added and the cniVersion set to the one the runtime
// uses now (the version prevResult is written in).
func withPrevResult(dconf []byte, cniVersion string, prevResult json.RawMessage) ([]byte, error) {
	keys := map[string]any{"prevResult": prevResult}
	if cniVersion != "" {
		keys["cniVersion"] = cniVersion
	}
	return setKeys(dconf, keys)
}

func setKeys(dconf []byte, keys map[string]any) ([]byte, error) {
	var d map[string]json.RawMessage
	if err := json.Unmarshal(dconf, &d); err != nil {
		return nil, pluginkit.Errorf(types.ErrDecodingFailure, "decoding delegate configuration: %w", err)
	}
	for k, v := range keys {
		d[k] = mustJSON(v)
	}
	out, err := json.Marshal(d)
	if err != nil {
		return nil, pluginkit.Errorf(types.ErrInternal, "encoding delegate configuration: %w", err)
	}
	return out, nil
}

// statePath is where the delegate configuration of one attachment is saved:
// <dataDir>/<network>/<containerID>@<ifname>.json. A container ID cannot
// contain "@", so the name is unambiguous, and the per-network directory
// keeps one network's GC from touching another's attachments.
func statePath(c *config, containerID, ifName string) string {
	return filepath.Join(c.DataDir, c.Name, containerID+"@"+ifName+".json")
}

// saveDelegate atomically writes the delegate configuration to path.
func saveDelegate(path string, dconf []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return pluginkit.Errorf(types.ErrIOFailure, "creating flannel data directory: %w", err)
	}
	// A temporary file of an earlier write of this attachment's file was
	// left by a process killed mid-way (a runtime never runs two
	// operations of one attachment at once).
	_, _ = atomicfile.RemoveTempsOf(path)
	if err := atomicfile.WriteFile(path, dconf, 0o600); err != nil {
		return pluginkit.Errorf(types.ErrIOFailure, "saving delegate configuration: %w", err)
	}
	return nil
}

// errNoSaved is wrapped by loadDelegate when no configuration is saved.
var errNoSaved = errors.New("no saved delegate configuration")

// loadDelegate reads a saved delegate configuration and returns it with the
// delegate's type. A missing file wraps errNoSaved (and fs.ErrNotExist).
func loadDelegate(path string) ([]byte, string, error) {
	dconf, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", fmt.Errorf("%w at %s: %w", errNoSaved, path, err)
	}
	if err != nil {
		return nil, "", pluginkit.Errorf(types.ErrIOFailure, "reading saved delegate configuration: %w", err)
	}
	typ, err := delegateType(dconf)
	if err != nil {
		return nil, "", pluginkit.Errorf(types.ErrDecodingFailure, "saved delegate configuration %s: %w", path, err)
	}
	return dconf, typ, nil
}

// delegateType returns the type of a delegate configuration.
func delegateType(dconf []byte) (string, error) {
	var d struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(dconf, &d); err != nil {
		return "", fmt.Errorf("decoding: %w", err)
	}
	if d.Type == "" {
		return "", errors.New("it has no type")
	}
	return d.Type, nil
}

// removeDelegate removes a saved configuration; a missing one is fine.
func removeDelegate(path string) error {
	_, _ = atomicfile.RemoveTempsOf(path) // see saveDelegate
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return pluginkit.Errorf(types.ErrIOFailure, "removing saved delegate configuration: %w", err)
	}
	if err := atomicfile.SyncDir(filepath.Dir(path)); err != nil {
		return pluginkit.Errorf(types.ErrIOFailure, "removing saved delegate configuration: %w", err)
	}
	return nil
}

func passThrough(d map[string]json.RawMessage, key string, raw json.RawMessage) {
	if len(raw) > 0 && string(raw) != "null" {
		d[key] = raw
	}
}

// mustJSON encodes values that always encode: strings, numbers, the
// package's own structs and raw JSON that json.Unmarshal produced.
func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("flannel: encoding %T: %v", v, err))
	}
	return b
}
