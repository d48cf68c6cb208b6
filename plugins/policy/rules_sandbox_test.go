package policy_test

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/weirnet/weir/internal/sandbox"
	"github.com/weirnet/weir/policy"
)

// Each rule feature on a bridge network of its own, checked with real
// packets and against the reference semantics.

func app(name string) map[string]string { return map[string]string{"app": name} }

func TestPolicyICMPFromSelector(t *testing.T) {
	sandbox.Require(t)
	l := newLab(t, bridgeList("icmpnet", "polbr1", "10.210.1.0/24", ""))
	l.writePolicies(`
[[policy]]
name = "target-pingable"
selector = "app == 'target'"
[[policy.ingress]]
action = "allow"
protocol = "icmp"
from = { selector = "app == 'pinger'" }
`)
	pinger := l.add("pinger", app("pinger"))
	other := l.add("other", app("other"))
	target := l.add("target", app("target"))

	expect(t, "icmp", pass(ping(pinger, target)), drop(ping(other, target)), pass(ping(target, other)),
		drop(tcp(pinger, target, 80)))
	l.matrix(l.live(), policy.ICMP, nil, policy.Allow)
	l.checkMatrix(policy.Allow)
}

func TestPolicyCIDRPeers(t *testing.T) {
	sandbox.Require(t)
	l := newLab(t, bridgeList("cidrnet", "polbr2", "10.210.2.0/24", ""))
	a := l.add("a", app("a"))
	b := l.add("b", app("b"))
	c := l.add("c", app("c"))
	onlyA := l.add("only-a", app("only-a"))
	butB := l.add("all-but-b", app("all-but-b"))
	// The addresses are known now: the files name them.
	l.writePolicies(fmt.Sprintf(`
[[policy]]
name = "only-a"
selector = "app == 'only-a'"
[[policy.ingress]]
action = "allow"
from = { nets = ["%[1]s/32"] }

[[policy]]
name = "all-but-b"
selector = "app == 'all-but-b'"
[[policy.ingress]]
action = "allow"
protocol = "tcp"
from = { nets = ["10.210.2.0/24"], not_nets = ["%[2]s/32"] }

[[policy]]
name = "c-out"
selector = "app == 'c'"
[[policy.egress]]
action = "allow"
to = { nets = ["10.210.2.0/24"], not_nets = ["%[1]s/32"] }
`, a.ip, b.ip))
	l.render()

	expect(t, "nets", pass(tcp(a, onlyA, 80)), drop(tcp(b, onlyA, 80)), drop(tcp(c, onlyA, 80)))
	expect(t, "not_nets", pass(tcp(a, butB, 80)), drop(tcp(b, butB, 80)), pass(tcp(c, butB, 80)))
	expect(t, "egress to", drop(tcp(c, a, 80)), pass(tcp(c, b, 80)))
	l.checkMatrix(policy.Allow)
}

func TestPolicyPortRange(t *testing.T) {
	sandbox.Require(t)
	l := newLab(t, bridgeList("portnet", "polbr3", "10.210.3.0/24", ""))
	l.ports = []int{7999, 8000, 8080, 8081}
	l.writePolicies(`
[[policy]]
name = "ranged"
selector = "app == 'ranged'"
[[policy.ingress]]
action = "allow"
protocol = "tcp"
ports = ["8000-8080"]
`)
	client := l.add("client", app("client"))
	ranged := l.add("ranged", app("ranged"))
	expect(t, "port range", drop(tcp(client, ranged, 7999)), pass(tcp(client, ranged, 8000)),
		pass(tcp(client, ranged, 8080)), drop(tcp(client, ranged, 8081)))
	l.checkMatrix(policy.Allow)
}

// The lower order decides, whatever the names say: first a deny at order
// 10 before an allow at 20 (named so that name order would put the allow
// first), then the orders swapped.
func TestPolicyOrder(t *testing.T) {
	sandbox.Require(t)
	l := newLab(t, bridgeList("ordernet", "polbr4", "10.210.4.0/24", ""))
	const tmpl = `
[[policy]]
name = "z-deny"
order = %d
selector = "app == 'ordered'"
[[policy.ingress]]
action = "deny"
protocol = "tcp"
from = { selector = "app == 'client'" }

[[policy]]
name = "a-allow"
order = %d
selector = "app == 'ordered'"
[[policy.ingress]]
action = "allow"
protocol = "tcp"
from = { selector = "app == 'client'" }
`
	l.writePolicies(fmt.Sprintf(tmpl, 10, 20))
	client := l.add("client", app("client"))
	ordered := l.add("ordered", app("ordered"))
	l.add("other", app("other"))
	expect(t, "deny at order 10, allow at 20", drop(tcp(client, ordered, 80)))
	l.checkMatrix(policy.Allow)

	l.writePolicies(fmt.Sprintf(tmpl, 30, 20))
	l.render()
	expect(t, "deny at order 30, allow at 20", pass(tcp(client, ordered, 80)))
	l.checkMatrix(policy.Allow)
}

