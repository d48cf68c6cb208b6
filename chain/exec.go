package chain

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/hashicorp/go-hclog"
)

// guardedExec wraps an invoke.Exec with what libcni leaves to the runtime: a
// timeout per plugin invocation (the exec'd plugin's process group is killed
// when it expires) and retries with backoff of CNI error code 11 ("try again
// later").
type guardedExec struct {
	invoke.Exec
	timeout time.Duration
	retries int
	backoff time.Duration
	log     hclog.Logger
}

func (g *guardedExec) ExecPlugin(ctx context.Context, pluginPath string, stdin []byte, environ []string) ([]byte, error) {
	for attempt := 0; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, g.timeout)
		start := time.Now()
		out, err := g.Exec.ExecPlugin(cctx, pluginPath, stdin, environ)
		expired := errors.Is(cctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil
		cancel()
		if g.log.IsDebug() {
			g.log.Debug("plugin returned", "plugin", filepath.Base(pluginPath), "command", command(environ),
				"duration", time.Since(start), "error", err)
		}
		if err == nil {
			return out, nil
		}
		if expired {
			return nil, &types.Error{Code: types.ErrInternal, Msg: fmt.Sprintf("plugin %s timed out after %s and was killed", filepath.Base(pluginPath), g.timeout)}
		}
		var terr *types.Error
		if !errors.As(err, &terr) || terr.Code != types.ErrTryAgainLater || attempt >= g.retries {
			return nil, err
		}
		wait := g.backoff << attempt
		g.log.Debug("plugin asked to try again later", "plugin", filepath.Base(pluginPath), "attempt", attempt+1, "wait", wait, "error", terr.Msg)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("retrying plugin %s: %w", filepath.Base(pluginPath), ctx.Err())
		case <-time.After(wait):
		}
	}
}

// command returns the CNI_COMMAND of a plugin's environment.
func command(environ []string) string {
	for _, e := range environ {
		if c, ok := strings.CutPrefix(e, "CNI_COMMAND="); ok {
			return c
		}
	}
	return ""
}
