package dataplane

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/weirnet/weir/internal/sandbox"
)

// benchState is a host with endpoints eps: one chain of five rules per
// endpoint, a dispatch chain with one jump per endpoint hooked into
// FORWARD, and a peer set holding every endpoint's address.
func benchState(eps []int) State {
	s := NewState()
	peers := IPSet{Name: "weir-b-peers", Type: "hash:ip", Family: IPv4}
	nets := IPSet{Name: "weir-b-nets", Type: "hash:net", Family: IPv4, Members: []string{"10.22.0.0/16", "192.168.0.0/16"}}
	fwd := Chain{Table: Filter, Family: IPv4, Name: "WEIR-FORWARD", Rules: []string{
		`-m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment "weir: replies" -j ACCEPT`,
		`-m conntrack --ctstate INVALID -m comment --comment "weir: invalid" -j DROP`,
	}}
	for _, i := range eps {
		ip := fmt.Sprintf("10.40.%d.%d", i/250, i%250+1)
		peers.Members = append(peers.Members, ip)
		c := fmt.Sprintf(`-m comment --comment "weir: container c%05d"`, i)
		name := fmt.Sprintf("WEIR-EP-c%05d", i)
		fwd.Rules = append(fwd.Rules, fmt.Sprintf(`-o weir0 -m physdev --physdev-out veth%05d --physdev-is-bridged %s -j %s`, i, c, name))
		s.Chains[ChainKey(Filter, IPv4, name)] = Chain{Table: Filter, Family: IPv4, Name: name, Rules: []string{
			`-p tcp -m multiport --dports 5432,8000:8080 -m set --match-set weir-b-peers src ` + c + ` -j ACCEPT`,
			`-p tcp --dport 80 -m set --match-set weir-b-nets src ` + c + ` -j ACCEPT`,
			`-p icmp --icmp-type echo-request ` + c + ` -j ACCEPT`,
			c + fmt.Sprintf(` -j LOG --log-prefix "weir-deny c%05d: "`, i),
			c + ` -j DROP`,
		}}
	}
	s.Chains[ChainKey(Filter, IPv4, fwd.Name)] = fwd
	s.Sets[peers.Name], s.Sets[nets.Name] = peers, nets
	s.Hooks = []Hook{{Table: Filter, Family: IPv4, Chain: "FORWARD", Rule: `-m comment --comment "weir: dispatch" -j WEIR-FORWARD`}}
	return s
}

func seq(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

// benchWriter applies 1,000 endpoints and returns the Writer.
func benchWriter(b *testing.B) *Writer {
	sandbox.Require(b)
	cfg := Config{}
	if os.Getenv("WEIR_BENCH_DEBUG") != "" {
		cfg.Log = hclog.New(&hclog.LoggerOptions{Level: hclog.Debug})
	}
	w := kernelWriter(b, cfg)
	if _, err := w.Apply(bg(), benchState(seq(0, 1000))); err != nil {
		b.Fatal(err)
	}
	return w
}

func report(b *testing.B, total time.Duration, forks int) {
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/op")
	b.ReportMetric(float64(forks)/float64(b.N), "forks/op")
}

// BenchmarkApplyAddEndpoint: 1,000 endpoints present; each op applies a
// state with one more endpoint (its chain, its jump in the dispatch
// chain, its address in the peer set) — a container's ADD.
func BenchmarkApplyAddEndpoint(b *testing.B) {
	w := benchWriter(b)
	var total time.Duration
	forks := 0
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		s := benchState(seq(0, 1001+i))
		b.StartTimer()
		st, err := w.Apply(bg(), s)
		if err != nil {
			b.Fatal(err)
		}
		if st.ChainsCreated != 1 || st.ChainsWritten != 1 || st.ChainsEdited != 1 || st.MembersAdded != 1 || !st.FromCache {
			b.Fatalf("op %d: %+v", i, st)
		}
		total += st.Duration
		forks += st.Forks
	}
	report(b, total, forks)
}

