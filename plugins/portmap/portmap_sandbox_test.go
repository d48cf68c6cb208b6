package portmap_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/version"
	"github.com/containernetworking/plugins/pkg/testutils"

	"github.com/weirnet/weir/chain"
	"github.com/weirnet/weir/internal/sandbox"
	"github.com/weirnet/weir/plugins/portmap"
)

// chainingVersions are the CNI versions that have prevResult (0.3.0 on).
func chainingVersions() []string {
	var out []string
	for _, v := range testutils.AllSpecVersions {
		if ok, _ := version.GreaterThanOrEqualTo(v, "0.3.0"); ok {
			out = append(out, v)
		}
	}
	return out
}

// The shared masquerade rules as iptables-save prints them.
const (
	masqRule4  = `-A WEIR-HOSTPORTS-MASQ -m set --match-set weir-hp-hairpin4 src,dst,dst -m comment --comment "weir: portmap" -j MASQUERADE`
	localRule4 = `-A WEIR-HOSTPORTS-MASQ -s 127.0.0.1/32 -m set --match-set weir-hp-local4 dst,dst -m comment --comment "weir: portmap" -j MASQUERADE`
	masqRule6  = `-A WEIR-HOSTPORTS-MASQ -m set --match-set weir-hp-hairpin6 src,dst,dst -m comment --comment "weir: portmap" -j MASQUERADE`
)

