package isolator

import "errors"

// ErrUnknownContainer is returned for a container the isolator has no
// record of.
var ErrUnknownContainer = errors.New("unknown container")

// ErrAlreadyPrepared is returned by Prepare for a container that is already
// prepared, or that already has networks attached (by `weir net add`).
var ErrAlreadyPrepared = errors.New("already prepared")

// ConfigError is a problem in a ContainerConfig. Field is the path of the
// offending value in the config's Mesos JSON, e.g.
// "container_info.network_infos[1].name".
type ConfigError struct {
	Field string
	Err   error
}

func (e *ConfigError) Error() string { return e.Field + ": " + e.Err.Error() }

// Unwrap returns the underlying error (a *chain.UnknownNetworkError for a
// network that is not defined).
func (e *ConfigError) Unwrap() error { return e.Err }
