package policy_test

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weirnet/weir/internal/sandbox"
	"github.com/weirnet/weir/policy"
)

// A denied TCP connect costs connectTimeout. A probe that should have got
// through but did not is tried once more, with recheckTimeout, so a SYN
// lost to a busy machine is not taken for a drop; a probe that got through
// is never retried.
const (
	connectTimeout = 350 * time.Millisecond
	recheckTimeout = 2 * time.Second
	maxProbes      = 64 // probes in flight at once
)

func connectsWithin(a, b *container, port int, timeout time.Duration) bool {
	return sandbox.Connect(a.ns, net.JoinHostPort(b.ip.String(), fmt.Sprint(port)), timeout) == nil
}

// pings reports whether an ICMP echo from a to b gets its reply.
func pings(a, b *container) bool { return sandbox.Ping(a.ns.Path(), b.ip.String()) == nil }

// probe is one reachability check: TCP to a port, or an ICMP echo.
type probe struct {
	from, to *container
	proto    policy.Protocol
	port     int
}

func (p probe) String() string {
	if p.proto == policy.ICMP {
		return fmt.Sprintf("%s -> %s ping", p.from.name, p.to.name)
	}
	return fmt.Sprintf("%s -> %s:%d", p.from.name, p.to.name, p.port)
}

func (p probe) run(timeout time.Duration) bool {
	if p.proto == policy.ICMP {
		return pings(p.from, p.to)
	}
	return connectsWithin(p.from, p.to, p.port, timeout)
}

// reach runs the probes concurrently and returns whether each got through;
// probes that want says should have but did not are tried once more.
func reach(probes []probe, want []bool) []bool {
	got := make([]bool, len(probes))
	sem := make(chan struct{}, maxProbes)
	var wg sync.WaitGroup
	for i, p := range probes {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			got[i] = p.run(connectTimeout)
			if !got[i] && want[i] {
				got[i] = p.run(recheckTimeout)
			}
		}()
	}
	wg.Wait()
	return got
}

// endpoint is c as the reference semantics see it: a container with its
// labels, or an address outside weir once the engine forgot it.
func endpoint(c *container) policy.Endpoint {
	if c.forgotten {
		return policy.Endpoint{IPs: []netip.Addr{c.ip}}
	}
	return policy.Endpoint{ID: c.name, Labels: c.labels, IPs: []netip.Addr{c.ip}}
}

// matrix compares every pair of cs (TCP to each port, or ICMP when ports
// is nil) with what the policy files say (policy.Set.Explain, the
// reference semantics) and reports each difference as an error. It
// returns how many probes the files allow and deny.
func (l *lab) matrix(cs []*container, proto policy.Protocol, ports []int, defaultAction policy.Action) (allowed, denied int) {
	l.t.Helper()
	set, err := policy.LoadDir(l.policyDir)
	if err != nil {
		l.t.Fatal(err)
	}
	if proto == policy.ICMP {
		ports = []int{0}
	}
	var probes []probe
	for _, a := range cs {
		for _, b := range cs {
			if a == b {
				continue
			}
			for _, port := range ports {
				probes = append(probes, probe{from: a, to: b, proto: proto, port: port})
			}
		}
	}
	exps := make([]policy.Explanation, len(probes))
	want := make([]bool, len(probes))
	for i, p := range probes {
		exps[i] = set.Explain(endpoint(p.from), endpoint(p.to), policy.Packet{Protocol: p.proto, Port: p.port}, defaultAction)
		want[i] = exps[i].Allowed
	}
	got := reach(probes, want)
	var wrong []string
	for i, p := range probes {
		exp := exps[i]
		if exp.Allowed {
			allowed++
		} else {
			denied++
		}
		if got[i] != exp.Allowed {
			wrong = append(wrong, fmt.Sprintf("%s got through=%v, files say %s", p, got[i], exp))
		}
	}
	if len(wrong) > 0 {
		l.t.Errorf("%s matrix on %s differs from the policy files:\n%s", proto, l.list.Name, strings.Join(wrong, "\n"))
	}
	return allowed, denied
}

// checkMatrix is the TCP matrix of the live containers on the lab's ports,
// which must have both allowed and denied pairs.
func (l *lab) checkMatrix(defaultAction policy.Action) {
	l.t.Helper()
	allowed, denied := l.matrix(l.live(), policy.TCP, l.ports, defaultAction)
	if allowed == 0 || denied == 0 {
		l.t.Errorf("the matrix has %d allowed and %d denied pairs: it should exercise both", allowed, denied)
	}
}

// expectation is a probe's outcome a test states outright, besides what
// the matrix compares with the files.
type expectation struct {
	probe
	through bool
}

func pass(p probe) expectation { return expectation{p, true} }
func drop(p probe) expectation { return expectation{p, false} }

// expect runs the probes concurrently and reports each that does not get
// through, or is not dropped, as expected.
func expect(t *testing.T, what string, es ...expectation) {
	t.Helper()
	probes := make([]probe, len(es))
	want := make([]bool, len(es))
	for i, e := range es {
		probes[i], want[i] = e.probe, e.through
	}
	got := reach(probes, want)
	for i, p := range probes {
		if got[i] != want[i] {
			t.Errorf("%s: %s got through=%v, want %v", what, p, got[i], want[i])
		}
	}
}

func tcp(from, to *container, port int) probe {
	return probe{from: from, to: to, proto: policy.TCP, port: port}
}

func ping(from, to *container) probe { return probe{from: from, to: to, proto: policy.ICMP} }
