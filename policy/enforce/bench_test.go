package enforce

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weirnet/weir/internal/sandbox"
	"github.com/weirnet/weir/policy"
	"github.com/weirnet/weir/policy/compile"
)

// The benchmarks' synthetic host: endpoints of twenty apps in three tiers
// and three environments, under a hundred policies over app, tier and env
// labels (ingress and egress rules, ports, CIDR peers, one policy every
// endpoint uses). Endpoints are host-mode, behind veth names that need not
// exist: iptables' physdev match takes any name.

const benchNetwork = "benchnet"

var benchApps = []struct{ name, tier string }{
	{"web", "frontend"}, {"portal", "frontend"}, {"admin", "frontend"}, {"mobile-gw", "frontend"}, {"docs", "frontend"},
	{"api", "backend"}, {"auth", "backend"}, {"billing", "backend"}, {"search", "backend"},
	{"orders", "backend"}, {"users", "backend"}, {"notify", "backend"}, {"reports", "backend"},
	{"db", "data"}, {"cache", "data"}, {"queue", "data"}, {"kafka", "data"}, {"elastic", "data"},
	{"objstore", "data"}, {"metrics", "data"},
}

var benchEnvs = []string{"prod", "staging", "dev"}

// dataPorts are the ports the data tier serves, by app.
var dataPorts = map[string]string{"db": "5432", "cache": "6379", "queue": "5672", "kafka": "9092",
	"elastic": "9200", "objstore": `"9000-9001"`, "metrics": "9009"}

// benchPolicies returns the TOML of 100 policies: for each of the 20 apps
// an ingress policy (order 100), an egress policy (100), a monitoring
// policy for prod and staging (50), a prod lockdown with log and deny
// rules on CIDRs (10), and for 19 apps a dev policy (200); plus
// "baseline-dns" (order 1), which selects every endpoint. extraPort, when
// not 0, is added to api-ingress's ports (the edit of the reconcile
// benchmark); dnsPorts are baseline-dns's ports (the edit of the re-render
// benchmark).
func benchPolicies(extraPort int, dnsPorts string) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p(`[[policy]]
name = "baseline-dns"
order = 1
selector = "has(app)"
[[policy.egress]]
action = "allow"
protocol = "udp"
ports = [%s]
to = { nets = ["10.96.0.10/32", "10.96.0.11/32"] }
[[policy.egress]]
action = "allow"
protocol = "tcp"
ports = [%s]
to = { nets = ["10.96.0.10/32", "10.96.0.11/32"] }
`, dnsPorts, dnsPorts)
	for i, a := range benchApps {
		p("\n[[policy]]\nname = %q\norder = 100\nselector = \"app == '%s'\"\n", a.name+"-ingress", a.name)
		switch a.tier {
		case "frontend":
			p(`[[policy.ingress]]
action = "allow"
protocol = "tcp"
ports = [80, 443]
from = { nets = ["0.0.0.0/0"], not_nets = ["192.0.2.0/24", "198.51.100.0/24"] }
`)
		case "backend":
			ports := "8080, 8443"
			if a.name == "api" && extraPort != 0 {
				ports += fmt.Sprintf(", %d", extraPort)
			}
			p(`[[policy.ingress]]
action = "allow"
protocol = "tcp"
ports = [%s]
from = { selector = "tier == 'frontend' || tier == 'backend'" }
`, ports)
		default:
			p(`[[policy.ingress]]
action = "allow"
protocol = "tcp"
ports = [%s]
from = { selector = "tier == 'backend'" }
[[policy.ingress]]
action = "allow"
protocol = "tcp"
from = { selector = "app == '%s'" }
`, dataPorts[a.name], a.name)
		}

		p("\n[[policy]]\nname = %q\norder = 100\nselector = \"app == '%s'\"\n", a.name+"-egress", a.name)
		switch a.tier {
		case "frontend":
			p(`[[policy.egress]]
action = "allow"
protocol = "tcp"
ports = [8080, 8443, "7000-7099"]
to = { selector = "tier == 'backend'" }
`)
		case "backend":
			p(`[[policy.egress]]
action = "allow"
protocol = "tcp"
ports = [8080, 8443]
to = { selector = "tier == 'backend'" }
[[policy.egress]]
action = "allow"
protocol = "tcp"
ports = [5432, 6379, 5672, 9092, 9200, "9000-9001", 9009]
to = { selector = "tier == 'data'" }
[[policy.egress]]
action = "allow"
protocol = "tcp"
ports = [443]
to = { nets = ["0.0.0.0/0"], not_nets = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"] }
`)
		default:
			p(`[[policy.egress]]
action = "allow"
protocol = "tcp"
to = { selector = "app == '%s'" }
`, a.name)
		}

		p(`
[[policy]]
name = %q
order = 50
selector = "app == '%s' && env in {'prod','staging'}"
[[policy.ingress]]
action = "allow"
protocol = "tcp"
ports = [9100, 9090]
from = { nets = ["10.250.0.0/16"] }
`, a.name+"-monitoring", a.name)

		p(`
[[policy]]
name = %q
order = 10
selector = "app == '%s' && env == 'prod'"
[[policy.ingress]]
action = "log"
from = { nets = ["192.168.0.0/16"] }
[[policy.ingress]]
action = "deny"
from = { nets = ["192.168.0.0/16", "172.16.0.0/12"] }
[[policy.egress]]
action = "deny"
to = { nets = ["169.254.169.254/32"] }
`, a.name+"-prod-lockdown", a.name)

		if i < 19 {
			p(`
[[policy]]
name = %q
order = 200
selector = "app == '%s' && env == 'dev'"
[[policy.ingress]]
action = "allow"
from = { selector = "env == 'dev'" }
[[policy.egress]]
action = "allow"
to = { selector = "env == 'dev'" }
[[policy.egress]]
action = "allow"
protocol = "icmp"
`, a.name+"-dev-open", a.name)
		}
	}
	return b.String()
}

