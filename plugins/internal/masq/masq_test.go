package masq

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/weirnet/weir/policy/dataplane"
)

var (
	att  = Attachment{Network: "net1", ContainerID: "c1", IfName: "eth0"}
	att2 = Attachment{Network: "net1", ContainerID: "c2", IfName: "eth0"}
	ctx  = context.Background()
)

// group1 is the IPv4 group of att and att2 (10.22.0.0/16).
func group1(t *testing.T) (set, chain string) {
	return GroupNames("net1", cidr(t, "10.22.0.5/16"))
}

func TestLegacyChainName(t *testing.T) {
	c := att.LegacyChain()
	if !strings.HasPrefix(c, "WEIR-MASQ-") || len(c) != 26 {
		t.Fatalf("chain %q: want WEIR-MASQ- plus 16 hex characters", c)
	}
	for _, o := range []Attachment{
		{Network: "net2", ContainerID: "c1", IfName: "eth0"},
		{Network: "net1", ContainerID: "c2", IfName: "eth0"},
		{Network: "net1", ContainerID: "c1", IfName: "eth1"},
	} {
		if o.LegacyChain() == c {
			t.Errorf("%+v has the same chain as %+v", o, att)
		}
	}
}

func TestGroupNames(t *testing.T) {
	set, chain := group1(t)
	if !strings.HasPrefix(set, "weir-nat-") || len(set) != 25 || len(set) > 31 {
		t.Errorf("set %q: want weir-nat- plus 16 hex characters", set)
	}
	if !strings.HasPrefix(chain, "WEIR-MASQ-") || len(chain) != 26 || strings.TrimPrefix(chain, "WEIR-MASQ-") != strings.TrimPrefix(set, "weir-nat-") {
		t.Errorf("chain %q does not end like set %q", chain, set)
	}
	if s, _ := GroupNames("net1", cidr(t, "10.22.200.9/16")); s != set {
		t.Errorf("two addresses of one subnet have sets %s and %s", set, s)
	}
	for _, other := range []struct {
		network, addr string
	}{{"net2", "10.22.0.5/16"}, {"net1", "10.22.0.5/24"}, {"net1", "fd00:22::5/64"}} {
		if s, _ := GroupNames(other.network, cidr(t, other.addr)); s == set {
			t.Errorf("%s on %s shares the group of 10.22.0.5/16 on net1", other.addr, other.network)
		}
	}
	if chain == att.LegacyChain() || chain == att2.LegacyChain() {
		t.Error("a group chain has an attachment's legacy name")
	}
	if SetPrefix != dataplane.MasqSetPrefix {
		t.Errorf("masq's set prefix %q is not the one the policy writer leaves alone (%q)", SetPrefix, dataplane.MasqSetPrefix)
	}
}

func TestComment(t *testing.T) {
	if got, want := att.Comment(), "weir: net=net1 id=c1 if=eth0"; got != want {
		t.Errorf("comment %q, want %q", got, want)
	}
	long := Attachment{Network: "n", ContainerID: strings.Repeat("a", 300), IfName: "eth0"}
	c := long.Comment()
	if len(c) != 255 {
		t.Errorf("long comment has %d bytes, want 255", len(c))
	}
	if n, ok := commentNetwork(c); !ok || n != "n" {
		t.Errorf("network of truncated comment: %q %v", n, ok)
	}
	if !isAttachmentComment(c) || isGroupComment(c) {
		t.Errorf("%q is not taken for an attachment's comment", c)
	}
	if g := groupComment("net1"); g != "weir: net=net1 masquerade" || !isGroupComment(g) || isAttachmentComment(g) {
		t.Errorf("group comment %q is not told apart", g)
	}
}

func TestSplitArgsRoundTrip(t *testing.T) {
	for _, s := range []string{`plain`, `with space`, `q"uote`, `back\slash`, `"`, `\`} {
		args, err := splitArgs("-m comment --comment " + quote(s) + " -j X")
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if len(args) != 6 || args[3] != s || args[5] != "X" {
			t.Errorf("%q: got %q", s, args)
		}
	}
	if _, err := splitArgs(`-m comment --comment "open`); err == nil {
		t.Error("unterminated quote accepted")
	}
}

