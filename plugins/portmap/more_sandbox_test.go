package portmap_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/weirnet/weir/chain"
	"github.com/weirnet/weir/internal/sandbox"
	"github.com/weirnet/weir/plugins/portmap"
)

var web = chain.PortMapping{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}

// GC removes the network's attachments that are not valid — found by record
// and, with the record lost, by the rules' comments — and keeps the valid.
func TestGC(t *testing.T) {
	sandbox.Require(t)
	out := newOutside(t)
	l := newLab(t, "1.1.0", 40, "", false)
	l.add("keep", web)
	l.add("gone", chain.PortMapping{HostPort: 9090, ContainerPort: 80, Protocol: "tcp"})
	reach(t, "gone before GC", out, hp(hostIP4, 9090), "gone saw "+outIP4)

	gc := func(valid ...string) {
		t.Helper()
		var atts []string
		for _, id := range valid {
			atts = append(atts, fmt.Sprintf(`{"containerID":%q,"ifname":"eth0"}`, id))
		}
		conf := l.portmapConf(`,"cni.dev/valid-attachments":[` + strings.Join(atts, ",") + `]`)
		if _, err := l.invoke("GC", "", conf); err != nil {
			t.Fatalf("GC keeping %v: %v", valid, err)
		}
	}
	gc("keep")
	goneDN, goneSN := portmap.Chains(l.name, "gone", "eth0")
	keepDN, _ := portmap.Chains(l.name, "keep", "eth0")
	for _, v6 := range []bool{false, true} {
		r := nat(t, v6)
		if r.Has(goneDN) || r.Has(goneSN) || r.Has("id=gone ") {
			t.Errorf("GC left the stale attachment (v6 %v):\n%s", v6, r)
		}
		if r.Count(keepDN) != 3 {
			t.Errorf("GC touched the valid attachment (v6 %v):\n%s", v6, r)
		}
	}
	for _, set := range []string{portmap.HairpinSet4, portmap.LocalSet4, portmap.HairpinSet6} {
		if m := members(t, set, l.name, "gone"); len(m) != 0 {
			t.Errorf("GC left the stale attachment's members of %s: %v", set, m)
		}
		if m := members(t, set, l.name, "keep"); len(m) != 1 {
			t.Errorf("members of %s of the valid attachment after GC: %v", set, m)
		}
	}
	if recs := l.records(); len(recs) != 1 || recs[0] != l.name+"/keep:eth0.json" {
		t.Errorf("records after GC: %v", recs)
	}
	reach(t, "keep after GC", out, hp(hostIP4, 8080), "keep saw "+outIP4)
	noReach(t, "gone after GC", out, hp(hostIP4, 9090))

	// keep's record is lost; its rules still name the network, and a GC
	// that no longer lists it removes them.
	sh(t, "", "rm", l.stateDir+"/"+l.name+"/keep:eth0.json")
	gc()
	if left := weirNat(t); len(left) > 0 {
		t.Errorf("GC by comment left:\n%s", strings.Join(left, "\n"))
	}
	noReach(t, "keep after the second GC", out, hp(hostIP4, 8080))
}

// Concurrent ADDs share the hooks: exactly one of each, one jump per
// attachment, every port reachable; concurrent DELs leave nothing.
func TestConcurrentAttachments(t *testing.T) {
	sandbox.Require(t)
	out := newOutside(t)
	l := newLab(t, "1.0.0", 41, "", false)
	const n = 6
	ctrs := make([]*ctr, n)
	for i := range ctrs {
		ctrs[i] = l.prepare(fmt.Sprintf("par-%d", i))
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, c := range ctrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = l.attach(c, chain.PortMapping{HostPort: 8100 + i, ContainerPort: 80, Protocol: "tcp"})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("ADD of par-%d: %v", i, err)
		}
	}
	for _, v6 := range []bool{false, true} {
		r := nat(t, v6)
		for _, hook := range []string{"-A PREROUTING -m addrtype", "-A OUTPUT -m addrtype", `-A POSTROUTING -m comment --comment "weir: portmap"`} {
			if c := r.Count(hook); c != 1 {
				t.Errorf("%d hooks %q (v6 %v), want 1:\n%s", c, hook, v6, r)
			}
		}
		if c := r.Count("-A WEIR-HOSTPORTS -m comment"); c != n {
			t.Errorf("%d jumps in WEIR-HOSTPORTS (v6 %v), want %d:\n%s", c, v6, n, r)
		}
	}
	for i, c := range ctrs {
		reach(t, c.id, out, hp(hostIP4, 8100+i), c.id+" saw "+outIP4)
	}
	for i, c := range ctrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = l.detach(c)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("DEL of par-%d: %v", i, err)
		}
	}
	if left := weirNat(t); len(left) > 0 {
		t.Errorf("concurrent DELs left:\n%s", strings.Join(left, "\n"))
	}
}

