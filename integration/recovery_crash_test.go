package integration

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"

	"github.com/weirnet/weir/internal/sandbox"
	"github.com/weirnet/weir/policy/enforce"
)

// crashConflist is the chain of configs/net.d/10-dcos.toml — flannel (its
// bridge + host-local delegate), portmap, policy — with its own bridge and
// subnet, and every plugin's state under the test's state directory.
const crashConflist = `{"cniVersion":"1.1.0","name":"crashnet","plugins":[
  {"type":"flannel","subnetFile":"{{root}}/subnet.env","dataDir":"{{state}}/flannel",
   "delegate":{"bridge":"crash0","isDefaultGateway":true,"ipam":{"dataDir":"{{state}}/ipam"}}},
  {"type":"portmap","capabilities":{"portMappings":true},"stateDir":"{{state}}/portmap"},
  {"type":"policy","policyDir":"{{root}}/policies","stateDir":"{{state}}","defaultAction":"allow"}]}`

// What flanneld would have written: this host's lease is 10.123.7.0/24, its
// bridge (the containers' gateway) 10.123.7.1.
const (
	crashSubnetEnv = "FLANNEL_NETWORK=10.123.0.0/16\nFLANNEL_SUBNET=10.123.7.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n"
	crashGateway   = "10.123.7.1"
	crashBridge    = "crash0"
	crashNet       = "crashnet"
	crashIDPrefix  = "crash-"
)

// crashLabels are the demo's tiers; containers take them in turn, so the
// policy chains, selector ipsets and their members change with every attach.
var crashLabels = [][]string{{"app=web"}, {"app=db", "env=prod"}, {"app=cache"}, {"app=api"}}

