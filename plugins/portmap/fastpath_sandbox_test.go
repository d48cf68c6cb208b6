package portmap_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/weirnet/weir/chain"
	"github.com/weirnet/weir/internal/sandbox"
	"github.com/weirnet/weir/plugins/portmap"
)

// The paths that do not read the nat table (fastpath.go) against a real
// kernel: their batches are refused when the table is not as the records
// predict, and the fallback leaves the table right.

var hookLines = []string{
	`-A PREROUTING -m addrtype --dst-type LOCAL -m comment --comment "weir: portmap" -j WEIR-HOSTPORTS`,
	`-A OUTPUT -m addrtype --dst-type LOCAL -m comment --comment "weir: portmap" -j WEIR-HOSTPORTS`,
	`-A POSTROUTING -m comment --comment "weir: portmap" -j WEIR-HOSTPORTS-MASQ`,
}

// publishedOnce fails the test unless both families have each hook and
// shared masquerade rule once, exactly one set of c's rules, for host port
// port only, and c's hairpin members.
func publishedOnce(t *testing.T, l *lab, c *ctr, port int) {
	t.Helper()
	dn, sn := portmap.Chains(l.name, c.id, "eth0")
	for _, v6 := range []bool{false, true} {
		r := nat(t, v6)
		shared := append(slices.Clone(hookLines), masqRule4, localRule4)
		if v6 {
			shared = append(slices.Clone(hookLines), masqRule6)
		}
		for _, h := range shared {
			if n := r.Count(h); n != 1 {
				t.Errorf("%d copies of the shared rule %q (v6 %v), want 1:\n%s", n, h, v6, r)
			}
		}
		for _, w := range []struct {
			line string
			n    int
		}{{"-j " + dn, 1}, {sn, 0}, {"-A " + dn + " ", 1}, {fmt.Sprintf("--dport %d ", port), 1}} {
			if got := r.Count(w.line); got != w.n {
				t.Errorf("%d lines with %q (v6 %v), want %d:\n%s", got, w.line, v6, w.n, r)
			}
		}
	}
	for set, want := range map[string]string{portmap.HairpinSet4: c.ip4 + ",tcp:80," + c.ip4, portmap.HairpinSet6: c.ip6 + ",tcp:80," + c.ip6} {
		if got := members(t, set, l.name, c.id); len(got) != 1 || got[0] != want {
			t.Errorf("members of %s for %s: %v, want [%s]", set, c.id, got, want)
		}
	}
}

// noChainsLeft fails the test if either family's nat table has a chain
// other than the built-in ones, or a line naming weir, or weir has an
// ipset.
func noChainsLeft(t *testing.T) {
	t.Helper()
	for _, v6 := range []bool{false, true} {
		for _, line := range nat(t, v6) {
			if strings.HasPrefix(line, ":") && !strings.HasSuffix(line, " ACCEPT") {
				t.Errorf("chain left in the nat table (v6 %v): %s", v6, line)
			}
		}
	}
	if left := weirNat(t); len(left) > 0 {
		t.Errorf("nat rules left:\n%s", strings.Join(left, "\n"))
	}
}

// A re-ADD of the same attachment replaces its rules: with its record the
// table is read; with the record lost the batch for a new attachment is
// refused (its chains exist) and the fallback replaces them. Neither leaves
// a second jump or hook, and the new port is the one that works.
func TestReAddReplacesRules(t *testing.T) {
	sandbox.Require(t)
	out := newOutside(t)
	l := newLab(t, "1.1.0", 50, "", false)
	c := l.add("readd", web)
	reach(t, "before the re-ADD", out, hp(hostIP4, 8080), "readd saw "+outIP4)
	prev, err := json.Marshal(c.res)
	if err != nil {
		t.Fatal(err)
	}
	readd := func(port int) {
		t.Helper()
		conf := l.portmapConf(fmt.Sprintf(`,"runtimeConfig":{"portMappings":[{"hostPort":%d,"containerPort":80,"protocol":"tcp"}]}`, port))
		if _, err := l.invoke("ADD", c.id, sandbox.WithPrevResult(t, conf, prev)); err != nil {
			t.Fatalf("re-ADD with host port %d: %v", port, err)
		}
	}

	readd(9090)
	publishedOnce(t, l, c, 9090)
	reach(t, "the new port after a re-ADD", out, hp(hostIP4, 9090), "readd saw "+outIP4)
	reach(t, "the new port over IPv6", out, hp(hostIP6, 9090), "readd saw "+outIP6)
	noReach(t, "the old port after a re-ADD", out, hp(hostIP4, 8080))

	if err := os.Remove(filepath.Join(l.stateDir, l.name, c.id+":eth0.json")); err != nil {
		t.Fatal(err)
	}
	readd(7070)
	publishedOnce(t, l, c, 7070)
	reach(t, "the new port after a re-ADD without a record", out, hp(hostIP4, 7070), "readd saw "+outIP4)
	noReach(t, "the old port after a re-ADD without a record", out, hp(hostIP4, 9090))

	if err := l.detach(c); err != nil {
		t.Fatal(err)
	}
	noChainsLeft(t)
}

