package bridge

import (
	"encoding/json"
	"net"
	"strings"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/utils"

	"github.com/weirnet/weir/plugins/pluginkit"
)

// DefaultBridge is the bridge used when the configuration names none.
const DefaultBridge = "cni0"

// maxVlan is the highest usable 802.1Q VLAN id.
const maxVlan = 4094

// NetConf is the bridge plugin's network configuration, keys spelled as
// the reference bridge plugin documents them.
type NetConf struct {
	types.NetConf
	Bridge           string `json:"bridge"`
	IsGateway        bool   `json:"isGateway"`
	IsDefaultGateway bool   `json:"isDefaultGateway"`
	ForceAddress     bool   `json:"forceAddress"`
	IPMasq           bool   `json:"ipMasq"`
	MTU              int    `json:"mtu"`
	HairpinMode      bool   `json:"hairpinMode"`
	PromiscMode      bool   `json:"promiscMode"`
	MacSpoofChk      bool   `json:"macspoofchk"`
	Vlan             int    `json:"vlan"`
	Args             struct {
		CNI struct {
			MAC string `json:"mac"`
		} `json:"cni"`
	} `json:"args"`
	RuntimeConfig struct {
		MAC string `json:"mac"`
	} `json:"runtimeConfig"`
}

// config is a loaded, defaulted and validated configuration.
type config struct {
	NetConf
	// mac is the container interface's address; nil lets the kernel
	// choose one.
	mac net.HardwareAddr
	// hasIPAM says the configuration has an ipam section; without one the
	// plugin only wires the container to the bridge (layer 2).
	hasIPAM bool
}

// loadConfig decodes the network configuration, fills in defaults and
// checks every value before anything touches the kernel. cniArgs is
// CNI_ARGS, where a MAC=... key is honoured too.
func loadConfig(stdin []byte, cniArgs string) (*config, error) {
	c := &config{}
	if err := json.Unmarshal(stdin, &c.NetConf); err != nil {
		return nil, pluginkit.Errorf(types.ErrDecodingFailure, "decoding bridge configuration: %w", err)
	}
	if c.Name == "" {
		return nil, pluginkit.ConfigError("name", "a network name is required")
	}
	if c.Bridge == "" {
		c.Bridge = DefaultBridge
	}
	if err := utils.ValidateInterfaceName(c.Bridge); err != nil {
		return nil, pluginkit.ConfigError("bridge", "%q is not a valid interface name: %s", c.Bridge, err.Msg)
	}
	if c.Vlan < 0 || c.Vlan > maxVlan {
		return nil, pluginkit.ConfigError("vlan", "%d is out of range 0-%d", c.Vlan, maxVlan)
	}
	if c.MTU != 0 && (c.MTU < 68 || c.MTU > 65535) {
		return nil, pluginkit.ConfigError("mtu", "%d is out of range 68-65535 (0 keeps the kernel's default)", c.MTU)
	}
	if c.IsDefaultGateway {
		c.IsGateway = true
	}
	if c.HairpinMode && c.PromiscMode {
		return nil, pluginkit.ConfigError("hairpinMode", "cannot be combined with promiscMode")
	}
	c.hasIPAM = c.IPAM.Type != ""
	if !c.hasIPAM {
		switch {
		case c.IsGateway:
			return nil, pluginkit.ConfigError("isGateway", "needs an ipam section to know the gateway address")
		case c.IPMasq:
			return nil, pluginkit.ConfigError("ipMasq", "needs an ipam section to know the container's addresses")
		}
	}
	field, mac := "runtimeConfig.mac", c.RuntimeConfig.MAC
	if mac == "" {
		field, mac = "args.cni.mac", c.Args.CNI.MAC
	}
	if mac == "" {
		field, mac = "CNI_ARGS MAC", argValue(cniArgs, "MAC")
	}
	if mac != "" {
		hw, err := net.ParseMAC(mac)
		if err != nil || len(hw) != 6 || hw[0]&1 != 0 || isZeroMAC(hw) {
			return nil, pluginkit.ConfigError(field, "%q is not a unicast Ethernet address", mac)
		}
		c.mac = hw
	}
	return c, nil
}

// argValue returns the value of key in CNI_ARGS ("K1=V1;K2=V2"). Unknown
// keys are someone else's and are ignored.
func argValue(cniArgs, key string) string {
	for _, kv := range strings.Split(cniArgs, ";") {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.EqualFold(strings.TrimSpace(k), key) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func isZeroMAC(hw net.HardwareAddr) bool {
	for _, b := range hw {
		if b != 0 {
			return false
		}
	}
	return true
}