// The published ports of the main scenario.
var published = []chain.PortMapping{
	{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"},
	{HostPort: 5300, ContainerPort: 53, Protocol: "UDP"},
	{HostPort: 8081, ContainerPort: 80, Protocol: "tcp", HostIP: hostIP4},
}

// TestPublishedPorts drives bridge + host-local + portmap through the chain
// runner for every version with chaining: a container's tcp and udp ports
// are reachable on the host's addresses from an outside host, from the host
// itself (its own address and 127.0.0.1) and from the container itself
// (hairpin), over IPv4 and IPv6; hostIP limits a mapping to one address;
// CHECK passes and notices a tampered chain; DEL removes every rule and the
// record, after which the ports are closed; DEL again and DEL without
// runtimeConfig succeed.
func TestPublishedPorts(t *testing.T) {
	sandbox.Require(t)
	out := newOutside(t)
	for i, ver := range chainingVersions() {
		t.Run(ver, func(t *testing.T) {
			l := newLab(t, ver, 10+i, "", false)
			// A udp flow to a host service on the port before ADD: its
			// conntrack entry (untranslated) outlives the service, and ADD
			// must drop it or the flow never reaches the container.
			const udpSrc = 40053
			stopHost := hostUDP(t, hp(hostIP4, 5300))
			if got, err := ask(out, udpSrc, hp(hostIP4, 5300), "early"); err != nil || got != "host" {
				t.Fatalf("the host's own udp service: %q %v", got, err)
			}
			stopHost()
			c := l.add("ctr-"+ver, published...)
			if c.ip4 == "" || c.ip6 == "" || len(c.res.Interfaces) != 3 {
				t.Fatalf("portmap did not pass the bridge's dual-stack result on: %+v", c.res)
			}
			dn, _ := portmap.Chains(l.name, c.id, "eth0")
			comment := fmt.Sprintf(`-m comment --comment "weir: net=%s id=%s if=eth0"`, l.name, c.id)
			v4, v6 := nat(t, false), nat(t, true)
			for _, w := range []struct {
				rules sandbox.Rules
				line  string
			}{
				{v4, "-A " + dn + " -p tcp -m tcp --dport 8080 " + comment + " -j DNAT --to-destination " + c.ip4 + ":80"},
				{v4, "-A " + dn + " -p udp -m udp --dport 5300 " + comment + " -j DNAT --to-destination " + c.ip4 + ":53"},
				{v4, "-A " + dn + " -d " + hostIP4 + "/32 -p tcp -m tcp --dport 8081 " + comment + " -j DNAT --to-destination " + c.ip4 + ":80"},
				{v4, masqRule4},
				{v4, localRule4},
				{v4, "-A WEIR-HOSTPORTS " + comment + " -j " + dn},
				{v4, `-A PREROUTING -m addrtype --dst-type LOCAL -m comment --comment "weir: portmap" -j WEIR-HOSTPORTS`},
				{v4, `-A OUTPUT -m addrtype --dst-type LOCAL -m comment --comment "weir: portmap" -j WEIR-HOSTPORTS`},
				{v4, `-A POSTROUTING -m comment --comment "weir: portmap" -j WEIR-HOSTPORTS-MASQ`},
				{v6, "-A " + dn + " -p tcp -m tcp --dport 8080 " + comment + " -j DNAT --to-destination [" + c.ip6 + "]:80"},
				{v6, masqRule6},
			} {
				if n := w.rules.Count(w.line); n != 1 {
					t.Errorf("%d copies of %q in:\n%s", n, w.line, w.rules)
				}
			}
			// Two rules of the attachment's in each family: its jump
			// and DNAT rules; hairpin and localhost are set members.
			for _, r := range []sandbox.Rules{v4, v6} {
				if n := r.Count(comment); n != 1+r.Count("-A "+dn+" ") {
					t.Errorf("%d rules name the attachment, want its jump and DNAT rules:\n%s", n, r)
				}
			}
			for _, w := range []struct {
				set  string
				want []string
			}{
				{portmap.HairpinSet4, []string{c.ip4 + ",tcp:80," + c.ip4, c.ip4 + ",udp:53," + c.ip4}},
				{portmap.LocalSet4, []string{c.ip4 + ",tcp:80", c.ip4 + ",udp:53"}},
				{portmap.HairpinSet6, []string{c.ip6 + ",tcp:80," + c.ip6, c.ip6 + ",udp:53," + c.ip6}},
			} {
				got := members(t, w.set, l.name, c.id)
				slices.Sort(got)
				if !slices.Equal(got, w.want) {
					t.Errorf("members of %s: %v, want %v", w.set, got, w.want)
				}
			}
			if v6.Has("8081") {
				t.Errorf("the IPv4 hostIP mapping reached ip6tables:\n%s", v6)
			}
			if recs := l.records(); len(recs) != 1 || recs[0] != l.name+"/"+c.id+":eth0.json" {
				t.Errorf("records %v", recs)
			}

			banner := func(peer string) string { return c.id + " saw " + peer }
			reach(t, "outside to the host's address", out, hp(hostIP4, 8080), banner(outIP4))
			reach(t, "outside to the gateway address", out, hp(l.gw4, 8080), banner(outIP4))
			reach(t, "the host to its own address (OUTPUT)", nil, hp(hostIP4, 8080), banner(hostIP4))
			reach(t, "the host to 127.0.0.1 (masqueraded)", nil, hp("127.0.0.1", 8080), banner(l.gw4))
			reach(t, "hairpin: the container to the gateway", c.ns, hp(l.gw4, 8080), banner(l.gw4))
			reach(t, "hostIP mapping on its address", out, hp(hostIP4, 8081), banner(outIP4))
			noReach(t, "hostIP mapping on another address", out, hp(l.gw4, 8081))
			reach(t, "IPv6 from outside", out, hp(hostIP6, 8080), banner(outIP6))
			reach(t, "IPv6 from the host", nil, hp(hostIP6, 8080), banner(hostIP6))
			reach(t, "IPv6 hairpin", c.ns, hp(l.gw6, 8080), banner(l.gw6))
			want := fmt.Sprintf("early from %s saw %s", c.id, outIP4)
			if got, err := ask(out, udpSrc, hp(hostIP4, 5300), "early"); err != nil || got != want {
				t.Errorf("udp from the port used before ADD: %q %v, want %q", got, err, want)
			}
			want = fmt.Sprintf("v6 from %s saw %s", c.id, outIP6)
			if got, err := ask(out, 0, hp(hostIP6, 5300), "v6"); err != nil || got != want {
				t.Errorf("udp over IPv6: %q %v, want %q", got, err, want)
			}

			if ok, _ := version.GreaterThanOrEqualTo(ver, "0.4.0"); ok {
				if err := l.runner.Check(context.Background(), l.name, c.id); err != nil {
					t.Errorf("CHECK: %v", err)
				}
				hairpin := c.ip4 + ",tcp:80," + c.ip4
				sh(t, "", "ipset", "del", portmap.HairpinSet4, hairpin)
				err := l.runner.Check(context.Background(), l.name, c.id)
				if err == nil || !strings.Contains(err.Error(), hairpin+" is not in ipset "+portmap.HairpinSet4) {
					t.Errorf("CHECK without a hairpin member: %v", err)
				}
				sh(t, "", "ipset", "add", portmap.HairpinSet4, hairpin, "comment", fmt.Sprintf("weir: net=%s id=%s if=eth0", l.name, c.id))
				sh(t, "", "iptables", "-t", "nat", "-F", dn)
				err = l.runner.Check(context.Background(), l.name, c.id)
				if err == nil || !strings.Contains(err.Error(), "-j DNAT --to-destination "+c.ip4+":80\" is missing") {
					t.Errorf("CHECK of a flushed DNAT chain: %v", err)
				}
			}

			// DEL of portmap alone, without runtimeConfig or prevResult,
			// while the container still runs: the rules go, so the ports
			// close, and so does the udp flow that was translated.
			if _, err := l.invoke("DEL", c.id, l.portmapConf("")); err != nil {
				t.Fatalf("DEL without runtimeConfig: %v", err)
			}
			if left := weirNat(t); len(left) > 0 {
				t.Errorf("nat rules left after DEL:\n%s", strings.Join(left, "\n"))
			}
			if recs := l.records(); len(recs) != 0 {
				t.Errorf("records left after DEL: %v", recs)
			}
			noReach(t, "outside after DEL", out, hp(hostIP4, 8080))
			noReach(t, "IPv6 after DEL", out, hp(hostIP6, 8080))
			noReach(t, "127.0.0.1 after DEL", nil, hp("127.0.0.1", 8080))
			reach(t, "the container itself after DEL", out, hp(c.ip4, 80), banner(outIP4))
			if got, err := ask(out, udpSrc, hp(hostIP4, 5300), "late"); err == nil {
				t.Errorf("the udp flow still reaches the container after DEL: %q", got)
			}
			// The whole chain's DEL (portmap's DEL again), and once more.
			if err := l.detach(c); err != nil {
				t.Fatalf("DEL of the chain: %v", err)
			}
			if _, err := l.invoke("DEL", c.id, l.portmapConf("")); err != nil {
				t.Errorf("third DEL: %v", err)
			}
			if left := weirNat(t); len(left) > 0 {
				t.Errorf("nat rules after the chain's DEL:\n%s", strings.Join(left, "\n"))
			}
		})
	}
}
