package dataplane

import (
	"context"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// realisticState is what the compiler produces for a small host: sets of
// both types and families, a FORWARD hook into a dispatch chain with
// conntrack, physdev and per-endpoint chains using set, multiport, icmp,
// LOG, MARK and RETURN, a mangle hook, and the IPv6 counterparts. Rules are
// spelt loosely, as a compiler might; Read returns them canonical.
func realisticState(eps ...string) State {
	s := NewState()
	addSet := func(name, typ string, f Family, members ...string) {
		s.Sets[name] = IPSet{Name: name, Type: typ, Family: f, Members: members}
	}
	addChain := func(t Table, f Family, name string, rules ...string) {
		s.Chains[ChainKey(t, f, name)] = Chain{Table: t, Family: f, Name: name, Rules: rules}
	}
	addSet("weir-peers-web", "hash:ip", IPv4, "10.22.0.5", "10.22.0.6")
	addSet("weir-nets-db", "hash:net", IPv4, "10.22.0.0/16", "192.168.5.7/32")
	addSet("weir-peers6-web", "hash:ip", IPv6, "fd00:22::5")
	addSet("weir-nets6-db", "hash:net", IPv6, "fd00:22::/64")
	for _, f := range []Family{IPv4, IPv6} {
		fwd := []string{
			`-m conntrack --ctstate ESTABLISHED,RELATED -m comment --comment "weir: replies" -j ACCEPT`,
			`-m conntrack --ctstate INVALID -m comment --comment "weir: invalid" -j DROP`,
		}
		peers, nets, ping, mine, deny := "weir-peers-web", "weir-nets-db", "-p icmp --icmp-type echo-request", "10.22.0.1", "-j REJECT"
		if f == IPv6 {
			peers, nets, ping, mine, deny = "weir-peers6-web", "weir-nets6-db", "-p icmpv6 --icmpv6-type echo-request", "fd00:22::1", "-j REJECT --reject-with icmp6-adm-prohibited"
		}
		for _, ep := range eps {
			c := `-m comment --comment "weir: container ` + ep + `"`
			fwd = append(fwd,
				`-m physdev --physdev-is-bridged --physdev-in veth-`+ep+` `+c+` -g WEIR-E-`+ep,
				`-o weir0 -m physdev --physdev-out veth-`+ep+` --physdev-is-bridged `+c+` -j WEIR-I-`+ep)
			addChain(Filter, f, "WEIR-I-"+ep,
				`-p tcp -m multiport --dports 5432,8000:8080 -m set --match-set `+peers+` src `+c+` -j ACCEPT`,
				`-p tcp --dport 80 -m set --match-set `+nets+` src `+c+` -j ACCEPT`,
				ping+` `+c+` -j ACCEPT`,
				c+` -j LOG --log-prefix "weir-deny `+ep+`: " --log-level warning`,
				c+` -j DROP`)
			addChain(Filter, f, "WEIR-E-"+ep,
				`-d `+mine+` `+c+` -j ACCEPT`,
				`-m set --match-set `+nets+` dst `+c+` -j RETURN`,
				`-p udp --dport 53 `+c+` -j ACCEPT`,
				c+` `+deny)
		}
		fwd = append(fwd, `-m comment --comment "weir: unselected" -j ACCEPT`)
		addChain(Filter, f, "WEIR-FORWARD", fwd...)
		addChain(Mangle, f, "WEIR-MARK",
			`-i weir0 -m mark ! --mark 0x10000/0x10000 -m comment --comment "weir: mark" -j MARK --set-mark 0x10000/0x10000`)
		s.Hooks = append(s.Hooks,
			Hook{Table: Filter, Family: f, Chain: "FORWARD", Rule: `-m comment --comment "weir: dispatch" -j WEIR-FORWARD`},
			Hook{Table: Mangle, Family: f, Chain: "PREROUTING", Rule: `-m comment --comment "weir: mark" -j WEIR-MARK`})
	}
	return s
}

// sortHooks orders hooks by built-in chain, keeping their order within one.
func sortHooks(hs []Hook) []Hook {
	out := append([]Hook(nil), hs...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		return string(a.Family)+string(a.Table)+a.Chain < string(b.Family)+string(b.Table)+b.Chain
	})
	return out
}