const benchDNSPorts = "53"

// benchHost is a state directory and a policy directory under the sandbox's
// /run (tmpfs, like weir's /run/weir).
type benchHost struct {
	stateDir, policyDir string
}

func newBenchHost(b *testing.B) *benchHost {
	b.Helper()
	sandbox.Require(b)
	if err := os.MkdirAll("/run/weir-bench", 0o755); err != nil {
		b.Fatal(err)
	}
	root, err := os.MkdirTemp("/run/weir-bench", "host-")
	if err != nil {
		b.Fatal(err)
	}
	return benchHostAt(b, root)
}

// newCPUBenchHost is a benchHost for benchmarks that touch no kernel
// state, outside the sandbox too: under the test's temporary directory.
func newCPUBenchHost(b *testing.B) *benchHost {
	b.Helper()
	return benchHostAt(b, b.TempDir())
}

func benchHostAt(b *testing.B, root string) *benchHost {
	b.Helper()
	h := &benchHost{stateDir: filepath.Join(root, "state"), policyDir: filepath.Join(root, "policies")}
	if err := os.MkdirAll(h.policyDir, 0o755); err != nil {
		b.Fatal(err)
	}
	h.writePolicies(b, benchPolicies(0, benchDNSPorts))
	if s, err := policy.LoadDir(h.policyDir); err != nil {
		b.Fatalf("the benchmark's policies do not load: %v", err)
	} else if s.Len() != 100 {
		b.Fatalf("%d policies, want 100", s.Len())
	}
	b.Cleanup(func() { _ = os.RemoveAll(root) })
	return h
}

func (h *benchHost) writePolicies(b testing.TB, content string) {
	b.Helper()
	if err := os.WriteFile(filepath.Join(h.policyDir, "policies.toml"), []byte(content), 0o644); err != nil {
		b.Fatal(err)
	}
}

