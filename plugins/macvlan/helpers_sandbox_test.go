package macvlan_test

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"

	"github.com/weirnet/weir/internal/sandbox"
	hostlocal "github.com/weirnet/weir/plugins/host-local"
	"github.com/weirnet/weir/plugins/macvlan"
	"github.com/weirnet/weir/plugins/pluginkit"
)

// harness runs plugins the way a runtime does: from a CNI_PATH, with
// weir's macvlan and host-local in-process.
type harness struct{ *sandbox.Runner }

func newHarness(t *testing.T) *harness {
	t.Helper()
	return &harness{sandbox.NewRunner(t, "macvlan", pluginkit.Registry{"macvlan": macvlan.New(), "host-local": hostlocal.New()})}
}

// newRefHarness runs weir's macvlan in-process with the reference
// host-local binary (in WEIR_REF_DIR, `make ref`) as IPAM: the exec path.
// Without WEIR_REF_DIR the test is skipped; a WEIR_REF_DIR without the
// binary fails it.
func newRefHarness(t *testing.T) *harness {
	t.Helper()
	dir := os.Getenv("WEIR_REF_DIR")
	if dir == "" {
		t.Skip("WEIR_REF_DIR is not set: run make ref (make test sets it)")
	}
	refHostLocal := filepath.Join(dir, "host-local")
	if _, err := os.Stat(refHostLocal); err != nil {
		t.Fatalf("reference host-local: %v", err)
	}
	r := sandbox.NewRunner(t, "macvlan", pluginkit.Registry{"macvlan": macvlan.New()})
	r.Path += ":" + filepath.Dir(refHostLocal)
	return &harness{r}
}

// call is one invocation's variable part.
type call struct {
	cmd, id, netns, ifName, cniArgs string
	conf                            []byte
}

func (h *harness) run(c call) ([]byte, error) {
	return h.Run(sandbox.Call{
		Command: c.cmd, ContainerID: c.id, NetNS: c.netns, IfName: c.ifName, Args: c.cniArgs, Conf: c.conf,
	})
}

// add runs ADD and returns the result converted to the current version.
func (h *harness) add(t *testing.T, ver string, c call) (*current.Result, []byte) {
	t.Helper()
	c.cmd = "ADD"
	out, err := h.run(c)
	if err != nil {
		t.Fatalf("ADD (%s) of %s: %v", ver, c.id, err)
	}
	return sandbox.ParseResult(t, ver, out), out
}

// newMaster makes a veth pair in the sandbox's root namespace, both ends
// up, and returns the end called name, to serve as a macvlan master.
func newMaster(t *testing.T, name string) netlink.Link {
	t.Helper()
	return sandbox.Veth(t, name, name+"p", nil)
}

// reserved lists the addresses host-local holds for network in dataDir.
func reserved(t *testing.T, dataDir, network string) []string {
	t.Helper()
	entries, err := os.ReadDir(dataDir + "/" + network)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var ips []string
	for _, e := range entries {
		if net.ParseIP(e.Name()) != nil {
			ips = append(ips, e.Name())
		}
	}
	sort.Strings(ips)
	return ips
}

// assertUndone checks what a failed ADD leaves: exactly the links
// wantLinks in the container n, and no address of network reserved in
// dataDir.
func assertUndone(t *testing.T, n ns.NetNS, dataDir, network string, wantLinks ...string) {
	t.Helper()
	if got := sandbox.LinkNames(t, n); !slices.Equal(got, wantLinks) {
		t.Errorf("container links after failed ADD = %v, want %v", got, wantLinks)
	}
	if got := reserved(t, dataDir, network); len(got) != 0 {
		t.Errorf("reserved after failed ADD = %v, want none", got)
	}
}

// conf builds a macvlan configuration with host-local IPAM.
func conf(ver, network, master, extra, subnet, dataDir string) []byte {
	m := ""
	if master != "" {
		m = fmt.Sprintf(`"master": %q,`, master)
	}
	return []byte(fmt.Sprintf(`{
	"cniVersion": %q, "name": %q, "type": "macvlan", %s %s
	"ipam": {"type": "host-local", "subnet": %q, "dataDir": %q, "routes": [{"dst": "0.0.0.0/0"}]}
}`, ver, network, m, extra, subnet, dataDir))
}

// cniCode returns the CNI error code of err (0 for a non-CNI error).
func cniCode(err error) uint {
	var e *types.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}