// checkKernelState reads the dataplane back and compares it with the
// canonical form of want.
func checkKernelState(t *testing.T, got State, want State) {
	t.Helper()
	cw, err := want.Canonical()
	if err != nil {
		t.Fatalf("canonical: %v", err)
	}
	got.Hooks, cw.Hooks = sortHooks(got.Hooks), sortHooks(cw.Hooks)
	if len(got.Hooks) == 0 {
		got.Hooks = nil
	}
	if len(cw.Hooks) == 0 {
		cw.Hooks = nil
	}
	if reflect.DeepEqual(got, cw) {
		return
	}
	for k, c := range cw.Chains {
		if g, ok := got.Chains[k]; !ok {
			t.Errorf("chain %s missing", k)
		} else if !reflect.DeepEqual(g, c) {
			t.Errorf("chain %s:\n got %q\nwant %q", k, g.Rules, c.Rules)
		}
	}
	for k := range got.Chains {
		if _, ok := cw.Chains[k]; !ok {
			t.Errorf("extra chain %s", k)
		}
	}
	if !reflect.DeepEqual(got.Sets, cw.Sets) {
		t.Errorf("sets:\n got %+v\nwant %+v", got.Sets, cw.Sets)
	}
	if !reflect.DeepEqual(got.Hooks, cw.Hooks) {
		t.Errorf("hooks:\n got %+v\nwant %+v", got.Hooks, cw.Hooks)
	}
	t.FailNow()
}

// sh runs a shell script in the sandbox (the root namespace of this test
// binary's sandbox, or the namespace at nsPath) and returns its output.
func sh(t testing.TB, nsPath, script string) string {
	t.Helper()
	cmd := exec.Command("bash", "-c", script)
	if nsPath != "" {
		cmd = exec.Command("nsenter", "--net="+nsPath, "bash", "-c", script)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s%s", script, err, out, stderr.String())
	}
	return string(out)
}

// resetSandbox removes every rule, chain and set from the sandbox's root
// namespace (both backends), so tests start clean.
func resetSandbox(t testing.TB) {
	t.Helper()
	sh(t, "", `
tools="iptables-nft ip6tables-nft"
# Touch the legacy tables only if they exist (listing them would create them).
[ -s /proc/net/ip_tables_names ] && tools="$tools iptables-legacy"
[ -s /proc/net/ip6_tables_names ] && tools="$tools ip6tables-legacy"
for b in $tools; do
  for tb in filter nat mangle raw; do $b -w -t $tb -F 2>/dev/null; $b -w -t $tb -X 2>/dev/null; done
done
ipset destroy 2>/dev/null; true`)
}

// kernelWriter returns a Writer with its lock and cache in a temporary
// directory, after resetting the sandbox, and resets it again at the end.
func kernelWriter(t testing.TB, cfg Config) *Writer {
	t.Helper()
	resetSandbox(t)
	t.Cleanup(func() { resetSandbox(t) })
	dir := t.TempDir()
	if cfg.LockPath == "" {
		cfg.LockPath = filepath.Join(dir, "dataplane.lock")
	}
	if cfg.CacheDir == "" {
		cfg.CacheDir = filepath.Join(dir, "policy")
	}
	if cfg.Tables == nil {
		cfg.Tables = allTables // these tests exercise every table the Writer can own
	}
	return New(cfg)
}

// weirLeft lists what of weir's is left in the namespace (both backends'
// tables, ipsets).
func weirLeft(t testing.TB, nsPath string) string {
	t.Helper()
	out := sh(t, nsPath, `iptables-nft-save; ip6tables-nft-save; iptables-legacy-save; ip6tables-legacy-save; ipset list -n`)
	var left []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "WEIR") || strings.Contains(l, "weir") {
			left = append(left, l)
		}
	}
	return strings.Join(left, "\n")
}

func bg() context.Context { return context.Background() }

var allTables = []Table{Filter, Mangle, Raw, Nat}
