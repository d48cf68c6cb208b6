package dataplane

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const hookRule = `-m comment --comment "weir: dispatch" -j WEIR-FORWARD`

// demoState is a small realistic state: a dispatch chain hooked into
// FORWARD, one chain per endpoint, a peer set.
func demoState(peers []string, endpoints ...string) State {
	s := NewState()
	s.Sets["weir-peers"] = IPSet{Name: "weir-peers", Type: "hash:ip", Family: IPv4, Members: peers}
	fwd := Chain{Table: Filter, Family: IPv4, Name: "WEIR-FORWARD", Rules: []string{
		`-m conntrack --ctstate ESTABLISHED,RELATED -m comment --comment "weir: replies" -j ACCEPT`,
	}}
	for _, ep := range endpoints {
		fwd.Rules = append(fwd.Rules, `-m physdev --physdev-in veth-`+ep+` --physdev-is-bridged -m comment --comment "weir: container `+ep+`" -g WEIR-EP-`+ep)
		s.Chains[ChainKey(Filter, IPv4, "WEIR-EP-"+ep)] = Chain{Table: Filter, Family: IPv4, Name: "WEIR-EP-" + ep, Rules: []string{
			`-m set --match-set weir-peers src -m comment --comment "weir: container ` + ep + `" -j ACCEPT`,
			`-m comment --comment "weir: container ` + ep + `" -j DROP`,
		}}
	}
	s.Chains[ChainKey(Filter, IPv4, "WEIR-FORWARD")] = fwd
	s.Hooks = []Hook{{Table: Filter, Family: IPv4, Chain: "FORWARD", Rule: hookRule}}
	return s
}

func mustApply(t *testing.T, w *Writer, s State) Stats {
	t.Helper()
	st, err := w.Apply(context.Background(), s)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	return st
}

func TestApplyNewChainHookAndSet(t *testing.T) {
	f := newFake()
	w := fakeWriter(t, f)
	st := mustApply(t, w, demoState([]string{"10.0.0.2", "10.0.0.1"}, "a"))
	checkCalls(t, f.take(),
		"save ipv4 ", "save ipv6 ", "ipset save",
		"ipset restore\n"+
			"create weir-peers hash:ip family inet -exist\n"+
			"add weir-peers 10.0.0.1 -exist\n"+
			"add weir-peers 10.0.0.2 -exist\n",
		"restore ipv4\n"+
			"*filter\n"+
			":WEIR-EP-a - [0:0]\n"+
			":WEIR-FORWARD - [0:0]\n"+
			`-A WEIR-EP-a -m set --match-set weir-peers src -m comment --comment "weir: container a" -j ACCEPT`+"\n"+
			`-A WEIR-EP-a -m comment --comment "weir: container a" -j DROP`+"\n"+
			`-A WEIR-FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment "weir: replies" -j ACCEPT`+"\n"+
			`-A WEIR-FORWARD -m physdev --physdev-in veth-a --physdev-is-bridged -m comment --comment "weir: container a" -g WEIR-EP-a`+"\n"+
			`-I FORWARD 1 -m comment --comment "weir: dispatch" -j WEIR-FORWARD`+"\n"+
			"COMMIT\n")
	want := Stats{Reads: 3, Restores: 2, Forks: 5, ChainsCreated: 2, ChainsWritten: 2, RulesWritten: 4,
		HooksInserted: 1, SetsCreated: 1, MembersAdded: 2, Generation: 1}
	st.Duration = 0
	if st != want {
		t.Fatalf("stats %+v\nwant  %+v", st, want)
	}

	// Nothing changed: no tool runs at all.
	st = mustApply(t, w, demoState([]string{"10.0.0.1", "10.0.0.2"}, "a"))
	checkCalls(t, f.take())
	if !st.FromCache || st.Writes() != 0 || st.Forks != 0 || st.Generation != 1 {
		t.Fatalf("second apply: %+v", st)
	}
}

