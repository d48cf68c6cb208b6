package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// gate pauses workers between operations while the invariants are checked.
type gate struct {
	mu     sync.Mutex
	cond   *sync.Cond
	paused bool
	active int
}

func newGate() *gate {
	g := &gate{}
	g.cond = sync.NewCond(&g.mu)
	return g
}

func (g *gate) enter() {
	g.mu.Lock()
	for g.paused {
		g.cond.Wait()
	}
	g.active++
	g.mu.Unlock()
}

func (g *gate) leave() {
	g.mu.Lock()
	g.active--
	g.cond.Broadcast()
	g.mu.Unlock()
}

// pause returns once no operation is in flight; workers then wait.
func (g *gate) pause() {
	g.mu.Lock()
	g.paused = true
	for g.active > 0 {
		g.cond.Wait()
	}
	g.mu.Unlock()
}

func (g *gate) resume() {
	g.mu.Lock()
	g.paused = false
	g.cond.Broadcast()
	g.mu.Unlock()
}

// churnWorker attaches, detaches and edits policy at random.
type churnWorker struct {
	t     *testing.T
	w     *world
	d     *daemon
	n     int
	rng   *rand.Rand
	ctrs  []*container // attached and not detached since
	ports int
	fails *atomic.Int64
	lat   *latencies
}

// latencies collects how long operations took, by kind.
type latencies struct {
	mu sync.Mutex
	d  map[string][]time.Duration
}

func (l *latencies) add(kind string, d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.d[kind] = append(l.d[kind], d)
}

func (l *latencies) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for kind, ds := range l.d {
		slices.Sort(ds)
		q := func(p float64) time.Duration { return ds[int(p*float64(len(ds)-1))].Round(time.Millisecond) }
		out = append(out, fmt.Sprintf("%s n=%d p50=%v p99=%v max=%v", kind, len(ds), q(0.5), q(0.99), ds[len(ds)-1].Round(time.Millisecond)))
	}
	sort.Strings(out)
	return strings.Join(out, "; ")
}

// maxPerWorker bounds a worker's attached containers: 16 × 2 in the
// short form (renders stay quick enough for `make test`), 16 × 5 in the
// long one.
func maxPerWorker() int { return size(2, 5) }

// TestChurn runs 16 workers of size(12, 1000) random operations each —
// attach and detach through the CLI and the daemon's API, policy edits
// applied with `weir policy apply` (and by the daemon's file watch),
// container processes exiting, status reads — while the daemon repairs
// and collects garbage every few seconds. At random points every worker
// waits at a barrier and the invariants are checked; again at the end,
// after every container is detached, and the host must be back to its
// baseline.
func TestChurn(t *testing.T) {
	w := newWorld(t)
	d := w.startDaemon(t, "--repair-interval", fmt.Sprintf("%ds", size(5, 2)), "--gc-interval", fmt.Sprintf("%ds", size(4, 3)))
	const workers = 16
	per := size(12, 1000)
	s := seed(t)
	g := newGate()
	var done atomic.Int64
	var fails atomic.Int64
	lat := &latencies{d: map[string][]time.Duration{}}
	ws := make([]*churnWorker, workers)
	for i := range ws {
		ws[i] = &churnWorker{t: t, w: w, d: d, n: i, rng: rand.New(rand.NewPCG(s, uint64(i)+100)), ports: 30000 + 200*i, fails: &fails, lat: lat}
	}
	// Barriers at random points of the run.
	total := int64(workers * per)
	var marks []int64
	for i := 0; i < size(2, 6); i++ {
		marks = append(marks, total/10+rand.New(rand.NewPCG(s, 7+uint64(i))).Int64N(total*8/10))
	}
	slices.Sort(marks)
	barriers := 0
	check := func(label string) {
		var exp expect
		for _, cw := range ws {
			exp.attached = append(exp.attached, cw.ctrs...)
		}
		v := w.check(t, exp)
		for _, x := range v {
			if x.kind == kDupIP {
				tally.dupIPs.Add(1)
			}
		}
		tally.checkViolations.Add(int64(len(v)))
		countViolations(v)
		if len(v) > 0 {
			t.Errorf("%s (%d containers attached):\n%s", label, len(exp.attached), list(v))
		} else {
			t.Logf("%s: %d containers attached, no violations", label, len(exp.attached))
		}
	}
	stop := make(chan struct{})
	coordDone := make(chan struct{})
	start := time.Now()
	budget := churnBudget(t)
	deadline := start.Add(budget)
	go func() {
		defer close(coordDone)
		for _, m := range marks {
			// At the mark's share of the operations, or of the time budget.
			at := start.Add(time.Duration(float64(budget) * float64(m) / float64(total)))
			for done.Load() < m && time.Now().Before(at) {
				select {
				case <-stop:
					return
				case <-time.After(10 * time.Millisecond):
				}
			}
			g.pause()
			barriers++
			check(fmt.Sprintf("barrier %d after %d operations", barriers, done.Load()))
			g.resume()
		}
	}()
	tally.opsPlanned.Add(total)
	var wg sync.WaitGroup
	for _, cw := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per && time.Now().Before(deadline); i++ {
				g.enter()
				cw.op()
				g.leave()
				done.Add(1)
				tally.ops.Add(1)
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-coordDone
	t.Logf("%d operations in %v (%d failed), %d barriers; %s", done.Load(), time.Since(start).Round(time.Millisecond), fails.Load(), barriers, lat)
	if done.Load() < total {
		t.Logf("the time budget ran out after %d of %d operations (WEIR_CHAOS_CHURN_BUDGET)", done.Load(), total)
	}
	check("after the last operation")

	// Everything goes; the host is back to where it started.
	var all []*container
	for _, cw := range ws {
		for _, c := range cw.ctrs {
			if r := cw.detachRetrying(c); r != nil {
				t.Errorf("final detach of %s: %v", c.id, r)
			}
			all = append(all, c)
		}
		cw.ctrs = nil
	}
	if v := w.check(t, expect{gone: all}); len(v) > 0 {
		tally.checkViolations.Add(int64(len(v)))
		countViolations(v)
		t.Errorf("after detaching everything:\n%s", list(v))
	}
	for _, c := range all {
		w.release(c)
	}
	d.stop(t)
	if strings.Contains(d.logs.String(), "panic") {
		t.Errorf("the daemon panicked:\n%s", tail(d.logs.String(), 60))
	}
	// The policy files the workers wrote stay; the index is empty.
	if diff := w.baseline.diff(w.snapshot(t), true); diff != "" {
		t.Errorf("the host differs from the baseline after the churn:\n%s", diff)
	}
}

// churnBudget bounds the churn's wall-clock time (WEIR_CHAOS_CHURN_BUDGET,
// default 4m short, 25m long): under 16-way load an operation can take
// tens of seconds, and the suite must end. The summary says how many of
// the planned operations ran.
func churnBudget(t *testing.T) time.Duration {
	if v := os.Getenv("WEIR_CHAOS_CHURN_BUDGET"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("WEIR_CHAOS_CHURN_BUDGET=%q: %v", v, err)
		}
		return d
	}
	return time.Duration(size(4, 25)) * time.Minute
}

