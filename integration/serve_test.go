package integration

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"

	"github.com/weirnet/weir/internal/sandbox"
)

const servedConflist = `{"cniVersion":"1.1.0","name":"served","plugins":[
  {"type":"bridge","bridge":"srv0","isGateway":true,"ipam":{"type":"host-local","subnet":"10.90.0.0/24","dataDir":"{{state}}/ipam"}},
  {"type":"policy","policyDir":"{{policies}}","stateDir":"{{state}}"}]}`

// waitFor polls cond every 10 ms until it holds or timeout passes, and
// returns how long it took.
func waitFor(timeout time.Duration, cond func() bool) (time.Duration, bool) {
	start := time.Now()
	for time.Since(start) < timeout {
		if cond() {
			return time.Since(start), true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start), false
}

// TestServeAppliesPolicyEditsAndRepairsDrift runs weir serve, attaches two
// labelled containers with weir net add, then edits the policy file and
// flushes a weir chain by hand: real connections show the edit applied and
// the drift repaired.
func TestServeAppliesPolicyEditsAndRepairsDrift(t *testing.T) {
	bin := binDir(t)
	netd, state, policies := t.TempDir(), t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(netd, "10-served.conflist"), strings.NewReplacer("{{state}}", state, "{{policies}}", policies).Replace(servedConflist))
	closed := "[[policy]]\nname = \"db-closed\"\nselector = \"app == 'db'\"\ntypes = [\"ingress\"]\n"
	writeFile(t, filepath.Join(policies, "db.toml"), closed)

	serve := exec.Command(filepath.Join(bin, "weir"), "serve", "--state-dir", state, "--policy-dir", policies, "--repair-interval", "300ms", "--log-level", "debug")
	var logs bytes.Buffer
	serve.Stderr = &logs
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = serve.Process.Signal(syscall.SIGTERM)
		if err := serve.Wait(); err != nil {
			t.Errorf("weir serve did not stop cleanly on SIGTERM: %v\n%s", err, logs.String())
		}
	}()

	flags := []string{"--conf-dir", netd, "--plugin-dir", bin, "--state-dir", state}
	web, db := sandbox.NewNS(t), sandbox.NewNS(t)
	for _, c := range []struct {
		id, label string
		n         ns.NetNS
	}{{"web", "app=web", web}, {"db", "app=db", db}} {
		if _, stderr, err := weirCLI(t, bin, append([]string{"net", "add", "served", c.id, c.n.Path(), "--label", c.label}, flags...)...); err != nil {
			t.Fatalf("weir net add %s: %v\n%s", c.id, err, stderr)
		}
	}
	sandbox.Listen(t, db, ":80")
	dbIP := addrOf(t, db)
	reach := func() bool { return sandbox.Connect(web, dbIP+":80", 150*time.Millisecond) == nil }
	if reach() {
		t.Fatal("db accepts connections although its policy closes it")
	}

	// The operator opens db to web: serve applies the edit.
	writeFile(t, filepath.Join(policies, "db.toml"), closed+"[[policy.ingress]]\naction = \"allow\"\nfrom = { selector = \"app == 'web'\" }\n")
	took, ok := waitFor(3*time.Second, reach)
	if !ok {
		t.Fatalf("the policy edit was not applied within 3s\n%s", logs.String())
	}
	t.Logf("policy edit enforced after %s", took)

	// Close it again, then flush the ingress dispatch (WEIR-TO, which finds
	// db's ingress class) by hand: db is open, and the repair loop puts the
	// chain back.
	writeFile(t, filepath.Join(policies, "db.toml"), closed)
	if _, ok := waitFor(3*time.Second, func() bool { return !reach() }); !ok {
		t.Fatal("closing db again was not applied")
	}
	const chain = "WEIR-TO"
	if out, err := exec.Command("iptables", "-F", chain).CombinedOutput(); err != nil {
		t.Fatalf("flushing %s: %v %s", chain, err, out)
	}
	restored := func() bool {
		out, _ := exec.Command("iptables", "-S", chain).Output()
		return strings.Count(string(out), "\n") > 1 // more than the chain's own -N line
	}
	if _, ok := waitFor(3*time.Second, restored); !ok {
		t.Fatalf("the flushed chain %s was not repaired\n%s", chain, logs.String())
	}
	if reach() {
		t.Error("db is reachable after its chain was repaired")
	}

	for _, id := range []string{"web", "db"} {
		n := web
		if id == "db" {
			n = db
		}
		if _, stderr, err := weirCLI(t, bin, append([]string{"net", "del", "served", id, n.Path()}, flags...)...); err != nil {
			t.Fatalf("weir net del %s: %v\n%s", id, err, stderr)
		}
	}
	if rules := sandbox.SaveRules(t, "iptables-save", "filter").String(); strings.Contains(rules, "WEIR") {
		t.Errorf("weir rules left after the containers were deleted:\n%s", rules)
	}
	_ = os.Remove(filepath.Join(policies, "db.toml"))
}

// addrOf returns the IPv4 address of eth0 in n.
func addrOf(t *testing.T, n ns.NetNS) string {
	t.Helper()
	addrs, err := sandbox.AddrsIn(n, "eth0")
	if err != nil || len(addrs) == 0 {
		t.Fatalf("eth0 addresses: %v %v", addrs, err)
	}
	return strings.Split(addrs[0], "/")[0]
}
