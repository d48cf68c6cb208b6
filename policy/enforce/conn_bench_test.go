package enforce

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"

	"github.com/weirnet/weir/internal/sandbox"
	"github.com/weirnet/weir/policy"
	"github.com/weirnet/weir/policy/compile"
	"github.com/weirnet/weir/policy/dataplane"
)

// connLab is two real containers on a bridge in the sandbox's namespace,
// each behind a veth whose host end is a bridge port, under policy as
// host-mode endpoints, with the last two addresses of a /24 the synthetic
// endpoints fill (so their dispatch rules come last in a full bucket): a client labelled app=web (frontend, prod) and a
// server labelled app=api (backend, prod) listening on 8080 (which the
// benchmark's policies allow from the frontend) and 7070 (which they do
// not, unless api-ingress is edited to allow it).
type connLab struct {
	client, server     ns.NetNS
	clientEP, serverEP compile.Endpoint
}

const (
	allowedPort = 8080
	editedPort  = 7070
)

func newConnLab(b *testing.B, h *benchHost) *connLab {
	b.Helper()
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "wbench0"}}
	if err := netlink.LinkAdd(br); err != nil {
		b.Fatalf("creating bridge: %v", err)
	}
	sandbox.CleanupLink(b, "wbench0")
	if err := netlink.LinkSetUp(br); err != nil {
		b.Fatal(err)
	}
	for _, s := range []string{"bridge-nf-call-iptables", "bridge-nf-call-ip6tables"} {
		if err := os.WriteFile("/proc/sys/net/bridge/"+s, []byte("1"), 0o644); err != nil {
			b.Fatalf("bridged traffic must traverse iptables: %v", err)
		}
	}
	l := &connLab{}
	mk := func(id, ip string, labels map[string]string) (ns.NetNS, compile.Endpoint) {
		n := sandbox.NewNS(b)
		veth := benchVeth(id)
		host := sandbox.Veth(b, veth, "eth0", n)
		if err := netlink.LinkSetMaster(host, br); err != nil {
			b.Fatal(err)
		}
		if err := n.Do(func(ns.NetNS) error {
			link, err := netlink.LinkByName("eth0")
			if err != nil {
				return err
			}
			addr, err := netlink.ParseAddr(ip + "/16")
			if err != nil {
				return err
			}
			if err := netlink.AddrAdd(link, addr); err != nil {
				return err
			}
			lo, err := netlink.LinkByName("lo")
			if err != nil {
				return err
			}
			return netlink.LinkSetUp(lo)
		}); err != nil {
			b.Fatal(err)
		}
		return n, compile.Endpoint{
			Endpoint: policy.Endpoint{ID: id, IfName: "eth0", Network: benchNetwork,
				IPs: []netip.Addr{netip.MustParseAddr(ip)}, Labels: labels},
			Mode: compile.Host, PolicyDir: h.policyDir, HostIface: veth, DefaultAction: policy.Allow,
		}
	}
	l.client, l.clientEP = mk("real-client", "10.64.3.253", map[string]string{"app": "web", "tier": "frontend", "env": "prod"})
	l.server, l.serverEP = mk("real-server", "10.64.3.254", map[string]string{"app": "api", "tier": "backend", "env": "prod"})
	for _, p := range []int{allowedPort, editedPort} {
		sandbox.Listen(b, l.server, fmt.Sprintf(":%d", p))
	}
	return l
}

// dial connects from the client to the server's port and closes.
func (l *connLab) dial(port int, timeout time.Duration) error {
	return l.client.Do(func(ns.NetNS) error {
		c, err := net.DialTimeout("tcp", netip.AddrPortFrom(l.serverEP.IPs[0], uint16(port)).String(), timeout)
		if err != nil {
			return err
		}
		return c.Close()
	})
}

// connectBlock opens and closes count connections from the client to
// server's allowed port in one pass through the client's namespace, and
// returns each connection's time.
func (l *connLab) connectBlock(server compile.Endpoint, count int) (timings, error) {
	ts := make(timings, 0, count)
	addr := netip.AddrPortFrom(server.IPs[0], allowedPort).String()
	err := l.client.Do(func(ns.NetNS) error {
		for i := 0; i < count; i++ {
			start := time.Now()
			c, err := net.DialTimeout("tcp", addr, 2*time.Second)
			if err != nil {
				return fmt.Errorf("connection %d: %w", i, err)
			}
			if err := c.Close(); err != nil {
				return err
			}
			ts = append(ts, time.Since(start))
		}
		return nil
	})
	return ts, err
}

