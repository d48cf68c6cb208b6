package masq

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Family is an IP address family: IPv4 rules go to iptables, IPv6 rules to
// ip6tables.
type Family int

// The two families.
const (
	IPv4 Family = 4
	IPv6 Family = 6
)

func (f Family) String() string {
	if f == IPv6 {
		return "ipv6"
	}
	return "ipv4"
}

func (f Family) prefix() string {
	if f == IPv6 {
		return "ip6tables"
	}
	return "iptables"
}

// Runner is the narrow interface over the kernel tools: read the nat table,
// and apply a restore batch to it without flushing what the batch does not
// name.
type Runner interface {
	// Save returns `iptables-save -t nat` (ip6tables-save for IPv6).
	Save(ctx context.Context, f Family) ([]byte, error)
	// Restore feeds batch to `iptables-restore --noflush -w`.
	Restore(ctx context.Context, f Family, batch []byte) error
}

// ErrNotInstalled says the iptables tools of a family are not on this host.
// Nothing can have been written with them, so teardown and GC treat it as
// "nothing to remove".
var ErrNotInstalled = errors.New("iptables tools not installed")

// ExecRunner runs the iptables binaries found with exec.LookPath, falling
// back to /usr/sbin and /sbin, which a plugin's minimal PATH may lack.
type ExecRunner struct{}

var _ Runner = ExecRunner{}

// lookPath finds a tool by name.
func lookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("finding %s: %w", name, ErrNotInstalled)
}

// Save implements Runner.
func (ExecRunner) Save(ctx context.Context, f Family) ([]byte, error) {
	bin, err := lookPath(f.prefix() + "-save")
	if err != nil {
		return nil, err
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "-t", "nat")
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("running %s -t nat: %w: %s", bin, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// Restore implements Runner.
func (ExecRunner) Restore(ctx context.Context, f Family, batch []byte) error {
	bin, err := lookPath(f.prefix() + "-restore")
	if err != nil {
		return err
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "--noflush", "-w")
	cmd.Stdin = bytes.NewReader(batch)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("running %s --noflush: %w: %s", bin, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}
