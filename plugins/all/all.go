// Package all lists weir's own CNI plugins by type name. The multi-call
// binary dispatches on it, and the in-process invoker uses it to run a
// plugin without a fork when the plugin file found in CNI_PATH is weir's own
// binary.
package all

import (
	"github.com/weirnet/weir/plugins/bridge"
	"github.com/weirnet/weir/plugins/flannel"
	hostlocal "github.com/weirnet/weir/plugins/host-local"
	"github.com/weirnet/weir/plugins/loopback"
	"github.com/weirnet/weir/plugins/macvlan"
	"github.com/weirnet/weir/plugins/pluginkit"
	"github.com/weirnet/weir/plugins/policy"
	"github.com/weirnet/weir/plugins/portmap"
)

// Registry returns a new registry of every plugin weir ships.
func Registry() pluginkit.Registry {
	return pluginkit.Registry{
		"bridge":     bridge.New(),
		"flannel":    flannel.New(),
		"host-local": hostlocal.New(),
		"loopback":   loopback.New(),
		"macvlan":    macvlan.New(),
		"policy":     policy.New(),
		"portmap":    portmap.New(),
	}
}
