package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"

	"github.com/weirnet/weir/internal/sandbox"
)

// refConflist is a chain of the reference plugins v1.10.0 only.
const refConflist = `{
  "cniVersion": "1.0.0",
  "name": "refnet",
  "plugins": [
    {"type": "bridge", "bridge": "ref0", "isGateway": true, "ipMasq": true,
     "ipam": {"type": "host-local", "subnet": "10.77.0.0/24", "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "firewall"},
    {"type": "portmap", "capabilities": {"portMappings": true}, "snat": true}
  ]
}`

// cniRules returns the per-container iptables lines of the reference
// plugins: everything naming a CNI- chain except the chains they share
// between containers and leave in place by design.
func cniRules(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("iptables-save").Output()
	if err != nil {
		t.Fatalf("iptables-save: %v", err)
	}
	shared := []string{"CNI-FORWARD", "CNI-ADMIN", "CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-SETMARK", "CNI-HOSTPORT-MASQ"}
	var b strings.Builder
	for _, l := range strings.Split(string(out), "\n") {
		if !strings.Contains(l, "CNI-") {
			continue
		}
		isShared := false
		for _, c := range shared {
			if strings.HasPrefix(l, ":"+c+" ") || strings.HasSuffix(l, "-j "+c) || strings.HasPrefix(l, "-A "+c+" -m comment --comment \"CNI portfwd") || strings.HasPrefix(l, "-A "+c+" -m mark") {
				isShared = true
			}
		}
		if !isShared {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// TestRunnerDrivesReferencePlugins runs the reference bridge, host-local,
// firewall and portmap through weir's runner (`weir net`): the container is
// reachable through its published port, and DEL removes every per-container
// rule, link and address.
func TestRunnerDrivesReferencePlugins(t *testing.T) {
	bin, ref := binDir(t), refDir(t)
	netd, state := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(netd, "30-refnet.conflist"), refConflist)
	n := sandbox.NewNS(t)
	flags := []string{"--conf-dir", netd, "--plugin-dir", ref, "--state-dir", state}
	rulesBefore := cniRules(t)

	out, stderr, err := weirCLI(t, bin, append([]string{"net", "add", "refnet", "refctr", n.Path(), "--publish", "8080:80/tcp"}, flags...)...)
	if err != nil {
		t.Fatalf("weir net add with the reference plugins: %v\n%s", err, stderr)
	}
	if !strings.Contains(out, "10.77.0.") {
		t.Fatalf("result: %s", out)
	}
	if cniRules(t) == rulesBefore {
		t.Fatal("no per-container rules after ADD: the leak check below would prove nothing")
	}
	sandbox.Listen(t, n, ":80")
	// From the host (the sandbox's root namespace), the published port
	// reaches the container through portmap's DNAT.
	host, err := ns.GetCurrentNS()
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	if err := sandbox.Connect(host, "10.77.0.1:8080", 2*time.Second); err != nil {
		t.Errorf("published port does not reach the container: %v", err)
	}
	if err := sandbox.Ping(n.Path(), "10.77.0.1"); err != nil {
		t.Errorf("container cannot reach its gateway: %v", err)
	}
	if _, stderr, err := weirCLI(t, bin, append([]string{"net", "check", "refnet", "refctr", n.Path()}, flags...)...); err != nil {
		t.Errorf("weir net check: %v\n%s", err, stderr)
	}
	if _, stderr, err := weirCLI(t, bin, append([]string{"net", "del", "refnet", "refctr", n.Path()}, flags...)...); err != nil {
		t.Fatalf("weir net del: %v\n%s", err, stderr)
	}
	if after := cniRules(t); after != rulesBefore {
		t.Errorf("reference plugins' rules left after DEL:\n%s", after)
	}
	if _, err := sandbox.LinkIn(n, "eth0"); err == nil {
		t.Error("eth0 still exists after DEL")
	}
	if ents, _ := os.ReadDir("/var/lib/cni/networks/refnet"); len(ents) > 2 {
		t.Errorf("host-local still holds addresses: %v", ents)
	}
}
