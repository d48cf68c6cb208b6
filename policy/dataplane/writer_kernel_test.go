package dataplane

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/containernetworking/plugins/pkg/ns"

	"github.com/weirnet/weir/internal/sandbox"
)

func TestKernelApplyReadRepair(t *testing.T) {
	sandbox.Require(t)
	w := kernelWriter(t, Config{})
	want := realisticState("web", "db")

	st, err := w.Apply(bg(), want)
	if err != nil {
		t.Fatal(err)
	}
	if st.FromCache || st.ChainsCreated != 12 || st.HooksInserted != 4 || st.SetsCreated != 4 {
		t.Fatalf("first apply: %+v", st)
	}
	got, err := w.Read(bg())
	if err != nil {
		t.Fatal(err)
	}
	checkKernelState(t, got, want)

	t.Run("unchanged: nothing runs", func(t *testing.T) {
		st, err := w.Apply(bg(), realisticState("web", "db"))
		if err != nil {
			t.Fatal(err)
		}
		if !st.FromCache || st.Writes() != 0 || st.Forks != 0 || st.Reads != 0 {
			t.Fatalf("stats %+v", st)
		}
	})

	t.Run("one set member: ipset alone", func(t *testing.T) {
		s := realisticState("web", "db")
		set := s.Sets["weir-peers-web"]
		set.Members = []string{"10.22.0.5", "10.22.0.7"}
		s.Sets["weir-peers-web"] = set
		st, err := w.Apply(bg(), s)
		if err != nil {
			t.Fatal(err)
		}
		if st.Restores != 1 || st.Forks != 1 || st.ChainsWritten != 0 || st.MembersAdded != 1 || st.MembersRemoved != 1 {
			t.Fatalf("stats %+v", st)
		}
		if out := sh(t, "", "ipset list weir-peers-web -o save"); !strings.Contains(out, "add weir-peers-web 10.22.0.7") || strings.Contains(out, "10.22.0.6") {
			t.Fatalf("set in kernel:\n%s", out)
		}
		if _, err := w.Apply(bg(), want); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("chain flushed by hand: Repair restores it", func(t *testing.T) {
		sh(t, "", "iptables -w -F WEIR-I-web; ip6tables -w -F WEIR-E-db")
		st, err := w.Repair(bg(), want)
		if err != nil {
			t.Fatal(err)
		}
		// Both chains were emptied: their rules are appended, no flush.
		if st.ChainsEdited != 2 || st.RulesWritten != 9 || st.ChainsWritten != 0 || st.Relearned != 0 {
			t.Fatalf("stats %+v", st)
		}
		got, err := w.Read(bg())
		if err != nil {
			t.Fatal(err)
		}
		checkKernelState(t, got, want)
	})

	t.Run("hook deleted or pushed down by hand: Repair restores it", func(t *testing.T) {
		sh(t, "", `iptables -w -D FORWARD -m comment --comment "weir: dispatch" -j WEIR-FORWARD
			ip6tables -w -t mangle -I PREROUTING 1 -m comment --comment "someone else" -j ACCEPT`)
		st, err := w.Repair(bg(), want)
		if err != nil {
			t.Fatal(err)
		}
		if st.HooksInserted != 2 || st.HooksDeleted != 1 || st.ChainsWritten != 0 {
			t.Fatalf("stats %+v", st)
		}
		out := sh(t, "", "iptables -w -S FORWARD; ip6tables -w -t mangle -S PREROUTING")
		wantOut := "-P FORWARD ACCEPT\n" +
			`-A FORWARD -m comment --comment "weir: dispatch" -j WEIR-FORWARD` + "\n" +
			"-P PREROUTING ACCEPT\n" +
			`-A PREROUTING -m comment --comment "weir: mark" -j WEIR-MARK` + "\n" +
			`-A PREROUTING -m comment --comment "someone else" -j ACCEPT` + "\n"
		if out != wantOut {
			t.Fatalf("built-in chains:\n%s\nwant\n%s", out, wantOut)
		}
	})

	t.Run("set member deleted by hand: Repair re-adds it", func(t *testing.T) {
		sh(t, "", "ipset del weir-nets6-db fd00:22::/64")
		st, err := w.Repair(bg(), want)
		if err != nil {
			t.Fatal(err)
		}
		if st.MembersAdded != 1 || st.Restores != 1 || st.ChainsWritten != 0 {
			t.Fatalf("stats %+v", st)
		}
		st, err = w.Repair(bg(), want)
		if err != nil || st.Writes() != 0 {
			t.Fatalf("second repair: %+v %v", st, err)
		}
	})

	t.Run("empty state removes all of weir's objects", func(t *testing.T) {
		st, err := w.Apply(bg(), State{})
		if err != nil {
			t.Fatal(err)
		}
		if st.ChainsDeleted != 12 || st.HooksDeleted != 4 || st.SetsDestroyed != 4 {
			t.Fatalf("stats %+v", st)
		}
		if left := weirLeft(t, ""); left != "" {
			t.Fatalf("left behind:\n%s", left)
		}
	})
}

// foreignScript makes what other tools own: Docker's chains and a rule in
// FORWARD, a CNI plugin's chain with a rule and a jump, kube-proxy-like
// chains in nat, an ipset named foreign, and IPv6 rules.
const foreignScript = `set -e
iptables -w -N DOCKER
iptables -w -N DOCKER-USER
iptables -w -A DOCKER-USER -j RETURN
iptables -w -A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT
iptables -w -A FORWARD -j DOCKER-USER
iptables -w -N CNI-FORWARD
iptables -w -N CNI-ab12cd34
iptables -w -A CNI-ab12cd34 -d 10.88.0.0/16 -m comment --comment "name: \"podman\" id: \"abc\"" -j ACCEPT
iptables -w -A FORWARD -m comment --comment "CNI firewall plugin rules" -j CNI-FORWARD
iptables -w -A CNI-FORWARD -j CNI-ab12cd34
iptables -w -t nat -N KUBE-SERVICES
iptables -w -t nat -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
ip6tables -w -N DOCKER
ip6tables -w -A FORWARD -j DOCKER
ipset create foreign hash:net family inet
ipset add foreign 192.168.0.0/16
ipset create docker-x hash:ip family inet
ipset add docker-x 172.17.0.2
`

// foreignView is everything in the namespace that is not weir's.
func foreignView(t *testing.T, nsPath string) string {
	t.Helper()
	out := sh(t, nsPath, "iptables-save; ip6tables-save; ipset save")
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "#") || strings.Contains(l, "WEIR") || strings.Contains(l, "weir") {
			continue
		}
		if strings.HasPrefix(l, "create ") {
			l = l[:strings.Index(l, " initval")] // random per set
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n")
}

func TestKernelForeignObjectsSurvive(t *testing.T) {
	sandbox.Require(t)
	w := kernelWriter(t, Config{})
	sh(t, "", foreignScript)
	before := foreignView(t, "")
	if !strings.Contains(before, "CNI-ab12cd34") || !strings.Contains(before, "add foreign 192.168.0.0/16") {
		t.Fatalf("foreign objects not made:\n%s", before)
	}
	steps := []struct {
		name  string
		state State
		do    func(State) (Stats, error)
	}{
		{"apply", realisticState("web"), func(s State) (Stats, error) { return w.Apply(bg(), s) }},
		{"apply more", realisticState("web", "db"), func(s State) (Stats, error) { return w.Apply(bg(), s) }},
		{"repair", realisticState("db"), func(s State) (Stats, error) { return w.Repair(bg(), s) }},
		{"apply empty", State{}, func(s State) (Stats, error) { return w.Apply(bg(), s) }},
		{"apply again", realisticState("web"), func(s State) (Stats, error) { return w.Apply(bg(), s) }},
		{"repair empty", NewState(), func(s State) (Stats, error) { return w.Repair(bg(), s) }},
	}
	for _, step := range steps {
		if _, err := step.do(step.state); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if after := foreignView(t, ""); after != before {
			t.Fatalf("after %s foreign objects changed:\n%s\nwas\n%s", step.name, after, before)
		}
		if got, err := w.Read(bg()); err != nil {
			t.Fatal(err)
		} else {
			checkKernelState(t, got, step.state)
		}
	}
	if left := weirLeft(t, ""); left != "" {
		t.Fatalf("left behind:\n%s", left)
	}
}

func TestKernelConcurrentAppliesSerialise(t *testing.T) {
	sandbox.Require(t)
	first := kernelWriter(t, Config{})
	states := make([]State, 8)
	for i := range states {
		eps := []string{fmt.Sprintf("c%d", i)}
		for j := 0; j < i; j++ {
			eps = append(eps, fmt.Sprintf("x%d", j))
		}
		states[i] = realisticState(eps...)
		set := states[i].Sets["weir-peers-web"]
		set.Members = append(set.Members, fmt.Sprintf("10.30.0.%d", i+1))
		states[i].Sets["weir-peers-web"] = set
	}
	// Eight writers, as eight CNI plugin processes would be: one lock file,
	// one cache directory.
	stats := make([]Stats, len(states))
	errs := make([]error, len(states))
	var wg sync.WaitGroup
	for i := range states {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := New(first.cfg)
			stats[i], errs[i] = w.Apply(bg(), states[i])
		}()
	}
	wg.Wait()
	last, gens := -1, map[uint64]bool{}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("writer %d: %v", i, err)
		}
		if gens[stats[i].Generation] {
			t.Fatalf("two writers saw generation %d: not serialised", stats[i].Generation)
		}
		gens[stats[i].Generation] = true
		if last < 0 || stats[i].Generation > stats[last].Generation {
			last = i
		}
	}
	got, err := first.Read(bg())
	if err != nil {
		t.Fatal(err)
	}
	checkKernelState(t, got, states[last])
	// The cache agrees with the kernel: a Repair finds nothing to do.
	st, err := first.Repair(bg(), states[last])
	if err != nil || st.Writes() != 0 {
		t.Fatalf("repair after the race: %+v %v", st, err)
	}
}

