package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"

	"github.com/weirnet/weir/chain"
	"github.com/weirnet/weir/isolator"
)

const (
	attachSynopsis  = `weir attach ID --pid N|--netns PATH --net NAME... [--label k=v]... [--publish HOST:CONTAINER[/tcp|udp]]... [--hostname NAME]`
	detachSynopsis  = `weir detach ID`
	statusSynopsis  = `weir status [ID]`
	listSynopsis    = `weir list`
	recoverSynopsis = `weir recover`
	gcSynopsis      = `weir gc`
)

// isolator returns the isolator over this invocation's runner: the CLI and
// the daemon use the same records and host-wide locks, so they are safe
// together.
func (a *app) isolator() *isolator.Isolator {
	return &isolator.Isolator{Runner: a.runner(), ConfDir: a.opts.confDir, Log: a.log.Named("isolator")}
}

// attachContainer prepares and isolates a container, all or nothing.
func attachContainer(ctx context.Context, iso *isolator.Isolator, id string, cfg *isolator.ContainerConfig, pid int, nsPath string) (*isolator.ContainerStatus, error) {
	if _, err := iso.Prepare(id, cfg); err != nil {
		return nil, err
	}
	return isolateOrUndo(ctx, iso, id, pid, nsPath)
}

// isolateOrUndo isolates a prepared container; when that fails, the
// preparation is undone too, so a failed attach leaves nothing behind.
func isolateOrUndo(ctx context.Context, iso *isolator.Isolator, id string, pid int, nsPath string) (*isolator.ContainerStatus, error) {
	st, err := iso.Isolate(ctx, id, pid, nsPath)
	if err != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		if cerr := iso.Cleanup(cctx, id); cerr != nil {
			err = errors.Join(err, fmt.Errorf("undoing the preparation: %w", cerr))
		}
		return nil, err
	}
	return st, nil
}

// attachConfig builds the Mesos ContainerConfig of `weir attach`: every
// network gets the labels; port mappings go to the first network (eth0),
// as a Mesos task's ports do.
func attachConfig(nets, labels, publish []string, hostname string) (*isolator.ContainerConfig, error) {
	if len(nets) == 0 {
		return nil, usageError{"name at least one network with --net"}
	}
	var ls *isolator.Labels
	if len(labels) > 0 {
		ls = &isolator.Labels{}
		for _, l := range labels {
			k, v, err := chain.ParseLabel(l)
			if err != nil {
				return nil, usageError{err.Error()}
			}
			ls.Labels = append(ls.Labels, isolator.Label{Key: k, Value: v})
		}
	}
	var pms []isolator.PortMapping
	for _, p := range publish {
		pm, err := chain.ParsePortMapping(p)
		if err != nil {
			return nil, usageError{err.Error()}
		}
		if pm.HostIP != "" {
			return nil, usageError{fmt.Sprintf("--publish %q: a Mesos port mapping has no host address; give HOST:CONTAINER[/proto]", p)}
		}
		pms = append(pms, isolator.PortMapping{HostPort: pm.HostPort, ContainerPort: pm.ContainerPort, Protocol: pm.Protocol})
	}
	info := &isolator.ContainerInfo{Type: "MESOS", Hostname: hostname}
	for i, n := range nets {
		ni := isolator.NetworkInfo{Name: n, Labels: ls}
		if i == 0 {
			ni.PortMappings = pms
		}
		info.NetworkInfos = append(info.NetworkInfos, ni)
	}
	return &isolator.ContainerConfig{ContainerInfo: info}, nil
}

