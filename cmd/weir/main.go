// Command weir is one multi-call binary. Installed under a plugin's type
// name (a link named bridge, host-local, ...) it is that CNI plugin; run as
// weir it is the operator's command line.
package main

import (
	"os"
	"path/filepath"

	"github.com/weirnet/weir/plugins/all"
	"github.com/weirnet/weir/plugins/pluginkit"
)

func main() {
	reg := all.Registry()
	if name := filepath.Base(os.Args[0]); name != "weir" {
		if _, ok := reg[name]; ok {
			os.Exit(pluginkit.Main(name, reg))
		}
	}
	os.Exit(runCLI(os.Args[1:], reg, os.Stdout, os.Stderr))
}
