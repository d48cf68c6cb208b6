// Package ipam runs a plugin's IPAM delegate (the "ipam" section's type,
// host-local for weir's own networks) with the plugin's own arguments, and
// turns its ADD result into a current-version result.
package ipam

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/weirnet/weir/plugins/pluginkit"
)

// Type returns the IPAM plugin type named in a network configuration, or an
// invalid-config error naming the field when there is none.
func Type(conf []byte) (string, error) {
	var c struct {
		IPAM struct {
			Type string `json:"type"`
		} `json:"ipam"`
	}
	if err := json.Unmarshal(conf, &c); err != nil {
		return "", pluginkit.Errorf(types.ErrDecodingFailure, "decoding ipam section: %w", err)
	}
	if c.IPAM.Type == "" {
		return "", pluginkit.ConfigError("ipam.type", "an IPAM plugin type is required")
	}
	return c.IPAM.Type, nil
}

// Add allocates addresses for the attachment and returns them as a current
// result with at least one IP.
func Add(ctx context.Context, env *pluginkit.Env, conf []byte, args *skel.CmdArgs) (*current.Result, error) {
	res, err := run(ctx, env, "ADD", conf, args)
	if err != nil {
		return nil, err
	}
	cur, err := current.NewResultFromResult(res)
	if err != nil {
		return nil, pluginkit.Errorf(types.ErrDecodingFailure, "converting IPAM result: %w", err)
	}
	if len(cur.IPs) == 0 {
		return nil, pluginkit.Errorf(types.ErrInternal, "IPAM plugin returned no addresses")
	}
	return cur, nil
}

// Del releases the attachment's addresses.
func Del(ctx context.Context, env *pluginkit.Env, conf []byte, args *skel.CmdArgs) error {
	_, err := run(ctx, env, "DEL", conf, args)
	return err
}

// Check asks the IPAM plugin whether the attachment's addresses are held.
func Check(ctx context.Context, env *pluginkit.Env, conf []byte, args *skel.CmdArgs) error {
	_, err := run(ctx, env, "CHECK", conf, args)
	return err
}

// GC passes a GC (with the valid attachments in conf) to the IPAM plugin.
func GC(ctx context.Context, env *pluginkit.Env, conf []byte, args *skel.CmdArgs) error {
	_, err := run(ctx, env, "GC", conf, args)
	return err
}

// Status asks the IPAM plugin whether it can take new attachments.
func Status(ctx context.Context, env *pluginkit.Env, conf []byte, args *skel.CmdArgs) error {
	_, err := run(ctx, env, "STATUS", conf, args)
	return err
}

// CheckConfig has the IPAM plugin check the configuration and arguments an
// ADD would get, without allocating (see pluginkit.ConfigChecker); an IPAM
// plugin that cannot check passes.
func CheckConfig(ctx context.Context, env *pluginkit.Env, conf []byte, args *skel.CmdArgs) error {
	typ, err := Type(conf)
	if err != nil {
		return err
	}
	if err := pluginkit.DelegateCheckConfig(ctx, env, typ, conf, args); err != nil {
		return fmt.Errorf("ipam: %w", err)
	}
	return nil
}

func run(ctx context.Context, env *pluginkit.Env, command string, conf []byte, args *skel.CmdArgs) (types.Result, error) {
	typ, err := Type(conf)
	if err != nil {
		return nil, err
	}
	res, err := pluginkit.Delegate(ctx, env, command, typ, conf, args)
	if err != nil {
		return nil, fmt.Errorf("ipam %s: %w", command, err)
	}
	return res, nil
}