// markMasqBit masquerades hairpin and 127.0.0.1 traffic by mark; with snat
// off neither is masqueraded, so a hairpin connection fails while outside
// access still works.
func TestSnatOptions(t *testing.T) {
	sandbox.Require(t)
	out := newOutside(t)

	l := newLab(t, "1.1.0", 42, `,"markMasqBit":13`, false)
	c := l.add("marked", web)
	if r := nat(t, false); !r.Has("-A WEIR-HOSTPORTS-MASQ -d "+c.ip4+"/32 -m mark --mark 0x2000/0x2000 ") || !r.Has("-j MARK --set-xmark 0x2000/0x2000") {
		t.Errorf("no mark rules:\n%s", r)
	}
	if m := members(t, portmap.HairpinSet4, l.name, c.id); len(m) != 0 {
		t.Errorf("members of an attachment masquerading by mark: %v", m)
	}
	reach(t, "hairpin by mark", c.ns, hp(l.gw4, 8080), "marked saw "+l.gw4)
	reach(t, "127.0.0.1 by mark", nil, hp("127.0.0.1", 8080), "marked saw "+l.gw4)
	reach(t, "IPv6 hairpin by mark", c.ns, hp(l.gw6, 8080), "marked saw "+l.gw6)
	reach(t, "outside, unmarked", out, hp(hostIP4, 8080), "marked saw "+outIP4)
	if err := l.detach(c); err != nil {
		t.Fatal(err)
	}

	l = newLab(t, "1.1.0", 43, `,"snat":false`, false)
	c = l.add("plain", web)
	if r := nat(t, false); r.Has("WEIR-SN-") || r.Has("WEIR-HOSTPORTS-MASQ") {
		t.Errorf("masquerade rules with snat off:\n%s", r)
	}
	for _, l := range ipsetSave(t) {
		if strings.Contains(l, portmap.SetPrefix) {
			t.Errorf("portmap's ipsets with snat off: %s", l)
		}
	}
	reach(t, "outside with snat off", out, hp(hostIP4, 8080), "plain saw "+outIP4)
	noReach(t, "hairpin with snat off", c.ns, hp(l.gw4, 8080))
	if err := l.detach(c); err != nil {
		t.Fatal(err)
	}
	if left := weirNat(t); len(left) > 0 {
		t.Errorf("left:\n%s", strings.Join(left, "\n"))
	}
}

func TestStatus(t *testing.T) {
	sandbox.Require(t)
	l := newLab(t, "1.1.0", 44, "", false)
	if _, err := l.invoke("STATUS", "", l.portmapConf("")); err != nil {
		t.Errorf("STATUS with the iptables tools installed: %v", err)
	}
}

// Hairpin and localhost connections are masqueraded because the
// attachment's members are in the sets: with them deleted by hand the
// connections fail (the reply would bypass the host's translation), and
// with them back they work again.
func TestMasqueradeIsSetMembership(t *testing.T) {
	sandbox.Require(t)
	l := newLab(t, "1.1.0", 45, "", false)
	c := l.add("member", web)
	comment := fmt.Sprintf("weir: net=%s id=%s if=eth0", l.name, c.id)
	cases := []struct {
		what, set, member, from, to, want string
	}{
		{"hairpin", portmap.HairpinSet4, c.ip4 + ",tcp:80," + c.ip4, "ctr", hp(l.gw4, 8080), "member saw " + l.gw4},
		{"127.0.0.1", portmap.LocalSet4, c.ip4 + ",tcp:80", "host", hp("127.0.0.1", 8080), "member saw " + l.gw4},
		{"IPv6 hairpin", portmap.HairpinSet6, c.ip6 + ",tcp:80," + c.ip6, "ctr", hp(l.gw6, 8080), "member saw " + l.gw6},
	}
	for _, k := range cases {
		from := c.ns
		if k.from == "host" {
			from = nil
		}
		reach(t, k.what+" with the member", from, k.to, k.want)
		sh(t, "", "ipset", "del", k.set, k.member)
		noReach(t, k.what+" without the member", from, k.to)
		sh(t, "", "ipset", "add", k.set, k.member, "comment", comment)
		reach(t, k.what+" with the member back", from, k.to, k.want)
	}
	if err := l.detach(c); err != nil {
		t.Fatal(err)
	}
	if left := weirNat(t); len(left) > 0 {
		t.Errorf("left:\n%s", strings.Join(left, "\n"))
	}
}