func (a *app) attach(args []string) error {
	fs := newFlagSet("attach", attachSynopsis, &a.opts)
	pid := fs.Int("pid", 0, "pid of the container's first process (its network namespace is pinned)")
	nsPath := fs.String("netns", "", "path of the container's network namespace (instead of --pid)")
	hostname := fs.String("hostname", "", "the container's hostname (default: its id)")
	var nets, labels, publish multi
	fs.Var(&nets, "net", "network to attach, eth0 first (repeatable, at least one)")
	fs.Var(&labels, "label", "container label k=v, on every network (repeatable)")
	fs.Var(&publish, "publish", "publish a port HOST:CONTAINER[/tcp|udp] on the first network (repeatable)")
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return usageError{"want exactly one container ID"}
	}
	id := pos[0]
	if err := chain.ValidateContainerID(id); err != nil {
		return usageError{err.Error()}
	}
	if (*pid > 0) == (*nsPath != "") {
		return usageError{"give exactly one of --pid N and --netns PATH"}
	}
	if *pid < 0 {
		return usageError{fmt.Sprintf("--pid %d is not a process id", *pid)}
	}
	if err := checkNamespace(*pid, *nsPath); err != nil {
		return usageError{err.Error()}
	}
	cfg, err := attachConfig(nets, labels, publish, *hostname)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	st, err := attachContainer(ctx, a.isolator(), id, cfg, *pid, *nsPath)
	if err != nil {
		return err
	}
	if a.opts.json {
		return printJSON(a, st)
	}
	printStatus(a.stdout, st)
	return nil
}

// checkNamespace checks that the process, or the network namespace at
// nsPath, exists before anything is recorded.
func checkNamespace(pid int, nsPath string) error {
	if pid > 0 {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d/ns/net", pid)); err != nil {
			return fmt.Errorf("pid %d: no such process", pid)
		}
		return nil
	}
	n, err := ns.GetNS(nsPath)
	if err != nil {
		return fmt.Errorf("netns %s: %w", nsPath, err)
	}
	return n.Close()
}

func (a *app) detach(args []string) error {
	fs := newFlagSet("detach", detachSynopsis, &a.opts)
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return usageError{"want exactly one container ID"}
	}
	id := pos[0]
	if err := chain.ValidateContainerID(id); err != nil {
		return usageError{err.Error()}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := a.isolator().Cleanup(ctx, id); err != nil {
		return err
	}
	if a.opts.json {
		return printJSON(a, map[string]string{"container_id": id, "status": "detached"})
	}
	fmt.Fprintf(a.stdout, "%s detached\n", id)
	return nil
}

// recover runs the isolator's recovery with no list of known containers:
// completed attaches are kept, half-done ones undone.
func (a *app) recover(args []string) error {
	fs := newFlagSet("recover", recoverSynopsis, &a.opts)
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageError{fmt.Sprintf("unexpected arguments %q", pos)}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, rerr := a.isolator().Recover(ctx, nil, nil)
	if rep != nil {
		if a.opts.json {
			v := map[string]any{"kept": rep.Kept, "undone": rep.Undone, "cleaned": rep.Cleaned, "busy": rep.Busy, "temps": rep.Temps, "errors": errorStrings(rerr)}
			if err := printJSON(a, v); err != nil {
				return err
			}
		} else {
			printRecoverReport(a.stdout, rep)
		}
	}
	return rerr
}

func printRecoverReport(w io.Writer, rep *isolator.RecoverReport) {
	kept := make([]string, 0, len(rep.Kept))
	for _, st := range rep.Kept {
		kept = append(kept, st.ContainerID+" ("+st.State+")")
	}
	sort.Strings(kept)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, row := range []struct {
		what  string
		items []string
	}{{"kept", kept}, {"undone", rep.Undone}, {"cleaned", rep.Cleaned}, {"busy", rep.Busy}, {"temps", rep.Temps}} {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", row.what, strconv.Itoa(len(row.items)), strings.Join(row.items, " "))
	}
	tw.Flush()
}

func errorStrings(err error) []string {
	out := []string{}
	if err == nil {
		return out
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			out = append(out, e.Error())
		}
		return out
	}
	return append(out, err.Error())
}

func (a *app) gc(args []string) error {
	fs := newFlagSet("gc", gcSynopsis, &a.opts)
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageError{fmt.Sprintf("unexpected arguments %q", pos)}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = a.isolator().GC(ctx)
	if a.opts.json {
		if perr := printJSON(a, map[string]any{"ok": err == nil, "errors": errorStrings(err)}); perr != nil {
			return perr
		}
	} else if err == nil {
		fmt.Fprintln(a.stdout, "gc: every network collected")
	}
	return err
}
