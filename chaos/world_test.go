package chaos

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/weirnet/weir/internal/netns"
	"github.com/weirnet/weir/internal/sandbox"
)

// netDef is one of the networks every world defines.
type netDef struct {
	Name    string
	File    string
	Bridge  string // "" for the macvlan network
	Subnet  netip.Prefix
	Gateway netip.Addr
	Masq    bool // the bridge masquerades (a weir-nat- set member per container address)
	Portmap bool // the chain publishes ports
}

// The worlds' networks: two bridges with host-side policy (one written in
// TOML) and a macvlan network with policy inside each container's
// namespace. The macvlan master is a veth whose other end is unused; the
// gateway is a host macvlan on the same master, which containers' macvlans
// in bridge mode reach.
var networks = []*netDef{
	{Name: "chaos", File: "10-chaos.conflist", Bridge: "chaos0", Subnet: netip.MustParsePrefix("10.77.0.0/22"), Gateway: netip.MustParseAddr("10.77.0.1"), Masq: true, Portmap: true},
	{Name: "chaos2", File: "20-chaos2.toml", Bridge: "chaos1", Subnet: netip.MustParsePrefix("10.78.0.0/22"), Gateway: netip.MustParseAddr("10.78.0.1")},
	{Name: "lan", File: "30-lan.conflist", Subnet: netip.MustParsePrefix("172.31.77.0/24"), Gateway: netip.MustParseAddr("172.31.77.1")},
}

const (
	lanMaster = "chaosm0"
	lanPeer   = "chaosm1"
	lanGW     = "chaosgw"
)

// fixtureLinks are the host links a world makes itself.
var fixtureLinks = map[string]bool{"lo": true, lanMaster: true, lanPeer: true, lanGW: true}

// netByName returns the world's network called name, or nil.
func (w *world) netByName(name string) *netDef {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, n := range w.nets {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// networks returns the world's networks.
func (w *world) networks() []*netDef {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]*netDef(nil), w.nets...)
}

// addNet makes a network the test defined itself known to the checker.
func (w *world) addNet(n *netDef) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.nets = append(w.nets, n)
}

const chaosConflist = `{"cniVersion":"1.1.0","name":"chaos","plugins":[
 {"type":"bridge","bridge":"chaos0","isGateway":true,"ipMasq":true,
  "ipam":{"type":"host-local","subnet":"10.77.0.0/22","dataDir":"{{state}}/ipam"}},
 {"type":"portmap","capabilities":{"portMappings":true},"stateDir":"{{state}}/portmap"},
 {"type":"policy","policyDir":"{{pol}}","stateDir":"{{state}}"}]}
`

const chaos2TOML = `# The second bridge network, in TOML.
cniVersion = "1.1.0"
name = "chaos2"

[[plugins]]
type = "bridge"
bridge = "chaos1"
isGateway = true
  [plugins.ipam]
  type = "host-local"
  subnet = "10.78.0.0/22"
  dataDir = "{{state}}/ipam"

[[plugins]]
type = "policy"
policyDir = "{{pol}}"
stateDir = "{{state}}"
`

const lanConflist = `{"cniVersion":"1.1.0","name":"lan","plugins":[
 {"type":"macvlan","master":"chaosm0","mode":"bridge",
  "ipam":{"type":"host-local","subnet":"172.31.77.0/24","rangeStart":"172.31.77.10","rangeEnd":"172.31.77.250","dataDir":"{{state}}/ipam"}},
 {"type":"policy","policyDir":"{{pol}}","stateDir":"{{state}}"}]}
`

// world is one test's weir installation inside the sandbox: definitions,
// policies and state under a directory in the sandbox's private /run.
type world struct {
	bin   string // WEIR_BIN_DIR
	base  string // everything of this world lives under it
	conf  string // --conf-dir
	pol   string // --policy-dir
	state string // --state-dir
	nsdir string // namespaces the test makes for containers
	extra string // plugins of the test's own (fault plugins), after bin in --plugin-dir

	nets      []*netDef
	hostNSIno uint64 // the sandbox's network namespace
	baseline  snapshot

	mu        sync.Mutex
	procs     map[int]*exec.Cmd // container processes still running
	seq       int
	lockLeaks []string // lock files the fault test found left behind
}

