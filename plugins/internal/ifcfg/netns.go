package ifcfg

import (
	"errors"
	"fmt"

	"github.com/containernetworking/plugins/pkg/ns"
)

// InNetNS runs fn with the calling goroutine's thread inside the network
// namespace at path. ns.WithNetNSPath locks the OS thread and unlocks it only
// after switching back, so no other goroutine ever runs in the container's
// namespace by accident.
func InNetNS(path string, fn func() error) error {
	return ns.WithNetNSPath(path, func(ns.NetNS) error { return fn() })
}

// NetNSGone reports whether err says the namespace path no longer exists or
// is no longer a namespace: the state DEL must treat as "already cleaned".
func NetNSGone(err error) bool {
	var notExist ns.NSPathNotExistErr
	var notNS ns.NSPathNotNSErr
	return errors.As(err, &notExist) || errors.As(err, &notNS)
}

// CheckNetNS returns an error naming path when it is not a network namespace.
func CheckNetNS(path string) error {
	if err := ns.IsNSorErr(path); err != nil {
		return fmt.Errorf("checking netns %s: %w", path, err)
	}
	return nil
}
