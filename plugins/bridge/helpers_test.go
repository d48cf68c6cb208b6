package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"
	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/containernetworking/plugins/pkg/testutils"
	"github.com/vishvananda/netlink"

	"github.com/weirnet/weir/internal/sandbox"
	"github.com/weirnet/weir/plugins/internal/ifcfg"
	"github.com/weirnet/weir/plugins/internal/masq"
	"github.com/weirnet/weir/plugins/pluginkit"
)

// harness runs the bridge plugin in-process, as a runtime would, with the
// IPAM plugin found in the same CNI_PATH.
type harness struct {
	t    *testing.T
	path string
	exec *pluginkit.Exec
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	sandbox.Require(t)
	dir, ex := sandbox.PluginDir(t, testRegistry())
	return &harness{t: t, path: dir + testPathSuffix, exec: ex}
}

// netOpts describes one test network.
type netOpts struct {
	name, bridge string
	subnet       string // host-local subnet
	rangeStart   string // optional; rangeEnd defaults to rangeStart
	rangeEnd     string
	subnet6      string // optional second range (dual stack)
	extra        string // more top-level keys, each followed by a comma
	noIPAM       bool
	dataDir      string
}

// conf renders the network configuration for a CNI version.
func (o netOpts) conf(ver string) []byte {
	ipam := ""
	if !o.noIPAM {
		r := fmt.Sprintf(`{"subnet":%q`, o.subnet)
		if o.rangeStart != "" {
			end := o.rangeEnd
			if end == "" {
				end = o.rangeStart
			}
			r += fmt.Sprintf(`,"rangeStart":%q,"rangeEnd":%q`, o.rangeStart, end)
		}
		r += "}"
		ranges := "[" + r + "]"
		if o.subnet6 != "" {
			ranges += fmt.Sprintf(`,[{"subnet":%q}]`, o.subnet6)
		}
		ipam = fmt.Sprintf(`,"ipam":{"type":"host-local","dataDir":%q,"ranges":[%s]}`, o.dataDir, ranges)
	}
	return []byte(fmt.Sprintf(`{"cniVersion":%q,"name":%q,"type":"bridge",%s"bridge":%q%s}`, ver, o.name, o.extra, o.bridge, ipam))
}

// newNet returns options for a network with its own bridge, removed when
// the test ends, and its own IPAM store.
func (h *harness) newNet(name, bridge, subnet string) netOpts {
	h.t.Cleanup(func() { _ = deleteLinkByName(bridge) })
	return netOpts{name: name, bridge: bridge, subnet: subnet, dataDir: h.t.TempDir()}
}

func (h *harness) call(cmd string, conf []byte, id, netns, ifName string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return sandbox.Invoke(ctx, h.exec, sandbox.Call{
		Command: cmd, Type: "bridge", Path: h.path, ContainerID: id, NetNS: netns, IfName: ifName, Conf: conf,
	})
}

// add runs ADD and returns the result as the current version, and the raw
// output.
func (h *harness) add(ver string, conf []byte, id, netns string) (*current.Result, []byte) {
	h.t.Helper()
	out, err := h.call("ADD", conf, id, netns, "eth0")
	if err != nil {
		h.t.Fatalf("ADD %s (version %s): %v", id, ver, err)
	}
	return parseResult(h.t, ver, out), out
}

func parseResult(t *testing.T, ver string, out []byte) *current.Result {
	t.Helper()
	r, err := version.NewResult(ver, out)
	if err != nil {
		t.Fatalf("parsing %s result %s: %v", ver, out, err)
	}
	res, err := current.NewResultFromResult(r)
	if err != nil {
		t.Fatalf("converting result: %v", err)
	}
	return res
}

func (h *harness) del(conf []byte, id, netns string) {
	h.t.Helper()
	if _, err := h.call("DEL", conf, id, netns, "eth0"); err != nil {
		h.t.Fatalf("DEL %s: %v", id, err)
	}
}

// withKey returns conf with one more top-level key.
func withKey(t *testing.T, conf []byte, key string, value any) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(conf, &m); err != nil {
		t.Fatal(err)
	}
	m[key] = value
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// check runs CHECK with prevResult set to the raw ADD output.
func (h *harness) check(conf, prev []byte, id, netns string) error {
	_, err := h.call("CHECK", withKey(h.t, conf, "prevResult", json.RawMessage(prev)), id, netns, "eth0")
	return err
}

// hostVeth is the host end name the plugin gives the attachment.
func hostVeth(network, id string) string {
	return ifcfg.HostLinkName("veth", network, id, "eth0")
}

func linkExists(t *testing.T, name string) bool {
	t.Helper()
	_, err := netlinksafe.LinkByName(name)
	if err == nil {
		return true
	}
	var nf netlink.LinkNotFoundError
	if !errors.As(err, &nf) {
		t.Fatalf("looking up %s: %v", name, err)
	}
	return false
}

func mustLink(t *testing.T, name string) netlink.Link {
	t.Helper()
	l, err := netlinksafe.LinkByName(name)
	if err != nil {
		t.Fatalf("looking up %s: %v", name, err)
	}
	return l
}

// inNS runs fn inside the namespace at path.
func inNS(t *testing.T, path string, fn func() error) {
	t.Helper()
	if err := ifcfg.InNetNS(path, fn); err != nil {
		t.Fatal(err)
	}
}

// nsLinkExists reports whether name exists in the namespace at path.
func nsLinkExists(t *testing.T, path, name string) bool {
	t.Helper()
	var ok bool
	inNS(t, path, func() error { ok = linkExists(t, name); return nil })
	return ok
}

// addrsOf returns the global addresses of name in the namespace at path
// ("" = the sandbox's own), as CIDR strings.
func addrsOf(t *testing.T, path, name string) []string {
	t.Helper()
	var out []string
	get := func() error {
		l, err := netlinksafe.LinkByName(name)
		if err != nil {
			return err
		}
		addrs, err := netlinksafe.AddrList(l, netlink.FAMILY_ALL)
		if err != nil {
			return err
		}
		for _, a := range addrs {
			if !a.IP.IsLinkLocalUnicast() {
				out = append(out, a.IPNet.String())
			}
		}
		return nil
	}
	if path == "" {
		if err := get(); err != nil {
			t.Fatal(err)
		}
	} else {
		inNS(t, path, get)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// natRules returns the rule lines of the sandbox's nat table.
func natRules(t *testing.T, tool string) string {
	t.Helper()
	out, err := exec.Command(tool, "-t", "nat").CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %s", tool, err, out)
	}
	return string(out)
}

// masqChain is the chain the plugin makes for the attachment.
func masqChain(network, id string) string {
	return masq.Attachment{Network: network, ContainerID: id, IfName: "eth0"}.Chain()
}

// deleteNS removes a test namespace now, before its cleanup would.
func deleteNS(t *testing.T, n ns.NetNS) {
	t.Helper()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := testutils.UnmountNS(n); err != nil {
		t.Fatal(err)
	}
}

// cniError returns err's CNI error.
func cniError(t *testing.T, err error) *types.Error {
	t.Helper()
	var e *types.Error
	if !errors.As(err, &e) {
		t.Fatalf("not a CNI error: %v", err)
	}
	return e
}

// atLeast reports whether ver is ver or later than min.
func atLeast(ver, min string) bool {
	ok, _ := version.GreaterThanOrEqualTo(ver, min)
	return ok
}
