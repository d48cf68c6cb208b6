package portmap

import (
	"context"
	"strings"
	"testing"

	"github.com/weirnet/weir/plugins/internal/masq"
	"github.com/weirnet/weir/policy/dataplane"
)

// Attachments masquerading by mark have rules of their own in the shared
// chain and no members; their fast paths read no table, and the records
// say the shared chain is still in use while one of them is left.
func TestMarkedAttachmentsReadNoTable(t *testing.T) {
	mark := 13
	marked := func(p *plan) *plan { p.MarkMasqBit = &mark; return p }
	p1, p2 := marked(basePlan([]mapping{web}, "10.22.0.5")), marked(c2(web2))
	plain := c2(web2)
	plain.ContainerID = "c3"
	plain.Addrs = addrs("10.22.0.7")

	run, st := newFakeNat(), store{dir: t.TempDir()}
	addRules(t, run, st, p1)
	addRules(t, run, st, p2)
	addRules(t, run, st, plain)
	expectForks(t, "three ADDs", run, 0, 3)
	sameTables(t, "after the ADDs", run, reference(t, p1, p2, plain))
	delRules(t, run, st, "c3")
	expectForks(t, "DEL of the attachment with members", run, 0, 1)
	sameTables(t, "after its DEL", run, reference(t, p1, p2))
	delRules(t, run, st, "c1")
	expectForks(t, "DEL of a marked attachment", run, 0, 1)
	sameTables(t, "after the first marked DEL", run, reference(t, p2))
	delRules(t, run, st, "c2")
	expectForks(t, "DEL of the last", run, 0, 1)
	sameTables(t, "nothing left", run, newFakeNat())
}

// A failed ADD leaves no rule, member, set or record: the second family's
// batch fails after the first family's rules and members are in.
func TestFailedAddUndoesMembers(t *testing.T) {
	run, st := newFakeNat(), store{dir: t.TempDir()}
	other := c2(web2)
	addRules(t, run, st, other)
	run.failFamily = masq.IPv6
	p := basePlan([]mapping{web}, "10.22.0.5", "fd00:22::5")
	if _, err := writeRules(context.Background(), run.kernel(), st, p, nil, quiet); err == nil {
		t.Fatal("ADD with a failing IPv6 restore succeeded")
	}
	run.failFamily = 0
	sameTables(t, "after the failed ADD", run, reference(t, other))
	if rec, err := st.load("net1", "c1", "eth0"); rec != nil || err != nil {
		t.Errorf("record after the failed ADD: %+v %v", rec, err)
	}
	delRules(t, run, st, "c2")
	sameTables(t, "nothing left", run, newFakeNat())
}

// DEL without a record finds the attachment's members by their comment
// and leaves the others'.
func TestDelByComment(t *testing.T) {
	run, st := newFakeNat(), store{dir: t.TempDir()}
	p := basePlan([]mapping{web}, "10.22.0.5", "fd00:22::5")
	other := c2(web2)
	other.Addrs = addrs("10.22.0.6", "fd00:22::6")
	addRules(t, run, st, p)
	addRules(t, run, st, other)
	if err := removeRules(context.Background(), run.kernel(), st, "net1", "c1", "eth0", nil, bothFamilies(), quiet); err != nil {
		t.Fatal(err)
	}
	if err := st.remove("net1", "c1", "eth0"); err != nil {
		t.Fatal(err)
	}
	sameTables(t, "after a DEL without a record", run, reference(t, other))
	if d := run.setDump(); strings.Contains(d, "id=c1 ") {
		t.Errorf("members of c1 left:\n%s", d)
	}
}

// portmap's sets are named so that neither the bridge's masquerade (which
// takes every weir-nat- set for its own) nor the policy engine's writer
// (which skips dataplane.HostportSetPrefix) touches them.
func TestSetNames(t *testing.T) {
	if SetPrefix != dataplane.HostportSetPrefix {
		t.Errorf("portmap's set prefix %q is not the one the policy writer leaves alone (%q)", SetPrefix, dataplane.HostportSetPrefix)
	}
	for _, f := range bothFamilies() {
		for _, s := range familySets(f) {
			if !strings.HasPrefix(s.name, SetPrefix) || strings.HasPrefix(s.name, masq.SetPrefix) || len(s.name) > dataplane.MaxSetName {
				t.Errorf("set name %q", s.name)
			}
		}
	}
}
