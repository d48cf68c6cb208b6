package chaos

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/weirnet/weir/chain"
)

// seed returns the random seed (WEIR_CHAOS_SEED, else the clock) and logs
// it, so that a failing run can be replayed.
func seed(t *testing.T) uint64 {
	s := uint64(time.Now().UnixNano())
	if v := os.Getenv("WEIR_CHAOS_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("WEIR_CHAOS_SEED=%q: %v", v, err)
		}
		s = n
	}
	t.Logf("seed %d (replay with WEIR_CHAOS_SEED=%d)", s, s)
	return s
}

// killed is a weir command that was started and then sent SIGKILL.
type killed struct {
	args    []string
	delay   time.Duration
	group   bool // the whole process group was killed, not just weir
	crashed bool // the signal landed before weir exited
	out     string
}

// killAfter starts weir with args and kills it after delay: the process
// alone, or its whole process group (as a service manager stopping a
// cgroup would). It waits until no process of the group is left (an
// orphaned iptables-restore finishes), as an agent restarting later would
// find.
func (w *world) killAfter(args []string, delay time.Duration, group bool) killed {
	k := killed{args: args, delay: delay, group: group}
	cmd := exec.Command(filepath.Join(w.bin, "weir"), append(slices.Clone(args), w.flags()...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		k.out = err.Error()
		return k
	}
	time.Sleep(delay)
	pid := cmd.Process.Pid
	if group {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	} else {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			k.crashed = true
		}
	}
	k.out = out.String()
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if syscall.Kill(-pid, 0) != nil {
			break
		}
	}
	return k
}

// crashOps are the commands the crash test kills.
var crashOps = []string{"attach", "detach", "policy", "netadd", "netdel"}

// crashTest is the state of TestCrash.
type crashTest struct {
	t      *testing.T
	w      *world
	rng    *rand.Rand
	ctx    context.Context
	stable []*container // attached before the first crash; every recovery keeps them
	pool   []*container // attached since, to be detached (or net del'd) by a crash
	took   map[string]time.Duration
	port   int
}

// TestCrash kills weir at random moments of attach, detach, policy apply,
// net add and net del (size(15, 120) times, each with SIGKILL), then runs
// what an agent and a runtime would — weir recover, the runtime's DEL or
// detach retried, the operator's policy apply — and checks every
// invariant after each step: nothing leaked, nothing held twice, every
// container weir keeps reachable, and the stable containers untouched.
func TestCrash(t *testing.T) {
	w := newWorld(t)
	ct := &crashTest{t: t, w: w, rng: rand.New(rand.NewPCG(seed(t), 1)), ctx: context.Background(),
		took: map[string]time.Duration{"attach": 150 * time.Millisecond, "detach": 150 * time.Millisecond,
			"policy": 60 * time.Millisecond, "netadd": 100 * time.Millisecond, "netdel": 80 * time.Millisecond},
		port: 21000}
	ct.setUp()
	target := size(15, 120)
	crashes := 0
	for iter := 0; crashes < target && iter < 6*target; iter++ {
		op := crashOps[ct.rng.IntN(len(crashOps))]
		if ct.step(op) {
			crashes++
		}
	}
	if crashes < target {
		t.Errorf("only %d of %d kills landed before weir exited", crashes, target)
	}
	ct.tearDown()
}

func (ct *crashTest) setUp() {
	w, t := ct.w, ct.t
	a := w.newContainer(t, w.uniqueID("stable-a"), []string{"chaos", "lan"}, true)
	a.labels = map[string]string{"app": "db", "env": "prod"}
	a.ports = []string{"18090:5432"}
	b := w.newContainer(t, w.uniqueID("stable-b"), []string{"chaos2", "chaos"}, false)
	b.labels = map[string]string{"app": "web"}
	n := w.newContainer(t, w.uniqueID("stable-n"), []string{"lan"}, false)
	n.viaNet, n.labels = true, map[string]string{"app": "cache"}
	ct.stable = []*container{a, b, n}
	for _, c := range ct.stable {
		if r := w.attach(ct.ctx, c); r.err != nil {
			t.Fatalf("attaching %s: %s", c.id, r)
		}
	}
	ct.pool = nil
	if v := w.check(t, expect{attached: ct.stable}); len(v) > 0 {
		t.Fatalf("violations before the first crash:\n%s", list(v))
	}
}

func (ct *crashTest) tearDown() {
	w, t := ct.w, ct.t
	all := append(slices.Clone(ct.stable), ct.pool...)
	for _, c := range all {
		if r := w.detach(ct.ctx, c); r.err != nil {
			t.Errorf("detaching %s at the end: %s", c.id, r)
		}
	}
	if v := w.check(t, expect{gone: all}); len(v) > 0 {
		t.Errorf("after detaching everything:\n%s", list(v))
	}
	for _, c := range all {
		w.release(c)
	}
	if d := w.baseline.diff(w.snapshot(t), true); d != "" {
		t.Errorf("the host differs from the baseline after the crash test:\n%s", d)
	}
}