// The first attachment of a group makes it: the set, then one batch with
// the chain and the jump, then the member. Nothing reads the table.
func TestSetupCreatesGroup(t *testing.T) {
	k := newFake()
	if err := k.masq(t).Setup(ctx, att, []net.IPNet{cidr(t, "10.22.0.5/16")}); err != nil {
		t.Fatal(err)
	}
	set, ch := group1(t)
	want := "*nat\n" +
		"-N " + ch + "\n" +
		"-A " + ch + ` -d 10.22.0.0/16 -m comment --comment "weir: net=net1 masquerade" -j ACCEPT` + "\n" +
		"-A " + ch + ` ! -d 224.0.0.0/4 -m comment --comment "weir: net=net1 masquerade" -j MASQUERADE` + "\n" +
		"-A POSTROUTING -m set --match-set " + set + ` src -m comment --comment "weir: net=net1 masquerade" -j ` + ch + "\n" +
		"COMMIT\n"
	if k.saves != 0 || len(k.restores) != 1 || k.restores[0].family != IPv4 {
		t.Fatalf("saves=%d restores=%+v, want no save and one IPv4 restore", k.saves, k.restores)
	}
	if k.restores[0].batch != want {
		t.Errorf("batch:\n%s\nwant:\n%s", k.restores[0].batch, want)
	}
	if ops := []string{"header " + set, "create " + set, "add " + set + " 10.22.0.5"}; !slices.Equal(k.ops, ops) {
		t.Errorf("set calls %q, want %q", k.ops, ops)
	}
	if m := k.sets[set].members; len(m) != 1 || m[0].Comment != "weir: net=net1 id=c1 if=eth0" {
		t.Errorf("members %+v, want 10.22.0.5 commented with the attachment", m)
	}
	if err := k.masq(t).Check(ctx, att, []net.IPNet{cidr(t, "10.22.0.5/16")}); err != nil {
		t.Errorf("check after setup: %v", err)
	}
}

// Once the group exists, an attachment costs a header listing and a member
// add: no fork at all.
func TestSetupJoinsGroup(t *testing.T) {
	k := newFake()
	m := k.masq(t)
	if err := m.Setup(ctx, att, []net.IPNet{cidr(t, "10.22.0.5/16")}); err != nil {
		t.Fatal(err)
	}
	k.restores, k.ops = nil, nil
	if err := m.Setup(ctx, att2, []net.IPNet{cidr(t, "10.22.0.6/16")}); err != nil {
		t.Fatal(err)
	}
	set, _ := group1(t)
	if k.saves != 0 || len(k.restores) != 0 {
		t.Errorf("second attachment: saves=%d restores=%+v, want none", k.saves, k.restores)
	}
	if ops := []string{"header " + set, "add " + set + " 10.22.0.6"}; !slices.Equal(k.ops, ops) {
		t.Errorf("set calls %q, want %q", k.ops, ops)
	}
	// Again: harmless, still one member.
	if err := m.Setup(ctx, att2, []net.IPNet{cidr(t, "10.22.0.6/16")}); err != nil {
		t.Fatal(err)
	}
	if n := len(k.sets[set].members); n != 2 {
		t.Errorf("%d members after setting up an attachment twice, want 2", n)
	}
}

// A set that no rule matches on (a crash after it was made) gets its chain
// and jump; when the chain exists too, the group is rebuilt from the table.
func TestSetupCompletesUnreferencedSet(t *testing.T) {
	set, ch := group1(t)
	k := newFake()
	k.sets[set] = &fakeSet{family: IPv4}
	if err := k.masq(t).Setup(ctx, att, []net.IPNet{cidr(t, "10.22.0.5/16")}); err != nil {
		t.Fatal(err)
	}
	if len(k.restores) != 1 || !strings.HasPrefix(k.restores[0].batch, "*nat\n-N "+ch+"\n") || k.refs(set) != 1 {
		t.Fatalf("restores %+v, want the group's batch and a jump matching %s", k.restores, set)
	}

	// The chain exists with a stale rule and no jump.
	k = newFake()
	k.sets[set] = &fakeSet{family: IPv4}
	k.nat[IPv4].order = []string{ch}
	k.nat[IPv4].rules[ch] = []string{"-j MASQUERADE"}
	k.nat[IPv4].rules["POSTROUTING"] = []string{"-s 10.9.0.0/16 -j MASQUERADE"}
	if err := k.masq(t).Setup(ctx, att, []net.IPNet{cidr(t, "10.22.0.5/16")}); err != nil {
		t.Fatal(err)
	}
	want := "*nat\n" +
		":" + ch + " - [0:0]\n" +
		"-A " + ch + ` -d 10.22.0.0/16 -m comment --comment "weir: net=net1 masquerade" -j ACCEPT` + "\n" +
		"-A " + ch + ` ! -d 224.0.0.0/4 -m comment --comment "weir: net=net1 masquerade" -j MASQUERADE` + "\n" +
		"-A POSTROUTING -m set --match-set " + set + ` src -m comment --comment "weir: net=net1 masquerade" -j ` + ch + "\n" +
		"COMMIT\n"
	if k.saves != 1 || len(k.restores) != 2 || k.restores[1].batch != want {
		t.Fatalf("saves=%d restores=%+v\nwant the refused -N batch, one save and:\n%s", k.saves, k.restores, want)
	}
	if got := k.nat[IPv4].rules["POSTROUTING"]; len(got) != 2 || got[0] != "-s 10.9.0.0/16 -j MASQUERADE" {
		t.Errorf("POSTROUTING %q: the repair must keep what is not weir's", got)
	}
}

