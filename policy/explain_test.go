package policy_test

import (
	"net/netip"
	"testing"

	"github.com/weirnet/weir/policy"
)

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

func TestExplain(t *testing.T) {
	set := mustLoad(t, `
[[policy]]
name     = "web-out"
order    = 10
selector = "app == 'web'"
[[policy.egress]]
action = "allow"
[[policy]]
name     = "audit"
order    = 50
selector = "app == 'db'"
[[policy.ingress]]
action = "log"
protocol = "tcp"
ports = [5432]

[[policy]]
name     = "db-accepts-web"
order    = 100
selector = "app == 'db'"
[[policy.ingress]]
action   = "deny"
protocol = "tcp"
ports    = [22]
[[policy.ingress]]
action   = "allow"
protocol = "tcp"
ports    = [5432]
from     = { selector = "app == 'web'", nets = ["10.22.0.0/16"] }

[[policy]]
name     = "no-egress"
order    = 200
selector = "app == 'db'"
types    = ["egress"]
`)
	web := policy.Endpoint{ID: "c-web", Labels: labels("app", "web"), IPs: addrs("fd00::5", "10.22.0.5")}
	webOtherNet := policy.Endpoint{ID: "c-web2", Labels: labels("app", "web"), IPs: addrs("10.99.0.5")}
	db := policy.Endpoint{ID: "c-db", Labels: labels("app", "db", "env", "prod"), IPs: addrs("10.22.0.9")}
	bare := policy.Endpoint{ID: "c-bare"}
	outside := policy.Endpoint{IPs: addrs("203.0.113.7")}

	tests := []struct {
		name     string
		from, to policy.Endpoint
		pkt      policy.Packet
		def      policy.Action
		allowed  bool
		want     string
		fromIP   string
		toIP     string
	}{
		{
			name: "both allow", from: web, to: db, pkt: tcp(5432), allowed: true,
			want: `allowed: egress of app=web allowed by policy "web-out" rule egress[0]; ` +
				`ingress of app=db,env=prod allowed by policy "db-accepts-web" rule ingress[1] (logged by policy "audit")`,
			fromIP: "10.22.0.5", toIP: "10.22.0.9",
		},
		{
			name: "ingress selected, nothing matches", from: webOtherNet, to: db, pkt: tcp(5432),
			want: `denied: egress of app=web allowed by policy "web-out" rule egress[0]; ` +
				`ingress of app=db,env=prod denied: selected by policies "audit", "db-accepts-web", no rule matched (logged by policy "audit")`,
			fromIP: "10.99.0.5", toIP: "10.22.0.9",
		},
		{
			name: "ingress denied by a rule", from: web, to: db, pkt: tcp(22),
			want: `denied: egress of app=web allowed by policy "web-out" rule egress[0]; ` +
				`ingress of app=db,env=prod denied by policy "db-accepts-web" rule ingress[0]`,
			fromIP: "10.22.0.5", toIP: "10.22.0.9",
		},
		{
			name: "egress denied by types", from: db, to: web, pkt: tcp(80),
			want: `denied: egress of app=db,env=prod denied: selected by policy "no-egress", no rule matched; ` +
				`ingress of app=web allowed: no policy selects it (default allow)`,
			fromIP: "10.22.0.9", toIP: "10.22.0.5",
		},
		{
			name: "unselected both ways, default deny", from: bare, to: bare, pkt: udp(53), def: policy.Deny,
			want: `denied: egress of container c-bare denied: no policy selects it (default deny); ` +
				`ingress of container c-bare denied: no policy selects it (default deny)`,
		},
		{
			name: "from outside: only ingress counts", from: outside, to: db, pkt: tcp(5432),
			want: `denied: egress of 203.0.113.7 not checked: not a weir endpoint; ` +
				`ingress of app=db,env=prod denied: selected by policies "audit", "db-accepts-web", no rule matched (logged by policy "audit")`,
			fromIP: "203.0.113.7", toIP: "10.22.0.9",
		},
		{
			name: "to outside", from: web, to: outside, pkt: tcp(443), def: policy.Deny, allowed: true,
			want: `allowed: egress of app=web allowed by policy "web-out" rule egress[0]; ` +
				`ingress of 203.0.113.7 not checked: not a weir endpoint`,
			fromIP: "10.22.0.5", toIP: "203.0.113.7",
		},
		{
			name: "unlabelled endpoint is still an endpoint", from: policy.Endpoint{ID: "c-x", IPs: addrs("10.22.0.77")}, to: db, pkt: tcp(5432),
			want: `denied: egress of container c-x allowed: no policy selects it (default allow); ` +
				`ingress of app=db,env=prod denied: selected by policies "audit", "db-accepts-web", no rule matched (logged by policy "audit")`,
			fromIP: "10.22.0.77", toIP: "10.22.0.9",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := set.Explain(tt.from, tt.to, tt.pkt, tt.def)
			if e.Allowed != tt.allowed {
				t.Errorf("Allowed = %v, want %v", e.Allowed, tt.allowed)
			}
			if got := e.String(); got != tt.want {
				t.Errorf("String:\n got %s\nwant %s", got, tt.want)
			}
			if tt.fromIP != "" && e.FromIP != netip.MustParseAddr(tt.fromIP) || tt.toIP != "" && e.ToIP != netip.MustParseAddr(tt.toIP) {
				t.Errorf("addresses %v -> %v, want %s -> %s", e.FromIP, e.ToIP, tt.fromIP, tt.toIP)
			}
			if e.Egress.Direction != policy.Egress || e.Ingress.Direction != policy.Ingress {
				t.Errorf("directions %q, %q", e.Egress.Direction, e.Ingress.Direction)
			}
			// Explain agrees with Verdict.
			if !e.FromOutside {
				peer := policy.PeerInfo{IP: e.ToIP}
				if !e.ToOutside {
					peer.Labels = tt.to.Labels
					if peer.Labels == nil {
						peer.Labels = map[string]string{}
					}
				}
				if d := set.Verdict(policy.Egress, tt.from, peer, tt.pkt, tt.def); d.Action != e.Egress.Action || d.Policy != e.Egress.Policy {
					t.Errorf("Verdict(egress) = %+v, Explain says %+v", d, e.Egress)
				}
			}
		})
	}
}

func TestExplainDesignSentence(t *testing.T) {
	set := mustLoad(t, `
[[policy]]
name     = "web-out"
selector = "app == 'web'"
[[policy.egress]]
action = "allow"

[[policy]]
name     = "db-accepts-web"
selector = "app == 'db'"
[[policy.ingress]]
action   = "allow"
protocol = "tcp"
ports    = [5432]
`)
	e := set.Explain(policy.Endpoint{Labels: labels("app", "web")}, policy.Endpoint{Labels: labels("app", "db")}, tcp(80), "")
	want := `denied: egress of app=web allowed by policy "web-out" rule egress[0]; ingress of app=db denied: selected by policy "db-accepts-web", no rule matched`
	if e.String() != want || e.Allowed {
		t.Fatalf("Explain:\n got %s (allowed %v)\nwant %s", e, e.Allowed, want)
	}
}
