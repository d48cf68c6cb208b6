package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/vishvananda/netlink"

	"github.com/weirnet/weir/internal/flock"
	"github.com/weirnet/weir/isolator"
	"github.com/weirnet/weir/policy/enforce"
)

const serveSynopsis = `weir serve [--socket PATH] [--gc-interval 5m] [--repair-interval 60s] [--conf-dir DIR] [--policy-dir DIR] [--state-dir DIR]`

// shutdownGrace is how long a stopping daemon waits for requests in flight
// (an attach runs its chains to the end or rolls them back).
const shutdownGrace = 30 * time.Second

// serve is the agent daemon: the HTTP/JSON API on a unix socket (see
// api.go), started after recovering what a crash left half done; policy
// file changes applied as they happen, with periodic repair of drift and
// removal of orphaned endpoints; and a periodic CNI GC of every network.
// SIGTERM or SIGINT stops it gracefully.
func (a *app) serve(args []string) error {
	fs := newFlagSet("serve", serveSynopsis, &a.opts)
	repairEvery := fs.Duration("repair-interval", 60*time.Second, "how often to read the dataplane back, repair drift and remove orphans")
	gcEvery := fs.Duration("gc-interval", 5*time.Minute, "how often to send every network a CNI GC (0: never)")
	socket := fs.String("socket", "", "the API's unix socket (default <state-dir>/weir.sock)")
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageError{fmt.Sprintf("unexpected arguments %q", pos)}
	}
	if *socket == "" {
		*socket = filepath.Join(a.opts.stateDir, "weir.sock")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := a.log.Named("serve")

	ln, closeSocket, err := listenSocket(ctx, *socket)
	if err != nil {
		return err
	}
	defer closeSocket()

	iso := a.isolator()
	// Status queries are answered from memory while the records they were
	// read from stay unchanged, whoever changes them (the CLI may).
	iso.Cache = isolator.NewStatusCache()
	// Before serving: keep what completed, undo what a crash left half done.
	if rep, err := iso.Recover(ctx, nil, nil); err != nil {
		log.Error("recovery left problems", "error", err)
	} else {
		log.Info("recovered", "kept", len(rep.Kept), "undone", rep.Undone, "cleaned", rep.Cleaned, "busy", rep.Busy)
	}
	eng := enforce.New(a.opts.stateDir, log)
	// Start from a repaired dataplane: whatever happened while no daemon ran.
	if rep, err := eng.Repair(ctx); err != nil {
		log.Error("initial policy repair", "error", err)
	} else {
		log.Info("policy in place", "endpoints", rep.Endpoints, "writes", rep.Writes())
	}

	reg := prometheus.NewRegistry()
	m := newMetrics(reg, newHostCollector(iso, a.opts.confDir, a.opts.pluginPath(), log))
	rec := &enforce.Reconciler{
		Engine:      eng,
		Dirs:        []string{a.opts.policyDir},
		RepairEvery: *repairEvery,
		LinkExists: func(name string) bool {
			_, err := netlink.LinkByName(name)
			return err == nil
		},
		Log:     log,
		Applied: m.policyApplied,
	}
	srv := &http.Server{
		Handler:           (&api{iso: iso, policyDir: a.opts.policyDir, engine: eng, metrics: m, registry: reg, log: log.Named("api")}).handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}),
	}

	var wg sync.WaitGroup
	failed := make(chan error, 2)
	wg.Add(3)
	go func() {
		defer wg.Done()
		if err := rec.Run(ctx); err != nil {
			failed <- fmt.Errorf("policy reconcile loop: %w", err)
		}
	}()
	go func() {
		defer wg.Done()
		gcLoop(ctx, iso, *gcEvery, m, log)
	}()
	go func() {
		defer wg.Done()
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			failed <- fmt.Errorf("serving %s: %w", *socket, err)
		}
	}()
	log.Info("serving", "socket", *socket, "conf_dir", a.opts.confDir, "state_dir", a.opts.stateDir,
		"policy_dir", a.opts.policyDir, "repair_interval", *repairEvery, "gc_interval", *gcEvery)

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("stopping")
	case runErr = <-failed:
		log.Error("stopping", "error", runErr)
	}
	stop()
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("requests still in flight at shutdown", "error", err)
	}
	wg.Wait()
	return runErr
}

// gcLoop sends every network a CNI GC every interval until ctx ends.
func gcLoop(ctx context.Context, iso *isolator.Isolator, every time.Duration, m *metrics, log hclog.Logger) {
	if every <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			start := time.Now()
			err := iso.GC(ctx)
			m.observeGC(err)
			if err != nil {
				log.Warn("gc", "error", err)
			} else {
				log.Debug("gc done", "took", time.Since(start))
			}
		}
	}
}

// listenSocket listens on the API's unix socket, mode 0600. A lock beside
// it (<socket>.lock, held while the daemon runs) keeps two daemons from
// starting at once; a socket some process answers on is refused, and one
// nobody answers on (a daemon that died) is replaced. The returned function
// closes the listener and removes the socket and the lock.
func listenSocket(ctx context.Context, path string) (net.Listener, func(), error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, nil, fmt.Errorf("creating the socket's directory: %w", err)
	}
	lctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	lock, err := flock.Acquire(lctx, path+".lock")
	if err != nil {
		return nil, nil, fmt.Errorf("another weir serve is running or starting on %s (its lock %s.lock is held)", path, path)
	}
	fail := func(err error) (net.Listener, func(), error) {
		lock.Release()
		return nil, nil, err
	}
	if conn, err := net.DialTimeout("unix", path, time.Second); err == nil {
		conn.Close()
		return fail(fmt.Errorf("another weir serve answers on %s", path))
	}
	if st, err := os.Lstat(path); err == nil {
		if st.Mode()&os.ModeSocket == 0 {
			return fail(fmt.Errorf("%s exists and is not a socket; move it away", path))
		}
		if err := os.Remove(path); err != nil {
			return fail(fmt.Errorf("removing the stale socket %s: %w", path, err))
		}
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return fail(fmt.Errorf("listening on %s: %w", path, err))
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return fail(fmt.Errorf("setting the mode of %s: %w", path, err))
	}
	return ln, func() {
		ln.Close()
		_ = os.Remove(path)
		lock.ReleaseAndRemove()
	}, nil
}
