package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/weirnet/weir/chain"
	"github.com/weirnet/weir/internal/netns"
	"github.com/weirnet/weir/internal/sandbox"
	"github.com/weirnet/weir/isolator"
)

// ibenchConflist is the demo's chain (configs/net.d/10-dcos.toml): flannel
// delegating to bridge + host-local, portmap, policy; every plugin's state
// under the benchmark's state directory on the sandbox's tmpfs.
const ibenchConflist = `{"cniVersion":"1.1.0","name":"{{name}}","plugins":[
  {"type":"flannel","subnetFile":"{{root}}/subnet.env","dataDir":"{{state}}/flannel",
   "delegate":{"bridge":"{{bridge}}","isDefaultGateway":true,"ipam":{"dataDir":"{{state}}/ipam"}}},
  {"type":"portmap","capabilities":{"portMappings":true},"stateDir":"{{state}}/portmap"},
  {"type":"policy","policyDir":"{{root}}/policies","stateDir":"{{state}}","defaultAction":"allow"}]}`

// ibenchRefConflist is the same job done by the reference plugins v1.10.0:
// bridge + host-local (with masquerade, as flannel's delegate has), firewall
// and portmap.
const ibenchRefConflist = `{"cniVersion":"1.0.0","name":"refbench","plugins":[
  {"type":"bridge","bridge":"refb0","isGateway":true,"isDefaultGateway":true,"ipMasq":true,
   "ipam":{"type":"host-local","subnet":"10.126.0.0/24","dataDir":"{{root}}/ipam"}},
  {"type":"firewall"},
  {"type":"portmap","capabilities":{"portMappings":true},"snat":true}]}`

// ibenchTiers are the label sets containers take in turn: the demo policy's
// tiers, so every container is selected by some policy or is a peer of one.
var ibenchTiers = [][2]string{{"app", "web"}, {"app", "db"}, {"app", "cache"}, {"app", "api"}}

// ibenchHost is a weir host for a benchmark: directories under /run (the
// sandbox's tmpfs) holding the network definition, the demo's policy file,
// flanneld's subnet file and the state.
type ibenchHost struct {
	bin, root, state, netd, net string
}

func newIBenchHost(b testing.TB, bin, network, bridge, flannelSubnet string) *ibenchHost {
	b.Helper()
	root, err := os.MkdirTemp("/run", "weir-ibench-")
	if err != nil {
		b.Fatal(err)
	}
	h := &ibenchHost{bin: bin, root: root, state: filepath.Join(root, "state"), netd: filepath.Join(root, "net.d"), net: network}
	policy, err := os.ReadFile(filepath.Join("..", "configs", "policies", "10-shop.toml"))
	if err != nil {
		b.Fatal(err)
	}
	writeFile(b, filepath.Join(root, "policies", "10-shop.toml"), string(policy))
	writeFile(b, filepath.Join(root, "subnet.env"), "FLANNEL_NETWORK=10.120.0.0/13\nFLANNEL_SUBNET="+flannelSubnet+"\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n")
	r := strings.NewReplacer("{{name}}", network, "{{root}}", root, "{{state}}", h.state, "{{bridge}}", bridge)
	writeFile(b, filepath.Join(h.netd, "10-"+network+".conflist"), r.Replace(ibenchConflist))
	if err := os.MkdirAll(h.state, 0o755); err != nil {
		b.Fatal(err)
	}
	return h
}

func (h *ibenchHost) flags() []string {
	return []string{"--conf-dir", h.netd, "--plugin-dir", h.bin, "--state-dir", h.state, "--policy-dir", filepath.Join(h.root, "policies")}
}

