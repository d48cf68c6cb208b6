package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// options are the flags every command shares.
type options struct {
	confDir   string
	pluginDir string
	stateDir  string
	policyDir string
	timeout   time.Duration
	logLevel  string
	json      bool
}

func defaultOptions() options {
	pluginDir := "/opt/cni/bin"
	if p := os.Getenv("CNI_PATH"); p != "" {
		pluginDir = p
	}
	return options{confDir: "/etc/cni/net.d", pluginDir: pluginDir, stateDir: "/run/weir", policyDir: "/etc/weir/policies", timeout: 30 * time.Second, logLevel: "warn"}
}

func (o *options) register(fs *flag.FlagSet) {
	fs.StringVar(&o.confDir, "conf-dir", o.confDir, "directory of network definitions (*.toml, *.conflist, *.conf, *.json)")
	fs.StringVar(&o.pluginDir, "plugin-dir", o.pluginDir, "colon-separated CNI plugin directories (default from CNI_PATH, else /opt/cni/bin)")
	fs.StringVar(&o.stateDir, "state-dir", o.stateDir, "directory for weir's records and plugin state")
	fs.StringVar(&o.policyDir, "policy-dir", o.policyDir, "directory of policy files (*.toml)")
	fs.DurationVar(&o.timeout, "timeout", o.timeout, "timeout for each plugin invocation")
	fs.StringVar(&o.logLevel, "log-level", o.logLevel, "log level on stderr: trace, debug, info, warn, error")
	fs.BoolVar(&o.json, "json", o.json, "print JSON for programs instead of tables for people")
}

func (o *options) pluginPath() []string {
	var out []string
	for _, d := range filepath.SplitList(o.pluginDir) {
		if d != "" {
			out = append(out, d)
		}
	}
	return out
}

// multi is a repeatable string flag.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

// parseInterspersed parses flags that may stand before, between or after
// positional arguments; everything after "--" is positional, verbatim.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		consumed := len(args) - len(rest)
		if consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// newFlagSet returns a flag set that reports errors instead of exiting and
// prints usage with the command's synopsis.
func newFlagSet(name, synopsis string, o *options) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	o.register(fs)
	return fs
}
