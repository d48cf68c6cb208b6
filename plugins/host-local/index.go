package hostlocal

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/weirnet/weir/internal/atomicfile"
	"github.com/weirnet/weir/plugins/pluginkit"
)

// indexPrefix starts every index file's name; no address's text starts so.
const indexPrefix = "attachment."

// errCorruptIndex marks an index file whose contents cannot be decoded.
var errCorruptIndex = errors.New("corrupt index")

// Index states. A pending index was written before an ADD reserved
// anything; it may not list every reservation the attachment holds.
const (
	StatePending = "pending"
	StateReady   = "ready"
)

// Index lists the addresses an attachment holds.
type Index struct {
	ContainerID string       `json:"containerID"`
	IfName      string       `json:"ifname"`
	State       string       `json:"state"`
	IPs         []netip.Addr `json:"ips"`
}

// Owner is the attachment the index belongs to.
func (ix *Index) Owner() Owner { return Owner{ContainerID: ix.ContainerID, IfName: ix.IfName} }

// indexName is the index file's name for o: a hash, so any container id and
// interface name map to a safe, fixed-length file name.
func indexName(o Owner) string {
	h := sha256.Sum256([]byte(o.ContainerID + "\x00" + o.IfName))
	return indexPrefix + hex.EncodeToString(h[:16])
}

// ReadIndex returns o's index, or nil when o holds nothing.
func (s *Store) ReadIndex(o Owner) (*Index, error) {
	ix, err := s.readIndexFile(indexName(o))
	if errors.Is(err, errCorruptIndex) {
		// Unreadable contents: treat it like a killed ADD's index, so the
		// attachment's reservations are found by a scan.
		return &Index{ContainerID: o.ContainerID, IfName: o.IfName, State: StatePending}, nil
	}
	if err != nil || ix == nil {
		return nil, err
	}
	if ix.Owner() != o {
		return nil, pluginkit.Errorf(types.ErrInternal, "index %s belongs to %s, not %s", indexName(o), ix.Owner(), o)
	}
	return ix, nil
}

func (s *Store) readIndexFile(name string) (*Index, error) {
	b, err := os.ReadFile(filepath.Join(s.dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, pluginkit.Errorf(types.ErrIOFailure, "reading index %s: %w", name, err)
	}
	var ix Index
	if err := json.Unmarshal(b, &ix); err != nil {
		return nil, fmt.Errorf("decoding index %s: %w (%w)", name, errCorruptIndex, err)
	}
	return &ix, nil
}

// WriteIndex atomically writes ix (temp file, fsync, rename, directory
// fsync), so a reader sees the old index or the new one, never a torn one.
func (s *Store) WriteIndex(ix *Index) error {
	b, err := json.Marshal(ix)
	if err != nil {
		return pluginkit.Errorf(types.ErrInternal, "encoding index: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(s.dir, indexName(ix.Owner())), b, 0o644); err != nil {
		return pluginkit.Errorf(types.ErrIOFailure, "writing index of %s: %w", ix.Owner(), err)
	}
	return nil
}

// RemoveIndex deletes o's index; a missing one is fine.
func (s *Store) RemoveIndex(o Owner) error {
	return s.remove(indexName(o))
}

// releaseAll frees every address o holds, found by walking the store: the
// fallback when o's index is pending and may not list them all. It returns
// the addresses freed.
func (s *Store) releaseAll(o Owner) ([]netip.Addr, error) {
	c, err := s.Scan(true)
	if err != nil {
		return nil, err
	}
	var freed []netip.Addr
	var errs []error
	for a, got := range c.Reservations {
		if got != o {
			continue
		}
		if ok, err := s.Release(o, a); err != nil {
			errs = append(errs, err)
		} else if ok {
			freed = append(freed, a)
		}
	}
	return freed, errors.Join(errs...)
}

// release frees the addresses ix lists (each only if still owned by ix's
// attachment), or, for a pending index, every address the attachment holds;
// then it removes the index. The directory is synced at the end.
func (s *Store) release(ix *Index) error {
	o := ix.Owner()
	var errs []error
	if ix.State == StateReady {
		for _, a := range ix.IPs {
			if _, err := s.Release(o, a); err != nil {
				errs = append(errs, err)
			}
		}
	} else if _, err := s.releaseAll(o); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		// Keep the index so a retried DEL finds the rest.
		return errors.Join(errs...)
	}
	if err := s.RemoveIndex(o); err != nil {
		return err
	}
	return s.sync()
}
