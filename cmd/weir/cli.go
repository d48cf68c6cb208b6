package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/hashicorp/go-hclog"

	"github.com/weirnet/weir/chain"
	"github.com/weirnet/weir/plugins/pluginkit"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `weir gives containers their network: it runs chains of CNI plugins into
container network namespaces, records every result, and undoes them on cleanup.

Usage: weir COMMAND [ARGS] [FLAGS]

Networks:
  weir networks                          list the network definitions and whether they are valid
  weir networks validate [DIR]           validate a definitions directory; exit 1 on any error
  weir networks show NAME                print a network's compiled CNI configuration list (JSON)
  weir net add|del|check NAME ID NETNS   run one network's chain for a container once; add prints the result
      [--ifname eth0] [--args 'K=V;...'] [--label k=v]... [--publish [IP:]HOST:CONTAINER[/tcp|udp]]...
  weir run [--net NAME]... [--label k=v]... [--publish ...]... -- CMD [ARGS...]
                                         run CMD in a throwaway network namespace on those networks
                                         (all networks of --conf-dir when no --net), then tear it down

Containers (the isolator; works with or without the daemon):
  weir attach ID --pid N|--netns PATH --net NAME... [--label k=v]... [--publish HOST:CONTAINER[/tcp|udp]]...
                                         prepare and isolate a container: its namespace pinned, every
                                         network attached (eth0, eth1, ... in order), or nothing; prints
                                         its status. Labels go to every network, ports to the first
  weir detach ID                         detach from every network, release the namespace, forget it
  weir status [ID] [--usage]             one container in detail (with traffic counters), or a table of all
  weir list                              container ids and states
  weir recover                           keep completed attaches, undo half-done ones; prints the report
  weir gc                                send every network a CNI GC with the attachments on record

Policy:
  weir policy check [FILES|DIR]          validate policy files (default --policy-dir); exit 1 on any error
  weir policy apply                      re-render every endpoint on this host from the current files
  weir policy explain --from k=v,... --to k=v,... [--port 5432/tcp]
                                         the verdict for a new connection, and the policy and rule deciding it

Daemon and host:
  weir serve [--socket PATH] [--gc-interval 5m] [--repair-interval 60s]
                                         the agent daemon: HTTP/JSON on the unix socket <state-dir>/weir.sock
                                         (containers, networks, policies, /healthz, /metrics); recovers on
                                         start, applies policy file changes as they happen, repairs drift,
                                         removes orphaned endpoints and runs CNI GC periodically
  weir doctor                            check this host (root, kernel features, sysctls, iptables, plugins,
                                         definitions, flannel's subnet.env) and say how to fix each problem;
                                         exit 1 when a check fails

Plugins:
  weir plugins                           list the CNI plugins built into this binary
  weir plugin TYPE                       act as the CNI plugin TYPE (CNI_COMMAND etc. in the environment)
  weir install-plugins DIR               link every built-in plugin type to this binary in DIR

  weir version                           weir's version and the CNI versions it speaks
  weir help [COMMAND]                    this text, or a command's flags

Flags every command takes:
  --conf-dir DIR      network definitions (default /etc/cni/net.d)
  --plugin-dir DIRS   colon-separated plugin directories (default $CNI_PATH, else /opt/cni/bin)
  --state-dir DIR     records and plugin state (default /run/weir)
  --policy-dir DIR    policy files (default /etc/weir/policies)
  --timeout D         timeout for each plugin invocation (default 30s)
  --log-level L       stderr log level (default warn)
  --json              JSON output for programs

Installed under a plugin's type name (a link named bridge, host-local, loopback,
macvlan or flannel), weir is that CNI plugin.
`

// app is one CLI invocation: its options, output streams and the plugins
// that run in-process.
type app struct {
	opts   options
	reg    pluginkit.Registry
	stdout io.Writer
	stderr io.Writer
	log    hclog.Logger
}

// exitError carries a process exit code through a command's error.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// usageError marks an error in the command line: exit code 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func runCLI(args []string, reg pluginkit.Registry, stdout, stderr io.Writer) int {
	a := &app{opts: defaultOptions(), reg: reg, stdout: stdout, stderr: stderr}
	top := flag.NewFlagSet("weir", flag.ContinueOnError)
	top.SetOutput(stderr)
	top.Usage = func() { fmt.Fprint(stderr, usage) }
	a.opts.register(top)
	if err := top.Parse(args); err != nil {
		return 2
	}
	args = top.Args()
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	err := a.dispatch(args[0], args[1:])
	var ee exitError
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "weir %s: %v\n", args[0], err)
		return 2
	default:
		fmt.Fprintf(stderr, "weir %s: %v\n", args[0], err)
		return 1
	}
}

func (a *app) dispatch(cmd string, args []string) error {
	switch cmd {
	case "help", "-h", "--help":
		if len(args) == 1 && args[0] != "help" {
			return a.dispatch(args[0], []string{"--help"})
		}
		fmt.Fprint(a.stdout, usage)
		return nil
	case "version", "--version":
		fmt.Fprintf(a.stdout, "weir %s (CNI %s)\n", version, strings.Join(pluginkit.Versions.SupportedVersions(), ", "))
		return nil
	case "plugins":
		for _, t := range a.types() {
			fmt.Fprintln(a.stdout, t)
		}
		return nil
	case "plugin":
		if len(args) != 1 {
			return usageError{fmt.Sprintf("want exactly one plugin type, one of: %s", strings.Join(a.types(), ", "))}
		}
		if code := pluginkit.Main(args[0], a.reg); code != 0 {
			return exitError{code}
		}
		return nil
	case "install-plugins":
		if len(args) != 1 {
			return usageError{"want exactly one directory"}
		}
		return installPlugins(args[0], a.reg)
	case "net":
		return a.net(args)
	case "run":
		return a.run(args)
	case "networks":
		return a.networks(args)
	case "policy":
		return a.policy(args)
	case "serve":
		return a.serve(args)
	case "attach":
		return a.attach(args)
	case "detach":
		return a.detach(args)
	case "status":
		return a.status(args)
	case "list":
		return a.list(args)
	case "recover":
		return a.recover(args)
	case "gc":
		return a.gc(args)
	case "doctor":
		return a.doctor(args)
	default:
		fmt.Fprint(a.stderr, usage)
		return usageError{fmt.Sprintf("unknown command %q", cmd)}
	}
}

// parse parses a command's flags (which may follow its arguments) and sets
// up the logger.
func (a *app) parse(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(a.stderr)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, usageError{err.Error()}
	}
	a.log = pluginkit.NewStderrLogger("weir", a.stderr, a.opts.logLevel)
	return pos, nil
}

func (a *app) types() []string {
	out := make([]string, 0, len(a.reg))
	for t := range a.reg {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// runner returns the chain runner: weir's own plugins found in the plugin
// path run in-process, every other plugin is executed.
func (a *app) runner() *chain.Runner {
	return &chain.Runner{
		Exec:     &pluginkit.Exec{Plugins: a.reg, Log: a.log, Stderr: a.stderr},
		Path:     a.opts.pluginPath(),
		StateDir: a.opts.stateDir,
		Timeout:  a.opts.timeout,
		Log:      a.log.Named("chain"),
	}
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
	a := &app{reg: reg}
	for _, t := range a.types() {
		link := dir + "/" + t
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