// delay picks when to kill op: anywhere in its usual run time and a bit
// past it.
func (ct *crashTest) delay(op string) time.Duration {
	d := ct.took[op]
	return time.Duration(ct.rng.Int64N(int64(d)*13/10 + 1))
}

// sample records how long an uninterrupted op took.
func (ct *crashTest) sample(op string, r result) {
	if r.err == nil && r.took > 0 {
		ct.took[op] = (3*ct.took[op] + r.took) / 4
	}
}

// fresh makes a container that is not attached yet.
func (ct *crashTest) fresh(viaNet bool) *container {
	w := ct.w
	pick := slices.Clone([]string{"chaos", "chaos2", "lan"})
	ct.rng.Shuffle(len(pick), func(i, j int) { pick[i], pick[j] = pick[j], pick[i] })
	n := 1 + ct.rng.IntN(3)
	if viaNet {
		n = 1
	}
	c := w.newContainer(ct.t, w.uniqueID("c"), pick[:n], !viaNet && ct.rng.IntN(2) == 0)
	c.viaNet = viaNet
	c.labels = randomLabels(ct.rng)
	if !viaNet && ct.rng.IntN(2) == 0 {
		ct.port++
		c.ports = []string{fmt.Sprintf("%d:80", ct.port)}
	}
	return c
}

// attached returns a container of the pool attached the given way,
// attaching a fresh one (uninterrupted) when there is none.
func (ct *crashTest) attached(viaNet bool) *container {
	for i, c := range ct.pool {
		if c.viaNet == viaNet {
			ct.pool = append(ct.pool[:i], ct.pool[i+1:]...)
			return c
		}
	}
	c := ct.fresh(viaNet)
	op := "attach"
	if viaNet {
		op = "netadd"
	}
	r := ct.w.attach(ct.ctx, c)
	if r.err != nil {
		ct.t.Fatalf("attaching %s: %s", c.id, r)
	}
	ct.sample(op, r)
	return c
}

// step kills one op and recovers; it reports whether the kill landed.
func (ct *crashTest) step(op string) bool {
	w := ct.w
	var c *container
	var args []string
	switch op {
	case "attach":
		c = ct.fresh(false)
		args = c.attachArgs()
	case "netadd":
		c = ct.fresh(true)
		args = c.attachArgs()
	case "detach":
		c = ct.attached(false)
		args = c.detachArgs()
	case "netdel":
		c = ct.attached(true)
		args = c.detachArgs()
	case "policy":
		if err := writeAtomic(filepath.Join(w.pol, "20-chaos.toml"), randomPolicy(ct.rng, "crash")); err != nil {
			ct.t.Fatal(err)
		}
		args = []string{"policy", "apply"}
	}
	var before string
	if c != nil && (op == "detach" || op == "netdel") {
		before = ct.stage(op, c)
	}
	k := w.killAfter(args, ct.delay(op), ct.rng.IntN(2) == 0)
	stage := "completed"
	if k.crashed {
		tally.crashes.Add(1)
		stage = "killed"
		if c != nil {
			stage = ct.stage(op, c)
		}
		if before != "" && stage == before {
			stage = "untouched"
		}
		countCrashPoint(op, stage)
	}
	what := fmt.Sprintf("%s killed after %v (%s, group %v)", strings.Join(args, " "), k.delay, stage, k.group)
	st := &stepReport{ct: ct, what: what}
	defer st.finish()

	// The agent restarts: weir recover.
	if r := w.weir(ct.ctx, "recover"); r.err != nil {
		st.fail("weir recover: " + r.String())
		return k.crashed
	}
	var exp expect
	exp.attached = append(slices.Clone(ct.stable), ct.pool...)
	kept := false
	if c != nil {
		kept = ct.reported(c)
		if kept {
			exp.attached = append(exp.attached, c)
		} else {
			exp.gone = append(exp.gone, c)
		}
	}
	if op == "policy" {
		// The operator applies again.
		r := w.weir(ct.ctx, "policy", "apply")
		if r.err != nil {
			st.fail("weir policy apply after the crash: " + r.String())
			return k.crashed
		}
		ct.sample(op, r)
	}
	st.check("after weir recover", exp)
	if c == nil {
		return k.crashed
	}

	// The runtime's side.
	switch {
	case op == "attach" && !kept:
		// The containerizer tries again: the id must be free.
		r := w.attach(ct.ctx, c)
		if r.err != nil {
			st.fail(fmt.Sprintf("attaching %s again after recovery: %s", c.id, r))
			return k.crashed
		}
		ct.sample("attach", r)
		ct.pool = append(ct.pool, c)
		st.check("attached again", expect{attached: append(slices.Clone(exp.attached), c)})
	case op == "attach":
		ct.pool = append(ct.pool, c)
	default:
		// net add and net del: the runtime sends DEL; a detach whose
		// process died is retried.
		r := w.detach(ct.ctx, c)
		if r.err != nil {
			st.fail(fmt.Sprintf("the runtime's %s: %s", strings.Join(c.detachArgs(), " "), r))
			return k.crashed
		}
		if op == "netdel" || op == "detach" {
			ct.sample(op, r)
		}
		exp.attached = slices.DeleteFunc(exp.attached, func(x *container) bool { return x == c })
		exp.gone = []*container{c}
		st.check("after the runtime's "+strings.Join(c.detachArgs()[:2], " "), exp)
		w.release(c)
	}
	// Keep the pool small.
	for len(ct.pool) > 4 && len(st.found) == 0 {
		i := ct.rng.IntN(len(ct.pool))
		p := ct.pool[i]
		ct.pool = append(ct.pool[:i], ct.pool[i+1:]...)
		if r := w.detach(ct.ctx, p); r.err != nil {
			st.fail(fmt.Sprintf("trimming the pool: %s: %s", strings.Join(p.detachArgs(), " "), r))
			return k.crashed
		}
		w.release(p)
	}
	return k.crashed
}