// TestCrashRecovery is the project issue's crash test: `weir attach` on the
// flannel -> portmap -> policy chain, killed with SIGKILL at points spread
// over an attach's duration, each time followed by `weir recover`. Between
// the kills some attaches run to completion. After every recovery: every
// container weir reports is isolated, has the addresses its status says and
// pings its gateway; what the killed attach left is either gone entirely or
// (when it had completed) a working container; and the kernel and disk hold
// exactly the kept containers' addresses, veths, mounts, rules, ipset
// members and records. At the end every kept container is detached and the
// host is as it was before the first container. Temporary files of atomic
// writes a kill interrupted are listed in the log, not counted as leaks
// (see crashTemp). WEIR_CRASH_SEED replays a run's kill delays.
func TestCrashRecovery(t *testing.T) {
	bin := binDir(t)
	h := newCrashHost(t, bin)
	const iterations, keepEvery = 60, 6 // 50 killed attaches, 10 completed ones

	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("WEIR_CRASH_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	rng := rand.New(rand.NewPCG(seed, 0x5eed))

	// One attach's duration (exec to exit), median of three, also warming
	// the host up: the bridge and the policy engine's shared state exist
	// from here on, and the snapshot includes them.
	var runs []time.Duration
	for range 3 {
		pid := crashContainer(t)
		start := time.Now()
		if out, stderr, err := h.weir(h.attachArgs("crash-warm", pid, 0)...); err != nil {
			t.Fatalf("weir attach: %v\n%s%s", err, out, stderr)
		}
		runs = append(runs, time.Since(start))
		if _, stderr, err := h.weir("detach", "crash-warm"); err != nil {
			t.Fatalf("weir detach: %v\n%s", err, stderr)
		}
	}
	slices.Sort(runs)
	attachTime := runs[1]
	before := h.snapshot()
	if !strings.Contains(before, "link: "+crashBridge+"\n") {
		t.Fatalf("no bridge %s after the warm-up attach; snapshot:\n%s", crashBridge, before)
	}

	// Kill delays: one per killed attach, stratified over [0, 1.2 × the
	// attach's duration) so that every stretch of the attach is hit, in a
	// random order.
	var delays []time.Duration
	for i := range iterations {
		if i%keepEvery != keepEvery-1 {
			delays = append(delays, 0)
		}
	}
	for k, p := range rng.Perm(len(delays)) {
		delays[k] = time.Duration((float64(p) + rng.Float64()) / float64(len(delays)) * 1.2 * float64(attachTime))
	}
	t.Logf("seed %d (WEIR_CRASH_SEED), attach takes %v (runs %v), %d kills with delays up to %v",
		seed, attachTime, runs, len(delays), time.Duration(1.2*float64(attachTime)))

	kept := map[string]*crashKept{}
	left := map[string]int{} // what a kill left on disk, before recovery
	undone, cleaned := 0, 0  // what recovery reported
	crashes, keptKilled := 0, 0
	leaks, seen, nstrays := 0, map[string]bool{}, 0
	start := time.Now()
	for i := range iterations {
		id := fmt.Sprintf("%sc%02d", crashIDPrefix, i)
		pid := crashContainer(t)
		if i%keepEvery == keepEvery-1 {
			out, stderr, err := h.weir(append(h.attachArgs(id, pid, i), "--json")...)
			if err != nil {
				t.Fatalf("iteration %d: weir attach %s: %v\n%s%s", i, id, err, out, stderr)
			}
			kept[id] = &crashKept{pid: pid}
		} else {
			d := delays[crashes]
			crashes++
			completed := h.killedAttach(id, pid, i, d)
			what := h.leftover(id, completed)
			left[what]++
			rep := h.recover(fmt.Sprintf("iteration %d (%s killed at %v left %q)", i, id, d, what))
			undone += len(rep.Undone)
			cleaned += len(rep.Cleaned)
			st, ok := h.statuses()[id]
			switch {
			case ok && st.State != "isolated":
				// check reports the rest; detached at the end.
				leaks++
				t.Errorf("iteration %d: %s, left %q by the kill at %v, is %s after recovery", i, id, what, d, st.State)
				kept[id] = &crashKept{pid: pid}
			case ok:
				kept[id] = &crashKept{pid: pid}
				keptKilled++
			case completed:
				t.Fatalf("iteration %d: %s's attach completed before the kill (delay %v), but recovery dropped it", i, id, d)
			default:
				// Its own namespace lost the interface too.
				if addrs, err := crashAddrsInPID(pid); err == nil {
					leaks++
					t.Errorf("iteration %d: %s was dropped, but its process's namespace still has eth0 %v", i, id, addrs)
				}
			}
			t.Logf("iteration %2d: kill at %6.2f ms left %-26q → %s", i, float64(d)/1e6, what, map[bool]string{true: "kept", false: "undone"}[ok])
		}
		// A leak is reported once, when first seen; the loop goes on, so
		// that the report says whether later operations clear it.
		problems, strays := h.check(kept)
		for _, p := range strays {
			if !seen[p] {
				seen[p] = true
				nstrays++
				t.Logf("iteration %d (%s): the kill left a temporary file: %s", i, id, p)
			}
		}
		for _, p := range problems {
			if !seen[p] {
				seen[p] = true
				leaks++
				t.Errorf("iteration %d (%s): %s", i, id, p)
			}
		}
		if leaks > 20 {
			t.Fatalf("too many leaks; seed %d", seed)
		}
	}
	loop := time.Since(start)

	// Detach every kept container: nothing at all may be left.
	ids := make([]string, 0, len(kept))
	for id := range kept {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if _, stderr, err := h.weir("detach", id); err != nil {
			t.Fatalf("weir detach %s: %v\n%s", id, err, stderr)
		}
	}
	// CNI GC removes what plugins leaked (host-local's temporary files).
	if out, stderr, err := h.weir("gc"); err != nil {
		t.Fatalf("weir gc: %v\n%s%s", err, out, stderr)
	}
	if after := h.snapshot(); after != before {
		t.Errorf("the host after detaching every kept container differs from before the test:\n%s", crashDiff(before, after))
	}
	problems, strays := h.check(map[string]*crashKept{})
	if len(problems) > 0 {
		t.Errorf("after detaching every container: %s", strings.Join(problems, "\n"))
	}
	rep := h.recover("after detaching every container")
	if len(rep.Kept)+len(rep.Undone)+len(rep.Cleaned) != 0 {
		t.Errorf("recovery on a clean host did something: %+v", rep)
	}

	var lefts []string
	for k, n := range left {
		lefts = append(lefts, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(lefts)
	t.Logf("crashes %d, leaks %d, kept %d (%d completed attaches, %d killed after completing); recovery undid %d attaches, cleaned %d containers; kills left: %s; temporary files left by kills %d, of them left after detach and weir gc %d %v; loop %.1f s",
		crashes, leaks, len(kept), len(kept)-keptKilled, keptKilled, undone, cleaned, strings.Join(lefts, ", "), nstrays, len(strays), strays, loop.Seconds())
}

// crashKept is a container recovery must keep.
type crashKept struct{ pid int }

// crashHost is the test's host: directories under /run (the sandbox's
// tmpfs), the network and policy files, and the weir CLI over them.
type crashHost struct {
	t                      *testing.T
	bin, root, state, netd string
}

func newCrashHost(t *testing.T, bin string) *crashHost {
	t.Helper()
	root, err := os.MkdirTemp("/run", "weir-crash-")
	if err != nil {
		t.Fatal(err)
	}
	h := &crashHost{t: t, bin: bin, root: root, state: filepath.Join(root, "state"), netd: filepath.Join(root, "net.d")}
	policy, err := os.ReadFile(filepath.Join("..", "configs", "policies", "10-shop.toml"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, "policies", "10-shop.toml"), string(policy))
	writeFile(t, filepath.Join(root, "subnet.env"), crashSubnetEnv)
	r := strings.NewReplacer("{{root}}", root, "{{state}}", h.state)
	writeFile(t, filepath.Join(h.netd, "10-crashnet.conflist"), r.Replace(crashConflist))
	if err := os.MkdirAll(h.state, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// After a failure: take down whatever is left, best effort.
		ents, _ := os.ReadDir(filepath.Join(h.state, "containers"))
		for _, e := range ents {
			_, _, _ = h.weir("detach", e.Name())
		}
		_ = os.RemoveAll(root)
	})
	return h
}

// weir runs bin/weir with the host's directories.
func (h *crashHost) weir(args ...string) (string, string, error) {
	cmd := exec.Command(filepath.Join(h.bin, "weir"), append(args, h.flags()...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

func (h *crashHost) flags() []string {
	return []string{"--conf-dir", h.netd, "--plugin-dir", h.bin, "--state-dir", h.state, "--policy-dir", filepath.Join(h.root, "policies")}
}

// attachArgs attaches container id (its process pid) with the i-th tier's
// labels and its own published port.
func (h *crashHost) attachArgs(id string, pid, i int) []string {
	args := []string{"attach", id, "--pid", strconv.Itoa(pid), "--net", crashNet, "--publish", fmt.Sprintf("%d:80/tcp", 20000+i)}
	for _, l := range crashLabels[i%len(crashLabels)] {
		args = append(args, "--label", l)
	}
	return args
}

// killedAttach starts `weir attach` in a process group of its own, kills it
// with SIGKILL after delay and waits until every process of the group
// (iptables-restore or ipset children it left orphaned) has exited, as an
// agent restarting after a crash would find them. It reports whether the
// attach had completed (exit 0) before the kill.
func (h *crashHost) killedAttach(id string, pid, i int, delay time.Duration) bool {
	h.t.Helper()
	cmd := exec.Command(filepath.Join(h.bin, "weir"), append(h.attachArgs(id, pid, i), h.flags()...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	time.Sleep(delay)
	_ = cmd.Process.Signal(syscall.SIGKILL)
	err := cmd.Wait()
	pgid := cmd.Process.Pid
	if _, ok := waitFor(10*time.Second, func() bool { return errors.Is(syscall.Kill(-pgid, 0), syscall.ESRCH) }); !ok {
		h.t.Fatalf("processes of the killed attach %s (group %d) still run after 10 s", id, pgid)
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		h.t.Fatalf("waiting for weir attach %s: %v", id, err)
	}
	return err == nil
}

// leftover says what a killed attach left on disk, before recovery.
func (h *crashHost) leftover(id string, completed bool) string {
	h.t.Helper()
	dir := filepath.Join(h.state, "containers", id)
	exists := func(p string) bool { _, err := os.Stat(filepath.Join(dir, p)); return err == nil }
	switch {
	case completed:
		return "completed"
	case !exists(""):
		return "nothing"
	case !exists("config.json"):
		return "directory, no config"
	case !exists(filepath.Join(crashNet, "network.conf")) && !exists("ns"):
		return "prepared"
	case !exists(filepath.Join(crashNet, "network.conf")):
		return "netns pinned"
	}
	var rec struct {
		State string `json:"state"`
	}
	data, err := os.ReadFile(filepath.Join(dir, crashNet, "eth0", "network.info"))
	if err == nil {
		err = json.Unmarshal(data, &rec)
	}
	switch {
	case err != nil:
		return "network.conf, no record"
	case rec.State != "added":
		return "chain " + rec.State
	case !exists("hosts"):
		return "chain added, no files"
	case !exists("hostname") || !exists("resolv.conf"):
		return "files half written"
	}
	return "complete, killed at exit"
}

// crashRecoverReport is `weir recover --json`.
type crashRecoverReport struct {
	Kept    []containerStatus `json:"kept"`
	Undone  []string          `json:"undone"`
	Cleaned []string          `json:"cleaned"`
	Busy    []string          `json:"busy"`
	Errors  []string          `json:"errors"`
}

// recover runs `weir recover --json`, which must succeed with nothing busy.
func (h *crashHost) recover(when string) *crashRecoverReport {
	h.t.Helper()
	out, stderr, err := h.weir("recover", "--json")
	rep := &crashRecoverReport{}
	if jerr := json.Unmarshal([]byte(out), rep); err != nil || jerr != nil || len(rep.Errors) > 0 || len(rep.Busy) > 0 {
		h.t.Fatalf("%s: weir recover: %v %v\n%s%s", when, err, jerr, out, stderr)
	}
	return rep
}

// statuses returns `weir status --json` by container id.
func (h *crashHost) statuses() map[string]containerStatus {
	h.t.Helper()
	out, stderr, err := h.weir("status", "--json")
	if err != nil {
		h.t.Fatalf("weir status: %v\n%s", err, stderr)
	}
	var all []containerStatus
	if err := json.Unmarshal([]byte(out), &all); err != nil {
		h.t.Fatalf("weir status --json printed %q: %v", out, err)
	}
	m := map[string]containerStatus{}
	for _, st := range all {
		m[st.ContainerID] = st
	}
	return m
}

// check verifies the host holds exactly the kept containers, and that each
// of them works. It returns every problem found, and apart from them the
// temporary files killed writes left (see crashTemp).
func (h *crashHost) check(kept map[string]*crashKept) (problems, strays []string) {
	h.t.Helper()
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	want := slices.Sorted(func(yield func(string) bool) {
		for id := range kept {
			if !yield(id) {
				return
			}
		}
	})

	// Every container weir reports is isolated and works; they are the kept ones.
	sts := h.statuses()
	var ids []string
	ips := map[string]bool{}
	for id, st := range sts {
		ids = append(ids, id)
		if st.State != "isolated" {
			bad("container %s is %s", id, st.State)
		}
		got := st.ips()
		if len(got) != 1 || !strings.HasPrefix(got[0], "10.123.7.") {
			bad("container %s has addresses %v, want one in 10.123.7.0/24", id, got)
			continue
		}
		ips[got[0]] = true
		if want := filepath.Join(h.state, "containers", id, "ns"); st.NetNS != want {
			bad("container %s: netns %q, want %q", id, st.NetNS, want)
			continue
		}
		inside, err := crashAddrsIn(st.NetNS)
		if err != nil || !slices.Equal(inside, got) {
			bad("container %s: eth0 inside has %v (%v), its status says %v", id, inside, err, got)
		}
		if err := sandbox.Ping(st.NetNS, crashGateway); err != nil {
			bad("container %s cannot reach its gateway: %v", id, err)
		}
		for _, f := range []string{"hosts", "hostname", "resolv.conf"} {
			data, err := os.ReadFile(filepath.Join(h.state, "containers", id, f))
			if err != nil || (f == "hosts" && !strings.Contains(string(data), got[0]+" "+id+"\n")) {
				bad("container %s: its %s is missing or wrong: %v %q", id, f, err, data)
			}
		}
	}
	sort.Strings(ids)
	if !slices.Equal(ids, want) {
		bad("weir status reports containers %v, want the kept ones %v", ids, want)
	}
	wantIPs := slices.Sorted(func(yield func(string) bool) {
		for ip := range ips {
			if !yield(ip) {
				return
			}
		}
	})

	// host-local holds exactly the kept containers' addresses.
	var reserved []string
	attachments := 0
	ents, _ := os.ReadDir(filepath.Join(h.state, "ipam", crashNet))
	for _, e := range ents {
		if _, err := netip.ParseAddr(e.Name()); err == nil {
			reserved = append(reserved, e.Name())
		}
		if strings.HasPrefix(e.Name(), "attachment.") {
			attachments++
		}
	}
	sort.Strings(reserved)
	if !slices.Equal(reserved, wantIPs) {
		bad("host-local reserves %v, want the kept containers' %v", reserved, wantIPs)
	}
	if attachments != len(want) {
		bad("host-local has %d attachment index files, want %d", attachments, len(want))
	}

	// One veth on the bridge per kept container.
	out, err := exec.Command("ip", "-o", "link", "show", "master", crashBridge, "type", "veth").Output()
	if err != nil {
		bad("listing the veths on %s: %v", crashBridge, err)
	}
	if n := strings.Count(string(out), "\n"); n != len(want) {
		bad("%d veths on %s, want %d:\n%s", n, crashBridge, len(want), out)
	}

	// Mounts under the state dir: the kept containers' namespaces.
	mounts, wantMounts := crashMounts(h.t, h.root), []string{}
	for _, id := range want {
		wantMounts = append(wantMounts, filepath.Join(h.state, "containers", id, "ns"))
	}
	if !slices.Equal(mounts, wantMounts) && len(mounts)+len(wantMounts) > 0 {
		bad("mounts under %s: %v, want %v", h.root, mounts, wantMounts)
	}

	// Rules and ipset members name or hold only kept containers; every kept
	// container has its rules.
	ruleIDs := map[string]int{}
	for _, tool := range []string{"iptables-save", "ip6tables-save"} {
		out, err := exec.Command(tool).Output()
		if err != nil {
			bad("%s: %v", tool, err)
		}
		for _, m := range crashRuleID.FindAllStringSubmatch(string(out), -1) {
			if strings.HasPrefix(m[1], crashIDPrefix) {
				ruleIDs[m[1]]++
			}
		}
	}
	for id, n := range ruleIDs {
		if kept[id] == nil {
			bad("%d iptables rules name container %s, which is not kept", n, id)
		}
	}
	for _, id := range want {
		if ruleIDs[id] == 0 {
			bad("no iptables rules name kept container %s", id)
		}
	}
	for set, members := range crashIPSets(h.t) {
		var mine []string
		for _, m := range members {
			// A member's first part is its address (portmap's members
			// are ADDR,PROTO:PORT[,ADDR]).
			addr, _, _ := strings.Cut(m, ",")
			if strings.HasPrefix(addr, "10.123.") {
				mine = append(mine, addr)
				if !ips[addr] {
					bad("ipset %s holds %s, which no kept container has", set, m)
				}
			}
		}
		if set == "weir-eps4" && !slices.Equal(mine, wantIPs) {
			bad("ipset weir-eps4 holds %v, want the kept containers' %v", mine, wantIPs)
		}
	}

	// Records: the isolator's, flannel's, portmap's, the policy engine's,
	// and the locks; no temporary file of an interrupted write.
	recs := func(dir string, name func(id string) string) {
		var got, exp []string
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if !strings.HasPrefix(e.Name(), ".") {
				got = append(got, e.Name())
			}
		}
		for _, id := range want {
			exp = append(exp, name(id))
		}
		sort.Strings(got)
		sort.Strings(exp)
		if !slices.Equal(got, exp) {
			bad("%s holds %v, want %v", dir, got, exp)
		}
	}
	recs(filepath.Join(h.state, "containers"), func(id string) string { return id })
	recs(filepath.Join(h.state, "flannel", crashNet), func(id string) string { return id + "@eth0.json" })
	recs(filepath.Join(h.state, "portmap", crashNet), func(id string) string { return id + ":eth0.json" })
	idx, err := enforce.ReadIndexFile(filepath.Join(h.state, "policy", enforce.IndexFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		bad("reading the policy endpoints: %v", err)
	}
	var eps, wantEps []string
	for k := range idx {
		eps = append(eps, k)
	}
	for _, id := range want {
		wantEps = append(wantEps, crashNet+"/"+id+"/eth0")
	}
	sort.Strings(eps)
	if !slices.Equal(eps, wantEps) {
		bad("policy endpoints %v, want %v", eps, wantEps)
	}
	for _, dir := range []string{filepath.Join(h.state, "locks"), filepath.Join(h.state, "locks", "_isolator")} {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if !e.IsDir() && kept[e.Name()] == nil {
				bad("lock file %s of a container that is not kept", filepath.Join(dir, e.Name()))
			}
		}
	}
	_ = filepath.WalkDir(h.state, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && crashTemp.MatchString(d.Name()) {
			strays = append(strays, p)
		}
		return nil
	})
	return problems, strays
}

// crashTemp matches the temporary files of atomic writes (atomicfile's
// .NAME.tmp-N, host-local's .reserve-N): a process killed inside a write
// leaves one. They hold no address, rule or record.
var crashTemp = regexp.MustCompile(`^\.(.+\.tmp-|reserve-)[0-9]+$`)

// crashRuleID finds the container an iptables rule's comment names.
var crashRuleID = regexp.MustCompile(`id=([^ "]+)`)

// snapshot is everything weir may have made on this host, as text:
// links, weir's iptables and ip6tables lines, weir's ipsets with their
// members, mounts and files under the test's directories.
func (h *crashHost) snapshot() string {
	h.t.Helper()
	var b strings.Builder
	out, _ := exec.Command("ip", "-o", "link", "show").Output()
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(l); len(f) > 1 {
			name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
			b.WriteString("link: " + name + "\n")
		}
	}
	for _, tool := range []string{"iptables-save", "ip6tables-save"} {
		out, _ := exec.Command(tool).Output()
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(strings.ToLower(l), "weir") {
				b.WriteString(tool + ": " + l + "\n")
			}
		}
	}
	sets := crashIPSets(h.t)
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for s := range sets {
			if !yield(s) {
				return
			}
		}
	}) {
		b.WriteString("ipset: " + name + " " + strings.Join(sets[name], ",") + "\n")
	}
	for _, m := range crashMounts(h.t, h.root) {
		b.WriteString("mount: " + m + "\n")
	}
	_ = filepath.WalkDir(h.root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !crashTemp.MatchString(d.Name()) {
			b.WriteString("file: " + p + "\n")
		}
		return nil
	})
	return b.String()
}

