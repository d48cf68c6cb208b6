package policy_test

import (
	"context"
	"strings"
	"testing"

	"github.com/weirnet/weir/internal/sandbox"
	"github.com/weirnet/weir/policy"
)

// CHECK through the chain runner passes after ADD, fails once the kernel
// drifts (a chain flushed, a hook deleted, a set member removed by hand),
// and passes again after the engine's Repair; packets show each drift
// broke enforcement and that Repair restored it.
func TestPolicyCheckAndRepair(t *testing.T) {
	sandbox.Require(t)
	l := newLab(t, bridgeList("checknet", "polbr9", "10.210.9.0/24", ""))
	l.writePolicies(matrixPolicies)
	web := l.add("web", app("web"))
	db := l.add("db", app("db"))
	other := l.add("other", app("other"))
	checkAll := func(when string) {
		t.Helper()
		for _, c := range l.live() {
			if err := l.check(c); err != nil {
				t.Errorf("%s: CHECK of %s: %v", when, c.name, err)
			}
		}
	}
	enforced := func(when string) {
		t.Helper()
		expect(t, when, pass(tcp(web, db, 5432)), drop(tcp(other, db, 5432)), drop(tcp(web, db, 80)))
	}
	repair := func() {
		t.Helper()
		if _, err := l.engine().Repair(context.Background()); err != nil {
			t.Fatalf("repairing: %v", err)
		}
	}
	checkAll("after ADD")
	enforced("after ADD")

	// db's ingress dispatch rule (its address to its ingress class)
	// deleted by hand: db's CHECK fails naming it, the others' pass (the
	// rule is db's), and no ingress policy applies to db: it is open to
	// everyone.
	var in string
	for _, line := range linesWith(run(t, "iptables-save", "-t", "filter"), "id=db if=eth0 ingress") {
		in = strings.TrimPrefix(line, "-A ")
	}
	if in == "" {
		t.Fatalf("db has no ingress dispatch rule:\n%s", run(t, "iptables-save", "-t", "filter"))
	}
	run(t, append([]string{"iptables", "-D"}, splitRule(in)...)...)
	if err := l.check(db); err == nil || !strings.Contains(err.Error(), "id=db if=eth0 ingress") {
		t.Errorf("CHECK of db after deleting its ingress dispatch: %v; want an error naming the rule", err)
	}
	for _, c := range []*container{web, other} {
		if err := l.check(c); err != nil {
			t.Errorf("CHECK of %s after db's rule was deleted: %v", c.name, err)
		}
	}
	expect(t, "db's ingress dispatch deleted", pass(tcp(other, db, 5432)), pass(tcp(web, db, 80)))
	repair()
	checkAll("after repairing the ingress dispatch")
	enforced("after repairing the ingress dispatch")

	// db's port guard deleted by hand: db's CHECK fails naming the rule.
	var guard string
	for _, line := range linesWith(run(t, "iptables-save", "-t", "filter"), "id=db if=eth0 spoofed") {
		guard = strings.TrimPrefix(line, "-A ")
	}
	if guard == "" {
		t.Fatalf("db has no port guard:\n%s", run(t, "iptables-save", "-t", "filter"))
	}
	run(t, append([]string{"iptables", "-D"}, splitRule(guard)...)...)
	if err := l.check(db); err == nil || !strings.Contains(err.Error(), "spoofed") {
		t.Errorf("CHECK of db without its port guard: %v; want an error naming the rule", err)
	}
	repair()
	checkAll("after repairing the port guard")
	l.checkMatrix(policy.Allow)

	// The FORWARD hook deleted: nothing is enforced and every CHECK fails.
	hooks := linesWith(run(t, "iptables-save", "-t", "filter"), "-A FORWARD ")
	var hook string
	for _, h := range hooks {
		if strings.Contains(h, "-j WEIR-FORWARD") {
			hook = strings.TrimPrefix(h, "-A FORWARD ")
		}
	}
	if hook == "" {
		t.Fatalf("no weir hook in FORWARD:\n%s", strings.Join(hooks, "\n"))
	}
	run(t, append([]string{"iptables", "-D", "FORWARD"}, splitRule(hook)...)...)
	for _, c := range l.live() {
		if err := l.check(c); err == nil || !strings.Contains(err.Error(), "WEIR-FORWARD") {
			t.Errorf("CHECK of %s without the FORWARD hook: %v; want an error naming it", c.name, err)
		}
	}
	expect(t, "hook deleted", pass(tcp(other, db, 5432)))
	repair()
	checkAll("after repairing the hook")
	enforced("after repairing the hook")

	// web's address taken out of the web selector's set: web loses its
	// access to db, and CHECK sees the missing member.
	var member string
	for _, line := range linesWith(run(t, "ipset", "save"), " "+web.ip.String()) {
		if f := strings.Fields(line); f[0] == "add" && strings.HasPrefix(f[1], "weir-s4-") {
			member = f[1]
		}
	}
	if member == "" {
		t.Fatalf("web's address %s is in no selector set:\n%s", web.ip, run(t, "ipset", "save"))
	}
	run(t, "ipset", "del", member, web.ip.String())
	if err := l.check(web); err == nil || !strings.Contains(err.Error(), member) {
		t.Errorf("CHECK of web after removing it from %s: %v; want an error naming the set", member, err)
	}
	expect(t, "set member removed", drop(tcp(web, db, 5432)))
	repair()
	checkAll("after repairing the set")
	enforced("after repairing the set")
}

// splitRule splits an iptables-save rule into arguments, keeping quoted
// strings (comments) whole.
func splitRule(rule string) []string {
	var args []string
	var cur strings.Builder
	quoted, started := false, false
	for _, r := range rule {
		switch {
		case r == '"':
			quoted, started = !quoted, true
		case r == ' ' && !quoted:
			if started {
				args = append(args, cur.String())
				cur.Reset()
				started = false
			}
		default:
			cur.WriteRune(r)
			started = true
		}
	}
	if started {
		args = append(args, cur.String())
	}
	return args
}