func TestApplyOnlySetMembersRunsIPSetOnly(t *testing.T) {
	f := newFake()
	w := fakeWriter(t, f)
	mustApply(t, w, demoState([]string{"10.0.0.1", "10.0.0.2"}, "a"))
	f.take()
	st := mustApply(t, w, demoState([]string{"10.0.0.2", "10.0.0.3", "10.0.0.4"}, "a"))
	checkCalls(t, f.take(),
		"ipset restore\n"+
			"add weir-peers 10.0.0.3 -exist\n"+
			"add weir-peers 10.0.0.4 -exist\n"+
			"del weir-peers 10.0.0.1 -exist\n")
	if st.Forks != 1 || st.MembersAdded != 2 || st.MembersRemoved != 1 || st.ChainsWritten != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestApplyChangedChainRewritesOnlyThatChain(t *testing.T) {
	f := newFake()
	w := fakeWriter(t, f)
	s := demoState([]string{"10.0.0.1"}, "a", "b")
	mustApply(t, w, s)
	f.take()
	s = demoState([]string{"10.0.0.1"}, "a", "b")
	ch := s.Chains[ChainKey(Filter, IPv4, "WEIR-EP-b")]
	// A rule replaced (not only added): the small chain is rewritten whole.
	ch.Rules = append([]string{`-p tcp -m multiport --dports 5432,8000:8080 -m comment --comment "weir: container b" -j ACCEPT`}, ch.Rules[1:]...)
	s.Chains[ChainKey(Filter, IPv4, "WEIR-EP-b")] = ch
	st := mustApply(t, w, s)
	checkCalls(t, f.take(),
		"restore ipv4\n"+
			"*filter\n"+
			":WEIR-EP-b - [0:0]\n"+
			`-A WEIR-EP-b -p tcp -m multiport --dports 5432,8000:8080 -m comment --comment "weir: container b" -j ACCEPT`+"\n"+
			`-A WEIR-EP-b -m comment --comment "weir: container b" -j DROP`+"\n"+
			"COMMIT\n")
	if st.ChainsWritten != 1 || st.ChainsCreated != 0 || st.Forks != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestApplyRemovedChain(t *testing.T) {
	f := newFake()
	w := fakeWriter(t, f)
	mustApply(t, w, demoState([]string{"10.0.0.1"}, "a", "b"))
	f.take()
	st := mustApply(t, w, demoState([]string{"10.0.0.1"}, "a"))
	checkCalls(t, f.take(),
		"restore ipv4\n"+
			"*filter\n"+
			"-D WEIR-FORWARD 3\n"+ // the jump, by position: a small chain losing rules is edited too
			"-F WEIR-EP-b\n"+
			"-X WEIR-EP-b\n"+
			"COMMIT\n")
	if st.ChainsEdited != 1 || st.RulesDeleted != 1 || st.ChainsDeleted != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// endpoints returns the names of n endpoints.
func endpoints(n int) []string {
	var out []string
	for i := 0; i < n; i++ {
		out = append(out, fmt.Sprintf("e%02d", i))
	}
	return out
}

func TestApplyEditsBigChainsInPlace(t *testing.T) {
	f := newFake()
	w := fakeWriter(t, f)
	eps := endpoints(20) // the dispatch chain has 21 rules: the cache keeps them
	mustApply(t, w, demoState(nil, eps...))
	f.take()
	jump := func(ep string) string {
		return `-m physdev --physdev-in veth-` + ep + ` --physdev-is-bridged -m comment --comment "weir: container ` + ep + `" -g WEIR-EP-` + ep
	}
	epChain := func(ep string) string {
		return ":WEIR-EP-" + ep + " - [0:0]\n" +
			`-A WEIR-EP-` + ep + ` -m set --match-set weir-peers src -m comment --comment "weir: container ` + ep + `" -j ACCEPT` + "\n" +
			`-A WEIR-EP-` + ep + ` -m comment --comment "weir: container ` + ep + `" -j DROP` + "\n"
	}

	// A container joins at the end: its chain is created and its jump appended.
	st := mustApply(t, w, demoState(nil, append(eps, "new")...))
	checkCalls(t, f.take(),
		"restore ipv4\n*filter\n"+epChain("new")+"-A WEIR-FORWARD "+jump("new")+"\nCOMMIT\n")
	if st.ChainsCreated != 1 || st.ChainsWritten != 1 || st.ChainsEdited != 1 || st.RulesWritten != 3 {
		t.Fatalf("stats %+v", st)
	}

	// One joins in the middle: its jump is inserted at its place.
	mid := append(append(append([]string{}, eps[:5]...), "mid"), append(eps[5:], "new")...)
	mustApply(t, w, demoState(nil, mid...))
	checkCalls(t, f.take(),
		"restore ipv4\n*filter\n"+epChain("mid")+"-I WEIR-FORWARD 7 "+jump("mid")+"\nCOMMIT\n")

	// One leaves: its jump is deleted (by position: one rule precedes the
	// jumps), its chain flushed and deleted.
	left := append(append([]string{}, mid[:2]...), mid[3:]...)
	st = mustApply(t, w, demoState(nil, left...))
	checkCalls(t, f.take(),
		"restore ipv4\n*filter\n-D WEIR-FORWARD 4\n-F WEIR-EP-"+mid[2]+"\n-X WEIR-EP-"+mid[2]+"\nCOMMIT\n")
	if st.ChainsEdited != 1 || st.RulesDeleted != 1 || st.ChainsDeleted != 1 || st.ChainsWritten != 0 {
		t.Fatalf("stats %+v", st)
	}

	// A reorder is neither: the chain is rewritten whole.
	swapped := append([]string{}, left...)
	swapped[0], swapped[1] = swapped[1], swapped[0]
	st = mustApply(t, w, demoState(nil, swapped...))
	calls := f.take()
	if len(calls) != 1 || !strings.HasPrefix(calls[0], "restore ipv4\n*filter\n:WEIR-FORWARD - [0:0]\n") || st.ChainsWritten != 1 {
		t.Fatalf("calls %q, stats %+v", calls, st)
	}
}

func TestApplyEmptyRemovesEverything(t *testing.T) {
	f := newFake()
	w := fakeWriter(t, f)
	mustApply(t, w, demoState([]string{"10.0.0.1"}, "a"))
	f.take()
	st := mustApply(t, w, State{})
	checkCalls(t, f.take(),
		"restore ipv4\n"+
			"*filter\n"+
			"-D FORWARD "+hookRule+"\n"+
			"-F WEIR-EP-a\n"+
			"-F WEIR-FORWARD\n"+
			"-X WEIR-EP-a\n"+
			"-X WEIR-FORWARD\n"+
			"COMMIT\n",
		"ipset restore\n"+
			"destroy weir-peers\n")
	if st.ChainsDeleted != 2 || st.HooksDeleted != 1 || st.SetsDestroyed != 1 {
		t.Fatalf("stats %+v", st)
	}
	// And the cache now says there is nothing: applying nothing again runs nothing.
	mustApply(t, w, NewState())
	checkCalls(t, f.take())
}

// foreignSave is a host's filter table with Docker's, the CNI plugins',
// kube-proxy's and weir's rules.
const foreignSave = `# Generated by iptables-save v1.8.9 (nf_tables) on Mon Nov 30 09:22:10 2026
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:CNI-FORWARD - [0:0]
:CNI-ab12cd34 - [0:0]
:DOCKER - [0:0]
:DOCKER-USER - [0:0]
:KUBE-FORWARD - [0:0]
:WEIR-EP-a - [0:0]
:WEIR-FORWARD - [0:0]
-A INPUT -j KUBE-FIREWALL
-A FORWARD -m comment --comment "weir: dispatch" -j WEIR-FORWARD
-A FORWARD -j DOCKER-USER
-A FORWARD -m comment --comment "CNI firewall plugin rules" -j CNI-FORWARD
-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
-A CNI-FORWARD -d 10.22.0.5/32 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A CNI-ab12cd34 -d 10.22.0.0/16 -m comment --comment "name: \"mynet\" id: \"x\"" -j ACCEPT
-A DOCKER-USER -j RETURN
-A WEIR-EP-a -m set --match-set weir-peers src -m comment --comment "weir: container a" -j ACCEPT
-A WEIR-EP-a -m comment --comment "weir: container a" -j DROP
-A WEIR-FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment "weir: replies" -j ACCEPT
-A WEIR-FORWARD -m physdev --physdev-in veth-a --physdev-is-bridged -m comment --comment "weir: container a" -g WEIR-EP-a
COMMIT
# Completed on Mon Nov 30 09:22:10 2026
`

const foreignIPSets = `create docker-x hash:ip family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x1
add docker-x 172.17.0.2
create KUBE-SVC hash:ip,port family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x2
add KUBE-SVC 10.96.0.1,tcp:443
create weir-peers hash:ip family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x3
add weir-peers 10.0.0.1
create foreign hash:net family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x4
add foreign 192.168.0.0/16
`

func TestForeignObjectsUntouched(t *testing.T) {
	f := newFake()
	f.saves["ipv4/filter"] = foreignSave
	f.ipsets = foreignIPSets
	w := fakeWriter(t, f)

	got, err := w.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want, err := demoState([]string{"10.0.0.1"}, "a").Canonical()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Read:\n%+v\nwant\n%+v", got, want)
	}
	f.take()

	// The kernel already matches: Repair writes nothing.
	st, err := w.Repair(context.Background(), demoState([]string{"10.0.0.1"}, "a"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Writes() != 0 || st.Restores != 0 {
		t.Fatalf("repair of a matching dataplane wrote: %+v", st)
	}
	f.take()

	// Removing everything touches weir's objects only.
	if _, err := w.Repair(context.Background(), NewState()); err != nil {
		t.Fatal(err)
	}
	calls := f.take()
	checkCalls(t, calls,
		"save ipv4 ", "save ipv6 ", "ipset save",
		"restore ipv4\n"+
			"*filter\n"+
			"-D FORWARD "+hookRule+"\n"+
			"-F WEIR-EP-a\n"+
			"-F WEIR-FORWARD\n"+
			"-X WEIR-EP-a\n"+
			"-X WEIR-FORWARD\n"+
			"COMMIT\n",
		"ipset restore\n"+
			"destroy weir-peers\n")
	for _, c := range calls {
		for _, foreign := range []string{"DOCKER", "CNI-", "KUBE-", "docker-x", "foreign"} {
			if strings.Contains(c, foreign) {
				t.Errorf("a write names %s:\n%s", foreign, c)
			}
		}
	}
}

func TestRepairMovesHookBackToTop(t *testing.T) {
	f := newFake()
	f.saves["ipv4/filter"] = strings.Replace(foreignSave,
		"-A FORWARD -m comment --comment \"weir: dispatch\" -j WEIR-FORWARD\n-A FORWARD -j DOCKER-USER\n",
		"-A FORWARD -j DOCKER-USER\n-A FORWARD -m comment --comment \"weir: dispatch\" -j WEIR-FORWARD\n", 1)
	f.ipsets = foreignIPSets
	w := fakeWriter(t, f)
	st, err := w.Repair(context.Background(), demoState([]string{"10.0.0.1"}, "a"))
	if err != nil {
		t.Fatal(err)
	}
	checkCalls(t, f.take(),
		"save ipv4 ", "save ipv6 ", "ipset save",
		"restore ipv4\n"+
			"*filter\n"+
			"-D FORWARD "+hookRule+"\n"+
			"-I FORWARD 1 "+hookRule+"\n"+
			"COMMIT\n")
	if st.HooksDeleted != 1 || st.HooksInserted != 1 || st.ChainsWritten != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestHooksInsertedAtTheirPlace(t *testing.T) {
	f := newFake()
	w := fakeWriter(t, f)
	s := demoState(nil, "a")
	s.Chains[ChainKey(Filter, IPv4, "WEIR-INPUT")] = Chain{Table: Filter, Family: IPv4, Name: "WEIR-INPUT"}
	first := Hook{Table: Filter, Family: IPv4, Chain: "FORWARD", Rule: `-m comment --comment "weir: first" -j WEIR-INPUT`}
	mustApply(t, w, s)
	f.take()
	s.Hooks = []Hook{first, s.Hooks[0]}
	mustApply(t, w, s)
	checkCalls(t, f.take(),
		"restore ipv4\n"+
			"*filter\n"+
			`-I FORWARD 1 -m comment --comment "weir: first" -j WEIR-INPUT`+"\n"+
			"COMMIT\n")
	last := Hook{Table: Filter, Family: IPv4, Chain: "FORWARD", Rule: `-m comment --comment "weir: last" -j WEIR-INPUT`}
	s.Hooks = append(s.Hooks, last)
	mustApply(t, w, s)
	checkCalls(t, f.take(),
		"restore ipv4\n"+
			"*filter\n"+
			`-I FORWARD 3 -m comment --comment "weir: last" -j WEIR-INPUT`+"\n"+
			"COMMIT\n")
	s.Hooks = []Hook{s.Hooks[1], s.Hooks[0]} // reorder: delete and insert again
	mustApply(t, w, s)
	checkCalls(t, f.take(),
		"restore ipv4\n"+
			"*filter\n"+
			`-D FORWARD -m comment --comment "weir: first" -j WEIR-INPUT`+"\n"+
			"-D FORWARD "+hookRule+"\n"+
			`-D FORWARD -m comment --comment "weir: last" -j WEIR-INPUT`+"\n"+
			"-I FORWARD 1 "+hookRule+"\n"+
			`-I FORWARD 2 -m comment --comment "weir: first" -j WEIR-INPUT`+"\n"+
			"COMMIT\n")
}

func TestSetTypeChangeGoesThroughATemporarySet(t *testing.T) {
	f := newFake()
	w := fakeWriter(t, f)
	mustApply(t, w, demoState([]string{"10.0.0.1"}, "a"))
	f.take()
	s := demoState(nil, "a")
	s.Sets["weir-peers"] = IPSet{Name: "weir-peers", Type: "hash:net", Family: IPv4, Members: []string{"10.0.0.0/24"}}
	st := mustApply(t, w, s)
	tmp := tmpSetName("weir-peers")
	ep := func(set string) string {
		return "*filter\n" +
			":WEIR-EP-a - [0:0]\n" +
			`-A WEIR-EP-a -m set --match-set ` + set + ` src -m comment --comment "weir: container a" -j ACCEPT` + "\n" +
			`-A WEIR-EP-a -m comment --comment "weir: container a" -j DROP` + "\n" +
			"COMMIT\n"
	}
	checkCalls(t, f.take(),
		"ipset restore\n"+
			"create "+tmp+" hash:net family inet -exist\n"+
			"add "+tmp+" 10.0.0.0/24 -exist\n",
		"restore ipv4\n"+ep(tmp),
		"ipset restore\n"+
			"destroy weir-peers\n"+
			"create weir-peers hash:net family inet -exist\n"+
			"add weir-peers 10.0.0.0/24 -exist\n",
		"restore ipv4\n"+ep("weir-peers"),
		"ipset restore\n"+
			"destroy "+tmp+"\n")
	if st.SetsCreated != 1 || st.SetsDestroyed != 1 || st.ChainsWritten != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSetTypeChangeWithAHookMatchingIt(t *testing.T) {
	f := newFake()
	w := fakeWriter(t, f)
	s := demoState([]string{"10.0.0.1"}, "a")
	s.Hooks[0].Rule = `-m set --match-set weir-peers src -j WEIR-FORWARD`
	mustApply(t, w, s)
	f.take()
	s.Sets["weir-peers"] = IPSet{Name: "weir-peers", Type: "hash:net", Family: IPv4, Members: []string{"10.0.0.0/24"}}
	mustApply(t, w, s)
	tmp := tmpSetName("weir-peers")
	calls := f.take()
	if len(calls) != 5 {
		t.Fatalf("calls %q", calls)
	}
	if !strings.Contains(calls[1], "-D FORWARD -m set --match-set weir-peers src -j WEIR-FORWARD\n") ||
		!strings.Contains(calls[1], "-I FORWARD 1 -m set --match-set "+tmp+" src -j WEIR-FORWARD\n") {
		t.Fatalf("first rules batch:\n%s", calls[1])
	}
	if !strings.Contains(calls[3], "-D FORWARD -m set --match-set "+tmp+" src -j WEIR-FORWARD\n") ||
		!strings.Contains(calls[3], "-I FORWARD 1 -m set --match-set weir-peers src -j WEIR-FORWARD\n") {
		t.Fatalf("second rules batch:\n%s", calls[3])
	}
}

func TestStaleCacheFallsBackToReadBack(t *testing.T) {
	f := newFake()
	w := fakeWriter(t, f)
	mustApply(t, w, demoState([]string{"10.0.0.1"}, "a", "b"))
	f.take()
	// Someone removed everything behind weir's back; the cache does not know.
	f.failRestores = 1
	st, err := w.Apply(context.Background(), demoState([]string{"10.0.0.1"}, "a"))
	if err != nil {
		t.Fatal(err)
	}
	if !st.Fallback || !st.FromCache || st.Reads != 3 || st.ChainsCreated != 2 || st.SetsCreated != 1 {
		t.Fatalf("stats %+v", st)
	}
	calls := f.take()
	if len(calls) != 6 || !strings.HasPrefix(calls[0], "restore ipv4") || calls[1] != "save ipv4 " {
		t.Fatalf("calls %q", calls)
	}
}

func TestFailedWriteInvalidatesCache(t *testing.T) {
	f := newFake()
	w := fakeWriter(t, f)
	mustApply(t, w, demoState(nil, "a"))
	f.take()
	f.failRestores = 2
	_, err := w.Apply(context.Background(), demoState(nil, "b"))
	if err == nil {
		t.Fatal("Apply succeeded with a failing restore")
	}
	const wantErr = `applying dataplane: iptables-restore failed at line 2 "-D FORWARD x": exit status 1`
	if !strings.Contains(err.Error(), wantErr) {
		t.Fatalf("error %q, want it to contain %q", err, wantErr)
	}
	f.take()
	// The next Apply cannot trust the cache and reads back.
	st := mustApply(t, w, demoState(nil, "b"))
	if st.FromCache || st.Reads != 3 {
		t.Fatalf("stats %+v", st)
	}
}

func TestCacheIgnoredForAnotherNamespaceOrBackend(t *testing.T) {
	f := newFake()
	w := fakeWriter(t, f)
	mustApply(t, w, demoState(nil, "a"))
	id, err := currentNetNS()
	if err != nil || id.cookie == 0 {
		t.Skipf("no netns cookie here: %v", err)
	}
	path := cachePathFor(w.cfg.CacheDir, id.ino)
	c := loadCache(path)
	if c == nil || !c.Valid || c.Generation != 1 {
		t.Fatalf("cache %+v", c)
	}
	if _, ok := c.current(netnsID{ino: id.ino, cookie: id.cookie + 1}, "fake"); ok {
		t.Fatal("cache trusted for another namespace with the same inode")
	}
	if _, ok := c.current(id, NFT); ok {
		t.Fatal("cache trusted for another backend")
	}
	if _, ok := c.current(id, "fake"); !ok {
		t.Fatal("cache not trusted for its own namespace")
	}
	if err := os.WriteFile(path, []byte("{garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	f.take()
	st := mustApply(t, w, demoState(nil, "a"))
	if st.FromCache || st.Reads != 3 {
		t.Fatalf("garbage cache was used: %+v", st)
	}
}

func TestRepairLearnsHowIptablesPrintsUnknownShapes(t *testing.T) {
	f := newFake()
	w := fakeWriter(t, f)
	s := NewState()
	rule := `-m limit --limit 5/min -j LOG --log-prefix "weir-deny: "`
	printed := `-m limit --limit 5/min --limit-burst 5 -j LOG --log-prefix "weir-deny: "`
	s.Chains[ChainKey(Filter, IPv4, "WEIR-LOG")] = Chain{Table: Filter, Family: IPv4, Name: "WEIR-LOG", Rules: []string{rule}}
	// The kernel prints the rule with its default burst.
	f.saves["ipv4/filter"] = "*filter\n:WEIR-LOG - [0:0]\n-A WEIR-LOG " + printed + "\nCOMMIT\n"
	st, err := w.Repair(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if st.ChainsWritten != 1 || st.Relearned != 1 {
		t.Fatalf("first repair: %+v", st)
	}
	st, err = w.Repair(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if st.Writes() != 0 || st.Relearned != 0 {
		t.Fatalf("second repair rewrote a learned rule: %+v", st)
	}
	// A new Writer learns it from the cache file.
	w2 := New(w.cfg)
	st, err = w2.Repair(context.Background(), s)
	if err != nil || st.Writes() != 0 {
		t.Fatalf("new writer: %+v, %v", st, err)
	}
}

func TestRunReportsFailingLine(t *testing.T) {
	_, err := run(context.Background(), "/bin/sh", []string{"-c", "cat >/dev/null; echo \"iptables-restore v1.8.9 (nf_tables): Chain 'BAD' does not exist\" >&2; echo 'Error occurred at line: 3' >&2; echo \"Try \\`iptables-restore -h' for more information.\" >&2; exit 2"},
		[]byte("*filter\n:WEIR-Q - [0:0]\n-A WEIR-Q -j BAD\nCOMMIT\n"))
	var te *ToolError
	if err == nil || !errors.As(err, &te) {
		t.Fatalf("error %v", err)
	}
	if te.Line != 3 || te.Text != "-A WEIR-Q -j BAD" {
		t.Fatalf("line %d %q", te.Line, te.Text)
	}
	want := `/bin/sh failed at line 3 "-A WEIR-Q -j BAD": iptables-restore v1.8.9 (nf_tables): Chain 'BAD' does not exist: exit status 2`
	if err.Error() != want {
		t.Fatalf("error\n%s\nwant\n%s", err, want)
	}
}

func TestHostLockSerialisesAndHonoursContext(t *testing.T) {
	f := newFake()
	w := fakeWriter(t, f)
	holder, err := lockHost(context.Background(), w.cfg.LockPath, unix.LOCK_EX)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = w.Apply(ctx, demoState(nil, "a"))
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "waiting for lock") {
		t.Fatalf("Apply while the lock is held: %v", err)
	}
	if len(f.take()) != 0 {
		t.Fatal("a tool ran without the lock")
	}
	// A waiter gets the lock as soon as the holder lets go.
	done := make(chan error, 1)
	go func() {
		_, err := w.Apply(context.Background(), demoState(nil, "a"))
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	released := time.Now()
	holder.unlock()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if d := time.Since(released); d > time.Second {
		t.Fatalf("waiter took %v after release", d)
	}
}

// A rule only added to a small chain is inserted in place, not by a flush
// and rewrite (an nf_tables commit that flushes costs ~15 ms, an insert
// ~3 ms): the cache keeps per-rule sums of small chains.
func TestApplyInsertIntoSmallChainEditsInPlace(t *testing.T) {
	f := newFake()
	dir := t.TempDir()
	cfg := Config{Runner: f, Backend: "fake", LockPath: filepath.Join(dir, "lock"), CacheDir: filepath.Join(dir, "cache")}
	w := New(cfg)
	s := demoState([]string{"10.0.0.1"}, "a", "b")
	mustApply(t, w, s)
	f.take()
	for _, writer := range []*Writer{w, New(cfg)} { // warm, and fresh on the same cache
		s = demoState([]string{"10.0.0.1"}, "a", "b")
		ch := s.Chains[ChainKey(Filter, IPv4, "WEIR-EP-b")]
		ch.Rules = append([]string{`-p tcp -m multiport --dports 5432,8000:8080 -m comment --comment "weir: container b" -j ACCEPT`}, ch.Rules...)
		s.Chains[ChainKey(Filter, IPv4, "WEIR-EP-b")] = ch
		st := mustApply(t, writer, s)
		checkCalls(t, f.take(),
			"restore ipv4\n"+
				"*filter\n"+
				`-I WEIR-EP-b 1 -p tcp -m multiport --dports 5432,8000:8080 -m comment --comment "weir: container b" -j ACCEPT`+"\n"+
				"COMMIT\n")
		if st.ChainsEdited != 1 || st.ChainsWritten != 0 || st.Forks != 1 {
			t.Fatalf("stats %+v", st)
		}
		mustApply(t, writer, demoState([]string{"10.0.0.1"}, "a", "b")) // back
		f.take()
	}
}