func TestKernelApplyInNetNS(t *testing.T) {
	sandbox.Require(t)
	w := kernelWriter(t, Config{})
	n := sandbox.NewNS(t)
	want := realisticState("web")
	st, err := w.ApplyInNetNS(bg(), n.Path(), want)
	if err != nil {
		t.Fatal(err)
	}
	if st.ChainsCreated != 8 {
		t.Fatalf("stats %+v", st)
	}
	got, err := w.ReadInNetNS(bg(), n.Path())
	if err != nil {
		t.Fatal(err)
	}
	checkKernelState(t, got, want)
	if left := weirLeft(t, ""); left != "" {
		t.Fatalf("written into the sandbox's root namespace:\n%s", left)
	}
	if root, err := w.Read(bg()); err != nil || len(root.Chains)+len(root.Sets)+len(root.Hooks) != 0 {
		t.Fatalf("root namespace read %+v, %v", root, err)
	}
	// The namespace has its own cache: a second apply runs nothing.
	st, err = w.ApplyInNetNS(bg(), n.Path(), want)
	if err != nil || !st.FromCache || st.Forks != 0 {
		t.Fatalf("second apply: %+v %v", st, err)
	}
	// Drift inside the namespace is repaired inside it.
	sh(t, n.Path(), "iptables -w -F WEIR-FORWARD")
	if st, err = w.RepairInNetNS(bg(), n.Path(), want); err != nil || st.ChainsEdited != 1 {
		t.Fatalf("repair: %+v %v", st, err)
	}
	if _, err := w.ApplyInNetNS(bg(), n.Path(), State{}); err != nil {
		t.Fatal(err)
	}
	if left := weirLeft(t, n.Path()); left != "" {
		t.Fatalf("left behind in the namespace:\n%s", left)
	}
	if entries, _ := os.ReadDir(w.cfg.CacheDir); len(entries) != 1 {
		t.Fatalf("cache files %v, want the namespace's one", entries)
	}
	if err := w.ForgetNetNS(n.Path()); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(w.cfg.CacheDir); len(entries) != 0 {
		t.Fatalf("ForgetNetNS left %v", entries)
	}
}