// A log rule logs and goes on: the allow after it decides.
func TestPolicyLogAction(t *testing.T) {
	sandbox.Require(t)
	l := newLab(t, bridgeList("lognet", "polbr5", "10.210.5.0/24", ""))
	l.writePolicies(`
[[policy]]
name = "log-then-allow"
selector = "app == 'logged'"
[[policy.ingress]]
action = "log"
protocol = "tcp"
[[policy.ingress]]
action = "allow"
protocol = "tcp"
from = { selector = "app == 'client'" }
`)
	client := l.add("client", app("client"))
	logged := l.add("logged", app("logged"))
	other := l.add("other", app("other"))
	expect(t, "log then allow", pass(tcp(client, logged, 80)), drop(tcp(other, logged, 80)))
	l.checkMatrix(policy.Allow)

	set, err := policy.LoadDir(l.policyDir)
	if err != nil {
		t.Fatal(err)
	}
	exp := set.Explain(endpoint(client), endpoint(logged), policy.Packet{Protocol: policy.TCP, Port: 80}, policy.Allow)
	if !slices.Equal(exp.Ingress.Logged, []string{"log-then-allow"}) {
		t.Errorf("the reference semantics do not log: %s", exp)
	}
	// The LOG rule is there, with the policy's name in its prefix, and the
	// connections above went through it.
	save := run(t, "iptables-save", "-c", "-t", "filter")
	logs := linesWith(save, "-j LOG")
	if len(logs) != 1 || !strings.Contains(logs[0], `--log-prefix "weir log-then-allow "`) {
		t.Fatalf("want one LOG rule with the prefix \"weir log-then-allow \"; the policy's rules are:\n%s",
			strings.Join(linesWith(save, "policy=log-then-allow"), "\n"))
	}
	m := regexp.MustCompile(`^\[(\d+):\d+\]`).FindStringSubmatch(logs[0])
	if n, _ := strconv.Atoi(m[1]); n == 0 {
		t.Errorf("no packet went through the LOG rule: %s", logs[0])
	}
}

// types = ["ingress"] with no rules denies all new ingress, and leaves the
// container's egress alone.
func TestPolicyTypesWithoutRules(t *testing.T) {
	sandbox.Require(t)
	l := newLab(t, bridgeList("typesnet", "polbr6", "10.210.6.0/24", ""))
	l.writePolicies(`
[[policy]]
name = "closed"
selector = "app == 'closed'"
types = ["ingress"]
`)
	a := l.add("a", app("a"))
	b := l.add("b", app("b"))
	closed := l.add("closed", app("closed"))
	expect(t, "deny-all ingress", drop(tcp(a, closed, 80)), drop(tcp(b, closed, 5432)), drop(ping(a, closed)),
		pass(tcp(closed, a, 80)), pass(tcp(a, b, 80)))
	l.checkMatrix(policy.Allow)
}

// The plugin's defaultAction decides for directions no policy selects:
// deny makes unselected containers unreachable (and mute), allow the
// reverse. Both networks share one engine, as on a host.
func TestPolicyDefaultAction(t *testing.T) {
	sandbox.Require(t)
	deny := newLab(t, bridgeList("denynet", "polbr7", "10.210.7.0/24", `,"defaultAction":"deny"`))
	allow := deny.sibling(bridgeList("allownet", "polbr8", "10.210.8.0/24", `,"defaultAction":"allow"`))
	deny.writePolicies(`
[[policy]]
name = "open"
selector = "app == 'open'"
[[policy.ingress]]
action = "allow"
[[policy.egress]]
action = "allow"
`)
	dOpen1, dOpen2 := deny.add("d-open1", app("open")), deny.add("d-open2", app("open"))
	dPlain1, dPlain2 := deny.add("d-plain1", app("plain")), deny.add("d-plain2", app("plain"))
	aOpen := allow.add("a-open", app("open"))
	aPlain1, aPlain2 := allow.add("a-plain1", app("plain")), allow.add("a-plain2", app("plain"))

	expect(t, "defaultAction deny", pass(tcp(dOpen1, dOpen2, 80)), drop(tcp(dOpen1, dPlain1, 80)),
		drop(tcp(dPlain1, dPlain2, 80)), drop(tcp(dPlain1, dOpen1, 80)), drop(ping(dOpen1, dPlain1)))
	expect(t, "defaultAction allow", pass(tcp(aOpen, aPlain1, 80)), pass(tcp(aPlain1, aPlain2, 80)),
		pass(tcp(aPlain1, aOpen, 80)))
	deny.checkMatrix(policy.Deny)
	if allowed, denied := allow.matrix(allow.live(), policy.TCP, allow.ports, policy.Allow); allowed == 0 || denied != 0 {
		t.Errorf("on the allow network the files allow %d and deny %d probes; want all allowed", allowed, denied)
	}
}