// benchVeth is a veth name the way weir's bridge plugin makes them.
func benchVeth(id string) string {
	s := sha256.Sum256([]byte(benchNetwork + "\x00" + id + "\x00eth0"))
	return "veth" + hex.EncodeToString(s[:])[:11]
}

// benchEndpoint is synthetic endpoint i: app, tier and env labels cycling,
// an address in 10.64.0.0/16.
func (h *benchHost) endpoint(i int) compile.Endpoint {
	a := benchApps[i%len(benchApps)]
	env := benchEnvs[(i/len(benchApps))%len(benchEnvs)]
	id := fmt.Sprintf("ctr-%05d", i)
	return compile.Endpoint{
		Endpoint: policy.Endpoint{ID: id, IfName: "eth0", Network: benchNetwork,
			IPs:    []netip.Addr{netip.AddrFrom4([4]byte{10, 64, byte(i / 250), byte(i%250 + 2)})},
			Labels: map[string]string{"app": a.name, "tier": a.tier, "env": env}},
		Mode: compile.Host, PolicyDir: h.policyDir, HostIface: benchVeth(id), DefaultAction: policy.Allow,
	}
}

// newEndpoint is the endpoint a benchmark attaches with n present:
// endpoint n, with an address in the first /24 (whose dispatch chain
// exists), as most new containers' are.
func (h *benchHost) newEndpoint(n int) compile.Endpoint {
	ep := h.endpoint(n)
	ep.IPs = []netip.Addr{netip.AddrFrom4([4]byte{10, 64, 0, 252})}
	return ep
}

// populate records endpoints 0..n-1 in the index at once and renders them
// with one engine, which it returns.
func (h *benchHost) populate(b testing.TB, n int, extra ...compile.Endpoint) *Engine {
	b.Helper()
	e := New(h.stateDir, nil)
	idx := &index{Endpoints: map[string]compile.Endpoint{}}
	for i := 0; i < n; i++ {
		ep := h.endpoint(i)
		idx.Endpoints[Key(ep.Network, ep.ID, ep.IfName)] = ep
	}
	for _, ep := range extra {
		idx.Endpoints[Key(ep.Network, ep.ID, ep.IfName)] = ep
	}
	if err := e.writeIndex(idx); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	rep, err := e.Render(context.Background())
	if err != nil {
		b.Fatalf("rendering %d endpoints: %v", n, err)
	}
	b.Logf("populated %d endpoints: %v, %d writes, %d rules", rep.Endpoints, time.Since(start).Round(time.Millisecond),
		rep.Writes(), rep.Host.RulesWritten)
	b.Cleanup(func() { h.clear(b) })
	return e
}

// clear forgets every endpoint and removes weir's objects from the kernel.
func (h *benchHost) clear(b testing.TB) {
	e := New(h.stateDir, nil)
	if err := e.writeIndex(&index{Endpoints: map[string]compile.Endpoint{}}); err != nil {
		b.Error(err)
		return
	}
	if _, err := e.Render(context.Background()); err != nil {
		b.Errorf("clearing the dataplane: %v", err)
	}
}

// timings collects per-iteration durations.
type timings []time.Duration

func (t timings) median() time.Duration {
	if len(t) == 0 {
		return 0
	}
	s := slices.Clone(t)
	slices.Sort(s)
	return s[len(s)/2]
}

