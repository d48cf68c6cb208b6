package policy_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weirnet/weir/internal/sandbox"
)

// forgetByHand removes c's endpoint from the engine's index and leaves its
// rules: what a DEL killed between writing the index and rendering leaves.
func (l *lab) forgetByHand(c *container) {
	l.t.Helper()
	path := filepath.Join(l.stateDir, "policy", "endpoints.json")
	data, err := os.ReadFile(path)
	if err != nil {
		l.t.Fatal(err)
	}
	var idx map[string]map[string]json.RawMessage
	if err := json.Unmarshal(data, &idx); err != nil {
		l.t.Fatal(err)
	}
	key := l.list.Name + "/" + c.name + "/eth0"
	if _, ok := idx["endpoints"][key]; !ok {
		l.t.Fatalf("no endpoint %s in the index", key)
	}
	delete(idx["endpoints"], key)
	if data, err = json.Marshal(idx); err != nil {
		l.t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
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
	webChain := endpointChain("WEIR-IN-", br.list.Name, web.name, "eth0")
	if !strings.Contains(inNS(t, "", "iptables-save"), webChain) {
		t.Fatalf("no chain %s of web on the host", webChain)
	}

	br.forgetByHand(web)
	mv.forgetByHand(mweb)
	br.del(web)
	mv.del(mweb)
	if left := weirLeft(t, mweb.ns.Path()); len(left) > 0 {
		t.Errorf("the repeated DEL left policy in the macvlan container:\n%s", strings.Join(left, "\n"))
	}
	if lines := linesWith(inNS(t, "", "iptables-save"), webChain); len(lines) > 0 {
		t.Errorf("the repeated DEL left web's rules on the host:\n%s", strings.Join(lines, "\n"))
	}
	if !strings.Contains(inNS(t, "", "iptables-save"), endpointChain("WEIR-IN-", br.list.Name, stay.name, "eth0")) {
		t.Error("the repeated DEL removed another container's policy")
	}
	br.del(stay)
}
