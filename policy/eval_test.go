package policy_test

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/weirnet/weir/policy"
	"github.com/weirnet/weir/policy/selector"
)

// mustLoad loads one policy file's worth of TOML.
func mustLoad(t *testing.T, src string) *policy.Set {
	t.Helper()
	set, err := policy.LoadDir(writeFiles(t, map[string]string{"p.toml": src}))
	if err != nil {
		t.Fatalf("loading policies: %v", err)
	}
	return set
}

func labels(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func tcp(port int) policy.Packet { return policy.Packet{Protocol: policy.TCP, Port: port} }
func udp(port int) policy.Packet { return policy.Packet{Protocol: policy.UDP, Port: port} }

func peerAt(ip string, kv ...string) policy.PeerInfo {
	p := policy.PeerInfo{Labels: labels(kv...)}
	if ip != "" {
		p.IP = netip.MustParseAddr(ip)
	}
	return p
}

func outsider(ip string) policy.PeerInfo { return policy.PeerInfo{IP: netip.MustParseAddr(ip)} }

// want is the expected Decision in short: action, deciding policy and
// rule (-1 for none), selected, logged.
type want struct {
	action   policy.Action
	policy   string
	rule     int
	selected bool
	logged   []string
}

func TestVerdict(t *testing.T) {
	db := policy.Endpoint{ID: "c1", Labels: labels("app", "db", "env", "prod")}
	web := policy.Endpoint{ID: "c2", Labels: labels("app", "web")}
	webPeer := peerAt("10.22.1.5", "app", "web")

	type check struct {
		name string
		dir  policy.Direction
		ep   policy.Endpoint
		peer policy.PeerInfo
		pkt  policy.Packet
		def  policy.Action
		want want
	}
	tests := []struct {
		name   string
		src    string
		checks []check
	}{
		{
			name: "design example",
			src: `
[[policy]]
name     = "db-accepts-web"
order    = 100
selector = "app == 'db' && env in {'prod','staging'}"

[[policy.ingress]]
action   = "allow"
protocol = "tcp"
ports    = [5432, "8000-8080"]
from     = { selector = "app == 'web'", nets = ["10.22.0.0/16"], not_nets = [] }

[[policy]]
name     = "db-no-egress"
order    = 200
selector = "app == 'db'"
types    = ["egress"]
`,
			checks: []check{
				{"web to db:5432", policy.Ingress, db, webPeer, tcp(5432), "", want{policy.Allow, "db-accepts-web", 0, true, nil}},
				{"range low end", policy.Ingress, db, webPeer, tcp(8000), "", want{policy.Allow, "db-accepts-web", 0, true, nil}},
				{"range high end", policy.Ingress, db, webPeer, tcp(8080), "", want{policy.Allow, "db-accepts-web", 0, true, nil}},
				{"just past the range", policy.Ingress, db, webPeer, tcp(8081), "", want{policy.Deny, "", -1, true, nil}},
				{"other port", policy.Ingress, db, webPeer, tcp(22), "", want{policy.Deny, "", -1, true, nil}},
				{"udp to a tcp rule", policy.Ingress, db, webPeer, udp(5432), "", want{policy.Deny, "", -1, true, nil}},
				{"icmp to a tcp rule", policy.Ingress, db, webPeer, policy.Packet{Protocol: policy.ICMP}, "", want{policy.Deny, "", -1, true, nil}},
				{"selector matches, outside nets", policy.Ingress, db, peerAt("10.23.0.1", "app", "web"), tcp(5432), "", want{policy.Deny, "", -1, true, nil}},
				{"in nets, selector does not match", policy.Ingress, db, peerAt("10.22.0.9", "app", "api"), tcp(5432), "", want{policy.Deny, "", -1, true, nil}},
				{"in nets, not an endpoint", policy.Ingress, db, outsider("10.22.0.9"), tcp(5432), "", want{policy.Deny, "", -1, true, nil}},
				{"web peer, address unknown", policy.Ingress, db, peerAt("", "app", "web"), tcp(5432), "", want{policy.Deny, "", -1, true, nil}},
				{"v4-mapped peer address", policy.Ingress, db, peerAt("::ffff:10.22.1.5", "app", "web"), tcp(5432), "", want{policy.Allow, "db-accepts-web", 0, true, nil}},
				{"db egress denied by types", policy.Egress, db, webPeer, tcp(80), "", want{policy.Deny, "", -1, true, nil}},
				{"db egress denied even with default allow", policy.Egress, db, outsider("8.8.8.8"), udp(53), policy.Allow, want{policy.Deny, "", -1, true, nil}},
				{"staging db selected too", policy.Ingress, policy.Endpoint{Labels: labels("app", "db", "env", "staging")}, webPeer, tcp(5432), "", want{policy.Allow, "db-accepts-web", 0, true, nil}},
				{"dev db: ingress unselected", policy.Ingress, policy.Endpoint{Labels: labels("app", "db", "env", "dev")}, webPeer, tcp(22), "", want{policy.Allow, "", -1, false, nil}},
				{"web unselected: default allow", policy.Ingress, web, webPeer, tcp(22), "", want{policy.Allow, "", -1, false, nil}},
				{"web unselected: explicit allow", policy.Egress, web, outsider("1.1.1.1"), tcp(443), policy.Allow, want{policy.Allow, "", -1, false, nil}},
				{"web unselected: default deny", policy.Ingress, web, webPeer, tcp(22), policy.Deny, want{policy.Deny, "", -1, false, nil}},
				{"unlabelled: default deny", policy.Egress, policy.Endpoint{}, webPeer, tcp(22), policy.Deny, want{policy.Deny, "", -1, false, nil}},
				{"bogus default fails closed", policy.Ingress, web, webPeer, tcp(22), policy.Log, want{policy.Deny, "", -1, false, nil}},
			},
		},
		{
			name: "order then name decide which policy goes first",
			src: `
[[policy]]
name = "b-allow"
order = 10
[[policy.ingress]]
action = "allow"

[[policy]]
name = "a-deny"
order = 10
[[policy.ingress]]
action = "deny"
protocol = "udp"

[[policy]]
name = "early"
order = 1.5
[[policy.ingress]]
action = "deny"
protocol = "tcp"
ports = [22]

[[policy]]
name = "late"
order = 1000
[[policy.ingress]]
action = "deny"
`,
			checks: []check{
				{"lower order first", policy.Ingress, web, webPeer, tcp(22), "", want{policy.Deny, "early", 0, true, nil}},
				{"same order: by name", policy.Ingress, web, webPeer, udp(53), "", want{policy.Deny, "a-deny", 0, true, nil}},
				{"falls through to the next policy", policy.Ingress, web, webPeer, tcp(80), "", want{policy.Allow, "b-allow", 0, true, nil}},
			},
		},
		{
			name: "first match decides within a policy",
			src: `
[[policy]]
name = "p"
[[policy.egress]]
action = "deny"
protocol = "tcp"
ports = [25]
[[policy.egress]]
action = "allow"
protocol = "tcp"
[[policy.egress]]
action = "deny"
`,
			checks: []check{
				{"deny before allow wins", policy.Egress, web, outsider("192.0.2.1"), tcp(25), "", want{policy.Deny, "p", 0, true, nil}},
				{"allow before deny wins", policy.Egress, web, outsider("192.0.2.1"), tcp(443), "", want{policy.Allow, "p", 1, true, nil}},
				{"last rule", policy.Egress, web, outsider("192.0.2.1"), udp(53), "", want{policy.Deny, "p", 2, true, nil}},
				{"no ingress rules: unselected", policy.Ingress, web, outsider("192.0.2.1"), tcp(25), policy.Deny, want{policy.Deny, "", -1, false, nil}},
			},
		},
		{
			name: "log continues",
			src: `
[[policy]]
name = "audit"
order = 1
[[policy.ingress]]
action = "log"
[[policy.ingress]]
action = "log"
protocol = "tcp"

[[policy]]
name = "audit-ssh"
order = 2
[[policy.ingress]]
action = "log"
protocol = "tcp"
ports = [22]

[[policy]]
name = "web"
order = 3
selector = "app == 'web'"
[[policy.ingress]]
action = "allow"
protocol = "tcp"
ports = ["80-80", 443]
`,
			checks: []check{
				{"logged then allowed", policy.Ingress, web, webPeer, tcp(443), "", want{policy.Allow, "web", 0, true, []string{"audit"}}},
				{"logged by two, then no match", policy.Ingress, web, webPeer, tcp(22), "", want{policy.Deny, "", -1, true, []string{"audit", "audit-ssh"}}},
				{"only log rules select: denied", policy.Ingress, db, webPeer, tcp(80), "", want{policy.Deny, "", -1, true, []string{"audit"}}},
				{"only log rules, nothing matches the second", policy.Ingress, db, webPeer, udp(80), policy.Allow, want{policy.Deny, "", -1, true, []string{"audit"}}},
			},
		},
		{
			name: "peers",
			src: `
[[policy]]
name = "p"
selector = "app == 'db'"
[[policy.ingress]]
action = "deny"
from = { nets = ["10.0.0.0/8"], not_nets = ["10.1.0.0/16"] }
[[policy.ingress]]
action = "allow"
from = { not_nets = ["192.168.0.0/16", "2001:db8::/32"] }
[[policy.ingress]]
action = "allow"
from = { selector = "all()" }
[[policy.ingress]]
action = "allow"
protocol = "icmp"
`,
			checks: []check{
				{"in nets, not in not_nets", policy.Ingress, db, outsider("10.2.3.4"), tcp(1), "", want{policy.Deny, "p", 0, true, nil}},
				{"in nets and in not_nets", policy.Ingress, db, outsider("10.1.3.4"), tcp(1), "", want{policy.Allow, "p", 1, true, nil}},
				{"outside both", policy.Ingress, db, outsider("172.16.0.1"), tcp(1), "", want{policy.Allow, "p", 1, true, nil}},
				{"v6 in not_nets", policy.Ingress, db, outsider("2001:db8::7"), tcp(1), "", want{policy.Deny, "", -1, true, nil}},
				{"in not_nets, but an endpoint: all()", policy.Ingress, db, peerAt("192.168.1.1"), tcp(1), "", want{policy.Allow, "p", 2, true, nil}},
				{"in not_nets, outside: icmp only", policy.Ingress, db, outsider("192.168.1.1"), policy.Packet{Protocol: policy.ICMP}, "", want{policy.Allow, "p", 3, true, nil}},
				{"in not_nets, outside, tcp", policy.Ingress, db, outsider("192.168.1.1"), tcp(1), "", want{policy.Deny, "", -1, true, nil}},
				{"unknown address: only selector rules", policy.Ingress, db, peerAt("", "x", "y"), tcp(1), "", want{policy.Allow, "p", 2, true, nil}},
				{"unknown address, not an endpoint", policy.Ingress, db, policy.PeerInfo{}, udp(1), "", want{policy.Deny, "", -1, true, nil}},
			},
		},
		{
			name: "directions are separate",
			src: `
[[policy]]
name = "in-only"
selector = "app == 'web'"
[[policy.ingress]]
action = "allow"
protocol = "tcp"
ports = [80]

[[policy]]
name = "out-types"
selector = "app == 'web'"
types = ["ingress", "egress"]
[[policy.ingress]]
action = "deny"

[[policy]]
name = "out"
selector = "app == 'db'"
[[policy.egress]]
action = "allow"
to = { selector = "app == 'web'" }
`,
			checks: []check{
				{"ingress allowed", policy.Ingress, web, webPeer, tcp(80), "", want{policy.Allow, "in-only", 0, true, nil}},
				{"ingress denied by the second policy", policy.Ingress, web, webPeer, tcp(81), "", want{policy.Deny, "out-types", 0, true, nil}},
				{"egress selected only by types", policy.Egress, web, webPeer, tcp(80), "", want{policy.Deny, "", -1, true, nil}},
				{"db egress to web", policy.Egress, db, webPeer, tcp(80), "", want{policy.Allow, "out", 0, true, nil}},
				{"db egress elsewhere", policy.Egress, db, outsider("1.1.1.1"), tcp(80), "", want{policy.Deny, "", -1, true, nil}},
				{"db ingress unselected", policy.Ingress, db, outsider("1.1.1.1"), tcp(80), policy.Deny, want{policy.Deny, "", -1, false, nil}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := mustLoad(t, tt.src)
			for _, c := range tt.checks {
				got := set.Verdict(c.dir, c.ep, c.peer, c.pkt, c.def)
				short := want{got.Action, got.Policy, got.RuleIndex, got.Selected, got.Logged}
				if !reflect.DeepEqual(short, c.want) {
					t.Errorf("%s: Verdict = %+v, want %+v", c.name, short, c.want)
				}
				if got.Direction != c.dir {
					t.Errorf("%s: Direction = %q, want %q", c.name, got.Direction, c.dir)
				}
				if got.Selected != (len(got.SelectedBy) > 0) {
					t.Errorf("%s: Selected %v but SelectedBy %v", c.name, got.Selected, got.SelectedBy)
				}
				if got.Policy != "" && got.SelectedBy[len(got.SelectedBy)-1] != got.Policy {
					t.Errorf("%s: decided by %q but SelectedBy %v does not end with it", c.name, got.Policy, got.SelectedBy)
				}
			}
		})
	}
}

// TestVerdictHandBuilt covers Sets built in code rather than loaded:
// nil sets, nil selectors, NewSet's sorting.
func TestVerdictHandBuilt(t *testing.T) {
	var nilSet *policy.Set
	if d := nilSet.Verdict(policy.Ingress, policy.Endpoint{}, policy.PeerInfo{}, tcp(1), ""); d.Action != policy.Allow || d.Selected {
		t.Errorf("nil set: %+v, want unselected allow", d)
	}
	set := policy.NewSet(
		&policy.Policy{Name: "z", Order: 1, Egress: []policy.Rule{{Action: policy.Allow}}},
		&policy.Policy{Name: "a", Order: 2, Selector: selector.MustParse("app == 'x'"), Egress: []policy.Rule{{Action: policy.Deny}}},
		&policy.Policy{Name: "m", Order: 1, Egress: []policy.Rule{{Action: policy.Log, Protocol: policy.UDP}}},
	)
	if got, want := names(set), []string{"m", "z", "a"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("NewSet order = %v, want %v", got, want)
	}
	d := set.Verdict(policy.Egress, policy.Endpoint{Labels: labels("app", "x")}, policy.PeerInfo{}, udp(53), "")
	if d.Action != policy.Allow || d.Policy != "z" || !reflect.DeepEqual(d.Logged, []string{"m"}) || !reflect.DeepEqual(d.SelectedBy, []string{"m", "z"}) {
		t.Errorf("Verdict = %+v", d)
	}
	if got := set.Selecting(labels("app", "x"), policy.Egress); len(got) != 3 {
		t.Errorf("Selecting = %d policies, want 3", len(got))
	}
	if got := set.Selecting(nil, policy.Egress); len(got) != 2 {
		t.Errorf("Selecting(nil labels) = %d policies, want 2", len(got))
	}
	if got := set.Selecting(nil, policy.Ingress); len(got) != 0 {
		t.Errorf("Selecting(ingress) = %d policies, want 0", len(got))
	}
}

func TestPortRange(t *testing.T) {
	r := policy.PortRange{From: 8000, To: 8080}
	for port, want := range map[int]bool{0: false, 7999: false, 8000: true, 8040: true, 8080: true, 8081: false} {
		if r.Contains(port) != want {
			t.Errorf("%v.Contains(%d) = %v, want %v", r, port, !want, want)
		}
	}
	if r.String() != "8000-8080" || (policy.PortRange{From: 53, To: 53}).String() != "53" {
		t.Errorf("String() = %q, %q", r.String(), policy.PortRange{From: 53, To: 53}.String())
	}
}

func TestParseEnums(t *testing.T) {
	if a, err := policy.ParseAction("log"); a != policy.Log || err != nil {
		t.Errorf("ParseAction(log) = %q, %v", a, err)
	}
	if _, err := policy.ParseAction("Allow"); err == nil || err.Error() != `"Allow" is not an action (allow, deny or log)` {
		t.Errorf("ParseAction(Allow) error = %v", err)
	}
	if p, err := policy.ParseProtocol(""); p != policy.Any || err != nil {
		t.Errorf("ParseProtocol(\"\") = %q, %v", p, err)
	}
	if _, err := policy.ParseProtocol("sctp"); err == nil {
		t.Error("ParseProtocol(sctp) succeeded")
	}
	if d, err := policy.ParseDirection("egress"); d != policy.Egress || err != nil {
		t.Errorf("ParseDirection(egress) = %q, %v", d, err)
	}
	if _, err := policy.ParseDirection("in"); err == nil {
		t.Error("ParseDirection(in) succeeded")
	}
	if !policy.TCP.HasPorts() || !policy.UDP.HasPorts() || policy.ICMP.HasPorts() || policy.Any.HasPorts() {
		t.Error("HasPorts wrong")
	}
}
