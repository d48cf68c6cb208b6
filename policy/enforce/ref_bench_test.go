package enforce

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"

	"github.com/weirnet/weir/internal/sandbox"
	"github.com/weirnet/weir/plugins/pluginkit"
	"github.com/weirnet/weir/policy/compile"
)

// refVariant is one way of programming the new endpoint, timed
// interleaved with the others so that machine noise hits all alike.
type refVariant struct {
	name   string
	add    func(b *testing.B) // timed
	del    func(b *testing.B) // not timed
	timing timings
}

// runRefInterleaved runs every variant's add once per iteration, in
// rotating order, and undoes it with del; it reports each one's mean and
// median add and its ratio to the first (the reference).
func runRefInterleaved(b *testing.B, vs []*refVariant) {
	for _, v := range vs { // once untimed: first calls are not typical
		v.add(b)
		v.del(b)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for k := range vs {
			v := vs[(i+k)%len(vs)]
			start := time.Now()
			v.add(b)
			v.timing = append(v.timing, time.Since(start))
			b.StopTimer()
			v.del(b)
			b.StartTimer()
		}
	}
	b.StopTimer()
	ref := vs[0].timing
	for _, v := range vs {
		v.timing.report(b, v.name)
		if v != vs[0] {
			b.ReportMetric(float64(v.timing.median())/float64(ref.median()), "ratio-median/"+v.name)
		}
	}
}

// inNS runs a command inside the namespace n: the child is forked from a
// thread that is in n.
func inNS(n ns.NetNS, stdin string, name string, args ...string) error {
	return n.Do(func(ns.NetNS) error {
		c := exec.Command(name, args...)
		c.Stdin = strings.NewReader(stdin)
		if out, err := c.CombinedOutput(); err != nil {
			return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
		}
		return nil
	})
}

func outputInNS(n ns.NetNS, name string, args ...string) (string, error) {
	var out []byte
	err := n.Do(func(ns.NetNS) error {
		var err error
		out, err = exec.Command(name, args...).Output()
		return err
	})
	return string(out), err
}

// firewallConf is the reference firewall plugin's configuration with the
// endpoint's address and interface as prevResult.
func firewallConf(ip, netnsPath string) []byte {
	return []byte(fmt.Sprintf(`{"cniVersion":"1.0.0","name":%q,"type":"firewall","backend":"iptables",
	  "prevResult":{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","sandbox":%q}],
	  "ips":[{"address":"%s/16","interface":0}]}}`, benchNetwork, netnsPath, ip))
}