func TestKernelBackendDetectionAndLegacy(t *testing.T) {
	sandbox.Require(t)
	fresh := sandbox.NewNS(t)
	var b Backend
	if err := fresh.Do(func(ns.NetNS) error {
		var err error
		b, err = DetectBackend(bg())
		return err
	}); err != nil || b != NFT {
		t.Fatalf("fresh namespace: backend %q, %v; want nft (the default here)", b, err)
	}

	// A namespace whose rules live in the legacy tables gets legacy.
	n := sandbox.NewNS(t)
	sh(t, n.Path(), `iptables-legacy -w -N HOST-FW && iptables-legacy -w -A FORWARD -j HOST-FW`)
	w := kernelWriter(t, Config{})
	want := realisticState("web")
	if _, err := w.ApplyInNetNS(bg(), n.Path(), want); err != nil {
		t.Fatal(err)
	}
	if got, err := w.Backend(bg()); err != nil || got != Legacy {
		t.Fatalf("backend %q, %v; want legacy", got, err)
	}
	legacy := sh(t, n.Path(), "iptables-legacy-save; ip6tables-legacy-save")
	nft := sh(t, n.Path(), "iptables-nft-save; ip6tables-nft-save")
	if !strings.Contains(legacy, "-A WEIR-FORWARD") || strings.Contains(nft, "WEIR") {
		t.Fatalf("rules not (only) in legacy tables:\nlegacy:\n%s\nnft:\n%s", legacy, nft)
	}
	got, err := w.ReadInNetNS(bg(), n.Path())
	if err != nil {
		t.Fatal(err)
	}
	checkKernelState(t, got, want)
	st, err := w.RepairInNetNS(bg(), n.Path(), want)
	if err != nil || st.Writes() != 0 || st.Relearned != 0 {
		t.Fatalf("repair on legacy: %+v %v", st, err)
	}
	if _, err := w.ApplyInNetNS(bg(), n.Path(), State{}); err != nil {
		t.Fatal(err)
	}
	if left := weirLeft(t, n.Path()); left != "" {
		t.Fatalf("left behind:\n%s", left)
	}
	if out := sh(t, n.Path(), "iptables-legacy -w -S FORWARD"); !strings.Contains(out, "-A FORWARD -j HOST-FW") {
		t.Fatalf("host rule gone:\n%s", out)
	}
}

