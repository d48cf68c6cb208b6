package dataplane

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Runner is the narrow interface over the packet filter's tools: one save
// and one restore per family for iptables, one of each for ipset. Every
// write weir makes is one Restore or IPSetRestore call with a whole batch.
// The real implementation is ExecRunner; tests use a fake.
type Runner interface {
	// Save returns what iptables-save prints for the family; table ""
	// means all tables.
	Save(ctx context.Context, fam Family, table Table) ([]byte, error)
	// Restore feeds a batch to iptables-restore --noflush.
	Restore(ctx context.Context, fam Family, input []byte) error
	// IPSetSave returns what `ipset save` prints.
	IPSetSave(ctx context.Context) ([]byte, error)
	// IPSetRestore feeds a batch to `ipset restore`.
	IPSetRestore(ctx context.Context, input []byte) error
}

// ExecRunner runs one backend's iptables tools and ipset as child
// processes. Children inherit the calling thread's network namespace.
type ExecRunner struct {
	backend Backend
	save    map[Family]string
	restore map[Family]string
	ipset   string
}

var _ Runner = (*ExecRunner)(nil)

// NewExecRunner finds the binaries of backend b: iptables-nft-save and
// iptables-nft-restore (or the -legacy ones, or for a legacy-only
// iptables before 1.8 the plain names), their ip6tables equivalents, and
// ipset. IPv4 tools and ipset are required; IPv6 tools are optional (a
// Save or Restore for IPv6 then fails with ErrNotInstalled).
func NewExecRunner(b Backend) (*ExecRunner, error) {
	if b != NFT && b != Legacy {
		return nil, fmt.Errorf("creating runner: unknown iptables backend %q", b)
	}
	r := &ExecRunner{backend: b, save: map[Family]string{}, restore: map[Family]string{}}
	for f, prefix := range map[Family]string{IPv4: "iptables", IPv6: "ip6tables"} {
		for tool, into := range map[string]map[Family]string{"save": r.save, "restore": r.restore} {
			p, err := lookPath(prefix + "-" + string(b) + "-" + tool)
			if err != nil && b == Legacy {
				p, err = lookPath(prefix + "-" + tool)
			}
			if err != nil {
				if f == IPv4 {
					return nil, fmt.Errorf("creating %s runner: %w", b, err)
				}
				continue
			}
			into[f] = p
		}
	}
	p, err := lookPath("ipset")
	if err != nil {
		return nil, fmt.Errorf("creating %s runner: %w", b, err)
	}
	r.ipset = p
	return r, nil
}

// Backend returns the backend whose binaries the runner uses.
func (r *ExecRunner) Backend() Backend { return r.backend }

// Save runs iptables-save (or ip6tables-save) for one table or all.
func (r *ExecRunner) Save(ctx context.Context, fam Family, table Table) ([]byte, error) {
	bin := r.save[fam]
	if bin == "" {
		return nil, fmt.Errorf("saving %s rules: %s-save: %w", fam, famTool(fam), ErrNotInstalled)
	}
	var args []string
	if table != "" {
		args = []string{"-t", string(table)}
	}
	out, err := run(ctx, bin, args, nil)
	if err != nil {
		return nil, fmt.Errorf("saving %s rules: %w", fam, err)
	}
	return out, nil
}

// Restore runs iptables-restore --noflush -w with the batch on stdin.
func (r *ExecRunner) Restore(ctx context.Context, fam Family, input []byte) error {
	bin := r.restore[fam]
	if bin == "" {
		return fmt.Errorf("restoring %s rules: %s-restore: %w", fam, famTool(fam), ErrNotInstalled)
	}
	if _, err := run(ctx, bin, []string{"--noflush", "-w"}, input); err != nil {
		return fmt.Errorf("restoring %s rules: %w", fam, err)
	}
	return nil
}

// IPSetSave runs `ipset save`.
func (r *ExecRunner) IPSetSave(ctx context.Context) ([]byte, error) {
	out, err := run(ctx, r.ipset, []string{"save"}, nil)
	if err != nil {
		return nil, fmt.Errorf("saving ipsets: %w", err)
	}
	return out, nil
}

// IPSetRestore runs `ipset restore` with the batch on stdin.
func (r *ExecRunner) IPSetRestore(ctx context.Context, input []byte) error {
	if _, err := run(ctx, r.ipset, []string{"restore"}, input); err != nil {
		return fmt.Errorf("restoring ipsets: %w", err)
	}
	return nil
}

func famTool(f Family) string {
	if f == IPv6 {
		return "ip6tables"
	}
	return "iptables"
}

// ToolError is a tool that failed. For a restore it names the line of the
// batch the tool reported, when it reported one.
type ToolError struct {
	Tool   string // the binary
	Line   int    // 1-based line of the input that failed; 0 if unknown
	Text   string // that line
	Output string // what the tool printed on stderr
	Err    error  // the exit status
}

func (e *ToolError) Error() string {
	var b strings.Builder
	b.WriteString(e.Tool)
	if e.Line > 0 {
		fmt.Fprintf(&b, " failed at line %d %q", e.Line, e.Text)
	} else {
		b.WriteString(" failed")
	}
	if e.Output != "" {
		b.WriteString(": ")
		b.WriteString(e.Output)
	}
	fmt.Fprintf(&b, ": %v", e.Err)
	return b.String()
}

func (e *ToolError) Unwrap() error { return e.Err }

// lineRE finds the failing line in iptables-restore's ("Error occurred at
// line: 7", "line 2 failed") and ipset's ("Error in line 3:") messages.
var lineRE = regexp.MustCompile(`(?i)\bline:? (\d+)`)

// run executes bin with args and input on stdin and returns stdout.
func run(ctx context.Context, bin string, args []string, input []byte) ([]byte, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	if input != nil {
		cmd.Stdin = bytes.NewReader(input)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if err == nil {
		return stdout.Bytes(), nil
	}
	if ctx.Err() != nil {
		err = errors.Join(ctx.Err(), err)
	}
	te := &ToolError{Tool: bin, Output: cleanOutput(stderr.String()), Err: err}
	if m := lineRE.FindStringSubmatch(stderr.String()); m != nil && input != nil {
		if n, convErr := strconv.Atoi(m[1]); convErr == nil {
			lines := strings.Split(string(input), "\n")
			if n >= 1 && n <= len(lines) {
				te.Line, te.Text = n, lines[n-1]
			}
		}
	}
	return nil, te
}

// cleanOutput keeps a tool's diagnostic on one line, without its usage
// hint.
func cleanOutput(s string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "Try `") || strings.HasPrefix(l, "Error occurred at line") {
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "; ")
}