// BenchmarkApplyAddEndpointNewWriter is BenchmarkApplyAddEndpoint with a
// fresh Writer for every op, as in a CNI plugin process that lives for one
// ADD: the backend is detected, the cache file decoded and every rule
// canonicalised again.
func BenchmarkApplyAddEndpointNewWriter(b *testing.B) {
	w := benchWriter(b)
	var total time.Duration
	forks := 0
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		s := benchState(seq(0, 1001+i))
		fresh := New(w.cfg)
		b.StartTimer()
		st, err := fresh.Apply(bg(), s)
		if err != nil {
			b.Fatal(err)
		}
		if st.ChainsCreated != 1 || st.ChainsEdited != 1 || !st.FromCache {
			b.Fatalf("op %d: %+v", i, st)
		}
		total += st.Duration
		forks += st.Forks
	}
	report(b, total, forks)
}

// BenchmarkApplyRemoveEndpoint: 1,000 endpoints present; each op applies
// a state with one endpoint fewer — a container's DEL.
func BenchmarkApplyRemoveEndpoint(b *testing.B) {
	w := benchWriter(b)
	var total time.Duration
	forks := 0
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		s := benchState(seq(i+1, 1000))
		b.StartTimer()
		st, err := w.Apply(bg(), s)
		if err != nil {
			b.Fatal(err)
		}
		if st.ChainsDeleted != 1 || st.ChainsEdited != 1 || st.MembersRemoved != 1 || !st.FromCache {
			b.Fatalf("op %d: %+v", i, st)
		}
		total += st.Duration
		forks += st.Forks
	}
	report(b, total, forks)
}

// BenchmarkApplyPeerJoins: 1,000 endpoints present; each op adds one
// address to the peer set and nothing else (ipset alone runs).
func BenchmarkApplyPeerJoins(b *testing.B) {
	w := benchWriter(b)
	base := benchState(seq(0, 1000))
	var total time.Duration
	forks := 0
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		set := base.Sets["weir-b-peers"]
		set.Members = append(set.Members, fmt.Sprintf("10.50.%d.%d", i/250, i%250+1))
		base.Sets["weir-b-peers"] = set
		b.StartTimer()
		st, err := w.Apply(bg(), base)
		if err != nil {
			b.Fatal(err)
		}
		if st.Restores != 1 || st.ChainsWritten != 0 {
			b.Fatalf("op %d: %+v", i, st)
		}
		total += st.Duration
		forks += st.Forks
	}
	report(b, total, forks)
}

// BenchmarkApplyUnchanged: 1,000 endpoints present and unchanged.
func BenchmarkApplyUnchanged(b *testing.B) {
	w := benchWriter(b)
	s := benchState(seq(0, 1000))
	var total time.Duration
	forks := 0
	for i := 0; i < b.N; i++ {
		st, err := w.Apply(bg(), s)
		if err != nil {
			b.Fatal(err)
		}
		if st.Forks != 0 {
			b.Fatalf("op %d: %+v", i, st)
		}
		total += st.Duration
		forks += st.Forks
	}
	report(b, total, forks)
}

// BenchmarkRepair: a full Repair of 1,000 endpoints (read back both
// families and the sets, diff, refresh the cache), with one chain
// flushed by hand before every op so there is drift to fix.
func BenchmarkRepair(b *testing.B) {
	w := benchWriter(b)
	s := benchState(seq(0, 1000))
	var total time.Duration
	forks := 0
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		sh(b, "", fmt.Sprintf("iptables -w -F WEIR-EP-c%05d", i%1000))
		b.StartTimer()
		st, err := w.Repair(bg(), s)
		if err != nil {
			b.Fatal(err)
		}
		if st.ChainsEdited != 1 || st.RulesWritten != 5 {
			b.Fatalf("op %d: %+v", i, st)
		}
		total += st.Duration
		forks += st.Forks
	}
	report(b, total, forks)
}

// BenchmarkRepairNoDrift: a full Repair of 1,000 endpoints that finds
// nothing to write.
func BenchmarkRepairNoDrift(b *testing.B) {
	w := benchWriter(b)
	s := benchState(seq(0, 1000))
	var total time.Duration
	forks := 0
	for i := 0; i < b.N; i++ {
		st, err := w.Repair(bg(), s)
		if err != nil {
			b.Fatal(err)
		}
		if st.Writes() != 0 {
			b.Fatalf("op %d: %+v", i, st)
		}
		total += st.Duration
		forks += st.Forks
	}
	report(b, total, forks)
}