func TestKernelSetTypeChangeWhileReferenced(t *testing.T) {
	sandbox.Require(t)
	w := kernelWriter(t, Config{})
	withHook := func(s State) State {
		s.Hooks = append(s.Hooks, Hook{Table: Mangle, Family: IPv4, Chain: "PREROUTING",
			Rule: `-m set --match-set weir-nets-db src -m comment --comment "weir: from db" -j WEIR-MARK`})
		return s
	}
	s := withHook(realisticState("web"))
	if _, err := w.Apply(bg(), s); err != nil {
		t.Fatal(err)
	}
	s = withHook(realisticState("web"))
	s.Sets["weir-nets-db"] = IPSet{Name: "weir-nets-db", Type: "hash:ip", Family: IPv4, Members: []string{"10.22.0.9"}}
	st, err := w.Apply(bg(), s)
	if err != nil {
		t.Fatal(err)
	}
	if st.SetsCreated != 1 || st.SetsDestroyed != 1 {
		t.Fatalf("stats %+v", st)
	}
	got, err := w.Read(bg())
	if err != nil {
		t.Fatal(err)
	}
	checkKernelState(t, got, s)
	if out := sh(t, "", "ipset list -n"); strings.Contains(out, tmpSetName("weir-nets-db")) {
		t.Fatalf("temporary set left:\n%s", out)
	}
}

func TestKernelRejectedBatchNamesTheLine(t *testing.T) {
	sandbox.Require(t)
	w := kernelWriter(t, Config{})
	s := NewState()
	// Valid to weir, refused by the kernel: a set that does not exist (and
	// is not weir's, so weir does not check it).
	s.Chains[ChainKey(Filter, IPv4, "WEIR-BAD")] = Chain{Table: Filter, Family: IPv4, Name: "WEIR-BAD",
		Rules: []string{"-j ACCEPT", `-m set --match-set nosuchset src -j ACCEPT`}}
	_, err := w.Apply(bg(), s)
	if err == nil {
		t.Fatal("the kernel accepted a rule matching a missing set")
	}
	var te *ToolError
	if !errors.As(err, &te) || te.Line != 4 || !strings.HasPrefix(te.Text, "-A WEIR-BAD -m set --match-set nosuchset") {
		t.Fatalf("error %v (line %+v)", err, te)
	}
	t.Log(err)
	// The cache is not trusted afterwards; a good state applies cleanly.
	good := realisticState("web")
	st, err := w.Apply(bg(), good)
	if err != nil || st.FromCache {
		t.Fatalf("apply after failure: %+v %v", st, err)
	}
	got, err := w.Read(bg())
	if err != nil {
		t.Fatal(err)
	}
	checkKernelState(t, got, good)
}

// TestKernelOtherWeirTablesAreNotOwned: a Writer owning only filter (the
// default, the policy's) never removes the WEIR- chains other parts of
// weir keep in nat (masquerade, host ports).
func TestKernelOtherWeirTablesAreNotOwned(t *testing.T) {
	w := kernelWriter(t, Config{Tables: []Table{Filter}})
	batch := "*nat\n:WEIR-MASQ-0123456789abcdef - [0:0]\n-A WEIR-MASQ-0123456789abcdef -j MASQUERADE\n" +
		"-A POSTROUTING -s 10.9.9.9/32 -j WEIR-MASQ-0123456789abcdef\nCOMMIT\n"
	cmd := exec.Command("iptables-restore", "--noflush")
	cmd.Stdin = strings.NewReader(batch)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("seeding a nat chain: %v %s", err, out)
	}
	if _, err := w.Repair(context.Background(), NewState()); err != nil {
		t.Fatal(err)
	}
	out, _ := exec.Command("iptables-save", "-t", "nat").Output()
	if !strings.Contains(string(out), "-A POSTROUTING -s 10.9.9.9/32 -j WEIR-MASQ-0123456789abcdef") {
		t.Errorf("a filter-only Writer removed a nat chain of another weir component:\n%s", out)
	}
}