// crashIPSets returns weir's ipsets and their members, sorted.
func crashIPSets(t *testing.T) map[string][]string {
	t.Helper()
	out, err := exec.Command("ipset", "list").Output()
	if err != nil {
		t.Fatalf("ipset list: %v", err)
	}
	sets := map[string][]string{}
	var name string
	members := false
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "Name: "):
			name, members = strings.TrimPrefix(l, "Name: "), false
			if strings.HasPrefix(name, "weir-") {
				sets[name] = []string{}
			}
		case strings.HasPrefix(l, "Members:"):
			members = true
		case members && l != "" && strings.HasPrefix(name, "weir-"):
			sets[name] = append(sets[name], strings.Fields(l)[0])
		}
	}
	for _, m := range sets {
		sort.Strings(m)
	}
	return sets
}

// crashMounts lists the mount points under dir.
func crashMounts(t *testing.T, dir string) []string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			out = append(out, f[4])
		}
	}
	sort.Strings(out)
	return out
}

// crashContainer starts a container's first process: sleep in a network
// namespace of its own, killed when the test ends.
func crashContainer(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("sleep", "600")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting a container process: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd.Process.Pid
}

// crashAddrsIn returns eth0's addresses (without prefix length) in the
// namespace at path.
func crashAddrsIn(path string) ([]string, error) {
	n, err := ns.GetNS(path)
	if err != nil {
		return nil, err
	}
	defer n.Close()
	addrs, err := sandbox.AddrsIn(n, "eth0")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, a := range addrs {
		out = append(out, strings.Split(a, "/")[0])
	}
	return out, nil
}

func crashAddrsInPID(pid int) ([]string, error) {
	return crashAddrsIn(fmt.Sprintf("/proc/%d/ns/net", pid))
}

// crashDiff lists the lines only in a and only in b.
func crashDiff(a, b string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			m[l] = true
		}
		return m
	}
	ma, mb := in(a), in(b)
	var out strings.Builder
	for _, l := range strings.Split(a, "\n") {
		if !mb[l] {
			out.WriteString("- " + l + "\n")
		}
	}
	for _, l := range strings.Split(b, "\n") {
		if !ma[l] {
			out.WriteString("+ " + l + "\n")
		}
	}
	return out.String()
}
