package bridge

import (
	hostlocal "github.com/weirnet/weir/plugins/host-local"
	"github.com/weirnet/weir/plugins/pluginkit"
)

// testRegistry holds the plugins that run in-process in privileged tests:
// the bridge and its IPAM, weir's host-local.
func testRegistry() pluginkit.Registry {
	return pluginkit.Registry{"bridge": New(), "host-local": hostlocal.New()}
}

// testPathSuffix is appended to the in-process plugin directory in CNI_PATH
// (":" + $WEIR_REF_DIR runs the reference host-local binary instead).
const testPathSuffix = ""
