package pluginkit

import (
	"errors"
	"fmt"

	"github.com/containernetworking/cni/pkg/types"
)

// Errorf returns a CNI error with the given code and a formatted message.
// A %w verb wraps the cause as usual; the cause's text lands in Msg.
func Errorf(code uint, format string, a ...any) *types.Error {
	return &types.Error{Code: code, Msg: fmt.Errorf(format, a...).Error()}
}

// ConfigError is the error for a bad network configuration (code 7) naming
// the offending field.
func ConfigError(field, format string, a ...any) *types.Error {
	return &types.Error{Code: types.ErrInvalidNetworkConfig, Msg: fmt.Sprintf("invalid field %q: %s", field, fmt.Sprintf(format, a...))}
}

// AsCNIError returns err as a *types.Error, keeping a code found anywhere in
// its chain and otherwise using code 999 (internal error).
func AsCNIError(err error) *types.Error {
	if err == nil {
		return nil
	}
	var e *types.Error
	if errors.As(err, &e) {
		if e.Error() == err.Error() {
			return e
		}
		return &types.Error{Code: e.Code, Msg: err.Error(), Details: e.Details}
	}
	return &types.Error{Code: types.ErrInternal, Msg: err.Error()}
}
