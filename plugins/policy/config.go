package policy

import (
	"encoding/json"
	"path/filepath"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/weirnet/weir/plugins/pluginkit"
)

// Defaults of the plugin's configuration keys.
const (
	DefaultPolicyDir = "/etc/weir/policies"
	DefaultStateDir  = "/run/weir"
)

// config is the policy plugin's configuration, last in a chain.
type config struct {
	types.NetConf
	PolicyDir     string          `json:"policyDir"`
	DefaultAction string          `json:"defaultAction"`
	StateDir      string          `json:"stateDir"`
	Enforcement   string          `json:"enforcement"` // auto (default), host or netns
	Args          json.RawMessage `json:"args"`

	prev   *current.Result
	labels map[string]string
}

// loadConfig decodes and validates the configuration, and the labels and
// previous result when present, before anything touches the host.
func loadConfig(data []byte) (*config, error) {
	c := &config{}
	if err := json.Unmarshal(data, c); err != nil {
		return nil, pluginkit.Errorf(types.ErrDecodingFailure, "decoding policy config: %w", err)
	}
	if c.Name == "" {
		return nil, pluginkit.ConfigError("name", "the policy plugin needs the network's name")
	}
	if c.PolicyDir == "" {
		c.PolicyDir = DefaultPolicyDir
	}
	c.PolicyDir = filepath.Clean(c.PolicyDir)
	if c.StateDir == "" {
		c.StateDir = DefaultStateDir
	}
	switch c.DefaultAction {
	case "":
		c.DefaultAction = "allow"
	case "allow", "deny":
	default:
		return nil, pluginkit.ConfigError("defaultAction", "%q is not allow or deny", c.DefaultAction)
	}
	switch c.Enforcement {
	case "":
		c.Enforcement = "auto"
	case "auto", "host", "netns":
	default:
		return nil, pluginkit.ConfigError("enforcement", "%q is not auto, host or netns", c.Enforcement)
	}
	labels, err := parseLabels(c.Args)
	if err != nil {
		return nil, pluginkit.ConfigError("args", "%v", err)
	}
	c.labels = labels
	if c.RawPrevResult != nil {
		if err := version.ParsePrevResult(&c.NetConf); err != nil {
			return nil, pluginkit.Errorf(types.ErrDecodingFailure, "decoding prevResult: %w", err)
		}
		prev, err := current.NewResultFromResult(c.PrevResult)
		if err != nil {
			return nil, pluginkit.Errorf(types.ErrDecodingFailure, "converting prevResult: %w", err)
		}
		c.prev = prev
	}
	return c, nil
}
