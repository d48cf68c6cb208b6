package chaos

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weirnet/weir/policy/enforce"
)

// TestInvariantsDetectLeaks proves the checker can fail: on a host with
// two healthy containers it finds nothing, and each kind of damage done by
// hand — a stray link, address, reservation, rule, chain, set member,
// mount, record, lock or temporary file, an address held twice, a
// container cut off — is reported, and gone once undone.
func TestInvariantsDetectLeaks(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	a := w.newContainer(t, "self-a", []string{"chaos", "lan"}, true)
	a.labels = map[string]string{"app": "db", "env": "prod"}
	a.ports = []string{"18081:80"}
	b := w.newContainer(t, "self-b", []string{"chaos2"}, false)
	b.labels = map[string]string{"app": "web"}
	n := w.newContainer(t, "self-n", []string{"chaos"}, false)
	n.viaNet = true
	for _, c := range []*container{a, b, n} {
		if r := w.attach(ctx, c); r.err != nil {
			t.Fatalf("attaching %s: %s", c.id, r)
		}
	}
	exp := expect{attached: []*container{a, b, n}}
	if v := w.check(t, exp); len(v) > 0 {
		t.Fatalf("a healthy host has violations:\n%s", list(v))
	}
	ipOf := func(c *container, ifName string) string {
		ls, err := nsLinks(c.ns())
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range ls {
			if l.Name == ifName && len(l.Addrs) > 0 {
				return l.Addrs[0].Addr().String()
			}
		}
		t.Fatalf("%s has no address on %s", c.id, ifName)
		return ""
	}
	aIP := ipOf(a, "eth0")
	mnt := filepath.Join(w.state, "stray-mount")
	index := filepath.Join(w.state, "policy", enforce.IndexFile)
	for _, tc := range []struct {
		name, kind, want string
		damage, undo     string // shell
	}{
		{"stray link", kLeak, "host link chaosleak", "ip link add chaosleak type veth peer name chaosleak1", "ip link del chaosleak"},
		{"stray host address", kLeak, "address 10.77.3.9/22 on host link chaos0", "ip addr add 10.77.3.9/22 dev chaos0", "ip addr del 10.77.3.9/22 dev chaos0"},
		{"leaked reservation", kLeak, "address 10.77.3.200 on chaos is reserved for ghost/eth0", "printf 'ghost\\neth0' > " + w.state + "/ipam/chaos/10.77.3.200", "rm " + w.state + "/ipam/chaos/10.77.3.200"},
		{"leaked nat rule", kLeak, "names ghost", `iptables -t nat -A POSTROUTING -m comment --comment "weir: net=chaos id=ghost if=eth0" -j RETURN`, `iptables -t nat -D POSTROUTING -m comment --comment "weir: net=chaos id=ghost if=eth0" -j RETURN`},
		{"leaked chain", kLeak, "WEIR-EG-0000000000000000", "iptables -N WEIR-EG-0000000000000000 && iptables -A WEIR-EG-0000000000000000 -j RETURN", "iptables -F WEIR-EG-0000000000000000 && iptables -X WEIR-EG-0000000000000000"},
		{"stale dataplane cache", kStale, "set weir-eps4: the kernel also holds [10.77.3.202]", "ipset add weir-eps4 10.77.3.202", "ipset del weir-eps4 10.77.3.202"},
		{"leaked set member", kLeak, "ipset weir-eps4 holds [10.77.3.201]", "ipset add weir-eps4 10.77.3.201", "ipset del weir-eps4 10.77.3.201"},
		{"leaked rule in a container", kLeak, "WEIR-IN-0000000000000000", "nsenter --net=" + b.ns() + " iptables -N WEIR-IN-0000000000000000", "nsenter --net=" + b.ns() + " iptables -X WEIR-IN-0000000000000000"},
		{"address held twice", kDupIP, aIP + " is on", "nsenter --net=" + b.ns() + " ip addr add " + aIP + "/22 dev eth0", "nsenter --net=" + b.ns() + " ip addr del " + aIP + "/22 dev eth0"},
		{"stray interface in a container", kLeak, "interface stray0", "nsenter --net=" + n.ns() + " ip link add stray0 type dummy || nsenter --net=" + n.ns() + " ip link add stray0 type veth peer name stray1", "nsenter --net=" + n.ns() + " ip link del stray0"},
		{"cut off", kUnreachable, "self-b/chaos2/eth0 cannot reach its gateway 10.78.0.1", "nsenter --net=" + b.ns() + " ip link set eth0 down", "nsenter --net=" + b.ns() + " ip link set eth0 up && nsenter --net=" + b.ns() + " ip route add default via 10.78.0.1 2>/dev/null; true"},
		{"stray mount", kLeak, "mount " + mnt, "touch " + mnt + " && mount --bind /proc/self/ns/net " + mnt, "umount " + mnt + " && rm " + mnt},
		{"half-done record", kPartial, `record ghost/chaos is "adding"`, "mkdir -p " + w.state + "/containers/ghost/chaos/eth0 && cp " + w.state + "/containers/self-n/chaos/network.conf " + w.state + "/containers/ghost/chaos/ && echo '{\"network\":\"chaos\",\"containerID\":\"ghost\",\"ifName\":\"eth0\",\"state\":\"adding\"}' > " + w.state + "/containers/ghost/chaos/eth0/network.info", "rm -r " + w.state + "/containers/ghost"},
		{"stale lock", kLeak, "lock file locks/ghost", "touch " + w.state + "/locks/ghost", "rm " + w.state + "/locks/ghost"},
		{"temporary file", kLeak, "temporary file policy/.endpoints.idx.tmp-1", "touch " + w.state + "/policy/.endpoints.idx.tmp-1", "rm " + w.state + "/policy/.endpoints.idx.tmp-1"},
		// The index is binary with length-prefixed strings: the id is
		// replaced by one of the same length.
		{"stale endpoint", kLeak, "policy endpoint chaos/ghost0/eth0 has no attachment", "cp " + index + " " + w.base + "/ep.bak && sed -i 's#self-n#ghost0#g' " + index, "cp " + w.base + "/ep.bak " + index},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			sh(t, tc.damage)
			v := w.check(t, exp)
			sh(t, tc.undo)
			found := false
			for _, x := range v {
				if x.kind == tc.kind && strings.Contains(x.msg, tc.want) {
					found = true
				}
			}
			if !found {
				t.Errorf("the checker missed %s: want a %s violation containing %q, got:\n%s", tc.name, tc.kind, tc.want, list(v))
			}
			if v := w.check(t, exp); len(v) > 0 {
				t.Fatalf("after undoing %s:\n%s", tc.name, list(v))
			}
		})
	}
	for _, c := range []*container{a, b, n} {
		if r := w.detach(ctx, c); r.err != nil {
			t.Fatalf("detaching %s: %s", c.id, r)
		}
	}
	if v := w.check(t, expect{gone: []*container{a, b, n}}); len(v) > 0 {
		t.Errorf("after detaching:\n%s", list(v))
	}
	for _, c := range []*container{a, b, n} {
		w.release(c)
	}
	if d := w.baseline.diff(w.snapshot(t), true); d != "" {
		t.Errorf("the host differs from the baseline:\n%s", d)
	}
}

// list renders violations one per line.
func list(v []violation) string {
	var b strings.Builder
	for _, x := range v {
		b.WriteString("  " + x.String() + "\n")
	}
	return b.String()
}
