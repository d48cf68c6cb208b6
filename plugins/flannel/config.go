package flannel

import (
	"encoding/json"
	"path/filepath"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/utils"

	"github.com/weirnet/weir/plugins/pluginkit"
)

const (
	// DefaultSubnetFile is where flanneld writes the host's lease.
	DefaultSubnetFile = "/run/flannel/subnet.env"
	// DefaultDataDir holds the saved delegate configurations. It is under
	// /run (tmpfs) like the rest of weir's plugin state: a reboot forgets
	// the containers and their configurations together.
	DefaultDataDir = "/run/weir/flannel"
	// defaultDelegateType is the plugin that does the real work.
	defaultDelegateType = "bridge"
)

// Plugin is the flannel CNI plugin. It is stateless: everything it keeps
// lives in files under the configuration's dataDir.
type Plugin struct{}

// New returns the flannel plugin.
func New() *Plugin { return &Plugin{} }

var _ pluginkit.Plugin = (*Plugin)(nil)

// NetConf is the flannel plugin's network configuration as it arrives on
// stdin. The keys that are passed through to the delegate untouched are kept
// as raw JSON.
type NetConf struct {
	types.NetConf

	// SubnetFile is flanneld's subnet file; DefaultSubnetFile if empty.
	SubnetFile string `json:"subnetFile,omitempty"`
	// DataDir is where delegate configurations are saved; DefaultDataDir
	// if empty.
	DataDir string `json:"dataDir,omitempty"`
	// Delegate holds keys that override the generated delegate
	// configuration; "type" selects the delegate plugin and "ipam" is
	// merged key by key into the generated ipam section.
	Delegate map[string]json.RawMessage `json:"delegate,omitempty"`
	// IPAM, as in the reference flannel plugin, is the base of the
	// delegate's ipam section: its keys are kept, "ranges" is set from
	// the subnet file and the flannel networks are appended to "routes".
	IPAM map[string]json.RawMessage `json:"ipam,omitempty"`

	// Passed through to the delegate as the runtime gave them.
	PrevResult      json.RawMessage `json:"prevResult,omitempty"`
	RuntimeConfig   json.RawMessage `json:"runtimeConfig,omitempty"`
	Args            json.RawMessage `json:"args,omitempty"`
	RawCapabilities json.RawMessage `json:"capabilities,omitempty"`
}

// config is a decoded configuration with its defaults filled in.
type config struct {
	NetConf
	// delegateType is the delegate plugin's type: delegate.type or bridge.
	delegateType string
	// delegateIPAM is delegate.ipam decoded, nil if absent.
	delegateIPAM map[string]json.RawMessage
}

// decodeConfig decodes the configuration, fills in the defaults and checks
// only what every command needs to find its saved state (the network name
// and dataDir). DEL uses it alone, so that an attachment made under a
// configuration that no longer validates can still be torn down.
func decodeConfig(stdin []byte) (*config, error) {
	c := &config{}
	if err := json.Unmarshal(stdin, &c.NetConf); err != nil {
		return nil, pluginkit.Errorf(types.ErrDecodingFailure, "decoding flannel network configuration: %w", err)
	}
	if c.Name == "" {
		return nil, pluginkit.ConfigError("name", "a network name is required: the delegate's addresses are kept under it")
	}
	// Dispatch checks it too; the name becomes a directory name here.
	if err := utils.ValidateNetworkName(c.Name); err != nil {
		return nil, err
	}
	if c.SubnetFile == "" {
		c.SubnetFile = DefaultSubnetFile
	}
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	if !filepath.IsAbs(c.SubnetFile) {
		return nil, pluginkit.ConfigError("subnetFile", "%q is not an absolute path", c.SubnetFile)
	}
	if !filepath.IsAbs(c.DataDir) {
		return nil, pluginkit.ConfigError("dataDir", "%q is not an absolute path", c.DataDir)
	}
	c.delegateType = defaultDelegateType
	return c, nil
}

// loadConfig decodes and validates the whole configuration: the delegate
// overrides and the base ipam section too.
func loadConfig(stdin []byte) (*config, error) {
	c, err := decodeConfig(stdin)
	if err != nil {
		return nil, err
	}
	if raw, ok := c.Delegate["type"]; ok {
		var typ string
		if err := json.Unmarshal(raw, &typ); err != nil || typ == "" {
			return nil, pluginkit.ConfigError("delegate.type", "must be a non-empty string, got %s", raw)
		}
		c.delegateType = typ
	}
	if _, ok := c.Delegate["name"]; ok {
		return nil, pluginkit.ConfigError("delegate.name", "must not be set: the delegate's name is the network's name")
	}
	if _, ok := c.Delegate["cniVersion"]; ok {
		return nil, pluginkit.ConfigError("delegate.cniVersion", "must not be set: the delegate runs with the network's cniVersion")
	}
	if raw, ok := c.Delegate["ipam"]; ok {
		if err := json.Unmarshal(raw, &c.delegateIPAM); err != nil || c.delegateIPAM == nil {
			return nil, pluginkit.ConfigError("delegate.ipam", "must be a JSON object, got %s", raw)
		}
	}
	if raw, ok := c.IPAM["routes"]; ok {
		var routes []json.RawMessage
		if err := json.Unmarshal(raw, &routes); err != nil {
			return nil, pluginkit.ConfigError("ipam.routes", "must be a list of routes, got %s", raw)
		}
	}
	return c, nil
}
