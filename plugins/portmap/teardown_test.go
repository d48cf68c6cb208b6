package portmap

import (
	"strings"
	"testing"
)

// sharedSave is a table with the shared chains, c1's and c2's chains.
const sharedSave = `:WEIR-HOSTPORTS - [0:0]
:WEIR-HOSTPORTS-MASQ - [0:0]
:$DN - [0:0]
:$SN - [0:0]
:$DN2 - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -m comment --comment "weir: portmap" -j WEIR-HOSTPORTS
-A OUTPUT -m addrtype --dst-type LOCAL -m comment --comment "weir: portmap" -j WEIR-HOSTPORTS
-A POSTROUTING -m comment --comment "weir: portmap" -j WEIR-HOSTPORTS-MASQ
-A POSTROUTING -s 10.9.0.0/16 -j MASQUERADE
-A WEIR-HOSTPORTS -m comment --comment $C -j $DN
-A WEIR-HOSTPORTS -m comment --comment $C2 -j $DN2
-A WEIR-HOSTPORTS-MASQ -m comment --comment $C -j $SN
-A $DN -p tcp -m tcp --dport 8080 -m comment --comment $C -j DNAT --to-destination 10.22.0.5:80
-A $SN -s 10.22.0.5/32 -d 10.22.0.5/32 -p tcp -m tcp --dport 80 -m comment --comment $C -j MASQUERADE
-A $DN2 -p tcp -m tcp --dport 9090 -m comment --comment $C2 -j DNAT --to-destination 10.22.0.6:90
`

func TestTeardownBatch(t *testing.T) {
	tb := table(t, withRules(sharedSave))
	dn, sn := Chains("net1", "c1", "eth0")
	// c2 still has a DNAT jump: WEIR-HOSTPORTS stays, the emptied
	// WEIR-HOSTPORTS-MASQ goes with its hook.
	want := golden.Replace(`*nat
-D WEIR-HOSTPORTS -m comment --comment $C -j $DN
-F $DN
-X $DN
-D WEIR-HOSTPORTS-MASQ -m comment --comment $C -j $SN
-F $SN
-X $SN
-D POSTROUTING -m comment --comment "weir: portmap" -j WEIR-HOSTPORTS-MASQ
-X WEIR-HOSTPORTS-MASQ
COMMIT
`)
	if got := string(teardownBatch(tb, []string{dn, sn})); got != want {
		t.Errorf("teardown of c1:\n%s\nwant:\n%s", got, want)
	}

	// The last attachment: the shared chains and hooks go too.
	dn2, sn2 := Chains("net1", "c2", "eth0")
	want = golden.Replace(`*nat
-D WEIR-HOSTPORTS -m comment --comment $C -j $DN
-F $DN
-X $DN
-D WEIR-HOSTPORTS-MASQ -m comment --comment $C -j $SN
-F $SN
-X $SN
-D WEIR-HOSTPORTS -m comment --comment $C2 -j $DN2
-F $DN2
-X $DN2
-D PREROUTING -m addrtype --dst-type LOCAL -m comment --comment "weir: portmap" -j WEIR-HOSTPORTS
-D OUTPUT -m addrtype --dst-type LOCAL -m comment --comment "weir: portmap" -j WEIR-HOSTPORTS
-X WEIR-HOSTPORTS
-D POSTROUTING -m comment --comment "weir: portmap" -j WEIR-HOSTPORTS-MASQ
-X WEIR-HOSTPORTS-MASQ
COMMIT
`)
	if got := string(teardownBatch(tb, []string{dn, sn, dn2, sn2, dn})); got != want {
		t.Errorf("teardown of every attachment:\n%s\nwant:\n%s", got, want)
	}

	if b := teardownBatch(table(t, emptyNat), []string{dn, sn}); b != nil {
		t.Errorf("teardown of nothing wrote a batch:\n%s", b)
	}
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
