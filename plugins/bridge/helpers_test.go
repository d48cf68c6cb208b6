package bridge

import (
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"
	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/vishvananda/netlink"

	"github.com/weirnet/weir/internal/sandbox"
	"github.com/weirnet/weir/plugins/internal/ifcfg"
	"github.com/weirnet/weir/plugins/internal/masq"
)

// harness runs the bridge plugin in-process, as a runtime would, with the
// IPAM plugin found in the same CNI_PATH.
type harness struct {
	t *testing.T
	*sandbox.Runner
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	sandbox.Require(t)
	r := sandbox.NewRunner(t, "bridge", testRegistry())
	r.Path += testPathSuffix
	return &harness{t: t, Runner: r}
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
	sandbox.CleanupLink(h.t, bridge)
	return netOpts{name: name, bridge: bridge, subnet: subnet, dataDir: h.t.TempDir()}
}

func (h *harness) call(cmd string, conf []byte, id, netns, ifName string) ([]byte, error) {
	return h.Run(sandbox.Call{Command: cmd, ContainerID: id, NetNS: netns, IfName: ifName, Conf: conf})
}

// add runs ADD and returns the result as the current version, and the raw
// output.
func (h *harness) add(ver string, conf []byte, id, netns string) (*current.Result, []byte) {
	h.t.Helper()
	out, err := h.call("ADD", conf, id, netns, "eth0")
	if err != nil {
		h.t.Fatalf("ADD %s (version %s): %v", id, ver, err)
	}
	return sandbox.ParseResult(h.t, ver, out), out
}

func (h *harness) del(conf []byte, id, netns string) {
	h.t.Helper()
	if _, err := h.call("DEL", conf, id, netns, "eth0"); err != nil {
		h.t.Fatalf("DEL %s: %v", id, err)
	}
}

// check runs CHECK with prevResult set to the raw ADD output.
func (h *harness) check(conf, prev []byte, id, netns string) error {
	_, err := h.call("CHECK", sandbox.WithPrevResult(h.t, conf, prev), id, netns, "eth0")
	return err
}

// hostVeth is the host end name the plugin gives the attachment.
func hostVeth(network, id string) string {
	return ifcfg.HostLinkName("veth", network, id, "eth0")
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

// natRules returns the sandbox's nat table as tool (iptables-save or
// ip6tables-save) prints it.
func natRules(t *testing.T, tool string) sandbox.Rules {
	t.Helper()
	return sandbox.SaveRules(t, tool, "nat")
}

// masqMembers returns the addresses that masquerade sets hold for the
// attachment (interface eth0), as the ipset tool lists them.
func masqMembers(t *testing.T, network, id string) []string {
	t.Helper()
	out, err := exec.Command("ipset", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ipset list: %v: %s", err, out)
	}
	comment := fmt.Sprintf(" comment %q", masq.Attachment{Network: network, ContainerID: id, IfName: "eth0"}.Comment())
	var addrs []string
	set := ""
	for _, l := range strings.Split(string(out), "\n") {
		if name, ok := strings.CutPrefix(l, "Name: "); ok {
			set = name
		}
		if addr, ok := strings.CutSuffix(l, comment); ok && strings.HasPrefix(set, masq.SetPrefix) {
			addrs = append(addrs, addr)
		}
	}
	return addrs
}

// masqJump is the POSTROUTING rule, as iptables-save prints it, that
// masquerades the members of the group of addr (a CIDR) on network.
func masqJump(network, addr string) string {
	ip, n, _ := net.ParseCIDR(addr)
	n.IP = ip
	set, chain := masq.GroupNames(network, *n)
	return fmt.Sprintf(`-A POSTROUTING -m set --match-set %s src -m comment --comment "weir: net=%s masquerade" -j %s`, set, network, chain)
}

// masqOfNetwork reports whether the sandbox has any masquerade rule of
// network, in iptables or ip6tables.
func masqOfNetwork(t *testing.T, network string) bool {
	t.Helper()
	return natRules(t, "iptables-save").Has("weir: net="+network+" ") || natRules(t, "ip6tables-save").Has("weir: net="+network+" ")
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
