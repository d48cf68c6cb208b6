package dataplane

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Backend is the kernel interface the iptables tools write to. One Writer
// uses one backend's binaries for every call: rules written through
// iptables-nft are invisible to iptables-legacy-save and the reverse, so
// mixing them would make weir's own rules look missing.
type Backend string

// The backends.
const (
	NFT    Backend = "nft"    // iptables-nft: the nf_tables kernel API
	Legacy Backend = "legacy" // iptables-legacy: the x_tables kernel API
)

// ErrNotInstalled is returned (wrapped) when a tool weir needs is missing.
var ErrNotInstalled = errors.New("not installed")

// lookPath finds a tool in PATH, falling back to /usr/sbin and /sbin (a
// CNI plugin's PATH is often minimal).
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

// DetectBackend decides which iptables backend to use in the calling
// thread's network namespace: the one the `iptables` binary reports in its
// --version ("(nf_tables)" or "(legacy)"), except that when nf_tables is
// the default but only the legacy tables hold rules (a host whose other
// tools still write legacy), legacy is chosen, so weir's rules sit where the
// host's others are evaluated and listed.
func DetectBackend(ctx context.Context) (Backend, error) {
	b, _, err := detectBackend(ctx)
	return b, err
}

// detectBackend is DetectBackend that also says how many processes it ran.
func detectBackend(ctx context.Context) (Backend, int, error) {
	bin, err := lookPath("iptables")
	if err != nil {
		return "", 0, fmt.Errorf("detecting iptables backend: %w", err)
	}
	def, forks, err := defaultBackend(ctx, bin)
	if err != nil {
		return "", forks, err
	}
	if def == Legacy {
		return Legacy, forks, nil
	}
	if !legacyTablesLoaded() {
		return NFT, forks, nil
	}
	legacy, n, err := countRules(ctx, Legacy)
	forks += n
	if err != nil || legacy == 0 {
		// No legacy tools, or nothing in the legacy tables: the default stands.
		return NFT, forks, nil
	}
	nft, n, err := countRules(ctx, NFT)
	forks += n
	if err != nil {
		return "", forks, fmt.Errorf("detecting iptables backend: %w", err)
	}
	if legacy > nft {
		return Legacy, forks, nil
	}
	return NFT, forks, nil
}

// defaultBackend returns the backend the iptables binary at bin writes to,
// and how many processes that took. The alternatives symlinks of a
// packaged iptables end at xtables-nft-multi or xtables-legacy-multi, which
// names it without running anything (a fork on every plugin call); any
// other binary is asked with --version, which prints "(nf_tables)" or
// "(legacy)" (iptables before 1.8 prints neither and is legacy).
func defaultBackend(ctx context.Context, bin string) (Backend, int, error) {
	if real, err := filepath.EvalSymlinks(bin); err == nil {
		if b, ok := backendOfBinary(filepath.Base(real)); ok {
			return b, 0, nil
		}
	}
	out, err := exec.CommandContext(ctx, bin, "--version").CombinedOutput()
	if err != nil {
		return "", 1, fmt.Errorf("detecting iptables backend: running %s --version: %w: %s", bin, err, bytes.TrimSpace(out))
	}
	if bytes.Contains(out, []byte("(nf_tables)")) {
		return NFT, 1, nil
	}
	return Legacy, 1, nil
}

// backendOfBinary names the backend of an iptables multi-call binary.
func backendOfBinary(name string) (Backend, bool) {
	switch name {
	case "xtables-nft-multi", "iptables-nft":
		return NFT, true
	case "xtables-legacy-multi", "iptables-legacy":
		return Legacy, true
	}
	return "", false
}

// legacyTablesLoaded reports whether any x_tables table exists in the
// calling thread's network namespace (without loading any module).
func legacyTablesLoaded() bool {
	for _, f := range []string{"/proc/thread-self/net/ip_tables_names", "/proc/thread-self/net/ip6_tables_names"} {
		if b, err := os.ReadFile(f); err == nil && len(bytes.TrimSpace(b)) > 0 {
			return true
		}
	}
	return false
}

// countRules counts the rules a backend's save tools print for both
// families.
func countRules(ctx context.Context, b Backend) (int, int, error) {
	r, err := NewExecRunner(b)
	if err != nil {
		return 0, 0, err
	}
	total, forks := 0, 0
	for _, f := range []Family{IPv4, IPv6} {
		if r.save[f] == "" {
			continue
		}
		forks++
		out, err := r.Save(ctx, f, "")
		if err != nil {
			return 0, forks, err
		}
		for _, line := range bytes.Split(out, []byte("\n")) {
			if bytes.HasPrefix(line, []byte("-A ")) {
				total++
			}
		}
	}
	return total, forks, nil
}
