// Command weir is one multi-call binary. Installed under a plugin's type
// name (a link named bridge, host-local, ...) it is that CNI plugin; run as
// weir it is the operator's command line.
package main

import (
	"os"
	"path/filepath"
	"runtime/debug"

	"github.com/weirnet/weir/plugins/all"
	"github.com/weirnet/weir/plugins/pluginkit"
)

func main() {
	reg := all.Registry()
	if name := filepath.Base(os.Args[0]); name != "weir" {
		if _, ok := reg[name]; ok {
			shortLived()
			os.Exit(pluginkit.Main(name, reg))
		}
	}
	if len(os.Args) < 2 || os.Args[1] != "serve" {
		shortLived()
	}
	os.Exit(runCLI(os.Args[1:], reg, os.Stdout, os.Stderr))
}

// shortLived tunes the garbage collector for a process that lives for one
// command (a plugin call, `weir attach`): collecting at four times the
// live heap instead of twice lets such a process finish before its first
// collections — at 1,000 containers an attach reads and writes the policy
// index and caches (a few MB) and ran two or three, ~3 ms — for a peak of
// tens of MB, returned when it exits. The daemon keeps Go's default (its
// memory is what stays). GOGC, when set, still decides.
func shortLived() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
}
