package chain

import (
	"fmt"
	"strings"

	"github.com/containernetworking/cni/pkg/utils"
)

// MaxIDLength bounds container ids: they become directory names.
const MaxIDLength = 128

// ValidateContainerID rejects ids that could escape the state directory or
// that CNI plugins would refuse: empty, too long, with '/', "..", NUL or
// characters outside CNI's [a-zA-Z0-9][a-zA-Z0-9_.-]*.
func ValidateContainerID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("container id is empty")
	case len(id) > MaxIDLength:
		return fmt.Errorf("container id is %d characters long, the limit is %d", len(id), MaxIDLength)
	case strings.Contains(id, ".."):
		return fmt.Errorf("container id %q contains \"..\"", id)
	}
	if err := utils.ValidateContainerID(id); err != nil {
		return fmt.Errorf("container id %q: %s", id, err.Msg)
	}
	return nil
}

// ValidateIfName rejects interface names the kernel would refuse and that
// could escape the state directory (records live under <network>/<ifname>):
// empty, longer than 15 bytes, ".", "..", or with '/', ':' or white space.
func ValidateIfName(name string) error {
	if err := utils.ValidateInterfaceName(name); err != nil {
		return fmt.Errorf("interface name %q: %s", name, err.Msg)
	}
	return nil
}

// validateAttachment checks the container id and interface name of a.
func validateAttachment(a Attachment) error {
	if err := ValidateContainerID(a.ContainerID); err != nil {
		return err
	}
	return ValidateIfName(a.IfName)
}
