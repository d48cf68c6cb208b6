package bridge

import (
	"github.com/weirnet/weir/plugins/internal/masq"
	"github.com/weirnet/weir/plugins/pluginkit"
)

// Plugin is the bridge plugin. It keeps no state between calls.
type Plugin struct {
	masq *masq.Masq
}

var (
	_ pluginkit.Plugin        = (*Plugin)(nil)
	_ pluginkit.ConfigChecker = (*Plugin)(nil)
)

// New returns the bridge plugin, writing masquerade rules with the host's
// iptables tools.
func New() *Plugin { return &Plugin{masq: masq.New()} }

// attachment names the masquerade rules of one container interface.
func (c *config) attachment(containerID, ifName string) masq.Attachment {
	return masq.Attachment{Network: c.Name, ContainerID: containerID, IfName: ifName}
}