// BenchmarkAttachVsReference: one more endpoint with 10, 100 and 1,000
// present. "reference" execs the reference firewall plugin v1.10.0's ADD
// (iptables backend) in a namespace of its own (the "host" whose FORWARD it
// programs; CNI_NETNS is a real container namespace), with the rules of
// the endpoints present loaded as its ADD writes them.
// "weir-plugin-exec" execs weir's policy plugin ADD (bin/policy) for an
// endpoint behind a real veth; "weir-attach" is engine.Attach on a
// long-lived engine; "weir-attach-fresh" a new engine per call (the
// in-process plugin's path). Each ADD is undone (DEL/Detach, not timed)
// before the next.
func BenchmarkAttachVsReference(b *testing.B) {
	sandbox.Require(b)
	refDir, binDir := os.Getenv("WEIR_REF_DIR"), os.Getenv("WEIR_BIN_DIR")
	if refDir == "" || binDir == "" {
		b.Skip("WEIR_REF_DIR and WEIR_BIN_DIR are not set: make build ref, then set them")
	}
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("eps=%d", n), func(b *testing.B) {
			h := newBenchHost(b)
			e := h.populate(b, n)
			container := sandbox.NewNS(b)
			ctx := context.Background()

			// The reference: its own host namespace, N endpoints' rules.
			refHost := sandbox.NewNS(b)
			ex := &pluginkit.Exec{Stderr: os.Stderr}
			call := func(command string, ep compile.Endpoint) error {
				return refHost.Do(func(ns.NetNS) error {
					_, err := sandbox.Invoke(ctx, ex, sandbox.Call{Command: command, Type: "firewall", Path: refDir,
						ContainerID: ep.ID, NetNS: container.Path(), Conf: firewallConf(ep.IPs[0].String(), container.Path())})
					return err
				})
			}
			if err := call("ADD", h.endpoint(0)); err != nil {
				b.Fatalf("reference firewall ADD: %v", err)
			}
			var batch strings.Builder
			batch.WriteString("*filter\n")
			for i := 1; i < n; i++ {
				ip := h.endpoint(i).IPs[0].String()
				fmt.Fprintf(&batch, "-A CNI-FORWARD -d %s/32 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n-A CNI-FORWARD -s %s/32 -j ACCEPT\n", ip, ip)
			}
			batch.WriteString("COMMIT\n")
			if err := inNS(refHost, batch.String(), "iptables-restore", "--noflush"); err != nil {
				b.Fatal(err)
			}
			save, err := outputInNS(refHost, "iptables-save", "-t", "filter")
			if err != nil {
				b.Fatal(err)
			}
			if got := strings.Count(save, "-A CNI-FORWARD "); got != 2*n+1 {
				b.Fatalf("reference host has %d CNI-FORWARD rules, want %d", got, 2*n+1)
			}

			// weir's plugin, exec'd: the new endpoint behind a real veth.
			ep := h.newEndpoint(n)
			sandbox.Veth(b, ep.HostIface, "eth0", container)
			labels, _ := json.Marshal(ep.Labels)
			weirConf := []byte(fmt.Sprintf(`{"cniVersion":"1.1.0","name":%q,"type":"policy","policyDir":%q,"stateDir":%q,
			  "args":{"cni":{"labels":%s}},
			  "prevResult":{"cniVersion":"1.1.0","interfaces":[{"name":%q},{"name":"eth0","sandbox":%q}],
			  "ips":[{"address":"%s/16","interface":1}]}}`, benchNetwork, h.policyDir, h.stateDir, labels,
				ep.HostIface, container.Path(), ep.IPs[0]))
			weirCall := func(command string) {
				_, err := sandbox.Invoke(ctx, ex, sandbox.Call{Command: command, Type: "policy", Path: binDir,
					ContainerID: ep.ID, NetNS: container.Path(), Conf: weirConf})
				if err != nil {
					b.Fatalf("weir policy plugin %s: %v", command, err)
				}
			}

			runRefInterleaved(b, []*refVariant{
				{name: "reference", add: func(b *testing.B) {
					if err := call("ADD", ep); err != nil {
						b.Fatalf("reference ADD: %v", err)
					}
				}, del: func(b *testing.B) {
					if err := call("DEL", ep); err != nil {
						b.Fatalf("reference DEL: %v", err)
					}
				}},
				{name: "weir-plugin-exec", add: func(*testing.B) { weirCall("ADD") }, del: func(*testing.B) { weirCall("DEL") }},
				{name: "weir-attach", add: func(b *testing.B) {
					if _, err := e.Attach(ctx, ep); err != nil {
						b.Fatal(err)
					}
				}, del: func(b *testing.B) {
					if _, err := e.Detach(ctx, ep.Network, ep.ID, ep.IfName); err != nil {
						b.Fatal(err)
					}
				}},
				{name: "weir-attach-fresh", add: func(b *testing.B) {
					if _, err := New(h.stateDir, nil).Attach(ctx, ep); err != nil {
						b.Fatal(err)
					}
				}, del: func(b *testing.B) {
					if _, err := New(h.stateDir, nil).Detach(ctx, ep.Network, ep.ID, ep.IfName); err != nil {
						b.Fatal(err)
					}
				}},
			})
			// The reference really programmed its own namespace, not ours.
			if root, err := exec.Command("iptables-save", "-t", "filter").Output(); err != nil || strings.Contains(string(root), "CNI-FORWARD") {
				b.Errorf("the reference's rules leaked into the sandbox's namespace (%v)", err)
			}
		})
	}
}