func (t timings) mean() time.Duration {
	if len(t) == 0 {
		return 0
	}
	var sum time.Duration
	for _, d := range t {
		sum += d
	}
	return sum / time.Duration(len(t))
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// report reports the mean and median of ts as name's metrics.
func (t timings) report(b *testing.B, name string) {
	b.ReportMetric(ms(t.mean()), "ms/"+name)
	b.ReportMetric(ms(t.median()), "ms-median/"+name)
}

// BenchmarkAttach: policy programming for one new endpoint with 10, 100
// and 1,000 endpoints present and 100 policies loaded: Attach of one more
// host-mode endpoint (timed), then Detach (timed separately). "warm" is one
// long-lived engine (the daemon's); "fresh" makes a new engine for every
// call, as the policy plugin does on each ADD. Target: median Attach ≤ 10
// ms at 1,000.
func BenchmarkAttach(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		for _, mode := range []string{"warm", "fresh"} {
			b.Run(fmt.Sprintf("eps=%d/engine=%s", n, mode), func(b *testing.B) {
				h := newBenchHost(b)
				warm := h.populate(b, n)
				engine := func() *Engine {
					if mode == "warm" {
						return warm
					}
					return New(h.stateDir, nil)
				}
				// One attach and detach before timing: the first calls of
				// a warm engine after populate are not typical.
				ep := h.newEndpoint(n)
				if _, err := engine().Attach(context.Background(), ep); err != nil {
					b.Fatal(err)
				}
				if _, err := engine().Detach(context.Background(), ep.Network, ep.ID, ep.IfName); err != nil {
					b.Fatal(err)
				}
				var att, det timings
				writes, forks := 0, 0
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					start := time.Now()
					rep, err := engine().Attach(context.Background(), ep)
					att = append(att, time.Since(start))
					if err != nil {
						b.Fatal(err)
					}
					writes += rep.Writes()
					forks += rep.Host.Forks
					b.StopTimer()
					start = time.Now()
					if _, err := engine().Detach(context.Background(), ep.Network, ep.ID, ep.IfName); err != nil {
						b.Fatal(err)
					}
					det = append(det, time.Since(start))
					b.StartTimer()
				}
				b.StopTimer()
				att.report(b, "attach")
				det.report(b, "detach")
				b.ReportMetric(float64(writes)/float64(b.N), "writes/attach")
				b.ReportMetric(float64(forks)/float64(b.N), "forks/attach")
			})
		}
	}
}

// BenchmarkRerender: a full re-render of 1,000 endpoints under 100
// policies. "edit-rule" renders after an edit of baseline-dns's ports (a
// policy every endpoint uses: its chains change, the endpoints' do not);
// "edit-order" after an edit of its order that moves it in every
// endpoint's chains (every endpoint chain changes); "repair" is Repair with
// nothing changed (a full read-back). Each edit alternates with its undo,
// so every iteration writes. Target: ≤ 200 ms.
func BenchmarkRerender(b *testing.B) {
	h := newBenchHost(b)
	e := h.populate(b, 1000)
	orig := benchPolicies(0, benchDNSPorts)
	edits := map[string]string{
		"edit-rule":  benchPolicies(0, "53, 853"),
		"edit-order": strings.Replace(orig, "name = \"baseline-dns\"\norder = 1\n", "name = \"baseline-dns\"\norder = 150\n", 1),
	}
	if edits["edit-order"] == orig {
		b.Fatal("the order edit changed nothing")
	}
	for _, kind := range []string{"edit-rule", "edit-order", "repair"} {
		b.Run(kind, func(b *testing.B) {
			var ts timings
			writes := 0
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				if kind != "repair" {
					if i%2 == 0 {
						h.writePolicies(b, edits[kind])
					} else {
						h.writePolicies(b, orig)
					}
				}
				b.StartTimer()
				start := time.Now()
				var rep Report
				var err error
				if kind == "repair" {
					rep, err = e.Repair(context.Background())
				} else {
					rep, err = e.Render(context.Background())
				}
				ts = append(ts, time.Since(start))
				if err != nil {
					b.Fatal(err)
				}
				writes += rep.Writes()
				if kind == "repair" && rep.Writes() != 0 {
					b.Errorf("repair with nothing changed wrote %d objects: %+v", rep.Writes(), rep.Host)
				}
				if kind != "repair" && rep.Writes() == 0 {
					b.Errorf("render after an edit wrote nothing")
				}
			}
			b.StopTimer()
			h.writePolicies(b, orig)
			if _, err := e.Render(context.Background()); err != nil {
				b.Fatal(err)
			}
			ts.report(b, "render")
			b.ReportMetric(float64(writes)/float64(b.N), "writes/op")
		})
	}
}
