package chain

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
)

// Check runs every plugin's CHECK for container id on network with the
// recorded config and result. CHECK needs cniVersion 0.4.0 or later.
func (r *Runner) Check(ctx context.Context, network, id string) error {
	if err := ValidateContainerID(id); err != nil {
		return err
	}
	rec, err := r.store().Load(id, network)
	if err != nil {
		return err
	}
	if rec.State != StateAdded {
		return fmt.Errorf("container %s on network %s is %s, not attached", id, network, rec.State)
	}
	list, err := libcni.ConfListFromBytes(rec.Config)
	if err != nil {
		return fmt.Errorf("decoding recorded config of %s/%s: %w", id, network, err)
	}
	if !chainsSupport(list.CNIVersion, "0.4.0") {
		return fmt.Errorf("network %s has cniVersion %s; CHECK needs 0.4.0 or later", network, list.CNIVersion)
	}
	prev, err := decodeResult(rec.Result, list.CNIVersion)
	if err != nil {
		return err
	}
	ex := r.exec()
	for i := range list.Plugins {
		conf, err := pluginConf(list, i, prev, rec.CapabilityArgs, rec.ConfigArgs, nil)
		if err == nil {
			_, err = r.invoke(ctx, ex, "CHECK", list, i, conf, rec)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Result returns the recorded result of container id on network.
func (r *Runner) Result(id, network string) (*Record, types.Result, error) {
	rec, err := r.store().Load(id, network)
	if err != nil {
		return nil, nil, err
	}
	list, err := libcni.ConfListFromBytes(rec.Config)
	if err != nil {
		return rec, nil, fmt.Errorf("decoding recorded config of %s/%s: %w", id, network, err)
	}
	res, err := decodeResult(rec.Result, list.CNIVersion)
	return rec, res, err
}

// GC sends every 1.1.0 (or later) network of defs a GC with the attachments
// weir's records say are valid, so plugins free whatever leaked (addresses of
// containers that crashed, rules of a half-done ADD). No ADD runs meanwhile
// (see lockForGC): one that saved its record after the records were read
// would lose what it had just acquired.
func (r *Runner) GC(ctx context.Context, defs []*libcni.NetworkConfigList) error {
	release, err := lockForGC(ctx, r.StateDir)
	if err != nil {
		return err
	}
	defer release()
	recs, err := r.store().All()
	if err != nil {
		return err
	}
	valid := map[string][]map[string]string{}
	for _, rec := range recs {
		valid[rec.Network] = append(valid[rec.Network], map[string]string{"containerID": rec.ContainerID, "ifname": rec.IfName})
	}
	ex := r.exec()
	var errs []error
	for _, list := range defs {
		if !chainsSupport(list.CNIVersion, "1.1.0") {
			continue
		}
		atts := valid[list.Name]
		sort.Slice(atts, func(i, j int) bool { return atts[i]["containerID"] < atts[j]["containerID"] })
		if atts == nil {
			atts = []map[string]string{}
		}
		for i := range list.Plugins {
			conf, err := pluginConf(list, i, nil, nil, nil, map[string]any{"cni.dev/valid-attachments": atts})
			if err == nil {
				_, err = r.invoke(ctx, ex, "GC", list, i, conf, &Record{})
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("network %s: %w", list.Name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Status asks every plugin of list whether it can take new attachments
// (CNI STATUS; networks before 1.1.0 are assumed ready).
func (r *Runner) Status(ctx context.Context, list *libcni.NetworkConfigList) error {
	if !chainsSupport(list.CNIVersion, "1.1.0") {
		return nil
	}
	ex := r.exec()
	for i := range list.Plugins {
		conf, err := pluginConf(list, i, nil, nil, nil, nil)
		if err == nil {
			_, err = r.invoke(ctx, ex, "STATUS", list, i, conf, &Record{})
		}
		if err != nil {
			return fmt.Errorf("network %s: %w", list.Name, err)
		}
	}
	return nil
}
