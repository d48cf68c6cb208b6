package portmap

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/weirnet/weir/plugins/pluginkit"
)

// DefaultStateDir is where the plugin records its attachments unless the
// configuration's stateDir says otherwise.
const DefaultStateDir = "/run/weir/portmap"

// PortMapping is one entry of runtimeConfig.portMappings, the CNI
// "portMappings" capability.
type PortMapping struct {
	HostPort      int    `json:"hostPort"`
	ContainerPort int    `json:"containerPort"`
	Protocol      string `json:"protocol"`
	HostIP        string `json:"hostIP,omitempty"`
}

// NetConf is the plugin's configuration, keys spelled as the reference
// portmap plugin documents them.
type NetConf struct {
	types.NetConf
	SNAT         *bool    `json:"snat,omitempty"`
	MarkMasqBit  *int     `json:"markMasqBit,omitempty"`
	ConditionsV4 []string `json:"conditionsV4,omitempty"`
	ConditionsV6 []string `json:"conditionsV6,omitempty"`
	StateDir     string   `json:"stateDir,omitempty"`

	// Options of the reference plugin weir does not implement; set, they
	// are refused rather than silently ignored.
	Backend              string  `json:"backend,omitempty"`
	MasqAll              bool    `json:"masqAll,omitempty"`
	ExternalSetMarkChain *string `json:"externalSetMarkChain,omitempty"`

	RuntimeConfig struct {
		PortMappings []PortMapping `json:"portMappings,omitempty"`
	} `json:"runtimeConfig"`
}

// config is a decoded configuration. loadConfig checks what every command
// needs; validate checks the rest, which only ADD and CHECK use, so that a
// DEL (the rollback of a refused ADD among them) never fails on it.
type config struct {
	NetConf
	prev *current.Result
	// mappings are runtimeConfig.portMappings normalised by validate:
	// protocol lower case, hostIP canonical, exact duplicates dropped.
	mappings []mapping
}

// loadConfig decodes the configuration and prevResult and checks the name
// and stateDir, before anything touches the host.
func loadConfig(data []byte) (*config, error) {
	c := &config{}
	if err := json.Unmarshal(data, &c.NetConf); err != nil {
		return nil, pluginkit.Errorf(types.ErrDecodingFailure, "decoding portmap configuration: %w", err)
	}
	if c.Name == "" {
		return nil, pluginkit.ConfigError("name", "the portmap plugin needs the network's name")
	}
	if c.StateDir == "" {
		c.StateDir = DefaultStateDir
	}
	if !filepath.IsAbs(c.StateDir) {
		return nil, pluginkit.ConfigError("stateDir", "%q is not an absolute path", c.StateDir)
	}
	c.StateDir = filepath.Clean(c.StateDir)
	if c.RawPrevResult != nil {
		if err := version.ParsePrevResult(&c.NetConf.NetConf); err != nil {
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

// snat reports whether hairpin and localhost traffic is masqueraded (the
// default).
func (c *config) snat() bool { return c.SNAT == nil || *c.SNAT }

// validate checks the options and the port mappings and fills c.mappings.
func (c *config) validate() error {
	switch c.Backend {
	case "", "iptables":
	default:
		return pluginkit.ConfigError("backend", "%q is not supported: weir's portmap writes iptables rules", c.Backend)
	}
	if c.MasqAll {
		return pluginkit.ConfigError("masqAll", "is not supported")
	}
	if c.ExternalSetMarkChain != nil {
		return pluginkit.ConfigError("externalSetMarkChain", "is not supported; use markMasqBit")
	}
	if b := c.MarkMasqBit; b != nil && (*b < 0 || *b > 31) {
		return pluginkit.ConfigError("markMasqBit", "%d is out of range 0-31", *b)
	}
	if err := validConditions("conditionsV4", c.ConditionsV4); err != nil {
		return err
	}
	if err := validConditions("conditionsV6", c.ConditionsV6); err != nil {
		return err
	}
	ms, err := normalizeMappings(c.RuntimeConfig.PortMappings)
	if err != nil {
		return err
	}
	c.mappings = ms
	return nil
}

// validConditions checks extra iptables match arguments: the list starts
// with an option ("-d", "!", "-m") and no argument can break out of its
// restore line.
func validConditions(field string, conds []string) error {
	for i, a := range conds {
		f := fmt.Sprintf("%s[%d]", field, i)
		if a == "" {
			return pluginkit.ConfigError(f, "an argument cannot be empty")
		}
		if strings.ContainsAny(a, "\n\r\x00") {
			return pluginkit.ConfigError(f, "%q contains a line break or NUL", a)
		}
		if i == 0 && a[0] != '-' && a[0] != '!' {
			return pluginkit.ConfigError(f, "%q is not an iptables match option (it must start with - or !)", a)
		}
	}
	return nil
}

// mapping is a validated port mapping.
type mapping struct {
	HostPort      int    `json:"hostPort"`
	ContainerPort int    `json:"containerPort"`
	Protocol      string `json:"protocol"`
	HostIP        string `json:"hostIP,omitempty"`
}

// normalizeMappings validates pms. Two entries for the same protocol, host
// port and host address must agree; an exact repeat is dropped.
func normalizeMappings(pms []PortMapping) ([]mapping, error) {
	var out []mapping
	type seen struct{ out, entry int }
	first := map[mapping]seen{} // key (ContainerPort 0) -> where it was first
	for i, pm := range pms {
		field := fmt.Sprintf("runtimeConfig.portMappings[%d]", i)
		if pm.HostPort < 1 || pm.HostPort > 65535 {
			return nil, pluginkit.ConfigError(field+".hostPort", "%d is out of range 1-65535", pm.HostPort)
		}
		if pm.ContainerPort < 1 || pm.ContainerPort > 65535 {
			return nil, pluginkit.ConfigError(field+".containerPort", "%d is out of range 1-65535", pm.ContainerPort)
		}
		m := mapping{HostPort: pm.HostPort, ContainerPort: pm.ContainerPort, Protocol: strings.ToLower(pm.Protocol)}
		switch m.Protocol {
		case "":
			m.Protocol = "tcp"
		case "tcp", "udp":
		default:
			return nil, pluginkit.ConfigError(field+".protocol", "%q is not tcp or udp", pm.Protocol)
		}
		if pm.HostIP != "" {
			ip, err := netip.ParseAddr(pm.HostIP)
			if err != nil || ip.Zone() != "" {
				return nil, pluginkit.ConfigError(field+".hostIP", "%q is not an IP address", pm.HostIP)
			}
			m.HostIP = ip.Unmap().String()
		}
		key := m
		key.ContainerPort = 0
		if s, dup := first[key]; dup {
			if out[s.out].ContainerPort != m.ContainerPort {
				return nil, pluginkit.ConfigError(field, "host port %d/%s is already mapped to container port %d by runtimeConfig.portMappings[%d]",
					m.HostPort, m.Protocol, out[s.out].ContainerPort, s.entry)
			}
			continue
		}
		first[key] = seen{out: len(out), entry: i}
		out = append(out, m)
	}
	return out, nil
}
