package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"

	"github.com/weirnet/weir/chain"
	"github.com/weirnet/weir/internal/netns"
)

const runSynopsis = `weir run [--net NAME]... [--label k=v]... [--publish [IP:]HOST:CONTAINER[/tcp|udp]]... [--args 'K=V;...'] -- CMD [ARGS...]`

// run is the seed's priv-net-run.sh: a throwaway network namespace on the
// asked networks (every network of the conf dir, in file order, when none is
// named), CMD inside it with its stdio, then everything torn down — also when
// CMD fails or weir is interrupted. The exit code is CMD's.
func (a *app) run(args []string) error {
	fs := newFlagSet("run", runSynopsis, &a.opts)
	var nets multi
	fs.Var(&nets, "net", "network to attach, eth0 first (repeatable; default: every network in --conf-dir)")
	netnsDir := fs.String("netns-dir", "/run/netns", "where the throwaway namespace is pinned")
	var af attachFlags
	af.register(func(n, u string, m *multi) { fs.Var(m, n, u) }, fs.StringVar)
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		fs.Usage()
		return usageError{"want a command to run: weir run [flags] -- CMD [ARGS...]"}
	}
	reqs, err := a.runRequests(nets, &af)
	if err != nil {
		return err
	}
	id := randomID()
	nsPath := filepath.Join(*netnsDir, id)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if err := netns.Create(nsPath); err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "contid=%s\nnetnspath=%s\n", id, nsPath)
	r := a.runner()
	cleanup := func() error {
		cctx, cancel := context.WithTimeout(context.Background(), time.Duration(len(reqs)+1)*a.opts.timeout)
		defer cancel()
		return errors.Join(r.DelAll(cctx, id, ""), netns.Remove(nsPath))
	}
	for i := range reqs {
		reqs[i].Attachment.ContainerID = id
		reqs[i].Attachment.NetNS = nsPath
	}
	if _, err := r.AddAll(ctx, reqs); err != nil {
		return errors.Join(err, cleanup())
	}
	code, runErr := runIn(nsPath, pos)
	if cerr := cleanup(); cerr != nil {
		fmt.Fprintf(a.stderr, "weir run: cleaning up %s: %v\n", id, cerr)
		if code == 0 {
			code = 1
		}
	}
	if runErr != nil {
		return runErr
	}
	if code != 0 {
		return exitError{code}
	}
	return nil
}

// runRequests resolves the networks to attach, eth0, eth1, ... in order.
func (a *app) runRequests(nets []string, af *attachFlags) ([]chain.Request, error) {
	set, err := chain.LoadDir(a.opts.confDir, a.opts.pluginPath())
	if err != nil {
		return nil, err
	}
	if len(nets) == 0 {
		if len(set.Errors) > 0 {
			return nil, fmt.Errorf("network definitions in %s have errors (name the networks with --net to use the good ones): %w", a.opts.confDir, errors.Join(set.Errors...))
		}
		nets = set.Names()
		if len(nets) == 0 {
			return nil, fmt.Errorf("no network definitions in %s", a.opts.confDir)
		}
	}
	var reqs []chain.Request
	for i, n := range nets {
		def, err := set.Get(n)
		if err != nil {
			return nil, err
		}
		list, err := def.ConfList()
		if err != nil {
			return nil, err
		}
		att, err := af.attachment(n, "", "", fmt.Sprintf("eth%d", i))
		if err != nil {
			return nil, err
		}
		reqs = append(reqs, chain.Request{List: list, Attachment: att})
	}
	return reqs, nil
}

// runIn starts argv inside the namespace at nsPath with this process's
// stdio, forwards SIGINT and SIGTERM to it, and returns its exit code
// (128+signal when a signal ended it).
func runIn(nsPath string, argv []string) (int, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	// A process forked from a thread inside the namespace starts in it.
	if err := ns.WithNetNSPath(nsPath, func(ns.NetNS) error { return cmd.Start() }); err != nil {
		return 0, fmt.Errorf("starting %s: %w", argv[0], err)
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case s := <-sigs:
				_ = cmd.Process.Signal(s)
			case <-done:
				return
			}
		}
	}()
	err := cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if st, ok := ee.Sys().(syscall.WaitStatus); ok && st.Signaled() {
			return 128 + int(st.Signal()), nil
		}
		return ee.ExitCode(), nil
	}
	if err != nil {
		return 0, fmt.Errorf("running %s: %w", argv[0], err)
	}
	return 0, nil
}

func randomID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
