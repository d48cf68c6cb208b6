package policy_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/weirnet/weir/internal/sandbox"
	"github.com/weirnet/weir/policy/enforce"
)

// forgetByHand removes c's endpoint from the engine's index and leaves its
// rules: what a DEL killed between writing the index and rendering leaves.
func (l *lab) forgetByHand(c *container) {
	l.t.Helper()
	path := filepath.Join(l.stateDir, "policy", enforce.IndexFile)
	idx, err := enforce.ReadIndexFile(path)
	if err != nil {
		l.t.Fatal(err)
	}
	key := enforce.Key(l.list.Name, c.name, "eth0")
	if _, ok := idx[key]; !ok {
		l.t.Fatalf("no endpoint %s in the index", key)
	}
	delete(idx, key)
	if err := enforce.WriteIndexFile(path, idx); err != nil {
		l.t.Fatal(err)
	}
}

// TestDelFinishesAnInterruptedDetach: a DEL killed after the engine forgot
// the endpoint but before it rendered leaves the endpoint's rules, on the
// host or in the container's namespace; the DEL repeated (by recovery or
// the runtime) finds the endpoint already forgotten and still removes them.
func TestDelFinishesAnInterruptedDetach(t *testing.T) {
	sandbox.Require(t)
	sandbox.Veth(t, "mvint0", "mvint0p", nil)
	br := newLab(t, bridgeList("intbr", "polbr13", "10.210.13.0/24", ""))
	mv := br.sibling(macvlanList("intmv", "mvint0", "10.212.13.0/24"))
	br.writePolicies(matrixPolicies)
	web, stay := br.add("web", app("web")), br.add("stay", app("db"))
	mweb := mv.add("mweb", app("web"))
	if len(weirLeft(t, mweb.ns.Path())) == 0 {
		t.Fatal("no policy was programmed in the macvlan container")
	}
	webRules := "id=" + web.name + " "
	if len(linesWith(inNS(t, "", "iptables-save"), webRules)) == 0 {
		t.Fatal("web has no port guard on the host")
	}

	br.forgetByHand(web)
	mv.forgetByHand(mweb)
	br.del(web)
	mv.del(mweb)
	if left := weirLeft(t, mweb.ns.Path()); len(left) > 0 {
		t.Errorf("the repeated DEL left policy in the macvlan container:\n%s", strings.Join(left, "\n"))
	}
	if lines := linesWith(inNS(t, "", "iptables-save"), webRules); len(lines) > 0 {
		t.Errorf("the repeated DEL left web's rules on the host:\n%s", strings.Join(lines, "\n"))
	}
	if lines := linesWith(inNS(t, "", "ipset", "save"), " "+web.ip.String()); len(lines) > 0 {
		t.Errorf("the repeated DEL left web's address in sets:\n%s", strings.Join(lines, "\n"))
	}
	if len(linesWith(inNS(t, "", "iptables-save"), "id="+stay.name+" ")) == 0 {
		t.Error("the repeated DEL removed another container's policy")
	}
	br.del(stay)
}
