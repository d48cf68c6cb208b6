package portmap_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/plugins/pkg/ns"

	"github.com/weirnet/weir/internal/sandbox"
	"github.com/weirnet/weir/plugins/portmap"
)

// benchConf is the portmap configuration of attachment i (dual stack, one
// tcp port) of a host whose portmap state is under dir.
func benchConf(dir string, i, hostPort int) []byte {
	return []byte(fmt.Sprintf(`{"cniVersion":"1.0.0","name":"benchnet","type":"portmap","stateDir":%q,
	  "prevResult":{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","sandbox":"/run/netns/c%d"}],
	    "ips":[{"address":"10.200.%d.%d/16","interface":0},{"address":"fd00:200::%x/64","interface":0}]},
	  "runtimeConfig":{"portMappings":[{"hostPort":%d,"containerPort":80,"protocol":"tcp"}]}}`,
		dir, i, i/250, i%250+2, i+2, hostPort))
}

// benchHost is a network namespace standing for a host with n published
// containers, and the time its ADDs and DELs took.
type benchHost struct {
	n            int
	ns           ns.NetNS
	dir          string
	inAdd, inDel time.Duration
}

func (h *benchHost) call(p *portmap.Plugin, add bool, id string, conf []byte) error {
	args := &skel.CmdArgs{ContainerID: id, Netns: "/proc/self/ns/net", IfName: "eth0", StdinData: conf}
	if add {
		_, err := p.Add(context.Background(), nil, args)
		return err
	}
	return p.Del(context.Background(), nil, args)
}

// BenchmarkAddDel times portmap's ADD and DEL of one attachment on a host
// that already publishes the ports of N others, for N = 10 and N = 1,000.
// Each N is its own network namespace (nat tables are per namespace) with
// its own state directory, and every iteration does one ADD+DEL in each,
// interleaved, so that load from other processes falls on both alike. It
// reports the ADD's and the DEL's ns/op for each N (ns/op is the sum of
// all four), the ratio of the ADDs at 1,000 and 10 (add-ratio), and of the
// ADD+DELs (ratio): 1 when the cost does not grow with the containers.
//
//	go test -exec $PWD/scripts/sandbox -run '^$' -bench AddDel -benchtime 20x ./plugins/portmap/
func BenchmarkAddDel(b *testing.B) {
	sandbox.Require(b)
	p := portmap.New()
	var hosts []*benchHost
	for _, n := range []int{10, 1000} {
		h := &benchHost{n: n, ns: sandbox.NewNS(b), dir: b.TempDir()}
		err := h.ns.Do(func(ns.NetNS) error {
			for i := range n {
				if err := h.call(p, true, fmt.Sprintf("other-%d", i), benchConf(h.dir, i, 10000+i)); err != nil {
					return fmt.Errorf("ADD of other-%d: %w", i, err)
				}
			}
			return nil
		})
		if err != nil {
			b.Fatalf("publishing %d containers: %v", n, err)
		}
		hosts = append(hosts, h)
	}
	b.ResetTimer()
	for range b.N {
		for _, h := range hosts {
			conf := benchConf(h.dir, 9999, 9999)
			err := h.ns.Do(func(ns.NetNS) error {
				start := time.Now()
				if err := h.call(p, true, "bench", conf); err != nil {
					return fmt.Errorf("ADD: %w", err)
				}
				added := time.Now()
				if err := h.call(p, false, "bench", conf); err != nil {
					return fmt.Errorf("DEL: %w", err)
				}
				h.inAdd += added.Sub(start)
				h.inDel += time.Since(added)
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
		b.ReportMetric(perOp(h.inAdd), fmt.Sprintf("add-ns/op@%d", h.n))
		b.ReportMetric(perOp(h.inDel), fmt.Sprintf("del-ns/op@%d", h.n))
	}
	few, many := hosts[0], hosts[1]
	b.ReportMetric(float64(many.inAdd)/float64(few.inAdd), "add-ratio")
	b.ReportMetric(float64(many.inAdd+many.inDel)/float64(few.inAdd+few.inDel), "ratio")
}