// newWorld makes a world, attaches and detaches one container on every
// network so that the bridges and the stores exist, and takes the
// baseline every test must return to.
func newWorld(t *testing.T) *world {
	t.Helper()
	sandbox.Require(t)
	bin := os.Getenv("WEIR_BIN_DIR")
	if bin == "" {
		t.Skip("WEIR_BIN_DIR is not set: run through `make test` or `make chaos`")
	}
	if _, err := os.Stat(filepath.Join(bin, "weir")); err != nil {
		t.Fatalf("weir binary missing in WEIR_BIN_DIR: %v", err)
	}
	tally.ran.Store(t.Name(), true)
	base, err := os.MkdirTemp("/run", "chaos-")
	if err != nil {
		t.Fatal(err)
	}
	w := &world{bin: bin, base: base, conf: filepath.Join(base, "net.d"), pol: filepath.Join(base, "policies"),
		state: filepath.Join(base, "state"), nsdir: filepath.Join(base, "netns"), extra: filepath.Join(base, "plugins"),
		procs: map[int]*exec.Cmd{}, nets: append([]*netDef(nil), networks...)}
	for _, d := range []string{w.conf, w.pol, w.state, w.nsdir, w.extra} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The thread's namespace, not /proc/self's: a goroutine that made a
	// namespace on the main thread leaves that thread in it for good.
	ino, _, err := netnsID("")
	if err != nil {
		t.Fatal(err)
	}
	w.hostNSIno = ino
	t.Cleanup(func() { w.destroy(t) })
	w.writeNetworks(t)
	writeFile(t, filepath.Join(w.pol, "10-base.toml"), basePolicy)
	sh(t, "ip link add "+lanMaster+" type veth peer name "+lanPeer)
	sh(t, "ip link set "+lanMaster+" up")
	sh(t, "ip link set "+lanPeer+" up")
	sh(t, "ip link add "+lanGW+" link "+lanMaster+" type macvlan mode bridge")
	sh(t, "ip addr add 172.31.77.1/24 dev "+lanGW)
	sh(t, "ip link set "+lanGW+" up")
	w.warmUp(t)
	return w
}

// warmUp attaches one container to every network and detaches it, then
// takes the baseline.
func (w *world) warmUp(t *testing.T) {
	t.Helper()
	c := w.newContainer(t, "warmup", []string{"chaos", "chaos2", "lan"}, false)
	c.labels = map[string]string{"app": "web"}
	c.ports = []string{"18080:80"}
	if r := w.attach(context.Background(), c); r.err != nil {
		t.Fatalf("warm-up attach: %v\n%s", r.err, r.stderr)
	}
	if r := w.detach(context.Background(), c); r.err != nil {
		t.Fatalf("warm-up detach: %v\n%s", r.err, r.stderr)
	}
	w.release(c)
	w.baseline = w.snapshot(t)
}

func (w *world) writeNetworks(t *testing.T) {
	t.Helper()
	r := strings.NewReplacer("{{state}}", w.state, "{{pol}}", w.pol)
	writeFile(t, filepath.Join(w.conf, "10-chaos.conflist"), r.Replace(chaosConflist))
	writeFile(t, filepath.Join(w.conf, "20-chaos2.toml"), r.Replace(chaos2TOML))
	writeFile(t, filepath.Join(w.conf, "30-lan.conflist"), r.Replace(lanConflist))
}

// destroy removes everything the world made, whatever state it is in.
func (w *world) destroy(t *testing.T) {
	w.scrub(t)
	for _, n := range w.networks() {
		if n.Bridge != "" {
			_ = exec.Command("ip", "link", "del", n.Bridge).Run()
		}
	}
	for _, l := range []string{lanGW, lanMaster} {
		_ = exec.Command("ip", "link", "del", l).Run()
	}
	_ = os.RemoveAll(w.base)
}

// scrub brings the host back to no weir state at all, by force: it is how
// a test goes on after an invariant failed (and how it ends).
func (w *world) scrub(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ids, _ := os.ReadDir(filepath.Join(w.state, "containers"))
	for _, e := range ids {
		_ = w.weir(ctx, "detach", e.Name())
	}
	w.mu.Lock()
	for pid, p := range w.procs {
		_ = p.Process.Kill()
		_ = p.Wait()
		delete(w.procs, pid)
	}
	w.mu.Unlock()
	for _, m := range mountsUnder(w.base) {
		_ = syscall.Unmount(m, syscall.MNT_DETACH)
	}
	if out, err := exec.Command("ip", "-o", "link", "show", "type", "veth").Output(); err == nil {
		for _, l := range strings.Split(string(out), "\n") {
			f := strings.Fields(l)
			if len(f) < 2 {
				continue
			}
			name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
			if !fixtureLinks[name] {
				_ = exec.Command("ip", "link", "del", name).Run()
			}
		}
	}
	for _, tool := range []string{"iptables", "ip6tables"} {
		out, _ := exec.Command(tool + "-save").Output()
		if clean := withoutWeir(string(out)); clean != string(out) {
			cmd := exec.Command(tool + "-restore")
			cmd.Stdin = strings.NewReader(clean)
			if o, err := cmd.CombinedOutput(); err != nil {
				t.Logf("scrub: %s-restore: %v %s", tool, err, o)
			}
		}
	}
	if out, err := exec.Command("ipset", "list", "-n").Output(); err == nil {
		for _, s := range strings.Fields(string(out)) {
			if strings.HasPrefix(s, "weir-") {
				_ = exec.Command("ipset", "destroy", s).Run()
			}
		}
	}
	_ = os.RemoveAll(w.state)
	_ = os.MkdirAll(w.state, 0o755)
	ents, _ := os.ReadDir(w.nsdir)
	for _, e := range ents {
		_ = os.Remove(filepath.Join(w.nsdir, e.Name()))
	}
}

// reset scrubs the host and takes a new baseline, after a violation.
func (w *world) reset(t *testing.T) {
	t.Helper()
	w.scrub(t)
	w.warmUp(t)
}

