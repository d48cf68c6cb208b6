package portmap

import (
	"strings"
	"testing"

	"github.com/weirnet/weir/plugins/internal/masq"
)

// applied returns the nat table (iptables-save text) after setupBatch of p
// ran on an empty table.
func applied(t *testing.T, p *plan, f masq.Family) string {
	t.Helper()
	var lines []string
	for _, l := range strings.Split(string(setupBatch(table(t, emptyNat), p, f)), "\n") {
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

	cases := []struct {
		name, from, to, want string
	}{
		{"missing DNAT rule", dnat + "\n", "", `ipv4 rule "` + dnat + `" is missing`},
		{"changed container port", "10.22.0.5:80", "10.22.0.5:81", `ipv4 rule "` + dnat + `" is missing`},
		{"extra rule", dnat + "\n", dnat + "\n" + golden.Replace("-A $DN -p tcp -m tcp --dport 1 -j DNAT --to-destination 10.22.0.9:1\n"),
			golden.Replace("ipv4 nat chain $DN has 1 rule(s) portmap did not write")},
		{"missing hook", `-A OUTPUT -m addrtype`, `-A INPUT -m addrtype`, "ipv4 OUTPUT has no jump to WEIR-HOSTPORTS"},
		{"missing jump", golden.Replace("-A WEIR-HOSTPORTS-MASQ -m comment --comment $C -j $SN\n"), "",
			golden.Replace("ipv4 WEIR-HOSTPORTS-MASQ has no jump to $SN")},
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
