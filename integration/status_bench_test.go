package integration

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/weirnet/weir/chain"
	"github.com/weirnet/weir/internal/netns"
	"github.com/weirnet/weir/isolator"
)

// BenchmarkIsolatorStatus measures status queries on a host with 1,000
// containers (WEIR_BENCH_STATUS_CONTAINERS: 10..10000), with `weir serve`
// running:
//
//   - GET /v1/containers/{id} over the daemon's socket, from the request
//     to the whole answer read (decoded after), p50 and p99 of 5,000
//     queries of random containers (us/status-api-p50, -p99). Issue
//     target: p99 ≤ 1 ms;
//   - isolator.Status in this process, without a cache (every query reads
//     the records: us/status-inproc-p50, -p99) and with the daemon's
//     status cache (us/status-inproc-cached-p50, -p99);
//   - GET /v1/containers, every container (ms/list-api);
//   - the daemon's resident memory afterwards (MB/daemon-rss).
//
// Only the first container is attached for real, through the daemon's API
// with the full chain. The others are written as a `weir attach` without
// the daemon would leave them, behind the daemon's back, but with no
// kernel state: isolator.Prepare records their config, chain.Store.Save
// their record twice (state "adding" with the config, then "added" with
// the result — what the chain runner saves around the plugins' ADDs),
// taking the real container's record with the container id, namespace
// path, labels, port and address changed; their files (hosts, hostname,
// resolv.conf) are the real container's, and their "ns" is an empty file
// instead of a bind mount of a namespace. isolator.Status reads nothing
// else: the records, config.json and a stat of "ns", through exactly the
// code it runs for a container attached for real, so the latencies are
// those of real containers, without the minutes that 1,000 real attaches
// take (BenchmarkIsolatorScale does those). Each iteration is one such
// measurement on a fresh host (run it with -benchtime 1x; -count for more).
func BenchmarkIsolatorStatus(b *testing.B) {
	bin := binDir(b)
	for range b.N {
		sbenchRuns++
		metrics, err := measureStatus(b, bin, sbenchRuns)
		if err != nil {
			b.Fatal(err)
		}
		for _, m := range metrics {
			b.ReportMetric(m.v, m.unit)
		}
	}
}

// sbenchRuns numbers BenchmarkIsolatorStatus's measurements in this
// process (-count), each with its own host, bridge and subnet.
var sbenchRuns int

// sbenchQueries is how many status queries each figure is taken over.
const sbenchQueries = 5000