func TestSetupDualStack(t *testing.T) {
	k := newFake()
	addrs := []net.IPNet{cidr(t, "10.22.0.5/16"), cidr(t, "fd00:22::5/64")}
	if err := k.masq(t).Setup(ctx, att, addrs); err != nil {
		t.Fatal(err)
	}
	if k.saves != 0 || len(k.restores) != 2 || k.restores[0].family != IPv4 || k.restores[1].family != IPv6 {
		t.Fatalf("saves=%d: want no save, one IPv4 and one IPv6 batch, got %+v", k.saves, k.restores)
	}
	v6 := k.restores[1].batch
	for _, want := range []string{"-d fd00:22::/64 ", "! -d ff00::/8 ", "-A POSTROUTING -m set --match-set weir-nat-"} {
		if !strings.Contains(v6, want) {
			t.Errorf("IPv6 batch lacks %q:\n%s", want, v6)
		}
	}
	if strings.Contains(v6, "10.22.") {
		t.Errorf("IPv6 batch carries IPv4 addresses:\n%s", v6)
	}
	set6, _ := GroupNames("net1", addrs[1])
	if s := k.sets[set6]; s == nil || s.family != IPv6 || len(s.members) != 1 {
		t.Errorf("IPv6 set %s: %+v", set6, s)
	}
	if err := k.masq(t).Check(ctx, att, addrs); err != nil {
		t.Errorf("check: %v", err)
	}
}

// A Setup that fails leaves nothing: here the member add fails after the
// group was made.
func TestSetupFailureLeavesNothing(t *testing.T) {
	k := newFake()
	k.failAdd = true
	err := k.masq(t).Setup(ctx, att, []net.IPNet{cidr(t, "10.22.0.5/16")})
	if err == nil {
		t.Fatal("setup succeeded with a failing member add")
	}
	if left := k.weirObjects(); left != "" {
		t.Errorf("a failed setup left:\n%s", left)
	}
}

func TestSetupWithoutTools(t *testing.T) {
	k := newFake()
	k.missing[IPv6] = true
	err := k.masq(t).Setup(ctx, att, []net.IPNet{cidr(t, "fd00:22::5/64")})
	if !errors.Is(err, ErrNotInstalled) {
		t.Errorf("setup without ip6tables: %v, want ErrNotInstalled", err)
	}
	if left := k.weirObjects(); left != "" {
		t.Errorf("a failed setup left:\n%s", left)
	}
}

// Tearing down one of two attachments deletes its member and nothing else.
func TestTeardownKeepsSharedGroup(t *testing.T) {
	k := newFake()
	m := k.masq(t)
	a1, a2 := []net.IPNet{cidr(t, "10.22.0.5/16")}, []net.IPNet{cidr(t, "10.22.0.6/16")}
	for _, s := range []struct {
		a     Attachment
		addrs []net.IPNet
	}{{att, a1}, {att2, a2}} {
		if err := m.Setup(ctx, s.a, s.addrs); err != nil {
			t.Fatal(err)
		}
	}
	k.restores, k.ops, k.saves = nil, nil, 0
	if err := m.Teardown(ctx, att, a1); err != nil {
		t.Fatal(err)
	}
	set, _ := group1(t)
	if k.saves != 0 || len(k.restores) != 0 {
		t.Errorf("teardown of a shared group: saves=%d restores=%+v, want none", k.saves, k.restores)
	}
	if ops := []string{"del " + set + " 10.22.0.5", "header " + set}; !slices.Equal(k.ops, ops) {
		t.Errorf("set calls %q, want %q", k.ops, ops)
	}
	if err := m.Check(ctx, att2, a2); err != nil {
		t.Errorf("the other attachment lost its masquerade: %v", err)
	}
	if err := m.Check(ctx, att, a1); err == nil {
		t.Error("check passes for the torn-down attachment")
	}
}

