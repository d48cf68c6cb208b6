package portmap_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	"github.com/weirnet/weir/internal/sandbox"
	"github.com/weirnet/weir/policy/dataplane"
)

// The policy engine's dataplane writer, repairing the host to a state
// without sets, destroys weir's other sets but not portmap's: CHECK still
// passes and the hairpin still works.
func TestPolicyWriterLeavesPortmapSets(t *testing.T) {
	sandbox.Require(t)
	l := newLab(t, "1.1.0", 46, "", false)
	c := l.add("policy", web)
	if out, err := exec.Command("ipset", "create", "weir-eps4", "hash:ip").CombinedOutput(); err != nil {
		t.Fatalf("ipset create: %v: %s", err, out)
	}
	dir := t.TempDir()
	w := dataplane.New(dataplane.Config{LockPath: dir + "/dataplane.lock", CacheDir: dir})
	if _, err := w.Repair(context.Background(), dataplane.NewState()); err != nil {
		t.Fatalf("policy repair: %v", err)
	}
	for _, line := range ipsetSave(t) {
		if strings.Contains(line, "weir-eps4") {
			t.Fatalf("the writer did not remove its own stale set, so this test proves nothing: %s", line)
		}
	}
	if err := l.runner.Check(context.Background(), l.name, c.id); err != nil {
		t.Errorf("the policy writer broke the port mappings: %v", err)
	}
	reach(t, "hairpin after the policy writer's repair", c.ns, hp(l.gw4, 8080), "policy saw "+l.gw4)
	if err := l.detach(c); err != nil {
		t.Fatal(err)
	}
	noChainsLeft(t)
}
