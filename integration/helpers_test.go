package integration

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/weirnet/weir/internal/sandbox"
	"github.com/weirnet/weir/plugins/all"
	"github.com/weirnet/weir/plugins/pluginkit"
)

// binDir is where `make build` put bin/weir and its plugin links.
func binDir(t testing.TB) string {
	t.Helper()
	sandbox.Require(t)
	d := os.Getenv("WEIR_BIN_DIR")
	if d == "" {
		t.Skip("WEIR_BIN_DIR is not set: run through `make test`")
	}
	if _, err := os.Stat(filepath.Join(d, "weir")); err != nil {
		t.Fatalf("weir binary missing in WEIR_BIN_DIR: %v", err)
	}
	return d
}

// refDir is where `make ref` installed the reference plugins and cnitool.
func refDir(t testing.TB) string {
	t.Helper()
	sandbox.Require(t)
	d := os.Getenv("WEIR_REF_DIR")
	if d == "" {
		t.Skip("WEIR_REF_DIR is not set: run through `make test`")
	}
	if _, err := os.Stat(filepath.Join(d, "cnitool")); err != nil {
		t.Fatalf("reference tools missing in WEIR_REF_DIR: %v", err)
	}
	return d
}

// execer runs every plugin as a separate process, as a CNI runtime does.
func execer() *pluginkit.Exec { return &pluginkit.Exec{Stderr: os.Stderr} }

// inProcess runs weir's own plugins found in bin inside this process.
func inProcess(bin string) *pluginkit.Exec {
	return &pluginkit.Exec{Self: filepath.Join(bin, "weir"), Plugins: all.Registry(), Stderr: os.Stderr}
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
