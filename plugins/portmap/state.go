package portmap

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/containernetworking/cni/pkg/utils"

	"github.com/weirnet/weir/internal/atomicfile"
	"github.com/weirnet/weir/internal/flock"
	"github.com/weirnet/weir/plugins/internal/masq"
)

// store keeps one record (a plan, as JSON) per attachment:
// DIR/NETWORK/CONTAINERID:IFNAME.json. Neither a container id nor a
// network name may contain ':' or '/', so the name is unambiguous.
type store struct{ dir string }

const recordExt = ".json"

// DefaultLockPath is the host-wide lock every portmap change holds. It is
// the host's, not the state directory's: the nat chains and the ipsets
// are shared by every state directory, and a set's members tell whether
// the shared masquerade may go only while nobody else is adding to it.
const DefaultLockPath = "/run/weir/portmap.lock"

// lock takes the lock that serialises portmap's changes to the nat
// tables, the ipsets and its records.
func (s store) lock(ctx context.Context) (*flock.Lock, error) {
	return flock.Acquire(ctx, DefaultLockPath)
}

// path returns the record of an attachment, refusing names that could
// leave the directory.
func (s store) path(network, containerID, ifName string) (string, error) {
	if err := utils.ValidateNetworkName(network); err != nil {
		return "", fmt.Errorf("network name %q: %s", network, err.Msg)
	}
	if err := utils.ValidateContainerID(containerID); err != nil {
		return "", fmt.Errorf("container id %q: %s", containerID, err.Msg)
	}
	if err := utils.ValidateInterfaceName(ifName); err != nil {
		return "", fmt.Errorf("interface name %q: %s", ifName, err.Msg)
	}
	return filepath.Join(s.dir, network, containerID+":"+ifName+recordExt), nil
}

// save writes p's record atomically.
func (s store) save(p *plan) error {
	path, err := s.path(p.Network, p.ContainerID, p.IfName)
	if err != nil {
		return err
	}
	data, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encoding portmap record: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("creating portmap state directory: %w", err)
	}
	// Writers of a record hold the store's lock: a temporary file of an
	// earlier write of it is a killed process's (best effort: harmless).
	_, _ = atomicfile.RemoveTempsOf(path)
	if err := atomicfile.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("writing portmap record: %w", err)
	}
	return nil
}

// load reads an attachment's record; a missing record is (nil, nil).
func (s store) load(network, containerID, ifName string) (*plan, error) {
	path, err := s.path(network, containerID, ifName)
	if err != nil {
		return nil, err
	}
	return readRecord(path)
}

func readRecord(path string) (*plan, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading portmap record: %w", err)
	}
	p := &plan{}
	if err := json.Unmarshal(data, p); err != nil {
		return nil, fmt.Errorf("decoding portmap record %s: %w", path, err)
	}
	return p, nil
}

// remove deletes an attachment's record; a missing one is success.
func (s store) remove(network, containerID, ifName string) error {
	path, err := s.path(network, containerID, ifName)
	if err != nil {
		return err
	}
	_, _ = atomicfile.RemoveTempsOf(path) // see save
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing portmap record: %w", err)
	}
	return nil
}

// record is one record found by list: its attachment (from the file name)
// and its plan, nil when the file does not decode.
type record struct {
	containerID, ifName string
	plan                *plan
}

// list returns the records of network. A record that does not decode is
// returned without a plan (GC still removes it by name) and its error
// joined into the returned one.
func (s store) list(network string) ([]record, error) {
	dir := filepath.Join(s.dir, network)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing portmap records: %w", err)
	}
	var out []record
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") || !strings.HasSuffix(name, recordExt) {
			continue
		}
		id, ifName, ok := strings.Cut(strings.TrimSuffix(name, recordExt), ":")
		if _, err := s.path(network, id, ifName); !ok || err != nil {
			continue // not a record portmap wrote
		}
		p, err := readRecord(filepath.Join(dir, name))
		if err != nil {
			errs = append(errs, err)
			p = nil
		}
		out = append(out, record{containerID: id, ifName: ifName, plan: p})
	}
	return out, errors.Join(errs...)
}

// sharedUse predicts, for each family of fams, which shared chains hold
// rules of attachments other than network/containerID/ifName, from their
// records: WEIR-HOSTPORTS those of any record with rules in the family,
// MasqChain those of one with snat (asked only when withMasq). It stops
// reading as soon as every answer is yes, so with many attachments it
// reads a record or two. Records that cannot be read are passed over. The
// answer is only a prediction for the batches of fastpath.go, which fail
// as a whole when it is wrong.
func (s store) sharedUse(network, containerID, ifName string, fams []masq.Family, withMasq bool) map[masq.Family]sharedChains {
	use := map[masq.Family]sharedChains{}
	known := func() bool {
		for _, f := range fams {
			if u := use[f]; !u.hostports || (withMasq && !u.masq) {
				return false
			}
		}
		return true
	}
	own := filepath.Join(s.dir, network, containerID+":"+ifName+recordExt)
	visit := func(p *plan) bool {
		for _, f := range p.families() {
			u := use[f]
			u.hostports = true
			u.masq = u.masq || p.SNAT
			use[f] = u
		}
		return known()
	}
	nets, err := os.ReadDir(s.dir)
	if err != nil {
		return use
	}
	for _, n := range nets {
		if n.IsDir() && !strings.HasPrefix(n.Name(), ".") && scanRecords(filepath.Join(s.dir, n.Name()), own, visit) {
			break
		}
	}
	return use
}

// scanRecords calls visit with each readable record in dir but own, in
// directory order and a few entries at a time, until visit returns true;
// it reports whether one did.
func scanRecords(dir, own string, visit func(*plan) bool) bool {
	d, err := os.Open(dir)
	if err != nil {
		return false
	}
	defer d.Close()
	for {
		entries, err := d.ReadDir(64)
		for _, e := range entries {
			name := e.Name()
			path := filepath.Join(dir, name)
			if e.IsDir() || strings.HasPrefix(name, ".") || !strings.HasSuffix(name, recordExt) || path == own {
				continue
			}
			if p, err := readRecord(path); err == nil && p != nil && visit(p) {
				return true
			}
		}
		if err != nil {
			return false // io.EOF at the end
		}
	}
}