// The last attachment's teardown removes the group: the exact batch, then
// the set.
func TestTeardownLastRemovesGroup(t *testing.T) {
	k := newFake()
	m := k.masq(t)
	addrs := []net.IPNet{cidr(t, "10.22.0.5/16")}
	if err := m.Setup(ctx, att, addrs); err != nil {
		t.Fatal(err)
	}
	k.restores, k.ops = nil, nil
	if err := m.Teardown(ctx, att, addrs); err != nil {
		t.Fatal(err)
	}
	set, ch := group1(t)
	want := "*nat\n" +
		"-D POSTROUTING -m set --match-set " + set + ` src -m comment --comment "weir: net=net1 masquerade" -j ` + ch + "\n" +
		"-F " + ch + "\n-X " + ch + "\nCOMMIT\n"
	if k.saves != 0 || len(k.restores) != 1 || k.restores[0].batch != want {
		t.Fatalf("saves=%d restores=%+v, want no save and:\n%s", k.saves, k.restores, want)
	}
	if ops := []string{"del " + set + " 10.22.0.5", "header " + set, "destroy " + set}; !slices.Equal(k.ops, ops) {
		t.Errorf("set calls %q, want %q", k.ops, ops)
	}
	if left := k.weirObjects(); left != "" {
		t.Errorf("left after the last teardown:\n%s", left)
	}
	// Again: nothing of it anywhere, which sends Teardown to the table
	// for a legacy chain, and finds none.
	k.restores = nil
	if err := m.Teardown(ctx, att, addrs); err != nil {
		t.Errorf("second teardown: %v", err)
	}
	if len(k.restores) != 0 || k.saves != 1 {
		t.Errorf("second teardown: saves=%d restores=%+v, want one IPv4 save and no restore", k.saves, k.restores)
	}
}

// The exact removal batch does not apply (the jump is gone): the group is
// removed from what the table holds.
func TestTeardownRemovalFallsBack(t *testing.T) {
	k := newFake()
	m := k.masq(t)
	addrs := []net.IPNet{cidr(t, "10.22.0.5/16")}
	if err := m.Setup(ctx, att, addrs); err != nil {
		t.Fatal(err)
	}
	set, ch := group1(t)
	k.nat[IPv4].rules["POSTROUTING"] = nil
	k.restores = nil
	if err := m.Teardown(ctx, att, addrs); err != nil {
		t.Fatal(err)
	}
	if k.saves != 1 || len(k.restores) != 2 || k.restores[1].batch != "*nat\n-F "+ch+"\n-X "+ch+"\nCOMMIT\n" {
		t.Fatalf("saves=%d restores=%+v, want the save-based removal after the exact batch failed", k.saves, k.restores)
	}
	if k.sets[set] != nil {
		t.Error("the set survived")
	}
}

// Without addresses Teardown finds the attachment's members by comment in
// every weir-nat set, in both families, and leaves everyone else's.
func TestTeardownWithoutAddresses(t *testing.T) {
	k := newFake()
	m := k.masq(t)
	other := Attachment{Network: "net2", ContainerID: "c1", IfName: "eth0"}
	mine := []net.IPNet{cidr(t, "10.22.0.5/16"), cidr(t, "fd00:22::5/64")}
	for _, s := range []struct {
		a     Attachment
		addrs []net.IPNet
	}{{att, mine}, {att2, []net.IPNet{cidr(t, "10.22.0.6/16")}}, {other, []net.IPNet{cidr(t, "10.23.0.5/16")}}} {
		if err := m.Setup(ctx, s.a, s.addrs); err != nil {
			t.Fatal(err)
		}
	}
	k.saves = 0
	if err := m.Teardown(ctx, att, nil); err != nil {
		t.Fatal(err)
	}
	if k.saves != 0 {
		t.Errorf("teardown that found the members read the table %d times", k.saves)
	}
	set4, _ := group1(t)
	set6, _ := GroupNames("net1", mine[1])
	if s := k.sets[set4]; s == nil || len(s.members) != 1 || !s.members[0].IP.Equal(net.ParseIP("10.22.0.6")) {
		t.Errorf("IPv4 set after teardown: %+v, want only c2's member", s)
	}
	if k.sets[set6] != nil || strings.Contains(k.save(IPv6), "WEIR-") {
		t.Errorf("the emptied IPv6 group survived:\n%s", k.weirObjects())
	}
	if err := m.Check(ctx, other, []net.IPNet{cidr(t, "10.23.0.5/16")}); err != nil {
		t.Errorf("the other network's attachment of the same container lost its masquerade: %v", err)
	}
}

