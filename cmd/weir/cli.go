package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/weirnet/weir/plugins/pluginkit"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `weir gives containers their network: it runs chains of CNI plugins into
container network namespaces and undoes them on cleanup.

Usage:
  weir plugins                 list the CNI plugins built into this binary
  weir plugin TYPE             act as the CNI plugin TYPE (CNI_COMMAND etc. in the environment)
  weir install-plugins DIR     link every built-in plugin type to this binary in DIR
  weir version                 print weir's version and the CNI versions it speaks
  weir help                    this text

Installed under a plugin's type name (a link named bridge, host-local, loopback,
macvlan or flannel), weir is that CNI plugin.
`

func runCLI(args []string, reg pluginkit.Registry, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	case "version", "--version":
		fmt.Fprintf(stdout, "weir %s (CNI %s)\n", version, strings.Join(pluginkit.Versions.SupportedVersions(), ", "))
		return 0
	case "plugins":
		for _, t := range types(reg) {
			fmt.Fprintln(stdout, t)
		}
		return 0
	case "plugin":
		if len(args) != 2 {
			fmt.Fprintf(stderr, "weir plugin: want exactly one plugin type, one of: %s\n", strings.Join(types(reg), ", "))
			return 2
		}
		return pluginkit.Main(args[1], reg)
	case "install-plugins":
		if len(args) != 2 {
			fmt.Fprintln(stderr, "weir install-plugins: want exactly one directory")
			return 2
		}
		if err := installPlugins(args[1], reg); err != nil {
			fmt.Fprintf(stderr, "weir install-plugins: %v\n", err)
			return 1
		}
		return 0
	default:
		fmt.Fprintf(stderr, "weir: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}

func types(reg pluginkit.Registry) []string {
	out := make([]string, 0, len(reg))
	for t := range reg {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// installPlugins makes DIR/<type> a symlink to this executable for every
// built-in plugin, replacing an older link but never a regular file.
func installPlugins(dir string, reg pluginkit.Registry) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding this executable: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	for _, t := range types(reg) {
		link := filepath.Join(dir, t)
		if st, err := os.Lstat(link); err == nil {
			if st.Mode()&os.ModeSymlink == 0 {
				return fmt.Errorf("%s exists and is not a link; remove it first", link)
			}
			if err := os.Remove(link); err != nil {
				return fmt.Errorf("replacing %s: %w", link, err)
			}
		}
		if err := os.Symlink(self, link); err != nil {
			return fmt.Errorf("linking %s: %w", link, err)
		}
	}
	return nil
}
