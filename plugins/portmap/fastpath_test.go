package portmap

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/weirnet/weir/plugins/internal/masq"
)

var quiet = hclog.NewNullLogger()

// addRules is ADD without the host side (route_localnet, conntrack): the
// record, the rules and the members.
func addRules(t *testing.T, run *fakeNat, st store, p *plan) {
	t.Helper()
	old, err := st.load(p.Network, p.ContainerID, p.IfName)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := writeRules(context.Background(), run.kernel(), st, p, old, quiet); err != nil {
		t.Fatalf("ADD of %s: %v", p.ContainerID, err)
	}
}

// delRules is DEL without the host side.
func delRules(t *testing.T, run *fakeNat, st store, id string) {
	t.Helper()
	old, err := st.load("net1", id, "eth0")
	if err != nil {
		t.Fatal(err)
	}
	fams := bothFamilies()
	if old != nil {
		fams = old.families()
	}
	if err := removeRules(context.Background(), run.kernel(), st, "net1", id, "eth0", old, fams, quiet); err != nil {
		t.Fatalf("DEL of %s: %v", id, err)
	}
	if err := st.remove("net1", id, "eth0"); err != nil {
		t.Fatal(err)
	}
}

// reference is the table and sets the save-based path (addSlow) makes of
// plans, added in order on an empty host: what the fast path must leave
// too.
func reference(t *testing.T, plans ...*plan) *fakeNat {
	t.Helper()
	f := newFakeNat()
	for _, p := range plans {
		for _, fam := range p.families() {
			if err := f.kernel().addSlow(context.Background(), p, fam); err != nil {
				t.Fatalf("reference ADD of %s: %v", p.ContainerID, err)
			}
		}
	}
	return f
}

// sameTables fails the test unless got's tables and sets are want's.
func sameTables(t *testing.T, what string, got, want *fakeNat) {
	t.Helper()
	for _, fam := range bothFamilies() {
		if g, w := got.dump(fam), want.dump(fam); g != w {
			t.Errorf("%s, %s table:\n%s\nwant:\n%s", what, fam, g, w)
		}
	}
	if g, w := got.setDump(), want.setDump(); g != w {
		t.Errorf("%s, sets:\n%s\nwant:\n%s", what, g, w)
	}
}

// expectForks fails the test unless f saw saves saves and restores
// restores since the last count, and reset the counts. No path that
// expects no save may list a set either.
func expectForks(t *testing.T, what string, f *fakeNat, saves, restores int) {
	t.Helper()
	batches := strings.Join(f.restores, "")
	lists, ops := f.lists, strings.Join(f.setOps, "\n")
	if s, r := f.forks(); s != saves || r != restores {
		t.Errorf("%s: %d saves and %d restores, want %d and %d; batches:\n%s", what, s, r, saves, restores, batches)
	}
	if saves == 0 && lists > 0 {
		t.Errorf("%s: %d set listings, want none; set calls:\n%s", what, lists, ops)
	}
}

// c2 is another attachment of net1 (chain $DN2).
func c2(ms ...mapping) *plan {
	p := basePlan(ms, "10.22.0.6")
	p.ContainerID = "c2"
	return p
}

var web2 = mapping{HostPort: 9090, ContainerPort: 90, Protocol: "tcp"}

