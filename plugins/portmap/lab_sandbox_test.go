package portmap_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/plugins/pkg/ns"

	"github.com/weirnet/weir/chain"
	"github.com/weirnet/weir/internal/sandbox"
	"github.com/weirnet/weir/plugins/bridge"
	hostlocal "github.com/weirnet/weir/plugins/host-local"
	"github.com/weirnet/weir/plugins/pluginkit"
	"github.com/weirnet/weir/plugins/portmap"
)

// The "outside" host: a namespace linked to the sandbox's own by a veth,
// with its own subnets. The sandbox side (the host's address that ports are
// published on) is hostIP4/hostIP6.
const (
	hostIP4, outIP4 = "10.99.0.1", "10.99.0.2"
	hostIP6, outIP6 = "fd99::1", "fd99::2"
)

// sh runs a command in the namespace at nsPath ("" for the sandbox's own),
// failing the test when it fails.
func sh(t *testing.T, nsPath string, args ...string) string {
	t.Helper()
	if nsPath != "" {
		args = append([]string{"nsenter", "--net=" + nsPath}, args...)
	}
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// newOutside makes the outside host; its default routes lead to the sandbox.
func newOutside(t *testing.T) ns.NetNS {
	t.Helper()
	out := sandbox.NewNS(t)
	sandbox.Veth(t, "pmout", "eth0", out)
	sh(t, "", "ip", "addr", "add", hostIP4+"/24", "dev", "pmout")
	sh(t, "", "ip", "addr", "add", hostIP6+"/64", "dev", "pmout", "nodad")
	sh(t, out.Path(), "ip", "addr", "add", outIP4+"/24", "dev", "eth0")
	sh(t, out.Path(), "ip", "addr", "add", outIP6+"/64", "dev", "eth0", "nodad")
	sh(t, out.Path(), "ip", "route", "add", "default", "via", hostIP4)
	sh(t, out.Path(), "ip", "-6", "route", "add", "default", "via", hostIP6)
	// Like any host with NAT already in use, the sandbox tracks
	// connections before the first ADD (a netns without a nat table has
	// no conntrack hooks at all), so flows that predate a mapping exist.
	masq := []string{"POSTROUTING", "-o", "pmnowhere", "-j", "MASQUERADE"}
	sh(t, "", append([]string{"iptables", "-t", "nat", "-A"}, masq...)...)
	t.Cleanup(func() { _ = exec.Command("iptables", append([]string{"-t", "nat", "-D"}, masq...)...).Run() })
	return out
}

// lab is one dual-stack bridge network (bridge + host-local + portmap),
// every plugin in-process through the chain runner, as in weir's binary.
type lab struct {
	t        *testing.T
	ver      string
	name     string // network name
	runner   *chain.Runner
	exec     *pluginkit.Exec
	path     string // CNI_PATH
	stateDir string // portmap's
	ipamDir  string
	list     *libcni.NetworkConfigList
	bridge   string
	gw4, gw6 string
}

// newLab makes network number idx (its bridge pmbrIDX, subnets
// 10.66.IDX.0/24 and fd00:66:IDX::/64) for CNI version ver; portmapKeys are
// extra keys of the portmap plugin (",..." JSON). noIPAM leaves the bridge
// without addresses.
func newLab(t *testing.T, ver string, idx int, portmapKeys string, noIPAM bool) *lab {
	t.Helper()
	return newLabWith(t, ver, idx, "", portmapKeys, noIPAM)
}

// newLabWith is newLab with extra keys of the bridge plugin too.
func newLabWith(t *testing.T, ver string, idx int, bridgeKeys, portmapKeys string, noIPAM bool) *lab {
	t.Helper()
	if left := weirNat(t); len(left) > 0 {
		t.Fatalf("an earlier test left nat rules:\n%s", strings.Join(left, "\n"))
	}
	reg := pluginkit.Registry{"bridge": bridge.New(), "host-local": hostlocal.New(), "portmap": portmap.New()}
	dir, ex := sandbox.PluginDir(t, reg)
	state := t.TempDir()
	l := &lab{t: t, ver: ver, name: fmt.Sprintf("pmnet%d", idx), exec: ex, path: dir,
		stateDir: filepath.Join(state, "portmap"), ipamDir: filepath.Join(state, "ipam"),
		gw4: fmt.Sprintf("10.66.%d.1", idx), gw6: fmt.Sprintf("fd00:66:%d::1", idx)}
	l.runner = &chain.Runner{Exec: ex, Path: []string{dir}, StateDir: filepath.Join(state, "chain"), Timeout: 30 * time.Second}
	br := fmt.Sprintf("pmbr%d", idx)
	l.bridge = br
	sandbox.CleanupLink(t, br)
	// hairpinMode: with br_netfilter a hairpin connection is DNATed while
	// bridged and must leave by the port it came in through.
	ipam := fmt.Sprintf(`,"isDefaultGateway":true,"hairpinMode":true,"ipam":{"type":"host-local","dataDir":%q,
	   "ranges":[[{"subnet":"10.66.%d.0/24"}],[{"subnet":"fd00:66:%d::/64"}]]}`, l.ipamDir, idx, idx)
	if noIPAM {
		ipam = ""
	}
	conf := fmt.Sprintf(`{"cniVersion":%q,"name":%q,"plugins":[
	  {"type":"bridge","bridge":%q%s%s},
	  {"type":"portmap","capabilities":{"portMappings":true},"stateDir":%q%s}]}`,
		ver, l.name, br, ipam, bridgeKeys, l.stateDir, portmapKeys)
	list, err := libcni.ConfListFromBytes([]byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	l.list = list
	return l
}

// ctr is a container with a TCP server on port 80 that answers
// "<id> saw <peer address>" and a UDP echo server on port 53.
type ctr struct {
	id       string
	ns       ns.NetNS
	ip4, ip6 string
	res      *current.Result
}

// prepare makes a container's namespace and servers.
func (l *lab) prepare(id string) *ctr {
	l.t.Helper()
	c := &ctr{id: id, ns: sandbox.NewNS(l.t)}
	serve(l.t, c.ns, id)
	return c
}

// attach runs the network's ADD for c with port mappings.
func (l *lab) attach(c *ctr, pms ...chain.PortMapping) error {
	res, err := l.runner.Add(context.Background(), l.list, chain.Attachment{
		ContainerID: c.id, NetNS: c.ns.Path(), IfName: "eth0", CapabilityArgs: chain.PortMappingArgs(pms)})
	if err != nil {
		return err
	}
	// Detach before the namespace goes, whatever the test left attached.
	l.t.Cleanup(func() { _ = l.detach(c) })
	if c.res, err = current.NewResultFromResult(res); err != nil {
		return err
	}
	for _, ipc := range c.res.IPs {
		if ipc.Address.IP.To4() != nil {
			c.ip4 = ipc.Address.IP.String()
		} else {
			c.ip6 = ipc.Address.IP.String()
		}
	}
	return nil
}

func (l *lab) add(id string, pms ...chain.PortMapping) *ctr {
	l.t.Helper()
	c := l.prepare(id)
	if err := l.attach(c, pms...); err != nil {
		l.t.Fatalf("ADD of %s: %v", id, err)
	}
	l.waitLinkLocal()
	return c
}

// waitLinkLocal waits until the bridge's IPv6 link-local address has
// passed duplicate address detection. Until then the host cannot resolve a
// container's IPv6 neighbour for a packet it forwards (its solicitations
// need that source address), so the first forwarded IPv6 packets to a
// fresh bridge are lost: a property of the bridge, not of port mappings.
func (l *lab) waitLinkLocal() {
	l.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for strings.TrimSpace(sh(l.t, "", "ip", "-6", "addr", "show", "dev", l.bridge, "tentative")) != "" {
		if time.Now().After(deadline) {
			l.t.Fatalf("the link-local address of %s is still tentative", l.bridge)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (l *lab) detach(c *ctr) error {
	return l.runner.Del(context.Background(), l.name, chain.Attachment{ContainerID: c.id}, nil)
}

// portmapConf is the portmap plugin's own configuration (as a chain hands
// it over) with extra keys (",..." JSON).
func (l *lab) portmapConf(extra string) []byte {
	return []byte(fmt.Sprintf(`{"cniVersion":%q,"name":%q,"type":"portmap","stateDir":%q%s}`, l.ver, l.name, l.stateDir, extra))
}

// invoke runs the portmap plugin alone, as a runtime would.
func (l *lab) invoke(command, id string, conf []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return sandbox.Invoke(ctx, l.exec, sandbox.Call{Command: command, Type: "portmap", Path: l.path,
		ContainerID: id, NetNS: "/proc/self/ns/net", IfName: "eth0", Conf: conf})
}

// records returns the portmap records under the lab's state directory.
func (l *lab) records() []string {
	l.t.Helper()
	var out []string
	err := filepath.WalkDir(l.stateDir, func(p string, d os.DirEntry, err error) error {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".json") {
			out = append(out, strings.TrimPrefix(p, l.stateDir+"/"))
		}
		return err
	})
	if err != nil {
		l.t.Fatal(err)
	}
	return out
}

// leases returns the addresses host-local holds on the lab's network.
func (l *lab) leases() []string {
	entries, _ := os.ReadDir(filepath.Join(l.ipamDir, l.name))
	var out []string
	for _, e := range entries {
		if _, err := netip.ParseAddr(e.Name()); err == nil {
			out = append(out, e.Name())
		}
	}
	return out
}

// weirNat returns every line of both families' nat tables that names
// weir, and every ipset of weir's with its members.
func weirNat(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, tool := range []string{"iptables-save", "ip6tables-save"} {
		for _, l := range sandbox.SaveRules(t, tool, "nat") {
			if strings.Contains(strings.ToLower(l), "weir") {
				out = append(out, tool+": "+l)
			}
		}
	}
	for _, l := range ipsetSave(t) {
		if strings.Contains(l, " weir-") {
			out = append(out, "ipset: "+l)
		}
	}
	return out
}

// ipsetSave returns the lines of `ipset save`.
func ipsetSave(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("ipset", "save").CombinedOutput()
	if err != nil {
		t.Fatalf("ipset save: %v: %s", err, out)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

// members returns the members of portmap's set name that carry c's
// comment on network net, as `ipset save` prints them ("ADDR,tcp:80,ADDR").
func members(t *testing.T, set, network, id string) []string {
	t.Helper()
	comment := fmt.Sprintf(`comment "weir: net=%s id=%s if=eth0"`, network, id)
	var out []string
	for _, l := range ipsetSave(t) {
		if rest, ok := strings.CutPrefix(l, "add "+set+" "); ok && strings.HasSuffix(rest, " "+comment) {
			out = append(out, strings.TrimSuffix(rest, " "+comment))
		}
	}
	return out
}

// nat returns one family's nat table.
func nat(t *testing.T, v6 bool) sandbox.Rules {
	t.Helper()
	if v6 {
		return sandbox.SaveRules(t, "ip6tables-save", "nat")
	}
	return sandbox.SaveRules(t, "iptables-save", "nat")
}
