package ifcfg

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// SetSysctl writes value to the sysctl at name ("net/ipv4/ip_forward"; a
// dotted name is accepted too) in the current network namespace, skipping
// the write when the value is already set.
func SetSysctl(name, value string) error {
	p := filepath.Join("/proc/sys", strings.ReplaceAll(name, ".", "/"))
	if cur, err := os.ReadFile(p); err == nil && strings.TrimSpace(string(cur)) == value {
		return nil
	}
	if err := os.WriteFile(p, []byte(value), 0o644); err != nil {
		return fmt.Errorf("setting sysctl %s=%s: %w", name, value, err)
	}
	return nil
}
