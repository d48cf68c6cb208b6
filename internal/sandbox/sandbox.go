// Package sandbox is the privileged tests' toolkit. Privileged tests run only
// inside the sandbox that scripts/sandbox makes (a fresh network and mount
// namespace with private tmpfs over /run and the CNI directories); anywhere
// else they skip, so nothing is ever created in the machine's own network
// namespace. Test hosts are network namespaces inside the sandbox.
package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/containernetworking/plugins/pkg/testutils"

	"github.com/weirnet/weir/plugins/pluginkit"
)

// EnvVar is set to 1 by scripts/sandbox inside the sandbox.
const EnvVar = "WEIR_SANDBOX"

// Inside reports whether this process runs inside the test sandbox.
func Inside() bool { return os.Getenv(EnvVar) == "1" && os.Geteuid() == 0 }

// Require skips the test unless it runs inside the sandbox.
func Require(t testing.TB) {
	t.Helper()
	if !Inside() {
		t.Skip("privileged test: runs only inside the sandbox (make test, or scripts/sandbox go test ...)")
	}
}

// NewNS creates a network namespace (a test host or container) that is
// removed when the test ends.
func NewNS(t testing.TB) ns.NetNS {
	t.Helper()
	n, err := testutils.NewNS()
	if err != nil {
		t.Fatalf("creating netns: %v", err)
	}
	t.Cleanup(func() {
		_ = n.Close()
		_ = testutils.UnmountNS(n)
	})
	return n
}

// RemoveNS removes a namespace made by NewNS now, before the test ends, and
// checks that its path is gone.
func RemoveNS(t testing.TB, n ns.NetNS) {
	t.Helper()
	if err := n.Close(); err != nil {
		t.Fatalf("closing netns %s: %v", n.Path(), err)
	}
	if err := testutils.UnmountNS(n); err != nil {
		t.Fatalf("removing netns %s: %v", n.Path(), err)
	}
	if _, err := os.Stat(n.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("netns %s still exists: %v", n.Path(), err)
	}
}

// PluginDir makes a plugin directory in which every plugin of reg is a link
// to one "weir" file, and an Exec that treats that file as itself: a CNI_PATH
// whose plugins run in-process, as the real multi-call binary's do. Extra
// directories (reference plugins) can be appended to the returned path.
func PluginDir(t testing.TB, reg pluginkit.Registry) (string, *pluginkit.Exec) {
	t.Helper()
	dir := t.TempDir()
	self := filepath.Join(dir, "weir")
	if err := os.WriteFile(self, []byte("#!/bin/false\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for typ := range reg {
		if err := os.Symlink("weir", filepath.Join(dir, typ)); err != nil {
			t.Fatal(err)
		}
	}
	return dir, &pluginkit.Exec{Self: self, Plugins: reg, Stderr: os.Stderr}
}

// Call describes one plugin invocation.
type Call struct {
	Command     string // ADD, DEL, CHECK, GC, STATUS, VERSION
	Type        string // plugin type, found in Path
	Path        string // CNI_PATH
	ContainerID string
	NetNS       string
	IfName      string
	Args        string // CNI_ARGS
	Conf        []byte
}

// Invoke runs c through exec exactly as a runtime would (environment and
// stdin) and returns the plugin's stdout.
func Invoke(ctx context.Context, exec *pluginkit.Exec, c Call) ([]byte, error) {
	p, err := exec.FindInPath(c.Type, filepath.SplitList(c.Path))
	if err != nil {
		return nil, fmt.Errorf("finding %s: %w", c.Type, err)
	}
	if c.IfName == "" && c.Command != "GC" && c.Command != "STATUS" {
		c.IfName = "eth0"
	}
	return exec.ExecPlugin(ctx, p, c.Conf, c.Environ())
}

// Environ is the environment of c's invocation: every CNI variable (an
// empty one counts as unset) and this process's PATH.
func (c Call) Environ() []string {
	return []string{
		"CNI_COMMAND=" + c.Command,
		"CNI_CONTAINERID=" + c.ContainerID,
		"CNI_NETNS=" + c.NetNS,
		"CNI_IFNAME=" + c.IfName,
		"CNI_ARGS=" + c.Args,
		"CNI_PATH=" + c.Path,
		"PATH=" + os.Getenv("PATH"),
	}
}

// RunTimeout bounds one Runner.Run.
const RunTimeout = 30 * time.Second

// Runner runs one plugin type from a CNI_PATH, as a runtime does.
type Runner struct {
	Type string // the plugin to run
	Path string // CNI_PATH; more directories may be appended
	Exec *pluginkit.Exec
}

// NewRunner returns a Runner of typ from a PluginDir of reg, in which every
// plugin of reg runs in-process.
func NewRunner(t testing.TB, typ string, reg pluginkit.Registry) *Runner {
	t.Helper()
	dir, exec := PluginDir(t, reg)
	return &Runner{Type: typ, Path: dir, Exec: exec}
}

// Run invokes r's plugin with c (its Type and Path are r's) and returns the
// plugin's stdout; it gives up after RunTimeout.
func (r *Runner) Run(c Call) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), RunTimeout)
	defer cancel()
	c.Type, c.Path = r.Type, r.Path
	return Invoke(ctx, r.Exec, c)
}

// Conf formats a JSON network configuration template with the CNI version:
// every "{{ver}}" in tmpl becomes ver.
func Conf(tmpl, ver string) []byte {
	return []byte(strings.ReplaceAll(tmpl, "{{ver}}", ver))
}