// A host that an older weir set up: the attachment's own chain and -s
// jumps. Teardown finds nothing in the sets and removes them from the
// table; a teardown that finds members never reads the table.
func TestTeardownLegacy(t *testing.T) {
	for _, known := range [][]net.IPNet{nil, {cidr(t, "10.22.0.5/16")}} {
		k := newFake()
		ch, c := att.LegacyChain(), quote(att.Comment())
		otherCh := att2.LegacyChain()
		tb := k.nat[IPv4]
		tb.order = []string{ch, otherCh}
		tb.rules[ch] = []string{"-d 10.22.0.0/16 -m comment --comment " + c + " -j ACCEPT", "! -d 224.0.0.0/4 -m comment --comment " + c + " -j MASQUERADE"}
		tb.rules[otherCh] = []string{"! -d 224.0.0.0/4 -m comment --comment " + quote(att2.Comment()) + " -j MASQUERADE"}
		tb.rules["POSTROUTING"] = []string{
			"-s 10.22.0.5/32 -m comment --comment " + c + " -j " + ch,
			"-s 10.22.0.6/32 -m comment --comment " + quote(att2.Comment()) + " -j " + otherCh,
		}
		if err := k.masq(t).Check(ctx, att, []net.IPNet{cidr(t, "10.22.0.5/16")}); err != nil {
			t.Errorf("check of a legacy attachment: %v", err)
		}
		k.saves = 0
		if err := k.masq(t).Teardown(ctx, att, known); err != nil {
			t.Fatal(err)
		}
		want := "*nat\n-D POSTROUTING -s 10.22.0.5/32 -m comment --comment " + c + " -j " + ch + "\n-F " + ch + "\n-X " + ch + "\nCOMMIT\n"
		if len(k.restores) != 1 || k.restores[0].batch != want {
			t.Errorf("known=%v: restores %+v, want:\n%s", known, k.restores, want)
		}
		if got := k.save(IPv4); strings.Contains(got, ch) || !strings.Contains(got, otherCh) {
			t.Errorf("known=%v: after teardown:\n%s", known, got)
		}
		if wantSaves := map[bool]int{true: 1, false: 2}[known != nil]; k.saves != wantSaves {
			t.Errorf("known=%v: %d saves, want %d (the families of the addresses, or both)", known, k.saves, wantSaves)
		}
	}
}

