package bridge

import (
	"net"
	"os/exec"
	"strings"
	"testing"

	"github.com/weirnet/weir/internal/sandbox"
	"github.com/weirnet/weir/plugins/internal/masq"
)

// TestDelKeepsAddressWhileMasqueradeStays: when DEL cannot remove the
// masquerade (here its set cannot be destroyed: another rule matches on
// it), the address stays allocated, so that no other container gets it
// while a set member names it; the DEL that succeeds releases it.
func TestDelKeepsAddressWhileMasqueradeStays(t *testing.T) {
	h := newHarness(t)
	o := h.newNet("keepaddr", "brkeep", "10.16.0.0/24")
	o.rangeStart = "10.16.0.10"
	o.extra = `"isGateway":true,"ipMasq":true,`
	conf := o.conf("1.1.0")
	ns1, ns2 := sandbox.NewNS(t), sandbox.NewNS(t)
	_, raw := h.add("1.1.0", conf, "ctr-1", ns1.Path())
	delConf := sandbox.WithPrevResult(t, conf, raw)

	set, _ := masq.GroupNames("keepaddr", net.IPNet{IP: net.ParseIP("10.16.0.10"), Mask: net.CIDRMask(24, 32)})
	hold := "OUTPUT -m set --match-set " + set + " dst -j RETURN"
	iptables := func(op string) {
		t.Helper()
		if out, err := exec.Command("iptables", append([]string{"-t", "nat", op}, strings.Fields(hold)...)...).CombinedOutput(); err != nil {
			t.Fatalf("iptables %s %s: %v: %s", op, hold, err, out)
		}
	}
	iptables("-A")
	if _, err := h.call("DEL", delConf, "ctr-1", ns1.Path(), "eth0"); err == nil || !strings.Contains(err.Error(), set) {
		t.Fatalf("DEL with a set that cannot go: %v, want an error naming %s", err, set)
	}
	if _, err := h.call("ADD", conf, "ctr-2", ns2.Path(), "eth0"); err == nil {
		t.Fatal("another container got the address whose masquerade DEL could not remove")
	}

	iptables("-D")
	h.del(delConf, "ctr-1", ns1.Path())
	if masqOfNetwork(t, "keepaddr") {
		t.Errorf("masquerade survives the DEL that succeeded:\n%s", natRules(t, "iptables-save"))
	}
	res, _ := h.add("1.1.0", conf, "ctr-2", ns2.Path())
	if got := res.IPs[0].Address.IP.String(); got != "10.16.0.10" {
		t.Errorf("the next container got %s, want the released 10.16.0.10", got)
	}
	if got := masqMembers(t, "keepaddr", "ctr-2"); len(got) != 1 || got[0] != "10.16.0.10" {
		t.Errorf("masquerade members of ctr-2: %v", got)
	}
	h.del(conf, "ctr-2", ns2.Path())
}
