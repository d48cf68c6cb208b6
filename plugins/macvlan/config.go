package macvlan

import (
	"encoding/json"
	"fmt"
	"net"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/vishvananda/netlink"

	"github.com/weirnet/weir/plugins/pluginkit"
)

// NetConf is the macvlan plugin's network configuration as it arrives on
// stdin.
type NetConf struct {
	types.NetConf

	// Master is the host interface the macvlan device hangs off.
	// Empty means the interface of the host's default IPv4 route.
	Master string `json:"master,omitempty"`
	// Mode is the macvlan mode: bridge (default), private, vepa, passthru.
	Mode string `json:"mode,omitempty"`
	// MTU of the container interface; 0 leaves the kernel's default
	// (the master's MTU).
	MTU int `json:"mtu,omitempty"`
	// MAC is a fixed MAC address for the container interface;
	// runtimeConfig.mac overrides it.
	MAC string `json:"mac,omitempty"`

	RuntimeConfig struct {
		MAC string `json:"mac,omitempty"`
	} `json:"runtimeConfig,omitempty"`
}

// config is a loaded and validated configuration.
type config struct {
	NetConf
	// mode is Mode parsed; bridge when Mode is empty.
	mode netlink.MacvlanMode
	// mac is the requested MAC address, nil for a kernel-chosen one.
	mac net.HardwareAddr
}

// hasIPAM reports whether the configuration delegates addressing to an IPAM
// plugin.
func (c *config) hasIPAM() bool { return c.IPAM.Type != "" }

// modes maps the configuration's mode names to the kernel's.
var modes = map[string]netlink.MacvlanMode{
	"bridge":   netlink.MACVLAN_MODE_BRIDGE,
	"private":  netlink.MACVLAN_MODE_PRIVATE,
	"vepa":     netlink.MACVLAN_MODE_VEPA,
	"passthru": netlink.MACVLAN_MODE_PASSTHRU,
}

// modeName returns the configuration name of a kernel macvlan mode.
func modeName(m netlink.MacvlanMode) string {
	for name, mode := range modes {
		if mode == m {
			return name
		}
	}
	return fmt.Sprintf("mode(%d)", m)
}

// decodeConfig only decodes the configuration: DEL uses it so that a
// configuration that no longer validates can still be torn down.
func decodeConfig(stdin []byte) (*NetConf, error) {
	var n NetConf
	if err := json.Unmarshal(stdin, &n); err != nil {
		return nil, pluginkit.Errorf(types.ErrDecodingFailure, "decoding macvlan network configuration: %w", err)
	}
	return &n, nil
}

// loadConfig decodes the configuration, fills in defaults and validates
// every field that can be validated without the kernel. The master's
// existence, its default and the MTU's upper bound (the master's MTU) are
// checked by resolveMaster.
func loadConfig(stdin []byte) (*config, error) {
	n, err := decodeConfig(stdin)
	if err != nil {
		return nil, err
	}
	c := &config{NetConf: *n}
	if c.Mode == "" {
		c.Mode = "bridge"
	}
	mode, ok := modes[c.Mode]
	if !ok {
		return nil, pluginkit.ConfigError("mode", "unknown macvlan mode %q (want bridge, private, vepa or passthru)", c.Mode)
	}
	c.mode = mode
	if c.MTU < 0 {
		return nil, pluginkit.ConfigError("mtu", "%d is negative", c.MTU)
	}
	if c.Master != "" {
		if len(c.Master) > 15 {
			return nil, pluginkit.ConfigError("master", "interface name %q is longer than 15 characters", c.Master)
		}
	}
	macField, mac := "mac", c.MAC
	if c.RuntimeConfig.MAC != "" {
		macField, mac = "runtimeConfig.mac", c.RuntimeConfig.MAC
	}
	if mac != "" {
		hw, err := net.ParseMAC(mac)
		if err != nil {
			return nil, pluginkit.ConfigError(macField, "parsing MAC address %q: %v", mac, err)
		}
		if len(hw) != 6 {
			return nil, pluginkit.ConfigError(macField, "%q is not a 6-byte Ethernet address", mac)
		}
		if hw[0]&1 == 1 {
			return nil, pluginkit.ConfigError(macField, "%q is a multicast address", mac)
		}
		if c.mode == netlink.MACVLAN_MODE_PASSTHRU {
			// The kernel gives a passthru device the master's address;
			// changing it would change the host master's.
			return nil, pluginkit.ConfigError(macField, "cannot be set in passthru mode, which takes the master's MAC address")
		}
		c.mac = hw
	}
	return c, nil
}