// op runs one random operation.
func (cw *churnWorker) op() {
	r := cw.rng.IntN(100)
	switch {
	case len(cw.ctrs) == 0 || (r < 40 && len(cw.ctrs) < maxPerWorker()):
		cw.attach()
	case r < 75:
		i := cw.rng.IntN(len(cw.ctrs))
		c := cw.ctrs[i]
		cw.ctrs = append(cw.ctrs[:i], cw.ctrs[i+1:]...)
		if err := cw.detachRetrying(c); err != nil {
			cw.fail("detach %s: %v", c.id, err)
			cw.ctrs = append(cw.ctrs, c) // still there, as far as weir says
			return
		}
		cw.w.release(c)
	case r < 85:
		cw.editPolicy()
	case r < 90:
		// The container's first process exits; its namespace stays pinned.
		for _, c := range cw.ctrs {
			if c.proc != nil && !c.viaNet {
				cw.w.release(c)
				break
			}
		}
	default:
		cw.status(cw.ctrs[cw.rng.IntN(len(cw.ctrs))])
	}
}

func (cw *churnWorker) fail(format string, args ...any) {
	if cw.fails.Add(1) <= 20 {
		cw.t.Errorf(format, args...)
	}
	tally.opFailures.Add(1)
}

// attach attaches a fresh container with the CLI, the API, or weir net add.
func (cw *churnWorker) attach() {
	w := cw.w
	how := cw.rng.IntN(10)
	nets := []string{"chaos", "chaos2", "lan"}
	cw.rng.Shuffle(len(nets), func(i, j int) { nets[i], nets[j] = nets[j], nets[i] })
	c := w.newContainer(cw.t, w.uniqueID(fmt.Sprintf("w%d-", cw.n)), nets[:1+cw.rng.IntN(3)], how < 6 && cw.rng.IntN(2) == 0)
	c.labels = randomLabels(cw.rng)
	if cw.rng.IntN(3) == 0 {
		cw.ports++
		c.ports = []string{fmt.Sprintf("%d:80", cw.ports)}
	}
	ctx := context.Background()
	start := time.Now()
	defer func() { cw.lat.add("attach", time.Since(start)) }()
	switch {
	case how < 4: // weir attach
		if r := w.attach(ctx, c); r.err != nil {
			cw.fail("weir %s: %s", strings.Join(c.attachArgs(), " "), r)
			w.release(c)
			return
		}
	case how < 8: // the daemon's API
		code, body, err := cw.d.do("POST", "/v1/containers/"+c.id, attachBody(c))
		if err != nil || code != 201 {
			cw.fail("POST /v1/containers/%s: %d %v %s", c.id, code, err, body)
			w.release(c)
			return
		}
	default: // weir net add, one network
		c.viaNet, c.nets, c.ports = true, c.nets[:1], nil
		if c.proc != nil {
			w.release(c)
			c = w.newContainer(cw.t, c.id, c.nets, false)
			c.viaNet = true
		}
		if r := w.attach(ctx, c); r.err != nil {
			cw.fail("weir %s: %s", strings.Join(c.attachArgs(), " "), r)
			w.release(c)
			return
		}
	}
	cw.ctrs = append(cw.ctrs, c)
}

