package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weirnet/weir/internal/sandbox"
)

const interopConflist = `{
  "cniVersion": "1.0.0",
  "name": "interop",
  "plugins": [
    {"type": "bridge", "bridge": "interop0", "isGateway": true, "ipMasq": true,
     "ipam": {"type": "host-local", "subnet": "10.44.0.0/24", "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "loopback"}
  ]
}`

// cnitool runs the reference cnitool against weir's plugins in bin.
func cnitool(t *testing.T, ref, bin, netd string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(filepath.Join(ref, "cnitool"), args...)
	cmd.Env = append(os.Environ(), "NETCONFPATH="+netd, "CNI_PATH="+bin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestCnitoolDrivesWeirPlugins(t *testing.T) {
	bin, ref := binDir(t), refDir(t)
	netd := t.TempDir()
	writeFile(t, filepath.Join(netd, "20-interop.conflist"), interopConflist)
	n := sandbox.NewNS(t)

	out, err := cnitool(t, ref, bin, netd, "add", "interop", n.Path())
	if err != nil {
		t.Fatalf("cnitool add: %v\n%s", err, out)
	}
	var res struct {
		CNIVersion string `json:"cniVersion"`
		IPs        []struct {
			Address string `json:"address"`
		} `json:"ips"`
	}
	if err := json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &res); err != nil {
		t.Fatalf("cnitool add printed no result: %v\n%s", err, out)
	}
	if res.CNIVersion != "1.0.0" || len(res.IPs) == 0 || !strings.HasPrefix(res.IPs[0].Address, "10.44.0.") {
		t.Fatalf("unexpected result from cnitool add: %s", out)
	}
	requireAddr(t, n, "eth0", res.IPs[0].Address)
	if err := sandbox.Ping(n.Path(), "10.44.0.1"); err != nil {
		t.Errorf("container added by cnitool cannot reach its gateway: %v", err)
	}
	if out, err := cnitool(t, ref, bin, netd, "check", "interop", n.Path()); err != nil {
		t.Fatalf("cnitool check: %v\n%s", err, out)
	}
	if out, err := cnitool(t, ref, bin, netd, "del", "interop", n.Path()); err != nil {
		t.Fatalf("cnitool del: %v\n%s", err, out)
	}
	if _, err := sandbox.LinkIn(n, "eth0"); err == nil {
		t.Error("eth0 still exists after cnitool del")
	}
	// CHECK after DEL must now fail: the kernel no longer matches.
	if out, err := cnitool(t, ref, bin, netd, "check", "interop", n.Path()); err == nil {
		t.Errorf("cnitool check succeeded after del:\n%s", out)
	}
	if out, err := cnitool(t, ref, bin, netd, "del", "interop", n.Path()); err != nil {
		t.Fatalf("second cnitool del: %v\n%s", err, out)
	}
}

func TestCnitoolSeedConf(t *testing.T) {
	bin, ref := binDir(t), refDir(t)
	netd := t.TempDir()
	writeFile(t, filepath.Join(netd, "10-mynet.conf"), seedMynetBridge)
	n := sandbox.NewNS(t)
	out, err := cnitool(t, ref, bin, netd, "add", "mynet", n.Path())
	if err != nil {
		t.Fatalf("cnitool add with the seed's 0.1.0 config: %v\n%s", err, out)
	}
	if !strings.Contains(out, `"ip4"`) || !strings.Contains(out, "10.22.") {
		t.Errorf("a 0.1.0 config should give a 0.1.0-shaped result in 10.22.0.0/16, got %s", out)
	}
	if out, err := cnitool(t, ref, bin, netd, "del", "mynet", n.Path()); err != nil {
		t.Fatalf("cnitool del: %v\n%s", err, out)
	}
}