// stepReport collects what went wrong in one crash step: every violation
// counts as a leak; the test then fails and starts over from a scrubbed
// host.
type stepReport struct {
	ct    *crashTest
	what  string
	found []string
}

func (s *stepReport) check(label string, exp expect) {
	v := s.ct.w.check(s.ct.t, exp)
	if len(v) > 0 {
		tally.leaks.Add(int64(len(v)))
		tally.checkViolations.Add(int64(len(v)))
		countViolations(v)
		s.found = append(s.found, label+":\n"+list(v))
	}
}

func (s *stepReport) fail(msg string) {
	tally.leaks.Add(1)
	s.found = append(s.found, msg+"\n")
}

func (s *stepReport) finish() {
	if len(s.found) == 0 {
		return
	}
	s.ct.t.Errorf("%s\n%s", s.what, strings.Join(s.found, ""))
	s.ct.restart()
}

// reported tells whether weir lists c as attached.
func (ct *crashTest) reported(c *container) bool {
	r := ct.w.weir(ct.ctx, "status", c.id, "--json")
	return r.err == nil && strings.Contains(r.stdout, `"state": "isolated"`)
}

// restart scrubs the host and attaches the stable containers anew.
func (ct *crashTest) restart() {
	for _, c := range append(slices.Clone(ct.stable), ct.pool...) {
		ct.w.release(c)
	}
	ct.w.reset(ct.t)
	ct.setUp()
}

// stage says how far op had got with c when it was killed, from what is
// on disk and in the kernel.
func (ct *crashTest) stage(op string, c *container) string {
	w := ct.w
	dir := filepath.Join(w.state, "containers", c.id)
	st := chain.Store{Dir: w.state}
	nets, _ := st.Networks(c.id)
	states := map[string]int{}
	for _, n := range nets {
		if rec, err := st.Load(c.id, n); err == nil {
			states[rec.State]++
		}
	}
	ifaces := 0
	if ls, err := nsLinks(c.ns()); err == nil {
		for _, l := range ls {
			if l.Name != "lo" {
				ifaces++
			}
		}
	}
	_, dirErr := os.Stat(dir)
	_, cfgErr := os.Stat(filepath.Join(dir, "config.json"))
	_, hostsErr := os.Stat(filepath.Join(dir, "hosts"))
	pinned := slices.Contains(mountsUnder(w.base), filepath.Join(dir, "ns"))
	switch op {
	case "attach":
		switch {
		case dirErr != nil:
			return "nothing"
		case cfgErr != nil:
			return "preparing"
		case len(nets) == 0 && !pinned:
			return "prepared"
		case len(nets) == 0:
			return "pinned"
		case states[chain.StateAdding] > 0:
			return fmt.Sprintf("adding-%d-ifaces", ifaces)
		case len(nets) < len(c.nets):
			return "some-added"
		case hostsErr != nil:
			return "added-no-files"
		default:
			return "complete"
		}
	case "detach":
		switch {
		case dirErr != nil:
			return "gone"
		case len(nets) == 0 && pinned:
			return "records-removed"
		case len(nets) == 0:
			return "unpinned"
		case len(nets) < len(c.nets):
			return "some-records-removed"
		case ifaces < len(c.nets):
			return fmt.Sprintf("%d-of-%d-ifaces-removed", len(c.nets)-ifaces, len(c.nets))
		default:
			return "records-intact"
		}
	case "netadd":
		switch {
		case len(nets) == 0:
			return "no-record"
		case states[chain.StateAdding] > 0:
			return fmt.Sprintf("adding-%d-ifaces", ifaces)
		default:
			return "added"
		}
	case "netdel":
		switch {
		case len(nets) == 0:
			return "record-removed"
		case ifaces == 0:
			return "iface-removed"
		default:
			return "records-intact"
		}
	}
	return "?"
}