// detachRetrying detaches c, and retries a failed detach twice, as a
// runtime would; the first failure is still reported.
func (cw *churnWorker) detachRetrying(c *container) error {
	err := cw.detach(c)
	if err == nil {
		return nil
	}
	cw.fail("detach %s (will retry): %v", c.id, err)
	for try := 0; try < 2 && err != nil; try++ {
		time.Sleep(time.Second)
		err = cw.detach(c)
	}
	return err
}

// detach detaches c the way it was attached (or through the API).
func (cw *churnWorker) detach(c *container) error {
	start := time.Now()
	defer func() { cw.lat.add("detach", time.Since(start)) }()
	if !c.viaNet && cw.rng.IntN(2) == 0 {
		code, body, err := cw.d.do("DELETE", "/v1/containers/"+c.id, "")
		if err != nil || code != 204 {
			return fmt.Errorf("DELETE /v1/containers/%s: %d %v %s", c.id, code, err, body)
		}
		return nil
	}
	if r := cw.w.detach(context.Background(), c); r.err != nil {
		return fmt.Errorf("weir %s: %s", strings.Join(c.detachArgs(), " "), r)
	}
	return nil
}

// editPolicy rewrites the worker's policy file and applies it. One edit
// in ten is first saved broken, as an operator's half-done edit, and
// fixed 200ms later: meanwhile the last good policy must stay in force,
// and attaches, detaches and applies must go on.
func (cw *churnWorker) editPolicy() {
	path := filepath.Join(cw.w.pol, fmt.Sprintf("50-w%02d.toml", cw.n))
	content := randomPolicy(cw.rng, fmt.Sprintf("w%d", cw.n))
	if cw.rng.IntN(10) == 0 {
		if err := writeAtomic(path, "[[policy]]\nname = \"broken\nselector = \"app ==\"\n"); err != nil {
			cw.fail("writing %s: %v", path, err)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := writeAtomic(path, content); err != nil {
		cw.fail("writing %s: %v", path, err)
		return
	}
	r := cw.w.weir(context.Background(), "policy", "apply")
	cw.lat.add("policy apply", r.took)
	if r.err != nil {
		cw.fail("weir policy apply: %s", r)
	}
}

// status compares what weir reports for c with the addresses inside it.
func (cw *churnWorker) status(c *container) {
	r := cw.w.weir(context.Background(), "status", c.id, "--json")
	if r.err != nil {
		cw.fail("weir status %s: %s", c.id, r)
		return
	}
	var st struct {
		State        string `json:"state"`
		NetworkInfos []struct {
			Name        string `json:"name"`
			IPAddresses []struct {
				IPAddress string `json:"ip_address"`
			} `json:"ip_addresses"`
		} `json:"network_infos"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		cw.fail("weir status %s printed %q: %v", c.id, r.stdout, err)
		return
	}
	var reported []netip.Addr
	var names []string
	for _, n := range st.NetworkInfos {
		names = append(names, n.Name)
		for _, a := range n.IPAddresses {
			if ip, err := netip.ParseAddr(a.IPAddress); err == nil {
				reported = append(reported, ip)
			}
		}
	}
	ns := filepath.Join(cw.w.state, "containers", c.id, "ns")
	if c.viaNet {
		ns = c.nsPath
	}
	links, err := nsLinks(ns)
	if err != nil {
		cw.fail("links of %s: %v", c.id, err)
		return
	}
	var inside []netip.Addr
	for _, l := range links {
		for _, p := range l.Addrs {
			if l.Name != "lo" && !p.Addr().IsLinkLocalUnicast() {
				inside = append(inside, p.Addr())
			}
		}
	}
	sort.Strings(names)
	want := slices.Sorted(slices.Values(c.nets))
	if st.State != "isolated" || !slices.Equal(names, want) || !sameAddrs(reported, inside) {
		cw.fail("weir status %s: %s on %v with %v; attached to %v, addresses inside %v", c.id, st.State, names, reported, want, inside)
	}
}
