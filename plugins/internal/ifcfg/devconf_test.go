package ifcfg_test

import (
	"os"
	"strings"
	"testing"

	"github.com/weirnet/weir/internal/sandbox"
	"github.com/weirnet/weir/plugins/internal/ifcfg"
)

// TestEnableARPNotify: the netlink call sets the link's arp_notify, in the
// namespace it runs in, and nothing else's.
func TestEnableARPNotify(t *testing.T) {
	sandbox.Require(t)
	n := sandbox.NewNS(t)
	sandbox.Veth(t, "warp0", "eth0", n)
	read := func(name string) string {
		t.Helper()
		b, err := os.ReadFile("/proc/sys/net/ipv4/conf/" + name + "/arp_notify")
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	var before, after string
	if err := ifcfg.InNetNS(n.Path(), func() error {
		before = read("eth0")
		if err := ifcfg.EnableARPNotify("eth0"); err != nil {
			return err
		}
		after = read("eth0")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if before != "0" || after != "1" {
		t.Errorf("arp_notify of eth0 went from %s to %s, want 0 to 1", before, after)
	}
	if got := read("warp0"); got != "0" {
		t.Errorf("arp_notify of the peer outside the namespace is %s, want 0", got)
	}
	if err := ifcfg.EnableARPNotify("nosuch0"); err == nil || !strings.Contains(err.Error(), "nosuch0") {
		t.Errorf("a missing link gave %v, want an error naming it", err)
	}
}
