package dataplane_test

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/weirnet/weir/internal/sandbox"
	"github.com/weirnet/weir/policy"
	"github.com/weirnet/weir/policy/compile"
	"github.com/weirnet/weir/policy/dataplane"
)

const probePolicies = `
[[policy]]
name = "db-accepts-web"
order = 100
selector = "app == 'db' && env in {'prod','staging'}"
[[policy.ingress]]
action = "allow"
protocol = "tcp"
ports = [5432, "8000-8080"]
from = { selector = "app == 'web'", nets = ["10.22.0.0/16", "fd00:22::/64"], not_nets = ["10.22.9.0/24"] }
[[policy.ingress]]
action = "log"
[[policy.ingress]]
action = "deny"
protocol = "udp"
ports = [53]

[[policy]]
name = "web-egress"
order = 200
selector = "app == 'web'"
[[policy.egress]]
action = "allow"
protocol = "icmp"
[[policy.egress]]
action = "allow"
to = { nets = ["192.168.0.0/16"] }

[[policy]]
name = "db-no-egress"
order = 300
selector = "app == 'db'"
types = ["egress"]
`

// TestCompilerOutputRoundTrips applies what policy/compile produces for
// policies using every rule feature (selectors, nets and not_nets, ports
// and ranges, icmp, log, deny, egress, types, host and in-namespace
// endpoints, IPv4 and IPv6) with each backend, and checks that a Repair
// straight after finds nothing to write and nothing to learn: every rule
// shape the compiler emits reads back exactly as weir renders it.
func TestCompilerOutputRoundTrips(t *testing.T) {
	sandbox.Require(t)
	d := t.TempDir()
	if err := os.WriteFile(filepath.Join(d, "p.toml"), []byte(probePolicies), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := policy.LoadDir(d)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(id, ip4, ip6, iface string, mode compile.Mode, nsPath string, labels map[string]string) compile.Endpoint {
		return compile.Endpoint{
			Endpoint: policy.Endpoint{ID: id, IfName: "eth0", Network: "net",
				IPs: []netip.Addr{netip.MustParseAddr(ip4), netip.MustParseAddr(ip6)}, Labels: labels},
			Mode: mode, PolicyDir: d, HostIface: iface, NetNS: nsPath, DefaultAction: policy.Allow,
		}
	}
	for _, b := range []dataplane.Backend{dataplane.NFT, dataplane.Legacy} {
		t.Run(string(b), func(t *testing.T) {
			host, cont := sandbox.NewNS(t), sandbox.NewNS(t)
			eps := []compile.Endpoint{
				mk("web1", "10.22.0.2", "fd00:22::2", "veth0123456789a", compile.Host, "", map[string]string{"app": "web"}),
				mk("db1", "10.22.0.3", "fd00:22::3", "vethabcdef01234", compile.Host, "", map[string]string{"app": "db", "env": "prod"}),
				mk("db2", "10.22.0.4", "fd00:22::4", "", compile.NetNS, cont.Path(), map[string]string{"app": "db", "env": "staging"}),
			}
			out, err := compile.Compile(map[string]*policy.Set{d: set}, eps)
			if err != nil {
				t.Fatal(err)
			}
			states := map[string]dataplane.State{host.Path(): out.Host}
			for p, st := range out.NetNS {
				states[p] = st
			}
			if len(states) != 2 {
				t.Fatalf("compiled %d namespaces, want 2", len(states))
			}
			dir := t.TempDir()
			w := dataplane.New(dataplane.Config{Backend: b, LockPath: filepath.Join(dir, "lock"), CacheDir: filepath.Join(dir, "cache")})
			ctx := context.Background()
			for p, st := range states {
				if _, err := w.ApplyInNetNS(ctx, p, st); err != nil {
					t.Fatalf("apply in %s: %v", p, err)
				}
				s, err := w.RepairInNetNS(ctx, p, st)
				if err != nil {
					t.Fatalf("repair in %s: %v", p, err)
				}
				if s.Writes() != 0 || s.Relearned != 0 {
					t.Errorf("compiler output in %s does not read back as rendered: %+v", p, s)
				}
				got, err := w.ReadInNetNS(ctx, p)
				if err != nil {
					t.Fatal(err)
				}
				want, err := st.Canonical()
				if err != nil {
					t.Fatal(err)
				}
				if len(got.Chains) != len(want.Chains) || len(got.Sets) != len(want.Sets) || len(got.Hooks) != len(want.Hooks) {
					t.Errorf("read back %d chains, %d sets, %d hooks; want %d, %d, %d",
						len(got.Chains), len(got.Sets), len(got.Hooks), len(want.Chains), len(want.Sets), len(want.Hooks))
				}
			}
		})
	}
}
