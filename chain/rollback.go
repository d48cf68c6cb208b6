package chain

import (
	"context"
	"errors"
	"fmt"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
)

// rollback undoes a failed ADD: plugin failed (len(list.Plugins) when every
// plugin's ADD succeeded and what failed came after) returned addErr. Every
// plugin's DEL runs, in reverse, with the ADD's arguments; when all succeed
// the record goes.
//
// When some DEL fails, the record stays as long as something of the
// attachment may still exist: the runtime's DEL, recovery or a retry then
// replays it, and GC leaves alone what it names. The record goes anyway
// (and the error is the ADD's alone) when every plugin whose DEL failed
// created nothing, that is, when each of them
//
//   - comes after the failed plugin, so its ADD never ran, or
//   - is the failed plugin itself, which refused its configuration on ADD
//     (CNI code 6, decoding, or 7, invalid config: refused before acting)
//     and refuses it again on DEL.
//
// A record in that state could never be undone: it holds the exact
// configuration, which the plugin refuses for ever, so every later DEL
// would fail the same way, and the record would shelter from GC whatever
// the refusing plugin might have left. Plugins whose ADD succeeded must
// all have been deleted for the record to go.
func (r *Runner) rollback(ctx context.Context, list *libcni.NetworkConfigList, rec *Record, failed int, addErr error) error {
	// The rollback must run even when ctx is what failed.
	rbCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.rollbackTimeout(len(list.Plugins)))
	defer cancel()
	delErrs := r.delEach(rbCtx, list, rec, nil)
	if len(delErrs) > 0 && !createdNothing(failed, addErr, delErrs) {
		var errs []error
		for i := len(list.Plugins) - 1; i >= 0; i-- {
			if delErrs[i] != nil {
				errs = append(errs, delErrs[i])
			}
		}
		// Keep the record: a later DEL or recovery retries.
		return errors.Join(addErr, fmt.Errorf("rolling back: %w", errors.Join(errs...)))
	}
	if len(delErrs) > 0 {
		r.logger().Info("the rolled-back plugins' DEL failed, but none of them created anything; dropping the record",
			"container_id", rec.ContainerID, "network", list.Name, "failed_dels", len(delErrs))
	}
	return errors.Join(addErr, r.store().Delete(rec.ContainerID, list.Name))
}

// createdNothing applies rollback's rule to the DEL failures by plugin
// index.
func createdNothing(failed int, addErr error, delErrs map[int]error) bool {
	for i, err := range delErrs {
		switch {
		case i > failed:
		case i == failed && refusedConfig(addErr) && refusedConfig(err):
		default:
			return false
		}
	}
	return true
}

// refusedConfig reports whether a plugin's error says it refused its
// configuration: CNI code 6 (decoding failure) or 7 (invalid config).
func refusedConfig(err error) bool {
	var e *types.Error
	return errors.As(err, &e) && (e.Code == types.ErrDecodingFailure || e.Code == types.ErrInvalidNetworkConfig)
}
