package portmap

import (
	"context"
	"testing"

	"github.com/weirnet/weir/plugins/internal/masq"
)

// olderWeir is the IPv4 table an older weir left for c1 (10.22.0.5, web):
// its own masquerade chain $SN, jumped to from a WEIR-HOSTPORTS-MASQ
// without shared rules, and no sets.
const olderWeir = `*nat
-N WEIR-HOSTPORTS
-N WEIR-HOSTPORTS-MASQ
-N $DN
-N $SN
-I PREROUTING 1 -m addrtype --dst-type LOCAL -m comment --comment "weir: portmap" -j WEIR-HOSTPORTS
-I OUTPUT 1 -m addrtype --dst-type LOCAL -m comment --comment "weir: portmap" -j WEIR-HOSTPORTS
-I POSTROUTING 1 -m comment --comment "weir: portmap" -j WEIR-HOSTPORTS-MASQ
-A $DN -p tcp -m tcp --dport 8080 -m comment --comment $C -j DNAT --to-destination 10.22.0.5:80
-A $SN -s 10.22.0.5/32 -d 10.22.0.5/32 -p tcp -m tcp --dport 80 -m comment --comment $C -j MASQUERADE
-A $SN -s 127.0.0.1/32 -d 10.22.0.5/32 -p tcp -m tcp --dport 80 -m comment --comment $C -j MASQUERADE
-A WEIR-HOSTPORTS -m comment --comment $C -j $DN
-A WEIR-HOSTPORTS-MASQ -m comment --comment $C -j $SN
COMMIT
`

// olderHost returns a fake host with olderWeir applied and c1's record as
// the older weir wrote it (no layout).
func olderHost(t *testing.T) (*fakeNat, store, *plan) {
	t.Helper()
	run, st := newFakeNat(), store{dir: t.TempDir()}
	if err := run.Restore(context.Background(), masq.IPv4, []byte(golden.Replace(olderWeir))); err != nil {
		t.Fatal(err)
	}
	old := basePlan([]mapping{web}, "10.22.0.5")
	old.Layout = 0
	if err := st.save(old); err != nil {
		t.Fatal(err)
	}
	run.forks()
	return run, st, old
}

// An attachment an older weir published is removed from iptables-save,
// its masquerade chain with it, while attachments of this weir share the
// masquerade chain with it.
func TestOlderWeirAttachments(t *testing.T) {
	t.Run("DEL of the last one", func(t *testing.T) {
		run, st, _ := olderHost(t)
		delRules(t, run, st, "c1")
		expectForks(t, "DEL of an older weir's attachment", run, 1, 1)
		sameTables(t, "nothing left", run, newFakeNat())
	})

	t.Run("ADD of a new one beside it, then both DELs", func(t *testing.T) {
		run, st, _ := olderHost(t)
		addRules(t, run, st, c2(web2))
		// The masquerade chain exists without its shared rules: the fast
		// batch's -N of it is refused, and the save-based one adds them.
		expectForks(t, "ADD beside an older weir's attachment", run, 1, 2)
		if !hasRule(mustTable(t, run, masq.IPv4), masqRules(masq.IPv4)[0]) {
			t.Errorf("the shared masquerade rules were not added:\n%s", run.dump(masq.IPv4))
		}
		delRules(t, run, st, "c1")
		expectForks(t, "DEL of the older weir's attachment", run, 1, 1)
		sameTables(t, "the new attachment is kept", run, reference(t, c2(web2)))
		delRules(t, run, st, "c2")
		expectForks(t, "DEL of the new attachment", run, 0, 1)
		sameTables(t, "nothing left", run, newFakeNat())
	})

	t.Run("re-ADD by this weir replaces the older chains", func(t *testing.T) {
		run, st, _ := olderHost(t)
		p := basePlan([]mapping{web}, "10.22.0.5")
		addRules(t, run, st, p)
		sameTables(t, "after the re-ADD", run, reference(t, p))
		delRules(t, run, st, "c1")
		expectForks(t, "re-ADD and DEL", run, 1, 2)
		sameTables(t, "nothing left", run, newFakeNat())
	})
}

func mustTable(t *testing.T, run *fakeNat, f masq.Family) *masq.Table {
	t.Helper()
	tb, err := masq.ParseNat([]byte(run.tables[f].save()))
	if err != nil {
		t.Fatal(err)
	}
	return tb
}
