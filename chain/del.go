package chain

import (
	"context"
	"errors"
	"fmt"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
)

// Del detaches container id from network. With a record it replays the ADD's
// exact config, arguments and capability arguments, whatever the definition
// says now (or if it was deleted). Without a record, fallback (the current
// definition) and a are used, as a plain CNI runtime would; with neither,
// there is nothing to do. Every plugin runs, in reverse order, even after one
// fails; all failures are returned joined, and the record is kept so the DEL
// can be retried.
func (r *Runner) Del(ctx context.Context, network string, a Attachment, fallback *libcni.NetworkConfigList) error {
	if err := ValidateContainerID(a.ContainerID); err != nil {
		return err
	}
	if a.IfName != "" {
		if err := ValidateIfName(a.IfName); err != nil {
			return err
		}
	}
	lock, err := lockContainer(ctx, r.StateDir, a.ContainerID)
	if err != nil {
		return err
	}
	defer lock.unlock(r.store(), a.ContainerID)
	return r.delLocked(ctx, network, a, fallback)
}

// delLocked is Del with the container's lock held.
func (r *Runner) delLocked(ctx context.Context, network string, a Attachment, fallback *libcni.NetworkConfigList) error {
	st := r.store()
	rec, err := st.Load(a.ContainerID, network)
	switch {
	case err == nil && rec.IfName == "":
		// network.conf without network.info: the process died between the
		// two writes of the record, before any plugin ran.
		return st.Delete(a.ContainerID, network)
	case err == nil:
	case errors.Is(err, ErrNoRecord) && fallback != nil:
		if err := ValidateIfName(a.IfName); err != nil {
			return err
		}
		rec = &Record{Network: network, ContainerID: a.ContainerID, IfName: a.IfName, NetNS: a.NetNS,
			Args: a.Args, CapabilityArgs: a.CapabilityArgs, ConfigArgs: a.ConfigArgs}
		return r.del(ctx, fallback, rec, nil)
	case errors.Is(err, ErrNoRecord):
		return st.Delete(a.ContainerID, network) // at most an empty directory of a died Save
	default:
		return err
	}
	list, err := libcni.ConfListFromBytes(rec.Config)
	if err != nil {
		return fmt.Errorf("decoding recorded config of %s/%s: %w", a.ContainerID, network, err)
	}
	if a.NetNS != "" {
		rec.NetNS = a.NetNS // the runtime knows better where the netns is now (or that it is gone: "")
	}
	prev, err := decodeResult(rec.Result, list.CNIVersion)
	if err != nil {
		return err
	}
	if rec.State == StateAdded {
		// From the first plugin's DEL on, the attachment is no longer
		// whole: a crash before the record is removed must be finished
		// by recovery, not taken for a complete attach.
		mark := *rec
		mark.State, mark.Config = StateDeleting, nil
		if err := st.Save(&mark); err != nil {
			return err
		}
	}
	if err := r.del(ctx, list, rec, prev); err != nil {
		return err
	}
	return st.Delete(a.ContainerID, network)
}

// del runs every plugin's DEL in reverse order and joins the failures.
func (r *Runner) del(ctx context.Context, list *libcni.NetworkConfigList, rec *Record, prev types.Result) error {
	failed := r.delEach(ctx, list, rec, prev)
	var errs []error
	for i := len(list.Plugins) - 1; i >= 0; i-- {
		if failed[i] != nil {
			errs = append(errs, failed[i])
		}
	}
	return errors.Join(errs...)
}

// delEach runs every plugin's DEL in reverse order and returns the
// failures by plugin index.
func (r *Runner) delEach(ctx context.Context, list *libcni.NetworkConfigList, rec *Record, prev types.Result) map[int]error {
	ex := r.exec()
	failed := map[int]error{}
	for i := len(list.Plugins) - 1; i >= 0; i-- {
		conf, err := pluginConf(list, i, prev, rec.CapabilityArgs, rec.ConfigArgs, nil)
		if err == nil {
			_, err = r.invoke(ctx, ex, "DEL", list, i, conf, rec)
		}
		if err != nil {
			failed[i] = err
		}
	}
	if len(failed) > 0 {
		r.logger().Warn("del failed", "container_id", rec.ContainerID, "network", list.Name, "errors", len(failed))
	}
	return failed
}