// weir runs bin/weir with the host's directories.
func (h *ibenchHost) weir(args ...string) error {
	cmd := exec.Command(filepath.Join(h.bin, "weir"), append(args, h.flags()...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("weir %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// attachArgs is `weir attach` of container id in the namespace at nsPath,
// with the i-th tier's labels and host port.
func (h *ibenchHost) attachArgs(id, nsPath string, i, hostPort int) []string {
	t := ibenchTiers[i%len(ibenchTiers)]
	return []string{"attach", id, "--netns", nsPath, "--net", h.net, "--label", t[0] + "=" + t[1], "--publish", fmt.Sprintf("%d:80/tcp", hostPort)}
}

// ibenchVariant is one way of doing the benchmarked operation; before and
// after, when set, run untimed around each run.
type ibenchVariant struct {
	name          string
	before, after func(round int) error
	run           func(round int) error
	times         []time.Duration
}

// ibenchInterleave runs every variant once per round, in rotating order so
// that machine noise hits all alike, and reports each one's mean and median
// and their ratios to the first variant's (the reference).
func ibenchInterleave(b *testing.B, rounds int, vs []*ibenchVariant) {
	b.ResetTimer()
	for r := range rounds {
		for k := range vs {
			v := vs[(r+k)%len(vs)]
			if v.before != nil {
				b.StopTimer()
				if err := v.before(r); err != nil {
					b.Fatalf("%s, round %d: %v", v.name, r, err)
				}
				b.StartTimer()
			}
			start := time.Now()
			if err := v.run(r); err != nil {
				b.Fatalf("%s, round %d: %v", v.name, r, err)
			}
			v.times = append(v.times, time.Since(start))
			if v.after != nil {
				b.StopTimer()
				if err := v.after(r); err != nil {
					b.Fatalf("%s, round %d: %v", v.name, r, err)
				}
				b.StartTimer()
			}
		}
	}
	b.StopTimer()
	ref := vs[0]
	for _, v := range vs {
		b.ReportMetric(ibenchMS(ibenchMean(v.times)), "ms-mean/"+v.name)
		b.ReportMetric(ibenchMS(ibenchQuantile(v.times, 0.5)), "ms-p50/"+v.name)
		if v != ref {
			b.ReportMetric(float64(ibenchMean(v.times))/float64(ibenchMean(ref.times)), "ratio-mean/"+v.name)
			b.ReportMetric(float64(ibenchQuantile(v.times, 0.5))/float64(ibenchQuantile(ref.times, 0.5)), "ratio-p50/"+v.name)
		}
	}
}

// BenchmarkIsolatorAttachDetach: one container attached and detached with
// a full chain and a published port, as a containerizer drives it: `weir
// attach`/`weir detach` (exec'd; flannel -> bridge -> host-local, portmap,
// policy in-process), against cnitool add/del with the reference plugins
// v1.10.0 (bridge + host-local, firewall, portmap; portMappings in
// CAP_ARGS). Issue target: weir / reference ≤ 0.1. At least 15 rounds run,
// whatever b.N. weir-resident is weir with another container attached
// meanwhile (untimed), the steady state of a host in use.
func BenchmarkIsolatorAttachDetach(b *testing.B) {
	bin, ref := binDir(b), refDir(b)
	bin, err := ibenchCopyBin(bin)
	if err != nil {
		b.Fatal(err)
	}
	w := newIBenchHost(b, bin, "benchnet", "ibench0", "10.125.3.1/24")
	refRoot, err := os.MkdirTemp("/run", "weir-ibench-ref-")
	if err != nil {
		b.Fatal(err)
	}
	writeFile(b, filepath.Join(refRoot, "net.d", "10-refbench.conflist"), strings.ReplaceAll(ibenchRefConflist, "{{root}}", refRoot))
	nW, nR, nRes := sandbox.NewNS(b), sandbox.NewNS(b), sandbox.NewNS(b)

	cnitool := func(verb string) error {
		c := exec.Command(filepath.Join(ref, "cnitool"), verb, "refbench", nR.Path())
		c.Env = append(os.Environ(), "NETCONFPATH="+filepath.Join(refRoot, "net.d"), "CNI_PATH="+ref,
			`CAP_ARGS={"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}]}`)
		if out, err := c.CombinedOutput(); err != nil {
			return fmt.Errorf("cnitool %s: %v: %s", verb, err, out)
		}
		return nil
	}
	weirRound := func(r int) error {
		id := fmt.Sprintf("bench-%d", r)
		if err := w.weir(w.attachArgs(id, nW.Path(), r, 8081)...); err != nil {
			return err
		}
		return w.weir("detach", id)
	}
	vs := []*ibenchVariant{
		{name: "reference", run: func(int) error {
			if err := cnitool("add"); err != nil {
				return err
			}
			return cnitool("del")
		}},
		{name: "weir", run: weirRound},
		// The same with another container on the host: weir's policy
		// keeps its shared chains and sets while a container is under
		// policy and removes them with the last one, so "weir" pays for
		// them every round; the reference leaves its shared chains
		// (CNI-FORWARD, CNI-HOSTPORT-*) after the first round.
		{name: "weir-resident", run: weirRound,
			before: func(int) error { return w.weir(w.attachArgs("resident", nRes.Path(), 1, 8082)...) },
			after:  func(int) error { return w.weir("detach", "resident") }},
	}
	// Every variant must really attach: a sanity round before timing.
	for _, v := range vs {
		err := error(nil)
		if v.before != nil {
			err = v.before(0)
		}
		if err == nil {
			err = v.run(0)
		}
		if err == nil && v.after != nil {
			err = v.after(0)
		}
		if err != nil {
			b.Fatalf("%s: %v", v.name, err)
		}
	}
	ibenchInterleave(b, max(b.N, 15), vs)
}

// BenchmarkIsolatorScale puts up to 1,000 containers on one host
// (WEIR_BENCH_CONTAINERS) with the full chain, a published port each and
// four policy tiers, with `weir serve` running, and measures:
//
//   - attach latency as the host fills up: at the 10th, 100th, 250th, 500th
//     and 1,000th container, the median of the five containers ending there,
//     attached by `weir attach` (exec'd, as a containerizer would:
//     ms/attach-cli-<mark>), and of the ten before them, attached through
//     the daemon's API (POST /v1/containers/{id}: ms/attach-api-<mark>).
//     Issue target: 1,000th / 10th ≤ 1.5 (ratio/attach-cli-<last>:10);
//   - status latency with every container attached: GET
//     /v1/containers/{id} over the daemon's socket, and isolator.Status in
//     this process, p50 and p99 of 2,000 queries of random containers.
//     Issue target: p99 ≤ 1 ms;
//   - the daemon's resident memory (VmRSS; VmHWM is its peak) once the
//     containers are attached (all but the probes through its API) and
//     queried. Issue target: ≤ 50 MB;
//   - detaching the last five probes with `weir detach` (ms/detach-cli-<n>).
//
// Unless WEIR_BENCH_CONTAINERS says how many, the host fills up until a
// mark whose next one the time budget (WEIR_BENCH_BUDGET, default 200s for
// the attaches) would not reach: the "containers" metric says how many were
// attached, and the marks reported say where the run stopped.
//
// Namespaces are made by internal/netns.Create; the binaries are copied to
// the sandbox first, so that a rebuild of bin/ meanwhile changes nothing.
// The containers are left to the sandbox's end. The measurement runs once
// per test process, whatever b.N.
func BenchmarkIsolatorScale(b *testing.B) {
	bin := binDir(b)
	ibenchScale.Do(func() { ibenchScale.metrics, ibenchScale.err = measureScale(b, bin) })
	if ibenchScale.err != nil {
		b.Fatal(ibenchScale.err)
	}
	for _, m := range ibenchScale.metrics {
		b.ReportMetric(m.v, m.unit)
	}
}

// ibenchScale keeps BenchmarkIsolatorScale's measurement, made once per
// process: the framework may call a benchmark more than once (b.N = 1
// first), and a second thousand containers would not fit on one bridge.
var ibenchScale struct {
	sync.Once
	metrics []ibenchMetric
	err     error
}

type ibenchMetric struct {
	v    float64
	unit string
}

func measureScale(b *testing.B, bin string) ([]ibenchMetric, error) {
	n, budget := 1000, 200*time.Second
	if s := os.Getenv("WEIR_BENCH_CONTAINERS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 20 || n > 1000 {
			return nil, fmt.Errorf("WEIR_BENCH_CONTAINERS=%q: want 20..1000 (one bridge takes 1,024 ports)", s)
		}
		budget = 0
	}
	if s := os.Getenv("WEIR_BENCH_BUDGET"); s != "" {
		var err error
		if budget, err = time.ParseDuration(s); err != nil {
			return nil, fmt.Errorf("WEIR_BENCH_BUDGET=%q: %w", s, err)
		}
	}
	var marks []int
	for _, m := range []int{10, 100, 250, 500, 1000} {
		if m < n {
			marks = append(marks, m)
		}
	}
	marks = append(marks, n)
	bin, err := ibenchCopyBin(bin)
	if err != nil {
		return nil, err
	}
	h := newIBenchHost(b, bin, "scalenet", "scale0", "10.124.0.1/21")
	d, err := startIBenchDaemon(b, h)
	if err != nil {
		return nil, err
	}
	defer d.stop()

	var out []ibenchMetric
	report := func(v float64, unit string) {
		out = append(out, ibenchMetric{v, unit})
		b.Logf("%-28s %10.3f", unit, v)
	}
	isCLI := func(i int) bool {
		for _, m := range marks {
			if i > m-5 && i <= m {
				return true
			}
		}
		return false
	}
	nsPath := func(i int) string { return filepath.Join(h.root, "netns", fmt.Sprintf("scale-%04d", i)) }
	lat := make([]time.Duration, n+1) // by container number, 1-based
	start := time.Now()
	reached, first := 0, time.Duration(0)
	for k, m := range marks {
		for i := reached + 1; i <= m; i++ {
			id := fmt.Sprintf("scale-%04d", i)
			if err := netns.Create(nsPath(i)); err != nil {
				return nil, err
			}
			t0 := time.Now()
			if isCLI(i) {
				err = h.weir(h.attachArgs(id, nsPath(i), i, 30000+i)...)
			} else {
				err = d.attach(id, nsPath(i), i, 30000+i)
			}
			lat[i] = time.Since(t0)
			if err != nil {
				return nil, fmt.Errorf("attaching container %d: %w", i, err)
			}
		}
		reached = m
		var cli, api []time.Duration
		for i := max(1, m-14); i <= m; i++ {
			if isCLI(i) {
				cli = append(cli, lat[i])
			} else {
				api = append(api, lat[i])
			}
		}
		report(ibenchMS(ibenchQuantile(cli, 0.5)), fmt.Sprintf("ms/attach-cli-%d", m))
		report(ibenchMS(ibenchQuantile(api, 0.5)), fmt.Sprintf("ms/attach-api-%d", m))
		if k == 0 {
			first = ibenchQuantile(cli, 0.5)
			continue
		}
		report(float64(ibenchQuantile(cli, 0.5))/float64(first), fmt.Sprintf("ratio/attach-cli-%d:10", m))
		// Would the next mark fit in the budget? Attaches get slower as the
		// host fills up: assume the next ones take 1.5 times the last ones.
		if k+1 < len(marks) && budget > 0 {
			next := time.Duration(float64(marks[k+1]-m) * 1.5 * float64(ibenchQuantile(lat[max(1, m-14):m+1], 0.5)))
			if time.Since(start)+next > budget {
				b.Logf("stopping at %d containers: the %d-th would take about %.0f s more, beyond the %v budget (WEIR_BENCH_BUDGET)",
					m, marks[k+1], next.Seconds(), budget)
				break
			}
		}
	}
	n = reached
	report(float64(n), "containers")
	b.Logf("%d containers attached in %.1f s", n, time.Since(start).Seconds())

	// Status latency with every container attached.
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func() string { return fmt.Sprintf("scale-%04d", 1+rng.IntN(n)) }
	for range 200 { // warm the connection and the page cache
		if _, err := d.status(pick()); err != nil {
			return nil, err
		}
	}
	var api, inproc []time.Duration
	for range 2000 {
		id := pick()
		t0 := time.Now()
		st, err := d.status(id)
		api = append(api, time.Since(t0))
		if err != nil {
			return nil, err
		}
		if st.ContainerID != id || st.State != "isolated" || len(st.ips()) != 1 {
			return nil, fmt.Errorf("GET /v1/containers/%s answered %+v", id, st)
		}
	}
	iso := &isolator.Isolator{Runner: &chain.Runner{StateDir: h.state, Path: []string{bin}}, ConfDir: h.netd}
	for range 2000 {
		id := pick()
		t0 := time.Now()
		st, err := iso.Status(id)
		inproc = append(inproc, time.Since(t0))
		if err != nil || st.State != isolator.StateIsolated {
			return nil, fmt.Errorf("isolator.Status(%s): %v %+v", id, err, st)
		}
	}
	report(ibenchUS(ibenchQuantile(api, 0.5)), "us/status-api-p50")
	report(ibenchUS(ibenchQuantile(api, 0.99)), "us/status-api-p99")
	report(ibenchUS(ibenchQuantile(inproc, 0.5)), "us/status-inproc-p50")
	report(ibenchUS(ibenchQuantile(inproc, 0.99)), "us/status-inproc-p99")
	t0 := time.Now()
	if _, err := d.get("/v1/containers"); err != nil {
		return nil, err
	}
	report(ibenchMS(time.Since(t0)), fmt.Sprintf("ms/list-api-%d", n))

	rss, hwm, err := ibenchVmRSS(d.cmd.Process.Pid)
	if err != nil {
		return nil, err
	}
	report(rss, "MB/daemon-rss")
	report(hwm, "MB/daemon-rss-peak")
	if l, err := os.ReadFile("/proc/loadavg"); err == nil {
		if v, err := strconv.ParseFloat(strings.Fields(string(l))[0], 64); err == nil {
			report(v, "loadavg-1m") // how busy the machine was: the latencies above depend on it
		}
	}

	// Detach the last probes, the host full.
	var dl []time.Duration
	for i := n - 4; i <= n; i++ {
		t0 := time.Now()
		if err := h.weir("detach", fmt.Sprintf("scale-%04d", i)); err != nil {
			return nil, err
		}
		dl = append(dl, time.Since(t0))
	}
	report(ibenchMS(ibenchQuantile(dl, 0.5)), fmt.Sprintf("ms/detach-cli-%d", n))
	return out, nil
}

// ibenchCopyBin copies bin/weir into the sandbox's /run with a link per
// plugin, and returns the directory.
func ibenchCopyBin(bin string) (string, error) {
	dir, err := os.MkdirTemp("/run", "weir-ibench-bin-")
	if err != nil {
		return "", err
	}
	data, err := os.ReadFile(filepath.Join(bin, "weir"))
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "weir"), data, 0o755); err != nil {
		return "", err
	}
	ents, err := os.ReadDir(bin)
	if err != nil {
		return "", err
	}
	for _, e := range ents {
		if t, err := os.Readlink(filepath.Join(bin, e.Name())); err == nil && t == "weir" {
			if err := os.Symlink("weir", filepath.Join(dir, e.Name())); err != nil {
				return "", err
			}
		}
	}
	return dir, nil
}

// ibenchDaemon is a running `weir serve` and an HTTP client on its socket.
type ibenchDaemon struct {
	h      *ibenchHost
	cmd    *exec.Cmd
	logs   *syncBuffer
	client *http.Client
	done   chan error
}

func startIBenchDaemon(b testing.TB, h *ibenchHost) (*ibenchDaemon, error) {
	d := &ibenchDaemon{h: h, logs: &syncBuffer{}, done: make(chan error, 1)}
	socket := filepath.Join(h.state, "weir.sock")
	d.cmd = exec.Command(filepath.Join(h.bin, "weir"), append([]string{"serve", "--gc-interval", "0", "--repair-interval", "1h", "--log-level", "warn"}, h.flags()...)...)
	d.cmd.Stderr = d.logs
	if err := d.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { d.done <- d.cmd.Wait() }()
	d.client = &http.Client{
		Timeout: 60 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 8, DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var dl net.Dialer
			return dl.DialContext(ctx, "unix", socket)
		}},
	}
	if _, ok := waitFor(15*time.Second, func() bool { _, err := d.get("/healthz"); return err == nil }); !ok {
		d.stop()
		return nil, fmt.Errorf("weir serve did not answer on %s:\n%s", socket, d.logs.String())
	}
	return d, nil
}

