package chaos

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// The policies keep every container able to reach its gateway: ingress is
// restricted freely, but every egress policy allows the gateways first
// (the macvlan network enforces inside the container, where its gateway
// is just another destination; on the bridges the host is exempt).

const gatewayNets = `["10.77.0.1/32", "10.78.0.1/32", "172.31.77.1/32"]`

const basePolicy = `[[policy]]
name     = "db-accepts-web"
order    = 100
selector = "app == 'db' && env in {'prod','staging'}"

[[policy.ingress]]
action   = "allow"
protocol = "tcp"
ports    = [5432]
from     = { selector = "app == 'web'" }

[[policy]]
name     = "db-egress"
order    = 200
selector = "app == 'db'"

[[policy.egress]]
action = "allow"
to     = { nets = ` + gatewayNets + ` }
`

var (
	apps = []string{"web", "db", "cache", "api"}
	envs = []string{"prod", "staging", "dev"}
)

// randomLabels returns a container's labels.
func randomLabels(rng *rand.Rand) map[string]string {
	l := map[string]string{"app": apps[rng.IntN(len(apps))]}
	if rng.IntN(3) > 0 {
		l["env"] = envs[rng.IntN(len(envs))]
	}
	if rng.IntN(4) == 0 {
		l["team"] = fmt.Sprintf("t%d", rng.IntN(3))
	}
	return l
}

// randomPolicy returns a valid policy file of one to four policies whose
// names start with prefix (so files of different writers never clash).
func randomPolicy(rng *rand.Rand, prefix string) string {
	var b strings.Builder
	n := 1 + rng.IntN(4)
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("%s-%d", prefix, i)
		order := 10 + rng.IntN(500)
		app := apps[rng.IntN(len(apps))]
		peer := apps[rng.IntN(len(apps))]
		switch rng.IntN(6) {
		case 0: // ingress on some ports from a peer
			fmt.Fprintf(&b, "[[policy]]\nname = %q\norder = %d\nselector = \"app == '%s'\"\n\n[[policy.ingress]]\naction = \"allow\"\nprotocol = \"tcp\"\nports = [%d, \"%d-%d\"]\nfrom = { selector = \"app == '%s'\" }\n\n",
				name, order, app, 1000+rng.IntN(9000), 20000, 20000+rng.IntN(100), peer)
		case 1: // deny all new ingress
			fmt.Fprintf(&b, "[[policy]]\nname = %q\norder = %d\nselector = \"app == '%s' && env == '%s'\"\ntypes = [\"ingress\"]\n\n",
				name, order, app, envs[rng.IntN(len(envs))])
		case 2: // egress: the gateways, then a peer on a port
			fmt.Fprintf(&b, "[[policy]]\nname = %q\norder = %d\nselector = \"app == '%s'\"\n\n[[policy.egress]]\naction = \"allow\"\nto = { nets = %s }\n\n[[policy.egress]]\naction = \"allow\"\nprotocol = \"tcp\"\nports = [%d]\nto = { selector = \"app == '%s'\" }\n\n",
				name, order, app, gatewayNets, 1+rng.IntN(65535), peer)
		case 3: // egress: deny one udp port, allow the rest
			fmt.Fprintf(&b, "[[policy]]\nname = %q\norder = %d\nselector = \"has(team) || app == '%s'\"\n\n[[policy.egress]]\naction = \"deny\"\nprotocol = \"udp\"\nports = [53]\n\n[[policy.egress]]\naction = \"allow\"\n\n",
				name, order, app)
		case 4: // ingress by address and label, logged
			fmt.Fprintf(&b, "[[policy]]\nname = %q\norder = %d\nselector = \"app in {'%s','%s'}\"\n\n[[policy.ingress]]\naction = \"log\"\nprotocol = \"tcp\"\nports = [22]\n\n[[policy.ingress]]\naction = \"allow\"\nfrom = { nets = [\"10.77.0.0/22\"], not_nets = [\"10.77.%d.0/24\"] }\n\n",
				name, order, app, peer, rng.IntN(4))
		default: // icmp only from one peer
			fmt.Fprintf(&b, "[[policy]]\nname = %q\norder = %d\nselector = \"app == '%s' && !has(team)\"\n\n[[policy.ingress]]\naction = \"allow\"\nprotocol = \"icmp\"\nfrom = { selector = \"app == '%s'\" }\n\n",
				name, order, app, peer)
		}
	}
	return b.String()
}