// BenchmarkConnectionRate: new TCP connections per second between two
// real containers on a bridge with 1,000 synthetic endpoints and 100
// policies installed ("policy") and with none of weir's objects in the
// kernel at all ("none"), in alternating blocks of 200 connections; each
// b.N is one block of each variant. A third variant, "ct-only", has a single
// conntrack rule in FORWARD and nothing else: the cost of connection
// tracking alone, which any stateful policy pays. Both containers are endpoints the policies
// select and allow (web -> api:8080); a connection to a port the policies
// do not allow is checked to fail while policy is on. Target: policy/none
// ≥ 0.9.
func BenchmarkConnectionRate(b *testing.B) {
	const block = 200
	h := newBenchHost(b)
	l := newConnLab(b, h)
	e := h.populate(b, 1000, l.clientEP, l.serverEP)
	eps, err := e.Endpoints()
	if err != nil {
		b.Fatal(err)
	}
	sets, err := LoadPolicies(eps)
	if err != nil {
		b.Fatal(err)
	}
	out, err := compile.Compile(sets, eps)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	ctOnly := dataplane.NewState()
	ctOnly.Chains[dataplane.ChainKey(dataplane.Filter, dataplane.IPv4, "WEIR-CT")] = dataplane.Chain{
		Table: dataplane.Filter, Family: dataplane.IPv4, Name: "WEIR-CT",
		Rules: []string{`-m conntrack --ctstate INVALID -m comment --comment "weir: ct only" -j DROP`}}
	ctOnly.Hooks = []dataplane.Hook{{Table: dataplane.Filter, Family: dataplane.IPv4, Chain: "FORWARD",
		Rule: `-m comment --comment "weir: ct only" -j WEIR-CT`}}
	const (
		none = iota
		policyOn
		ctOn
	)
	names := []string{"none", "policy", "ct-only"}
	set := func(v int) {
		st := dataplane.NewState()
		switch v {
		case policyOn:
			st = out.Host
		case ctOn:
			st = ctOnly
		}
		if _, err := e.Writer.Apply(ctx, st); err != nil {
			b.Fatal(err)
		}
	}
	// Policy is on: the allowed port connects, the other does not.
	if err := l.dial(allowedPort, time.Second); err != nil {
		b.Fatalf("web cannot reach api:%d under policy: %v", allowedPort, err)
	}
	if err := l.dial(editedPort, 200*time.Millisecond); err == nil {
		b.Fatalf("web reaches api:%d, which no policy allows: policy is not on the path", editedPort)
	}
	set(none)
	if err := l.dial(editedPort, time.Second); err != nil {
		b.Fatalf("without policy web cannot reach api:%d: %v", editedPort, err)
	}
	// Warm up every path.
	for v := range names {
		set(v)
		if _, err := l.connectBlock(l.serverEP, block); err != nil {
			b.Fatal(err)
		}
	}
	conns := make([]timings, len(names))
	walls := make([]time.Duration, len(names))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for k := range names {
			v := (i + k) % len(names)
			b.StopTimer()
			set(v)
			b.StartTimer()
			start := time.Now()
			ts, err := l.connectBlock(l.serverEP, block)
			walls[v] += time.Since(start)
			if err != nil {
				b.Fatalf("%s: %v", names[v], err)
			}
			conns[v] = append(conns[v], ts...)
		}
	}
	b.StopTimer()
	set(policyOn)
	rate := func(v int) float64 { return float64(len(conns[v])) / walls[v].Seconds() }
	for v, name := range names {
		b.ReportMetric(rate(v), "conn/s-"+name)
		b.ReportMetric(float64(conns[v].median().Microseconds()), "µs-median/conn-"+name)
	}
	b.ReportMetric(rate(policyOn)/rate(none), "ratio-policy/none")
	b.ReportMetric(rate(ctOn)/rate(none), "ratio-ct-only/none")
}

// BenchmarkPolicyEditToEnforcement: a Reconciler runs in this process over
// 1,000 synthetic endpoints, the two real containers and 100 policies;
// each op edits the policy file so that api-ingress allows port 7070
// (refused before), and measures the time from the write to the
// Reconciler's Applied callback and to the first connection web ->
// api:7070 that gets through (probes of 5 ms each); then the edit is
// undone and the time until 7070 is refused again is measured the same way
// (not in ns/op).
func BenchmarkPolicyEditToEnforcement(b *testing.B) {
	h := newBenchHost(b)
	l := newConnLab(b, h)
	e := h.populate(b, 1000, l.clientEP, l.serverEP)
	applied := make(chan time.Time, 16)
	r := &Reconciler{Engine: e, Dirs: []string{h.policyDir}, RepairEvery: time.Hour,
		Applied: func(rep Report, err error) {
			if err != nil {
				b.Errorf("reconciler render: %v", err)
			}
			applied <- time.Now()
		}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	}()
	time.Sleep(100 * time.Millisecond) // the watcher is set up

	const probe = 5 * time.Millisecond
	// waitFor probes web -> api:7070 until it connects (want true) or is
	// refused (want false), and returns when that was first seen.
	waitFor := func(want bool) time.Time {
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			err := l.dial(editedPort, probe)
			if (err == nil) == want {
				return time.Now()
			}
			if err == nil {
				time.Sleep(probe) // still allowed: wait as long as a refused probe would
			}
		}
		b.Fatalf("web -> api:%d never became allowed=%v", editedPort, want)
		return time.Time{}
	}
	edit := func(allow bool) (toApplied, toEnforced time.Duration) {
		extra := 0
		if allow {
			extra = editedPort
		}
		for len(applied) > 0 {
			<-applied
		}
		start := time.Now()
		h.writePolicies(b, benchPolicies(extra, benchDNSPorts))
		enforced := waitFor(allow)
		var at time.Time
		select {
		case at = <-applied:
		case <-time.After(10 * time.Second):
			b.Fatal("the reconciler did not apply the edit")
		}
		// Let the reconciler settle (a second event of the same write).
		time.Sleep(60 * time.Millisecond)
		return at.Sub(start), enforced.Sub(start)
	}
	if l.dial(editedPort, 100*time.Millisecond) == nil {
		b.Fatalf("api:%d is reachable before the edit", editedPort)
	}
	var allowApplied, allowEnforced, denyApplied, denyEnforced timings
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		a, en := edit(true)
		allowApplied, allowEnforced = append(allowApplied, a), append(allowEnforced, en)
		b.StopTimer()
		a, en = edit(false)
		denyApplied, denyEnforced = append(denyApplied, a), append(denyEnforced, en)
		b.StartTimer()
	}
	b.StopTimer()
	allowApplied.report(b, "allow-applied")
	allowEnforced.report(b, "allow-enforced")
	denyApplied.report(b, "deny-applied")
	denyEnforced.report(b, "deny-enforced")
}