func (d *ibenchDaemon) stop() {
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(40 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
	}
}

func (d *ibenchDaemon) do(method, path string, body []byte, want int) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://weir"+path, rd)
	if err != nil {
		return nil, err
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != want {
		err = fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, out)
	}
	return out, err
}

func (d *ibenchDaemon) get(path string) ([]byte, error) { return d.do("GET", path, nil, http.StatusOK) }

// attach is POST /v1/containers/{id}: the i-th tier's labels, one
// published port, the namespace at nsPath.
func (d *ibenchDaemon) attach(id, nsPath string, i, hostPort int) error {
	t := ibenchTiers[i%len(ibenchTiers)]
	body, _ := json.Marshal(map[string]any{
		"container_config": map[string]any{"container_info": map[string]any{"type": "MESOS", "network_infos": []map[string]any{{
			"name":          d.h.net,
			"labels":        map[string]any{"labels": []map[string]string{{"key": t[0], "value": t[1]}}},
			"port_mappings": []map[string]any{{"host_port": hostPort, "container_port": 80, "protocol": "tcp"}},
		}}}},
		"netns": nsPath,
	})
	_, err := d.do("POST", "/v1/containers/"+id, body, http.StatusCreated)
	return err
}

func (d *ibenchDaemon) detach(id string) error {
	_, err := d.do("DELETE", "/v1/containers/"+id, nil, http.StatusNoContent)
	return err
}

func (d *ibenchDaemon) status(id string) (containerStatus, error) {
	var st containerStatus
	body, err := d.get("/v1/containers/" + id)
	if err == nil {
		err = json.Unmarshal(body, &st)
	}
	return st, err
}

// vmRSS returns a process's resident memory and its peak, in MB.
func ibenchVmRSS(pid int) (rss, hwm float64, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb / 1024
		case "VmHWM:":
			hwm = kb / 1024
		}
	}
	return rss, hwm, nil
}

func ibenchMean(ds []time.Duration) time.Duration {
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return sum / time.Duration(max(1, len(ds)))
}

// quantile returns the q-quantile (nearest rank) of ds.
func ibenchQuantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func ibenchMS(d time.Duration) float64 { return float64(d) / 1e6 }
func ibenchUS(d time.Duration) float64 { return float64(d) / 1e3 }