func TestGC(t *testing.T) {
	k := newFake()
	m := k.masq(t)
	keep := Attachment{Network: "net1", ContainerID: "keep", IfName: "eth0"}
	stale := Attachment{Network: "net1", ContainerID: "gone", IfName: "eth0"}
	staleOnly := Attachment{Network: "net1", ContainerID: "alone", IfName: "eth0"}
	foreign := Attachment{Network: "net2", ContainerID: "gone", IfName: "eth0"}
	for _, s := range []struct {
		a    Attachment
		addr string
	}{{keep, "10.22.0.2/16"}, {stale, "10.22.0.3/16"}, {staleOnly, "10.30.0.3/16"}, {foreign, "10.23.0.2/16"}} {
		if err := m.Setup(ctx, s.a, []net.IPNet{cidr(t, s.addr)}); err != nil {
			t.Fatal(err)
		}
	}
	// A legacy chain of a stale attachment, and a set a crash left
	// without its rules.
	legacy, lc := stale.LegacyChain(), quote(stale.Comment())
	k.nat[IPv4].order = append(k.nat[IPv4].order, legacy)
	k.nat[IPv4].rules[legacy] = []string{"! -d 224.0.0.0/4 -m comment --comment " + lc + " -j MASQUERADE"}
	k.nat[IPv4].rules["POSTROUTING"] = append(k.nat[IPv4].rules["POSTROUTING"], "-s 10.22.0.3/32 -m comment --comment "+lc+" -j "+legacy)
	k.sets["weir-nat-00000000deadbeef"] = &fakeSet{family: IPv4}

	if err := m.GC(ctx, "net1", []Attachment{keep}); err != nil {
		t.Fatalf("gc: %v", err)
	}
	set1, _ := GroupNames("net1", cidr(t, "10.22.0.2/16"))
	setAlone, chAlone := GroupNames("net1", cidr(t, "10.30.0.3/16"))
	if s := k.sets[set1]; s == nil || len(s.members) != 1 || s.members[0].Comment != keep.Comment() {
		t.Errorf("shared group after GC: %+v, want only the valid member", s)
	}
	if k.sets[setAlone] != nil || strings.Contains(k.save(IPv4), chAlone) {
		t.Errorf("the group GC emptied survived:\n%s", k.weirObjects())
	}
	if strings.Contains(k.save(IPv4), legacy) {
		t.Errorf("the stale legacy chain survived:\n%s", k.save(IPv4))
	}
	if k.sets["weir-nat-00000000deadbeef"] != nil {
		t.Error("the empty unreferenced set survived")
	}
	for _, s := range []struct {
		a    Attachment
		addr string
	}{{keep, "10.22.0.2/16"}, {foreign, "10.23.0.2/16"}} {
		if err := m.Check(ctx, s.a, []net.IPNet{cidr(t, s.addr)}); err != nil {
			t.Errorf("GC broke %s: %v", s.a.Comment(), err)
		}
	}
	// Everything gone: GC of both networks with nothing valid.
	for _, n := range []string{"net1", "net2"} {
		if err := m.GC(ctx, n, nil); err != nil {
			t.Fatal(err)
		}
	}
	if left := k.weirObjects(); left != "" {
		t.Errorf("left after GC of everything:\n%s", left)
	}
}

func TestCheckReportsWhatIsMissing(t *testing.T) {
	k := newFake()
	m := k.masq(t)
	addrs := []net.IPNet{cidr(t, "10.22.0.5/16")}
	set, ch := group1(t)
	if err := m.Check(ctx, att, addrs); err == nil || err.Error() != "ipv4 masquerade set "+set+" is missing" {
		t.Errorf("check of nothing: %v", err)
	}
	if err := m.Setup(ctx, att, addrs); err != nil {
		t.Fatal(err)
	}
	if err := m.Check(ctx, att, []net.IPNet{cidr(t, "10.22.0.6/16")}); err == nil || err.Error() != "10.22.0.6 is not in masquerade set "+set {
		t.Errorf("check of a missing member: %v", err)
	}
	k.nat[IPv4].rules[ch] = k.nat[IPv4].rules[ch][:1]
	if err := m.Check(ctx, att, addrs); err == nil || err.Error() != "ipv4 masquerade chain "+ch+" has no MASQUERADE rule" {
		t.Errorf("check of a chain without MASQUERADE: %v", err)
	}
}

// Concurrent Setups and Teardowns of one group leave exactly the
// survivors' members and the group: no Teardown removes the group between
// another Setup's check of it and its member add (which would fail on the
// missing set).
func TestConcurrentSetupTeardownFake(t *testing.T) {
	k := newFake()
	m := k.masq(t)
	errs := make(chan error, 20)
	for i := range 20 {
		go func() {
			a := Attachment{Network: "net1", ContainerID: fmt.Sprintf("c%d", i), IfName: "eth0"}
			addrs := []net.IPNet{cidr(t, fmt.Sprintf("10.22.1.%d/16", i+1))}
			for range 5 {
				if err := m.Setup(ctx, a, addrs); err != nil {
					errs <- err
					return
				}
				if err := m.Teardown(ctx, a, addrs); err != nil {
					errs <- err
					return
				}
			}
			errs <- m.Setup(ctx, a, addrs)
		}()
	}
	for range 20 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	set, _ := group1(t)
	if s := k.sets[set]; s == nil || len(s.members) != 20 || k.refs(set) != 1 {
		t.Fatalf("after the stress: set %+v refs %d, want 20 members and one jump", s, k.refs(set))
	}
}