func measureStatus(b *testing.B, bin string, run int) ([]ibenchMetric, error) {
	n := 1000
	if s := os.Getenv("WEIR_BENCH_STATUS_CONTAINERS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 10 || n > 10000 {
			return nil, fmt.Errorf("WEIR_BENCH_STATUS_CONTAINERS=%q: want 10..10000", s)
		}
	}
	bin, err := ibenchCopyBin(bin)
	if err != nil {
		return nil, err
	}
	if run > 100 {
		return nil, fmt.Errorf("measurement %d: at most 100 per process (one subnet each)", run)
	}
	h := newIBenchHost(b, bin, "statusnet", fmt.Sprintf("status%d", run), fmt.Sprintf("10.123.%d.1/24", run))
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
	id := func(i int) string { return fmt.Sprintf("status-%05d", i) }
	// Container i's address: 10.200.0.0/16 holds every count allowed.
	addr := func(i int) string { return fmt.Sprintf("10.200.%d.%d", i>>8, i&255) }

	// The real one.
	nsPath := filepath.Join(h.root, "netns", id(1))
	if err := netns.Create(nsPath); err != nil {
		return nil, err
	}
	if err := d.attach(id(1), nsPath, 1, 31000); err != nil {
		return nil, err
	}
	real, err := d.status(id(1))
	if err != nil {
		return nil, err
	}
	want := map[string]string{id(1): real.ips()[0]}

	// The others, as records.
	start := time.Now()
	iso := &isolator.Isolator{Runner: &chain.Runner{StateDir: h.state, Path: []string{bin}}, ConfDir: h.netd}
	store := chain.Store{Dir: h.state}
	tmpl, err := store.Load(id(1), h.net)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	for _, f := range []string{"hostname", "resolv.conf", "hosts"} {
		if files[f], err = os.ReadFile(filepath.Join(h.state, "containers", id(1), f)); err != nil {
			return nil, err
		}
	}
	for i := 2; i <= n; i++ {
		if err := sbenchFake(iso, store, tmpl, files, h.net, id(i), i, addr(i)); err != nil {
			return nil, fmt.Errorf("writing the records of container %d: %w", i, err)
		}
		want[id(i)] = addr(i)
	}
	b.Logf("%d containers' records written in %.1f s", n-1, time.Since(start).Seconds())
	report(float64(n), "containers")

	check := func(st *isolator.ContainerStatus, cid string) error {
		if st.ContainerID != cid || st.State != isolator.StateIsolated || len(st.NetworkInfos) != 1 ||
			len(st.NetworkInfos[0].IPAddresses) != 1 || st.NetworkInfos[0].IPAddresses[0].IPAddress != want[cid] {
			return fmt.Errorf("the status of %s is %+v, want its address %s", cid, st, want[cid])
		}
		return nil
	}
	// A host in use: the records are older than a second or two when
	// queried, and every container has been asked about once.
	time.Sleep(2 * time.Second)
	for i := 1; i <= n; i++ {
		if _, err := d.status(id(i)); err != nil {
			return nil, err
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func() string { return id(1 + rng.IntN(n)) }
	var api, inproc []time.Duration
	for range sbenchQueries {
		cid := pick()
		t0 := time.Now()
		body, err := d.get("/v1/containers/" + cid)
		api = append(api, time.Since(t0)) // the answer read, not yet decoded
		if err != nil {
			return nil, err
		}
		var st containerStatus
		if err := json.Unmarshal(body, &st); err != nil {
			return nil, fmt.Errorf("GET /v1/containers/%s: %w", cid, err)
		}
		if len(st.ips()) != 1 || st.ips()[0] != want[cid] || st.ContainerID != cid || st.State != isolator.StateIsolated {
			return nil, fmt.Errorf("GET /v1/containers/%s answered %+v, want its address %s", cid, st, want[cid])
		}
	}
	for range sbenchQueries {
		cid := pick()
		t0 := time.Now()
		st, err := iso.Status(cid)
		inproc = append(inproc, time.Since(t0))
		if err != nil {
			return nil, err
		}
		if err := check(st, cid); err != nil {
			return nil, err
		}
	}
	cachedIso := &isolator.Isolator{Runner: iso.Runner, ConfDir: iso.ConfDir, Cache: isolator.NewStatusCache()}
	for i := 1; i <= n; i++ {
		if _, err := cachedIso.Status(id(i)); err != nil {
			return nil, err
		}
	}
	var cached []time.Duration
	for range sbenchQueries {
		cid := pick()
		t0 := time.Now()
		st, err := cachedIso.Status(cid)
		cached = append(cached, time.Since(t0))
		if err != nil {
			return nil, err
		}
		if err := check(st, cid); err != nil {
			return nil, err
		}
	}
	if hits, misses := cachedIso.Cache.Lookups(); hits < sbenchQueries {
		return nil, fmt.Errorf("the status cache answered %d of %d queries (%d misses): the records should have settled", hits, sbenchQueries, misses)
	}
	report(ibenchUS(ibenchQuantile(api, 0.5)), "us/status-api-p50")
	report(ibenchUS(ibenchQuantile(api, 0.99)), "us/status-api-p99")
	report(ibenchUS(ibenchQuantile(inproc, 0.5)), "us/status-inproc-p50")
	report(ibenchUS(ibenchQuantile(inproc, 0.99)), "us/status-inproc-p99")
	report(ibenchUS(ibenchQuantile(cached, 0.5)), "us/status-inproc-cached-p50")
	report(ibenchUS(ibenchQuantile(cached, 0.99)), "us/status-inproc-cached-p99")

	t0 := time.Now()
	body, err := d.get("/v1/containers")
	report(ibenchMS(time.Since(t0)), "ms/list-api")
	if err != nil {
		return nil, err
	}
	var all []containerStatus
	if err := json.Unmarshal(body, &all); err != nil || len(all) != n {
		return nil, fmt.Errorf("GET /v1/containers: %d containers (%v), want %d", len(all), err, n)
	}
	rss, _, err := ibenchVmRSS(d.cmd.Process.Pid)
	if err != nil {
		return nil, err
	}
	report(rss, "MB/daemon-rss")
	if err := d.detach(id(1)); err != nil {
		return nil, err
	}
	return out, nil
}

// sbenchFake writes container id's records as `weir attach` leaves them,
// from the real container's record tmpl: see BenchmarkIsolatorStatus.
func sbenchFake(iso *isolator.Isolator, store chain.Store, tmpl *chain.Record, files map[string][]byte, network, id string, i int, addr string) error {
	t := ibenchTiers[i%len(ibenchTiers)]
	labels := &isolator.Labels{Labels: []isolator.Label{{Key: t[0], Value: t[1]}}}
	pm := isolator.PortMapping{HostPort: 31000 + i, ContainerPort: 80, Protocol: "tcp"}
	cfg := &isolator.ContainerConfig{ContainerInfo: &isolator.ContainerInfo{Type: "MESOS",
		NetworkInfos: []isolator.NetworkInfo{{Name: network, Labels: labels, PortMappings: []isolator.PortMapping{pm}}}}}
	if _, err := iso.Prepare(id, cfg); err != nil {
		return err
	}
	dir := filepath.Join(store.Dir, "containers", id)
	if err := os.WriteFile(filepath.Join(dir, "ns"), nil, 0o444); err != nil {
		return err
	}
	p, err := chain.ParsePortMapping(fmt.Sprintf("%d:80/tcp", pm.HostPort))
	if err != nil {
		return err
	}
	rec := *tmpl
	rec.ContainerID, rec.NetNS, rec.State, rec.Result = id, filepath.Join(dir, "ns"), chain.StateAdding, nil
	rec.ConfigArgs = chain.LabelArgs(network, map[string]string{t[0]: t[1]})
	rec.CapabilityArgs = chain.PortMappingArgs([]chain.PortMapping{p})
	if err := store.Save(&rec); err != nil {
		return err
	}
	res := &current.Result{}
	if err := json.Unmarshal(tmpl.Result, res); err != nil {
		return err
	}
	ip := res.IPs[0].Address
	res.IPs[0].Address = net.IPNet{IP: net.ParseIP(addr).To4(), Mask: ip.Mask}
	if rec.Result, err = json.Marshal(res); err != nil {
		return err
	}
	rec.State, rec.Config = chain.StateAdded, nil
	if err := store.Save(&rec); err != nil {
		return err
	}
	for _, f := range []string{"hostname", "resolv.conf", "hosts"} {
		if err := os.WriteFile(filepath.Join(dir, f), files[f], 0o644); err != nil {
			return err
		}
	}
	return nil
}
