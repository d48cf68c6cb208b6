package chain

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
)

// Request is one network of a multi-network attach.
type Request struct {
	List       *libcni.NetworkConfigList
	Attachment Attachment
}

// AddAll attaches one container to several networks in parallel, all or
// nothing: when any network fails, the ones that succeeded are deleted again.
// Requests must share the container id; interface names are the caller's
// (eth0, eth1, ... in the order asked). Results come back in request order.
func (r *Runner) AddAll(ctx context.Context, reqs []Request) ([]types.Result, error) {
	if len(reqs) == 0 {
		return nil, nil
	}
	id := reqs[0].Attachment.ContainerID
	if err := ValidateContainerID(id); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, q := range reqs {
		if err := ValidateIfName(q.Attachment.IfName); err != nil {
			return nil, err
		}
		if q.Attachment.ContainerID != id {
			return nil, fmt.Errorf("one attach names two containers: %s and %s", id, q.Attachment.ContainerID)
		}
		if seen[q.List.Name] {
			return nil, fmt.Errorf("network %s is asked for twice", q.List.Name)
		}
		seen[q.List.Name] = true
	}
	lock, err := lockContainer(ctx, r.StateDir, id)
	if err != nil {
		return nil, err
	}
	defer lock.unlock(r.store(), id)
	gc, err := lockOutGC(ctx, r.StateDir)
	if err != nil {
		return nil, err
	}
	defer gc.Release()

	results := make([]types.Result, len(reqs))
	errs := make([]error, len(reqs))
	var wg sync.WaitGroup
	for i, q := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = r.add(ctx, q.List, q.Attachment)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		rbCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.rollbackTimeout(8))
		defer cancel()
		for i, q := range reqs {
			if errs[i] == nil {
				if derr := r.delLocked(rbCtx, q.List.Name, q.Attachment, nil); derr != nil {
					err = errors.Join(err, fmt.Errorf("rolling back network %s: %w", q.List.Name, derr))
				}
			}
		}
		return nil, err
	}
	return results, nil
}

// DelAll detaches a container from every network it has a record for, in
// parallel, and returns every failure. netns overrides the recorded
// namespace path ("" keeps it).
func (r *Runner) DelAll(ctx context.Context, id, netns string) error {
	if err := ValidateContainerID(id); err != nil {
		return err
	}
	lock, err := lockContainer(ctx, r.StateDir, id)
	if err != nil {
		return err
	}
	defer lock.unlock(r.store(), id)
	nets, err := r.store().Networks(id)
	if err != nil {
		return err
	}
	errs := make([]error, len(nets))
	var wg sync.WaitGroup
	for i, n := range nets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = r.delLocked(ctx, n, Attachment{ContainerID: id, NetNS: netns}, nil)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
