package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/weirnet/weir/policy/enforce"
)

const serveSynopsis = `weir serve [--repair-interval 60s] [--policy-dir DIR] [--state-dir DIR]`

// serve is the agent daemon. It applies policy file changes as they happen,
// and periodically repairs drift in the dataplane and forgets endpoints
// whose interface or namespace vanished without a DEL.
func (a *app) serve(args []string) error {
	fs := newFlagSet("serve", serveSynopsis, &a.opts)
	repairEvery := fs.Duration("repair-interval", 60*time.Second, "how often to read the dataplane back, repair drift and remove orphans")
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageError{fmt.Sprintf("unexpected arguments %q", pos)}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := a.log.Named("serve")
	eng := enforce.New(a.opts.stateDir, log)
	// Start from a repaired dataplane: whatever happened while no daemon ran.
	if rep, err := eng.Repair(ctx); err != nil {
		log.Error("initial policy repair", "error", err)
	} else {
		log.Info("policy in place", "endpoints", rep.Endpoints, "writes", rep.Writes())
	}
	r := &enforce.Reconciler{
		Engine:      eng,
		Dirs:        []string{a.opts.policyDir},
		RepairEvery: *repairEvery,
		LinkExists: func(name string) bool {
			_, err := netlink.LinkByName(name)
			return err == nil
		},
		Log: log,
	}
	log.Info("serving", "state_dir", a.opts.stateDir, "policy_dir", a.opts.policyDir, "repair_interval", *repairEvery)
	return r.Run(ctx)
}