// DEL of one of two attachments leaves the other working and the shared
// chains hooked once; DEL of the last leaves the nat table without a chain
// of weir's, the bridge's masquerade chains included.
func TestDelOneThenTheLast(t *testing.T) {
	sandbox.Require(t)
	out := newOutside(t)
	l := newLabWith(t, "1.1.0", 51, `,"ipMasq":true`, "", false)
	a := l.add("first", web)
	b := l.add("second", chain.PortMapping{HostPort: 8081, ContainerPort: 80, Protocol: "tcp"})
	reach(t, "first", out, hp(hostIP4, 8080), "first saw "+outIP4)
	reach(t, "second", out, hp(hostIP4, 8081), "second saw "+outIP4)
	if r := nat(t, false); !r.Has("-j WEIR-MASQ-") {
		t.Fatalf("the bridge wrote no masquerade rules:\n%s", r)
	}

	if err := l.detach(a); err != nil {
		t.Fatalf("DEL of the first: %v", err)
	}
	publishedOnce(t, l, b, 8081)
	dnA, snA := portmap.Chains(l.name, a.id, "eth0")
	for _, v6 := range []bool{false, true} {
		if r := nat(t, v6); r.Has(dnA) || r.Has(snA) || r.Has("id="+a.id+" ") {
			t.Errorf("the first attachment's rules outlive its DEL (v6 %v):\n%s", v6, r)
		}
	}
	reach(t, "second from outside after the first's DEL", out, hp(hostIP4, 8081), "second saw "+outIP4)
	reach(t, "second over IPv6", out, hp(hostIP6, 8081), "second saw "+outIP6)
	reach(t, "second from 127.0.0.1", nil, hp("127.0.0.1", 8081), "second saw "+l.gw4)
	reach(t, "second's hairpin", b.ns, hp(l.gw4, 8081), "second saw "+l.gw4)
	noReach(t, "first after its DEL", out, hp(hostIP4, 8080))

	if err := l.detach(b); err != nil {
		t.Fatalf("DEL of the last: %v", err)
	}
	noChainsLeft(t)
	noReach(t, "second after its DEL", out, hp(hostIP4, 8081))
}

// Two networks with their own state directories share the host's chains,
// and neither's records know of the other's attachment: the first ADD of
// the second directory expects no shared chains and is refused, the last
// DEL of the first expects to remove them and is refused (they still hold
// the other's jump). The fallbacks keep both working, and the hooks single.
func TestStateDirectoriesShareTheChains(t *testing.T) {
	sandbox.Require(t)
	out := newOutside(t)
	one := newLab(t, "1.1.0", 52, "", false)
	two := newLab(t, "1.1.0", 53, "", false)
	a := one.add("dir-one", web)
	b := two.add("dir-two", chain.PortMapping{HostPort: 8081, ContainerPort: 80, Protocol: "tcp"})
	publishedOnce(t, one, a, 8080)
	publishedOnce(t, two, b, 8081)
	reach(t, "the first directory's", out, hp(hostIP4, 8080), "dir-one saw "+outIP4)
	reach(t, "the second directory's", out, hp(hostIP4, 8081), "dir-two saw "+outIP4)

	if err := one.detach(a); err != nil {
		t.Fatalf("DEL of the first directory's last attachment: %v", err)
	}
	publishedOnce(t, two, b, 8081)
	reach(t, "the second directory's after the first's DEL", out, hp(hostIP4, 8081), "dir-two saw "+outIP4)
	reach(t, "the second directory's over IPv6", out, hp(hostIP6, 8081), "dir-two saw "+outIP6)
	noReach(t, "the first directory's after its DEL", out, hp(hostIP4, 8080))

	if err := two.detach(b); err != nil {
		t.Fatal(err)
	}
	noChainsLeft(t)
}