// withoutWeir drops weir's chains and rules from an iptables-save dump.
func withoutWeir(save string) string {
	var b strings.Builder
	for _, l := range strings.Split(save, "\n") {
		if strings.Contains(l, "WEIR-") || strings.Contains(l, "weir-") {
			continue
		}
		b.WriteString(l + "\n")
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// flags are the common flags for every weir command of this world.
func (w *world) flags() []string {
	return []string{"--conf-dir", w.conf, "--plugin-dir", w.bin + ":" + w.extra, "--state-dir", w.state, "--policy-dir", w.pol}
}

// result is one finished weir command.
type result struct {
	stdout, stderr string
	code           int // exit code; -1 when killed by a signal
	err            error
	took           time.Duration
}

func (r result) String() string {
	return fmt.Sprintf("exit %d (%v): %s%s", r.code, r.err, r.stdout, r.stderr)
}

// weir runs bin/weir with args and the world's flags.
func (w *world) weir(ctx context.Context, args ...string) result {
	return w.weirEnv(ctx, nil, args...)
}

func (w *world) weirEnv(ctx context.Context, env []string, args ...string) result {
	cctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, filepath.Join(w.bin, "weir"), append(args, w.flags()...)...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String(), err: err, took: time.Since(start)}
	r.code = exitCode(err)
	return r
}

func exitCode(err error) int {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	default:
		return -2
	}
}

// container is a container as the test knows it.
type container struct {
	id     string
	nets   []string          // networks in order: eth0, eth1, ...
	labels map[string]string // --label
	ports  []string          // --publish, on the first network
	viaNet bool              // attached with weir net add|del (one network, no isolator)
	nsPath string            // the namespace the test made for it ("" for a process)
	proc   *exec.Cmd         // its first process, when attached by --pid
}

// ns is the path of the namespace its interfaces live in.
func (c *container) ns() string {
	if c.proc != nil {
		return fmt.Sprintf("/proc/%d/ns/net", c.proc.Process.Pid)
	}
	return c.nsPath
}

// newContainer makes a container's namespace: a process of its own (as a
// containerizer would start it) when withProc, else a pinned namespace.
func (w *world) newContainer(t testing.TB, id string, nets []string, withProc bool) *container {
	c := &container{id: id, nets: nets}
	if withProc {
		cmd := exec.Command("sleep", "100000")
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting the first process of %s: %v", id, err)
		}
		w.mu.Lock()
		w.procs[cmd.Process.Pid] = cmd
		w.mu.Unlock()
		c.proc = cmd
		return c
	}
	c.nsPath = filepath.Join(w.nsdir, id)
	if err := netns.Create(c.nsPath); err != nil {
		t.Fatalf("making the namespace of %s: %v", id, err)
	}
	return c
}

// release frees the container's namespace or process, once weir is done
// with it.
func (w *world) release(c *container) {
	if c.proc != nil {
		_ = c.proc.Process.Kill()
		_ = c.proc.Wait()
		w.mu.Lock()
		delete(w.procs, c.proc.Process.Pid)
		w.mu.Unlock()
		c.proc = nil
	}
	if c.nsPath != "" {
		_ = netns.Remove(c.nsPath)
		c.nsPath = ""
	}
}

// uniqueID returns a fresh container id with prefix.
func (w *world) uniqueID(prefix string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seq++
	return prefix + strconv.Itoa(w.seq)
}

func labelArgs(labels map[string]string) []string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []string
	for _, k := range keys {
		out = append(out, "--label", k+"="+labels[k])
	}
	return out
}

// attachArgs is the weir command line that attaches c.
func (c *container) attachArgs() []string {
	if c.viaNet {
		return append([]string{"net", "add", c.nets[0], c.id, c.nsPath}, labelArgs(c.labels)...)
	}
	args := []string{"attach", c.id}
	if c.proc != nil {
		args = append(args, "--pid", strconv.Itoa(c.proc.Process.Pid))
	} else {
		args = append(args, "--netns", c.nsPath)
	}
	for _, n := range c.nets {
		args = append(args, "--net", n)
	}
	args = append(args, labelArgs(c.labels)...)
	for _, p := range c.ports {
		args = append(args, "--publish", p)
	}
	return args
}

// detachArgs is the weir command line that detaches c.
func (c *container) detachArgs() []string {
	if c.viaNet {
		return []string{"net", "del", c.nets[0], c.id, c.nsPath}
	}
	return []string{"detach", c.id}
}

func (w *world) attach(ctx context.Context, c *container) result {
	return w.weir(ctx, c.attachArgs()...)
}

func (w *world) detach(ctx context.Context, c *container) result {
	return w.weir(ctx, c.detachArgs()...)
}

// sh runs a shell command of the test's own set-up.
func sh(t testing.TB, cmd string) {
	t.Helper()
	if out, err := exec.Command("sh", "-c", cmd).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, out)
	}
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeAtomic replaces a file as an editor or a config tool would.
func writeAtomic(path, content string) error {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".edit")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// mountsUnder lists the mount points under dir, deepest first.
func mountsUnder(dir string) []string {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		if len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			out = append(out, f[4])
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(out)))
	return out
}
