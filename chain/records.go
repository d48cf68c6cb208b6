package chain

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"github.com/weirnet/weir/internal/atomicfile"
)

// Attachment states in a record.
const (
	// StateAdding is written before the first plugin's ADD runs: a crash
	// leaves it behind, and recovery undoes the attachment with a DEL.
	StateAdding = "adding"
	// StateAdded is written once every plugin's ADD succeeded.
	StateAdded = "added"
	// StateDeleting is written before the first plugin's DEL of a
	// completed attach runs: a crash leaves it behind, and recovery
	// finishes the DEL, since the attachment is no longer whole.
	StateDeleting = "deleting"
)

// Record is what weir keeps of one attachment (container, network): enough
// to replay DEL exactly as the ADD ran, even after the definition changed or
// was removed. It is stored in the Mesos layout:
// <state>/containers/<id>/<network>/network.conf holds the exact conflist
// bytes, and <state>/containers/<id>/<network>/<ifname>/network.info this
// record.
type Record struct {
	Network        string          `json:"network"`
	ContainerID    string          `json:"containerID"`
	IfName         string          `json:"ifName"`
	NetNS          string          `json:"netns"`
	State          string          `json:"state"`
	Args           [][2]string     `json:"args,omitempty"`
	CapabilityArgs map[string]any  `json:"capabilityArgs,omitempty"`
	ConfigArgs     map[string]any  `json:"configArgs,omitempty"`
	Result         json.RawMessage `json:"result,omitempty"`
	Updated        time.Time       `json:"updated"`

	// Config is the conflist the ADD ran with, from network.conf.
	Config []byte `json:"-"`
}

// Store reads and writes records under a state directory.
type Store struct {
	Dir string // the state directory, e.g. /run/weir
}

func (s Store) containerDir(id string) string { return filepath.Join(s.Dir, "containers", id) }

func (s Store) networkDir(id, network string) string {
	return filepath.Join(s.containerDir(id), network)
}

// Save writes rec atomically: network.conf (when rec.Config is set) before
// network.info, so a record never points at a config that is not there.
func (s Store) Save(rec *Record) error {
	dir := filepath.Join(s.networkDir(rec.ContainerID, rec.Network), rec.IfName)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating record directory %s: %w", dir, err)
	}
	if rec.Config != nil {
		if err := atomicfile.WriteFile(filepath.Join(s.networkDir(rec.ContainerID, rec.Network), "network.conf"), rec.Config, 0o600); err != nil {
			return fmt.Errorf("saving network config of %s/%s: %w", rec.ContainerID, rec.Network, err)
		}
	}
	rec.Updated = time.Now().UTC()
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding record of %s/%s: %w", rec.ContainerID, rec.Network, err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, "network.info"), data, 0o600); err != nil {
		return fmt.Errorf("saving record of %s/%s: %w", rec.ContainerID, rec.Network, err)
	}
	return nil
}

// ErrNoRecord is returned when a container has no record for a network.
var ErrNoRecord = errors.New("no record")

// Load returns the record of container id on network, with its config.
func (s Store) Load(id, network string) (*Record, error) {
	ndir := s.networkDir(id, network)
	entries, err := os.ReadDir(ndir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("container %s on network %s: %w", id, network, ErrNoRecord)
	}
	if err != nil {
		return nil, fmt.Errorf("reading records of %s/%s: %w", id, network, err)
	}
	conf, err := os.ReadFile(filepath.Join(ndir, "network.conf"))
	if errors.Is(err, fs.ErrNotExist) {
		// The process died in Save before network.conf: no plugin ran.
		return nil, fmt.Errorf("container %s on network %s: %w", id, network, ErrNoRecord)
	}
	if err != nil {
		return nil, fmt.Errorf("reading network config of %s/%s: %w", id, network, err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(ndir, e.Name(), "network.info"))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading record of %s/%s: %w", id, network, err)
		}
		rec := &Record{}
		if err := json.Unmarshal(data, rec); err != nil {
			return nil, fmt.Errorf("decoding record %s: %w", filepath.Join(ndir, e.Name(), "network.info"), err)
		}
		rec.Config = conf
		return rec, nil
	}
	// network.conf without network.info: the process died between the two
	// writes of Save, before any plugin ran. Nothing to undo but the files.
	return &Record{Network: network, ContainerID: id, State: StateAdding, Config: conf}, nil
}

// Delete removes the record of container id on network, and the container's
// directory when that was its last network.
func (s Store) Delete(id, network string) error {
	if err := os.RemoveAll(s.networkDir(id, network)); err != nil {
		return fmt.Errorf("removing record of %s/%s: %w", id, network, err)
	}
	left, err := s.Networks(id)
	if err != nil {
		return err
	}
	if len(left) == 0 {
		if err := os.Remove(s.containerDir(id)); err != nil && !errors.Is(err, fs.ErrNotExist) && !isNotEmpty(err) {
			return fmt.Errorf("removing container directory of %s: %w", id, err)
		}
	}
	return nil
}

func isNotEmpty(err error) bool {
	return errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST)
}

// Networks lists the networks container id has records for, sorted.
func (s Store) Networks(id string) ([]string, error) {
	entries, err := os.ReadDir(s.containerDir(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing networks of %s: %w", id, err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			if _, err := os.Stat(filepath.Join(s.containerDir(id), e.Name(), "network.conf")); err == nil {
				out = append(out, e.Name())
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// Containers lists the container ids that have a directory in the store.
func (s Store) Containers() ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(s.Dir, "containers"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing containers: %w", err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// All returns every record in the store.
func (s Store) All() ([]*Record, error) {
	ids, err := s.Containers()
	if err != nil {
		return nil, err
	}
	var out []*Record
	for _, id := range ids {
		nets, err := s.Networks(id)
		if err != nil {
			return nil, err
		}
		for _, n := range nets {
			rec, err := s.Load(id, n)
			if err != nil {
				return nil, err
			}
			out = append(out, rec)
		}
	}
	return out, nil
}
