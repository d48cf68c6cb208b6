package masq

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"

	"github.com/weirnet/weir/internal/sandbox"
)

// benchAddrs are attachment i's dual-stack addresses.
func benchAddrs(i int) []net.IPNet {
	return []net.IPNet{
		{IP: net.IPv4(10, 200, byte(i/250), byte(i%250+2)), Mask: net.CIDRMask(16, 32)},
		{IP: net.ParseIP(fmt.Sprintf("fd00:200::%x", i+2)), Mask: net.CIDRMask(64, 128)},
	}
}

// BenchmarkKernelSetupTeardown times Setup and Teardown (with the known
// addresses, as DEL has them) of one dual-stack attachment on a host with
// the masquerade rules of N others, N = 10 and N = 1,000: each N in its own
// network namespace, one of each per iteration, interleaved. It reports
// Setup's and Teardown's ns/op for each N, and the ratios at 1,000 and 10
// of Setup (setup-ratio) and of both (ratio).
//
//	go test -exec $PWD/scripts/sandbox -run '^$' -bench SetupTeardown -benchtime 20x ./plugins/internal/masq/
func BenchmarkKernelSetupTeardown(b *testing.B) {
	sandbox.Require(b)
	ctx := context.Background()
	m := New()
	type host struct {
		n                   int
		ns                  ns.NetNS
		inSetup, inTeardown time.Duration
	}
	var hosts []*host
	for _, n := range []int{10, 1000} {
		h := &host{n: n, ns: sandbox.NewNS(b)}
		err := h.ns.Do(func(ns.NetNS) error {
			for i := range n {
				a := Attachment{Network: "benchnet", ContainerID: fmt.Sprintf("other-%d", i), IfName: "eth0"}
				if err := m.Setup(ctx, a, benchAddrs(i)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatalf("setting up %d attachments: %v", n, err)
		}
		hosts = append(hosts, h)
	}
	a := Attachment{Network: "benchnet", ContainerID: "bench", IfName: "eth0"}
	addrs := benchAddrs(9999)
	b.ResetTimer()
	for range b.N {
		for _, h := range hosts {
			err := h.ns.Do(func(ns.NetNS) error {
				start := time.Now()
				if err := m.Setup(ctx, a, addrs); err != nil {
					return err
				}
				set := time.Now()
				if err := m.Teardown(ctx, a, addrs); err != nil {
					return err
				}
				h.inSetup += set.Sub(start)
				h.inTeardown += time.Since(set)
				return nil
			})
			if err != nil {
				b.Fatalf("with %d others: %v", h.n, err)
			}
		}
	}
	b.StopTimer()
	perOp := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(b.N) }
	for _, h := range hosts {
		b.ReportMetric(perOp(h.inSetup), fmt.Sprintf("setup-ns/op@%d", h.n))
		b.ReportMetric(perOp(h.inTeardown), fmt.Sprintf("teardown-ns/op@%d", h.n))
	}
	few, many := hosts[0], hosts[1]
	b.ReportMetric(float64(many.inSetup)/float64(few.inSetup), "setup-ratio")
	b.ReportMetric(float64(many.inSetup+many.inTeardown)/float64(few.inSetup+few.inTeardown), "ratio")
}