func TestFreshBatchGolden(t *testing.T) {
	masq4 := "-A WEIR-HOSTPORTS-MASQ -m set --match-set weir-hp-hairpin4 src,dst,dst -m comment --comment \"weir: portmap\" -j MASQUERADE\n" +
		"-A WEIR-HOSTPORTS-MASQ -s 127.0.0.1/32 -m set --match-set weir-hp-local4 dst,dst -m comment --comment \"weir: portmap\" -j MASQUERADE\n"
	rules := `-A $DN -p tcp -m tcp --dport 8080 -m comment --comment $C -j DNAT --to-destination 10.22.0.5:80
-A WEIR-HOSTPORTS -m comment --comment $C -j $DN
`
	noSnat := func() *plan { p := basePlan([]mapping{web}, "10.22.0.5"); p.SNAT = false; return p }
	cases := []struct {
		name                    string
		plan                    *plan
		hostportsInUse, newMasq bool
		want                    string
	}{{
		name:    "first attachment: the shared chains, hooks and rules are created",
		plan:    basePlan([]mapping{web}, "10.22.0.5"),
		newMasq: true,
		want:    "*nat\n-N WEIR-HOSTPORTS\n-N WEIR-HOSTPORTS-MASQ\n-N $DN\n" + hookLines + masqHookLine + masq4 + rules + "COMMIT\n",
	}, {
		name:           "shared chains in use: only the DNAT chain and its jump",
		plan:           basePlan([]mapping{web}, "10.22.0.5"),
		hostportsInUse: true,
		want:           "*nat\n-N $DN\n" + rules + "COMMIT\n",
	}, {
		name:           "only attachments without snat so far: the masquerade chain is created",
		plan:           basePlan([]mapping{web}, "10.22.0.5"),
		hostportsInUse: true,
		newMasq:        true,
		want:           "*nat\n-N WEIR-HOSTPORTS-MASQ\n-N $DN\n" + masqHookLine + masq4 + rules + "COMMIT\n",
	}, {
		name:    "snat off: no masquerade chain, whatever the sets say",
		plan:    noSnat(),
		newMasq: true,
		want:    "*nat\n-N WEIR-HOSTPORTS\n-N $DN\n" + hookLines + rules + "COMMIT\n",
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got, want := string(freshBatch(c.plan, masq.IPv4, c.hostportsInUse, c.newMasq)), golden.Replace(c.want); got != want {
				t.Errorf("batch:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestKnownTeardownBatchGolden(t *testing.T) {
	p := basePlan([]mapping{web}, "10.22.0.5")
	p.ConditionsV4 = []string{"!", "-d", "192.0.2.0/24"}
	own := `*nat
-D WEIR-HOSTPORTS ! -d 192.0.2.0/24 -m comment --comment $C -j $DN
-F $DN
-X $DN
`
	if got, want := string(knownTeardownBatch(p, masq.IPv4, false, false)), golden.Replace(own+"COMMIT\n"); got != want {
		t.Errorf("with other attachments:\n%s\nwant:\n%s", got, want)
	}
	last := own + `-D PREROUTING -m addrtype --dst-type LOCAL -m comment --comment "weir: portmap" -j WEIR-HOSTPORTS
-D OUTPUT -m addrtype --dst-type LOCAL -m comment --comment "weir: portmap" -j WEIR-HOSTPORTS
-X WEIR-HOSTPORTS
-D WEIR-HOSTPORTS-MASQ -m set --match-set weir-hp-hairpin4 src,dst,dst -m comment --comment "weir: portmap" -j MASQUERADE
-D WEIR-HOSTPORTS-MASQ -s 127.0.0.1/32 -m set --match-set weir-hp-local4 dst,dst -m comment --comment "weir: portmap" -j MASQUERADE
-D POSTROUTING -m comment --comment "weir: portmap" -j WEIR-HOSTPORTS-MASQ
-X WEIR-HOSTPORTS-MASQ
COMMIT
`
	if got, want := string(knownTeardownBatch(p, masq.IPv4, true, true)), golden.Replace(last); got != want {
		t.Errorf("the last attachment:\n%s\nwant:\n%s", got, want)
	}
	mark := 13
	p.MarkMasqBit = &mark
	marked := `*nat
-D WEIR-HOSTPORTS ! -d 192.0.2.0/24 -m comment --comment $C -j $DN
-D WEIR-HOSTPORTS-MASQ -d 10.22.0.5/32 -m mark --mark 0x2000/0x2000 -m comment --comment $C -j MASQUERADE
-F $DN
-X $DN
COMMIT
`
	if got, want := string(knownTeardownBatch(p, masq.IPv4, false, false)), golden.Replace(marked); got != want {
		t.Errorf("with markMasqBit:\n%s\nwant:\n%s", got, want)
	}
}

// A fresh ADD and a DEL with a record are one restore per family and no
// save, and leave exactly the table the save-based batches would.
func TestAddDelReadNoTable(t *testing.T) {
	for _, dual := range []bool{false, true} {
		name := "ipv4"
		perFamily := 1
		p1, p2 := basePlan([]mapping{web}, "10.22.0.5"), c2(web2)
		if dual {
			name, perFamily = "dual stack", 2
			p1.Addrs = addrs("10.22.0.5", "fd00:22::5")
			p2.Addrs = addrs("10.22.0.6", "fd00:22::6")
		}
		t.Run(name, func(t *testing.T) {
			run, st := newFakeNat(), store{dir: t.TempDir()}
			addRules(t, run, st, p1)
			expectForks(t, "ADD of the first attachment", run, 0, perFamily)
			sameTables(t, "after the first ADD", run, reference(t, p1))
			addRules(t, run, st, p2)
			expectForks(t, "ADD of the second attachment", run, 0, perFamily)
			sameTables(t, "after the second ADD", run, reference(t, p1, p2))
			delRules(t, run, st, "c1")
			expectForks(t, "DEL of the first attachment", run, 0, perFamily)
			sameTables(t, "after the first DEL", run, reference(t, p2))
			delRules(t, run, st, "c2")
			expectForks(t, "DEL of the last attachment", run, 0, perFamily)
			sameTables(t, "after the last DEL", run, newFakeNat())
		})
	}
}

// When the table is not as the records predict, the fast batch is refused
// as a whole and the save-based batch makes the table right.
func TestFastPathFallsBack(t *testing.T) {
	p1 := basePlan([]mapping{web}, "10.22.0.5")
	moved := basePlan([]mapping{{HostPort: 7070, ContainerPort: 80, Protocol: "tcp"}}, "10.22.0.5")

	t.Run("ADD: the attachment has rules but no record", func(t *testing.T) {
		run, st := newFakeNat(), store{dir: t.TempDir()}
		addRules(t, run, st, p1)
		if err := os.Remove(filepath.Join(st.dir, "net1", "c1:eth0.json")); err != nil {
			t.Fatal(err)
		}
		run.forks()
		addRules(t, run, st, moved)
		expectForks(t, "ADD over rules without a record", run, 1, 2)
		sameTables(t, "the rules are replaced, not added to", run, reference(t, moved))
	})

	t.Run("ADD: shared chains of another state directory", func(t *testing.T) {
		run, st, elsewhere := newFakeNat(), store{dir: t.TempDir()}, store{dir: t.TempDir()}
		addRules(t, run, elsewhere, c2(web2))
		run.forks()
		addRules(t, run, st, p1)
		expectForks(t, "ADD with unrecorded shared chains", run, 1, 2)
		sameTables(t, "one set of hooks", run, reference(t, c2(web2), p1))
	})

	t.Run("ADD: records of attachments whose rules are gone", func(t *testing.T) {
		run, st := newFakeNat(), store{dir: t.TempDir()}
		if err := st.save(c2(web2)); err != nil {
			t.Fatal(err)
		}
		addRules(t, run, st, p1)
		expectForks(t, "ADD expecting missing shared chains", run, 1, 2)
		sameTables(t, "the shared chains and hooks are made", run, reference(t, p1))
	})

	t.Run("DEL: a jump deleted by hand", func(t *testing.T) {
		run, st := newFakeNat(), store{dir: t.TempDir()}
		addRules(t, run, st, p1)
		addRules(t, run, st, c2(web2))
		dn, _ := p1.chains()
		tb := run.tables[masq.IPv4]
		tb.rules[HostportsChain] = tb.rules[HostportsChain][1:]
		if target(run.tables[masq.IPv4].rules[HostportsChain][0]) == dn {
			t.Fatal("removed the wrong jump")
		}
		run.forks()
		delRules(t, run, st, "c1")
		expectForks(t, "DEL after a hand edit", run, 1, 2)
		sameTables(t, "the other attachment is kept", run, reference(t, c2(web2)))
	})

	t.Run("DEL: the last record, but another state directory's attachment", func(t *testing.T) {
		run, st, elsewhere := newFakeNat(), store{dir: t.TempDir()}, store{dir: t.TempDir()}
		addRules(t, run, st, p1)
		addRules(t, run, elsewhere, c2(web2))
		run.forks()
		delRules(t, run, st, "c1")
		if run.refused != 1 {
			t.Errorf("%d batches refused, want the fast one (its -X of a shared chain in use)", run.refused)
		}
		expectForks(t, "DEL of the last recorded attachment", run, 1, 2)
		sameTables(t, "the unrecorded attachment is kept", run, reference(t, c2(web2)))
	})

	t.Run("DEL without a record reads both families", func(t *testing.T) {
		run, st := newFakeNat(), store{dir: t.TempDir()}
		addRules(t, run, st, p1)
		if err := os.Remove(filepath.Join(st.dir, "net1", "c1:eth0.json")); err != nil {
			t.Fatal(err)
		}
		run.forks()
		delRules(t, run, st, "c1")
		expectForks(t, "DEL without a record", run, 2, 1)
		sameTables(t, "nothing left", run, newFakeNat())
	})
}

// A re-ADD (the record exists) reads the table and replaces the rules.
func TestReAddReadsTheTable(t *testing.T) {
	run, st := newFakeNat(), store{dir: t.TempDir()}
	addRules(t, run, st, basePlan([]mapping{web}, "10.22.0.5"))
	run.forks()
	moved := basePlan([]mapping{{HostPort: 7070, ContainerPort: 80, Protocol: "tcp"}}, "10.22.0.5")
	addRules(t, run, st, moved)
	expectForks(t, "re-ADD", run, 1, 1)
	sameTables(t, "after the re-ADD", run, reference(t, moved))
}

// The shared masquerade chain exists exactly while an attachment with snat
// does, so the fast batches predict it right.
func TestSharedMasqueradeChainFollowsSnat(t *testing.T) {
	withSnat := basePlan([]mapping{web}, "10.22.0.5")
	without := c2(web2)
	without.SNAT = false

	run, st := newFakeNat(), store{dir: t.TempDir()}
	addRules(t, run, st, withSnat)
	addRules(t, run, st, without)
	delRules(t, run, st, "c1")
	expectForks(t, "two ADDs and a DEL", run, 0, 3)
	sameTables(t, "after the attachment with snat is gone", run, reference(t, without))
	delRules(t, run, st, "c2")
	expectForks(t, "DEL of the last attachment", run, 0, 1)
	sameTables(t, "after the last DEL", run, newFakeNat())

	// snat turned off by a re-ADD takes the emptied shared chain with it.
	addRules(t, run, st, withSnat)
	off := basePlan([]mapping{web}, "10.22.0.5")
	off.SNAT = false
	addRules(t, run, st, off)
	sameTables(t, "after snat is turned off", run, reference(t, off))
	delRules(t, run, st, "c1")
	expectForks(t, "ADD, re-ADD, DEL", run, 1, 3)
	sameTables(t, "after the DEL", run, newFakeNat())
}

func TestSharedUse(t *testing.T) {
	st := store{dir: t.TempDir()}
	v4 := c2(web2)
	v6 := basePlan([]mapping{web}, "fd00:22::7")
	v6.ContainerID, v6.SNAT = "c3", false
	own := basePlan([]mapping{web}, "10.22.0.5", "fd00:22::5")
	fams := bothFamilies()
	if got := st.sharedUse("net1", "c1", "eth0", fams, true); len(got) != 0 {
		t.Errorf("no state directory: %v", got)
	}
	for _, p := range []*plan{own, v4} {
		if err := st.save(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(st.dir, "net1", "bad:eth0.json"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	got := st.sharedUse("net1", "c1", "eth0", fams, true)
	if got[masq.IPv4] != (sharedChains{true, true}) || got[masq.IPv6] != (sharedChains{}) {
		t.Errorf("an IPv4 attachment with snat besides our own: %+v", got)
	}
	// Another network's records count: the shared chains are the host's.
	v6.Network = "net2"
	if err := st.save(v6); err != nil {
		t.Fatal(err)
	}
	got = st.sharedUse("net1", "c1", "eth0", fams, true)
	if got[masq.IPv4] != (sharedChains{true, true}) || got[masq.IPv6] != (sharedChains{hostports: true}) {
		t.Errorf("with an IPv6 attachment without snat on another network: %+v", got)
	}
}
