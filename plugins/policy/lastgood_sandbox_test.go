package policy_test

import (
	"strings"
	"testing"

	"github.com/weirnet/weir/internal/sandbox"
)

// TestBrokenPolicyFileKeepsLastGood: an operator's half-done edit neither
// lifts enforcement nor blocks DEL. The last version that loaded stays in
// force for renders and new containers, and a DEL still removes the
// container's rules.
func TestBrokenPolicyFileKeepsLastGood(t *testing.T) {
	sandbox.Require(t)
	l := newLab(t, bridgeList("lg", "lg0", "10.210.0.0/24", ""))
	l.writePolicies(`
[[policy]]
name = "db-closed"
selector = "app == 'db'"
types = ["ingress"]
`)
	web := l.add("web", map[string]string{"app": "web"})
	db := l.add("db", map[string]string{"app": "db"})
	expect(t, "before the edit", drop(tcp(web, db, 80)))

	l.writePolicies("[[policy]\nname = ") // a half-written file
	if _, err := l.engine().Render(t.Context()); err != nil {
		t.Fatalf("a render with broken files must fall back, not fail: %v", err)
	}
	expect(t, "with a broken file, the last good policy holds", drop(tcp(web, db, 80)))

	db2 := l.add("db2", map[string]string{"app": "db"})
	expect(t, "a new container gets the last good policy", drop(tcp(web, db2, 80)))

	if len(linesWith(run(t, "iptables-save"), "id=db ")) == 0 {
		t.Fatal("db has no port guard on the host")
	}
	l.del(db)
	if lines := linesWith(run(t, "iptables-save"), "id=db "); len(lines) > 0 {
		t.Errorf("DEL with broken policy files left db's rules:\n%s", strings.Join(lines, "\n"))
	}
	l.delAll()
	if left := weirLeft(t, ""); len(left) != 0 {
		t.Errorf("left after every DEL: %v", left)
	}
}
