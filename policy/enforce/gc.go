package enforce

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/weirnet/weir/policy/compile"
	"github.com/weirnet/weir/policy/dataplane"
)

// GC forgets the endpoints of network that are not among valid (CNI GC's
// valid attachments) and renders the host without them.
func (e *Engine) GC(ctx context.Context, network string, valid []types.GCAttachment) (Report, error) {
	keep := map[string]bool{}
	for _, a := range valid {
		keep[Key(network, a.ContainerID, a.IfName)] = true
	}
	return e.forget(ctx, func(k string, ep compile.Endpoint) bool {
		return ep.Network == network && !keep[k]
	})
}

// Orphans forgets endpoints whose enforcement point is gone: a host-side
// interface that no longer exists, or a namespace that was removed. It is
// the daemon's periodic clean-up for containers that vanished without a DEL.
func (e *Engine) Orphans(ctx context.Context, linkExists func(name string) bool) (Report, error) {
	return e.forget(ctx, func(_ string, ep compile.Endpoint) bool {
		switch ep.Mode {
		case compile.Host:
			return !linkExists(ep.HostIface)
		default:
			_, err := os.Stat(ep.NetNS)
			return err != nil
		}
	})
}

func (e *Engine) forget(ctx context.Context, drop func(string, compile.Endpoint) bool) (Report, error) {
	unlock, err := e.lock(ctx)
	if err != nil {
		return Report{}, err
	}
	defer unlock()
	idx, err := e.readIndex()
	if err != nil {
		return Report{}, err
	}
	var errs []error
	removed := 0
	for k, ep := range idx.Endpoints {
		if drop(k, ep) {
			delete(idx.Endpoints, k)
			removed++
			if ep.Mode == compile.NetNS {
				errs = append(errs, e.clearNetNS(ctx, ep.NetNS))
			}
		}
	}
	if removed > 0 {
		if err := e.writeIndex(idx); err != nil {
			return Report{}, err
		}
		e.Log.Info("forgot endpoints", "count", removed)
	}
	rep, err := e.render(ctx, idx, false)
	return rep, errors.Join(append(errs, err)...)
}

// Check verifies that the kernel still holds every chain, hook and set the
// endpoint's enforcement needs, as compiled from the current files.
func (e *Engine) Check(ctx context.Context, network, id, ifName string) error {
	idx, err := e.readIndex()
	if err != nil {
		return err
	}
	ep, ok := idx.Endpoints[Key(network, id, ifName)]
	if !ok {
		return fmt.Errorf("no policy endpoint %s/%s on network %s", id, ifName, network)
	}
	all := idx.list()
	sets, _, err := e.loadPolicies(all)
	if err != nil {
		return err
	}
	out, err := compile.Compile(sets, all)
	if err != nil {
		return fmt.Errorf("compiling policy: %w", err)
	}
	want, have := out.Host, dataplane.State{}
	if ep.Mode == compile.NetNS {
		want = out.NetNS[ep.NetNS]
		have, err = e.Writer.ReadInNetNS(ctx, ep.NetNS)
	} else {
		have, err = e.Writer.Read(ctx)
	}
	if err != nil {
		return fmt.Errorf("reading the dataplane back: %w", err)
	}
	return missing(want, have, id, ep.IPs)
}

// missing reports the first of want's objects naming container id (or
// shared by everyone) that have lacks or holds differently: chains and
// hooks, the sets, and in the sets of addresses (hash:ip) the container's
// own addresses (ips) — the others' are theirs to check.
func missing(want, have dataplane.State, id string, ips []netip.Addr) error {
	wantC, err := want.Canonical()
	if err != nil {
		return err
	}
	haveC, err := have.Canonical()
	if err != nil {
		return err
	}
	for k, c := range wantC.Chains {
		h, ok := haveC.Chains[k]
		if !ok {
			return fmt.Errorf("chain %s is missing", c.Name)
		}
		for _, r := range c.Rules {
			if (strings.Contains(r, "id="+id+" ") || !strings.Contains(r, "id=")) && !slices.Contains(h.Rules, r) {
				return fmt.Errorf("chain %s lacks rule %q", c.Name, r)
			}
		}
	}
	for _, hk := range wantC.Hooks {
		if !slices.ContainsFunc(haveC.Hooks, func(x dataplane.Hook) bool { return x == hk }) {
			return fmt.Errorf("hook %s in %s/%s is missing", hk.Rule, hk.Family, hk.Chain)
		}
	}
	for name, s := range wantC.Sets {
		h, ok := haveC.Sets[name]
		if !ok {
			return fmt.Errorf("ipset %s is missing", name)
		}
		for _, m := range s.Members {
			if s.Type == "hash:ip" && !slices.ContainsFunc(ips, func(a netip.Addr) bool { return a.Unmap().String() == m }) {
				continue
			}
			if !slices.Contains(h.Members, m) {
				return fmt.Errorf("ipset %s lacks %s", name, m)
			}
		}
	}
	return nil
}
