package portmap_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/weirnet/weir/chain"
	"github.com/weirnet/weir/internal/sandbox"
	"github.com/weirnet/weir/plugins/portmap"
)

// nothingLeft fails the test if a refused ADD of id left anything: a nat
// rule, a portmap record, the chain's record, a veth, an address lease.
func (l *lab) nothingLeft(id string) {
	l.t.Helper()
	if left := weirNat(l.t); len(left) > 0 {
		l.t.Errorf("nat rules left by a failed ADD:\n%s", strings.Join(left, "\n"))
	}
	if recs := l.records(); len(recs) != 0 {
		l.t.Errorf("portmap records left by a failed ADD: %v", recs)
	}
	if _, _, err := l.runner.Result(id, l.name); err == nil {
		l.t.Errorf("the chain kept a record of %s", id)
	}
	links, err := netlink.LinkList()
	if err != nil {
		l.t.Fatal(err)
	}
	for _, ln := range links {
		if ln.Type() == "veth" && ln.Attrs().Name != "pmout" {
			l.t.Errorf("host veth %s left by a failed ADD", ln.Attrs().Name)
		}
	}
	if leases := l.leases(); len(leases) != 0 {
		l.t.Errorf("addresses still leased after a failed ADD: %v", leases)
	}
}

// A refused ADD, whatever refused it, leaves nothing behind.
func TestFailedAddLeavesNothing(t *testing.T) {
	sandbox.Require(t)
	ver := "1.1.0"

	t.Run("bad protocol", func(t *testing.T) {
		l := newLab(t, ver, 30, "", false)
		c := l.prepare("bad-proto")
		err := l.attach(c, chain.PortMapping{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"},
			chain.PortMapping{HostPort: 8081, ContainerPort: 80, Protocol: "sctp"})
		want := `invalid field "runtimeConfig.portMappings[1].protocol": "sctp" is not tcp or udp`
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("ADD with an sctp mapping: %v, want %q", err, want)
		}
		l.nothingLeft(c.id)
	})

	t.Run("prevResult without addresses", func(t *testing.T) {
		l := newLab(t, ver, 31, "", true)
		c := l.prepare("no-addr")
		err := l.attach(c, chain.PortMapping{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"})
		want := `invalid field "prevResult": no address of eth0: nothing to forward ports to`
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("ADD after a bridge without IPAM: %v, want %q", err, want)
		}
		l.nothingLeft(c.id)
	})

	// ip6tables-restore refuses the IPv6 batch after the IPv4 batch was
	// applied: portmap's own undo must remove the IPv4 rules and the
	// record (no chain runner here, so no rollback DEL helps).
	t.Run("second family fails", func(t *testing.T) {
		l := newLab(t, ver, 32, "", false)
		conf := l.portmapConf(`,"conditionsV6":["-m","weirnosuchmatch"],` + dualStackPrev("10.66.32.5", "fd00:66:32::5") +
			`,"runtimeConfig":{"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}]}`)
		_, err := l.invoke("ADD", "v6-fails", conf)
		if err == nil || !strings.Contains(err.Error(), "writing ipv6 port mappings of "+l.name+"/v6-fails/eth0") {
			t.Fatalf("ADD with a bad IPv6 condition: %v", err)
		}
		if left := weirNat(t); len(left) > 0 {
			t.Errorf("nat rules left:\n%s", strings.Join(left, "\n"))
		}
		if recs := l.records(); len(recs) != 0 {
			t.Errorf("records left: %v", recs)
		}
	})
}

// dualStackPrev is a "prevResult" key for a container eth0 with the given
// addresses.
func dualStackPrev(ip4, ip6 string) string {
	return fmt.Sprintf(`"prevResult":{"cniVersion":"1.0.0",
	  "interfaces":[{"name":"eth0","sandbox":"/proc/self/ns/net"}],
	  "ips":[{"address":"%s/24","interface":0},{"address":"%s/64","interface":0}]}`, ip4, ip6)
}

// DEL needs no runtimeConfig, no prevResult and, to find the chains, no
// record; each DEL of a gone attachment succeeds.
func TestDelWithoutRuntimeConfigOrRecord(t *testing.T) {
	sandbox.Require(t)
	l := newLab(t, "1.0.0", 33, "", false)
	addConf := l.portmapConf("," + dualStackPrev("10.66.33.5", "fd00:66:33::5") +
		`,"runtimeConfig":{"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"},{"hostPort":5300,"containerPort":53,"protocol":"udp"}]}`)
	bare := l.portmapConf("")
	dn, _ := portmap.Chains(l.name, "direct", "eth0")
	t.Cleanup(func() { _, _ = l.invoke("DEL", "direct", bare) })

	added := func() {
		t.Helper()
		out, err := l.invoke("ADD", "direct", addConf)
		if err != nil {
			t.Fatalf("ADD: %v", err)
		}
		if !strings.Contains(string(out), `"10.66.33.5/24"`) {
			t.Errorf("ADD did not pass prevResult on: %s", out)
		}
		for _, v6 := range []bool{false, true} {
			if r := nat(t, v6); r.Count("-A "+dn+" ") != 2 || r.Count("-j "+dn) != 1 {
				t.Fatalf("chains of the attachment after ADD (v6 %v):\n%s", v6, r)
			}
		}
		for _, set := range []string{portmap.HairpinSet4, portmap.LocalSet4, portmap.HairpinSet6} {
			if m := members(t, set, l.name, "direct"); len(m) != 2 {
				t.Fatalf("members of %s after ADD: %v", set, m)
			}
		}
	}

	added()
	for i := 1; i <= 2; i++ {
		if _, err := l.invoke("DEL", "direct", bare); err != nil {
			t.Fatalf("DEL #%d without runtimeConfig: %v", i, err)
		}
		if left := weirNat(t); len(left) > 0 {
			t.Errorf("DEL #%d without runtimeConfig left:\n%s", i, strings.Join(left, "\n"))
		}
		if recs := l.records(); len(recs) != 0 {
			t.Errorf("records after DEL: %v", recs)
		}
	}

	// The record is lost: the chains are still found by name, in both
	// families.
	added()
	if err := os.Remove(filepath.Join(l.stateDir, l.name, "direct:eth0.json")); err != nil {
		t.Fatal(err)
	}
	if _, err := l.invoke("DEL", "direct", bare); err != nil {
		t.Fatalf("DEL without a record: %v", err)
	}
	if left := weirNat(t); len(left) > 0 {
		t.Errorf("DEL without a record left:\n%s", strings.Join(left, "\n"))
	}

	// An attachment that never existed.
	if _, err := l.invoke("DEL", "never-added", bare); err != nil {
		t.Errorf("DEL of an unknown attachment: %v", err)
	}

	// CHECK of a deleted attachment fails.
	if _, err := l.invoke("CHECK", "direct", addConf); err == nil || !strings.Contains(err.Error(), "the portmap record is missing") {
		t.Errorf("CHECK after DEL: %v", err)
	}
}
