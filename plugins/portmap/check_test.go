package portmap

import (
	"context"
	"strings"
	"testing"

	"github.com/weirnet/weir/plugins/internal/masq"
)

// applied returns the nat table (iptables-save text) after setupBatch of p
// ran on an empty table.
func applied(t *testing.T, p *plan, f masq.Family) string {
	t.Helper()
	var lines []string
	b, _ := setupBatch(table(t, emptyNat), p, f, false)
	for _, l := range strings.Split(string(b), "\n") {
		switch {
		case l == "*nat", l == "COMMIT", l == "":
		case strings.HasPrefix(l, "-I "):
			chain, rest, _ := strings.Cut(strings.TrimPrefix(l, "-I "), " 1 ")
			lines = append(lines, "-A "+chain+" "+rest)
		default:
			lines = append(lines, l)
		}
	}
	return withRules(strings.Join(lines, "\n") + "\n")
}

func TestVerify(t *testing.T) {
	p := basePlan([]mapping{web, {HostPort: 5300, ContainerPort: 53, Protocol: "udp"}}, "10.22.0.5")
	p.ConditionsV4 = []string{"-m", "addrtype", "!", "--src-type", "LOCAL"}
	save := applied(t, p, masq.IPv4)
	if err := verify(table(t, save), p, masq.IPv4); err != nil {
		t.Fatalf("verify of freshly applied rules: %v\n%s", err, save)
	}
	dnat := golden.Replace(`-A $DN -p tcp -m tcp --dport 8080 -m comment --comment $C -j DNAT --to-destination 10.22.0.5:80`)
	if !strings.Contains(save, dnat+"\n") {
		t.Fatalf("applied table lacks %q:\n%s", dnat, save)
	}
	// The same rule with its matches printed in another order is the same rule.
	reordered := golden.Replace(`-A $DN -m comment --comment $C -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.22.0.5:80`)
	if err := verify(table(t, strings.Replace(save, dnat, reordered, 1)), p, masq.IPv4); err != nil {
		t.Errorf("verify of a reordered rule: %v", err)
	}

	// A rule by mark of another attachment in the shared chain is not
	// this attachment's business.
	other := golden.Replace("-A WEIR-HOSTPORTS-MASQ -d 10.22.0.6/32 -m mark --mark 0x2000/0x2000 -m comment --comment $C2 -j MASQUERADE\n")
	if err := verify(table(t, strings.Replace(save, "COMMIT", other+"COMMIT", 1)), p, masq.IPv4); err != nil {
		t.Errorf("verify with another attachment's rule in the shared chain: %v", err)
	}

	cases := []struct {
		name, from, to, want string
	}{
		{"missing DNAT rule", dnat + "\n", "", `ipv4 rule "` + dnat + `" is missing`},
		{"changed container port", "10.22.0.5:80", "10.22.0.5:81", `ipv4 rule "` + dnat + `" is missing`},
		{"extra rule", dnat + "\n", dnat + "\n" + golden.Replace("-A $DN -p tcp -m tcp --dport 1 -j DNAT --to-destination 10.22.0.9:1\n"),
			golden.Replace("ipv4 nat chain $DN has 1 rule(s) portmap did not write")},
		{"missing hook", `-A OUTPUT -m addrtype`, `-A INPUT -m addrtype`, "ipv4 OUTPUT has no jump to WEIR-HOSTPORTS"},
		{"missing masquerade hook", `-A POSTROUTING -m comment`, `-A INPUT -m comment`, "ipv4 POSTROUTING has no jump to WEIR-HOSTPORTS-MASQ"},
		{"missing jump", golden.Replace("-A WEIR-HOSTPORTS -m addrtype ! --src-type LOCAL -m comment --comment $C -j $DN\n"), "",
			golden.Replace("ipv4 WEIR-HOSTPORTS has no jump to $DN")},
		{"missing shared masquerade rule", localRule4 + "\n", "", `ipv4 rule "` + localRule4 + `" is missing`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			broken := strings.Replace(save, c.from, c.to, 1)
			if broken == save {
				t.Fatalf("%q is not in the table", c.from)
			}
			err := verify(table(t, broken), p, masq.IPv4)
			if err == nil || err.Error() != c.want {
				t.Errorf("verify: %v\nwant: %s", err, c.want)
			}
		})
	}
}

func TestVerifyMarked(t *testing.T) {
	mark := 13
	p := basePlan([]mapping{web}, "10.22.0.5")
	p.MarkMasqBit = &mark
	save := applied(t, p, masq.IPv4)
	if err := verify(table(t, save), p, masq.IPv4); err != nil {
		t.Fatalf("verify of freshly applied rules: %v\n%s", err, save)
	}
	byMark := golden.Replace("-A WEIR-HOSTPORTS-MASQ -d 10.22.0.5/32 -m mark --mark 0x2000/0x2000 -m comment --comment $C -j MASQUERADE")
	err := verify(table(t, strings.Replace(save, byMark+"\n", "", 1)), p, masq.IPv4)
	if want := `ipv4 rule "` + byMark + `" is missing`; err == nil || err.Error() != want {
		t.Errorf("verify without the rule by mark: %v, want %s", err, want)
	}
}

func TestCheckMembers(t *testing.T) {
	run := newFakeNat()
	p := basePlan([]mapping{web}, "10.22.0.5")
	k := run.kernel()
	if err := k.checkMembers(p, masq.IPv4); err == nil || err.Error() != "ipv4 ipset weir-hp-hairpin4 is missing" {
		t.Errorf("without sets: %v", err)
	}
	if err := k.addSlow(context.Background(), p, masq.IPv4); err != nil {
		t.Fatal(err)
	}
	if err := k.checkMembers(p, masq.IPv4); err != nil {
		t.Errorf("after ADD: %v", err)
	}
	other := c2(web)
	other.Addrs = p.Addrs
	if err := k.addMembers(other, masq.IPv4); err != nil {
		t.Fatal(err)
	}
	want := `10.22.0.5,tcp:80,10.22.0.5 is in ipset weir-hp-hairpin4 for "weir: net=net1 id=c2 if=eth0", not for "weir: net=net1 id=c1 if=eth0"`
	if err := k.checkMembers(p, masq.IPv4); err == nil || err.Error() != want {
		t.Errorf("with the member taken over: %v\nwant: %s", err, want)
	}
	if err := k.delMembers(other, masq.IPv4); err != nil {
		t.Fatal(err)
	}
	if err := k.checkMembers(p, masq.IPv4); err == nil || err.Error() != "10.22.0.5,tcp:80,10.22.0.5 is not in ipset weir-hp-hairpin4" {
		t.Errorf("with the member gone: %v", err)
	}
}
