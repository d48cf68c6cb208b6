package portmap

import (
	"strings"
	"testing"
)

// sharedSave is a table with the shared chains and rules, c1's chain with
// an older weir's masquerade chain, c2's chain and a rule of c3 by mark.
const sharedSave = sharedV4 + `:$DN - [0:0]
:$SN - [0:0]
:$DN2 - [0:0]
-A POSTROUTING -s 10.9.0.0/16 -j MASQUERADE
-A WEIR-HOSTPORTS -m comment --comment $C -j $DN
-A WEIR-HOSTPORTS -m comment --comment $C2 -j $DN2
-A WEIR-HOSTPORTS-MASQ -m comment --comment $C -j $SN
-A WEIR-HOSTPORTS-MASQ -d 10.22.0.7/32 -m mark --mark 0x2000/0x2000 -m comment --comment "weir: net=net1 id=c3 if=eth0" -j MASQUERADE
-A $DN -p tcp -m tcp --dport 8080 -m comment --comment $C -j DNAT --to-destination 10.22.0.5:80
-A $SN -s 10.22.0.5/32 -d 10.22.0.5/32 -p tcp -m tcp --dport 80 -m comment --comment $C -j MASQUERADE
-A $DN2 -p tcp -m tcp --dport 9090 -m comment --comment $C2 -j DNAT --to-destination 10.22.0.6:90
`

func TestTeardownBatch(t *testing.T) {
	tb := table(t, withRules(sharedSave))
	dn, sn := Chains("net1", "c1", "eth0")
	none := func(string) bool { return false }
	c3 := ownedBy("weir: net=net1 id=c3 if=eth0")
	check := func(what string, b []byte, gone bool, want string, wantGone bool) {
		t.Helper()
		if w := golden.Replace(want); string(b) != w {
			t.Errorf("%s:\n%s\nwant:\n%s", what, b, w)
		}
		if gone != wantGone {
			t.Errorf("%s: masqGone %v, want %v", what, gone, wantGone)
		}
	}
	// c1, with its older masquerade chain: c2 keeps WEIR-HOSTPORTS, c3's
	// rule by mark keeps WEIR-HOSTPORTS-MASQ whatever the sets hold.
	c1 := `*nat
-D WEIR-HOSTPORTS -m comment --comment $C -j $DN
-F $DN
-X $DN
-D WEIR-HOSTPORTS-MASQ -m comment --comment $C -j $SN
-F $SN
-X $SN
COMMIT
`
	b, gone := teardownBatch(tb, []string{dn, sn}, ownedBy(golden.Replace("weir: net=net1 id=c1 if=eth0")), true)
	check("teardown of c1", b, gone, c1, false)

	// c1 and c3: the masquerade chain holds only its shared rules, and
	// goes when the sets are empty, not otherwise.
	c1c3 := strings.Replace(c1, "COMMIT\n", `-D WEIR-HOSTPORTS-MASQ -d 10.22.0.7/32 -m mark --mark 0x2000/0x2000 -m comment --comment "weir: net=net1 id=c3 if=eth0" -j MASQUERADE
`, 1)
	b, gone = teardownBatch(tb, []string{dn, sn}, c3, false)
	check("teardown of c1 and c3, members left", b, gone, c1c3+"COMMIT\n", false)
	b, gone = teardownBatch(tb, []string{dn, sn}, c3, true)
	check("teardown of c1 and c3, sets empty", b, gone, c1c3+`-D POSTROUTING -m comment --comment "weir: portmap" -j WEIR-HOSTPORTS-MASQ
-D `+strings.TrimPrefix(masqRule4, "-A ")+`
-D `+strings.TrimPrefix(localRule4, "-A ")+`
-X WEIR-HOSTPORTS-MASQ
COMMIT
`, true)

	// Every attachment: the shared chains and hooks go too.
	dn2, sn2 := Chains("net1", "c2", "eth0")
	b, gone = teardownBatch(tb, []string{dn, sn, dn2, sn2, dn}, c3, true)
	check("teardown of every attachment", b, gone, `*nat
-D WEIR-HOSTPORTS -m comment --comment $C -j $DN
-F $DN
-X $DN
-D WEIR-HOSTPORTS-MASQ -m comment --comment $C -j $SN
-F $SN
-X $SN
-D WEIR-HOSTPORTS -m comment --comment $C2 -j $DN2
-F $DN2
-X $DN2
-D WEIR-HOSTPORTS-MASQ -d 10.22.0.7/32 -m mark --mark 0x2000/0x2000 -m comment --comment "weir: net=net1 id=c3 if=eth0" -j MASQUERADE
-D PREROUTING -m addrtype --dst-type LOCAL -m comment --comment "weir: portmap" -j WEIR-HOSTPORTS
-D OUTPUT -m addrtype --dst-type LOCAL -m comment --comment "weir: portmap" -j WEIR-HOSTPORTS
-X WEIR-HOSTPORTS
-D POSTROUTING -m comment --comment "weir: portmap" -j WEIR-HOSTPORTS-MASQ
-D `+strings.TrimPrefix(masqRule4, "-A ")+`
-D `+strings.TrimPrefix(localRule4, "-A ")+`
-X WEIR-HOSTPORTS-MASQ
COMMIT
`, true)

	if b, gone := teardownBatch(table(t, emptyNat), []string{dn, sn}, none, true); b != nil || gone {
		t.Errorf("teardown of nothing wrote a batch:\n%s", b)
	}
	// An empty masquerade chain an older weir left goes with its hook
	// when the sets (which it never had) are empty.
	old := table(t, withRules(`:WEIR-HOSTPORTS-MASQ - [0:0]
-A POSTROUTING -m comment --comment "weir: portmap" -j WEIR-HOSTPORTS-MASQ
`))
	b, gone = teardownBatch(old, nil, none, true)
	check("an empty masquerade chain", b, gone, `*nat
-D POSTROUTING -m comment --comment "weir: portmap" -j WEIR-HOSTPORTS-MASQ
-X WEIR-HOSTPORTS-MASQ
COMMIT
`, true)
}

func TestStaleChains(t *testing.T) {
	tb := table(t, withRules(sharedSave+`:WEIR-DN-00000000000000ff - [0:0]
-A WEIR-HOSTPORTS -m comment --comment "weir: net=other id=c1 if=eth0" -j WEIR-DN-00000000000000ff
`))
	dn, sn := Chains("net1", "c1", "eth0")
	dn2, _ := Chains("net1", "c2", "eth0")
	got := staleChains(tb, "net1", map[string]bool{dn2: true})
	if strings.Join(got, " ") != dn+" "+sn {
		t.Errorf("stale chains of net1 keeping c2: %v, want [%s %s]", got, dn, sn)
	}
	if got := staleChains(tb, "other", nil); strings.Join(got, " ") != "WEIR-DN-00000000000000ff WEIR-SN-00000000000000ff" {
		t.Errorf("stale chains of other: %v", got)
	}
}
