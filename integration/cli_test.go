package integration

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/weirnet/weir/internal/sandbox"
)

// weirCLI runs bin/weir with args and returns stdout, stderr and the error.
func weirCLI(t *testing.T, bin string, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command(filepath.Join(bin, "weir"), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

// hostState is what must be back to empty after a container is gone.
func hostState(t *testing.T, stateDir string) string {
	t.Helper()
	var b strings.Builder
	out, _ := exec.Command("ip", "-o", "link", "show", "type", "veth").Output()
	b.WriteString("veths: " + string(out))
	ipt, _ := exec.Command("iptables-save").Output()
	for _, l := range strings.Split(string(ipt), "\n") {
		if strings.Contains(l, "WEIR") {
			b.WriteString("rule: " + l + "\n")
		}
	}
	_ = filepath.Walk(stateDir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && !strings.Contains(p, "/locks/") && !strings.HasSuffix(p, "/lock") && !strings.Contains(p, "last_reserved") {
			b.WriteString("file: " + p + "\n")
		}
		return nil
	})
	return b.String()
}

func TestNetAddDelSeedBridge(t *testing.T) {
	bin := binDir(t)
	netd, state := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(netd, "10-mynet.conf"), seedMynetBridge)
	n := sandbox.NewNS(t)
	flags := []string{"--conf-dir", netd, "--plugin-dir", bin, "--state-dir", state}
	before := hostState(t, state)

	out, stderr, err := weirCLI(t, bin, append([]string{"net", "add", "mynet", "ctr1", n.Path()}, flags...)...)
	if err != nil {
		t.Fatalf("weir net add: %v\n%s", err, stderr)
	}
	var res struct {
		IP4 struct{ IP string } `json:"ip4"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || !strings.HasPrefix(res.IP4.IP, "10.22.") {
		t.Fatalf("weir net add printed %q (%v), want a 0.1.0 result in 10.22.0.0/16", out, err)
	}
	requireAddr(t, n, "eth0", res.IP4.IP)
	if _, err := os.Stat(filepath.Join(state, "containers", "ctr1", "mynet", "network.conf")); err != nil {
		t.Errorf("no record of the attachment: %v", err)
	}
	// The operator deletes the definition; DEL replays the record.
	if err := os.Remove(filepath.Join(netd, "10-mynet.conf")); err != nil {
		t.Fatal(err)
	}
	if _, stderr, err := weirCLI(t, bin, append([]string{"net", "del", "mynet", "ctr1", n.Path()}, flags...)...); err != nil {
		t.Fatalf("weir net del after the definition was deleted: %v\n%s", err, stderr)
	}
	if _, err := sandbox.LinkIn(n, "eth0"); err == nil {
		t.Error("eth0 still exists after weir net del")
	}
	if after := hostState(t, state); after != before {
		t.Errorf("host state changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if _, stderr, err := weirCLI(t, bin, append([]string{"net", "del", "mynet", "ctr1", n.Path()}, flags...)...); err != nil {
		t.Fatalf("second weir net del: %v\n%s", err, stderr)
	}
}

func TestRunSeedVerbatim(t *testing.T) {
	bin := binDir(t)
	netd := "/etc/cni/net.d"
	writeFile(t, filepath.Join(netd, "10-mynet.conf"), seedMynetBridge)
	writeFile(t, filepath.Join(netd, "99-loopback.conf"), seedLoopback)
	t.Cleanup(func() { _ = os.RemoveAll(netd) })
	state := t.TempDir()
	before := hostState(t, state)

	out, stderr, err := weirCLI(t, bin, "run", "--plugin-dir", bin, "--state-dir", state, "--", "ip", "-o", "addr")
	if err != nil {
		t.Fatalf("weir run: %v\n%s", err, stderr)
	}
	if !strings.Contains(out, "eth0    inet 10.22.") || !strings.Contains(out, "lo    inet 127.0.0.1/8") {
		t.Errorf("weir run -- ip addr printed:\n%s\nwant eth0 in 10.22.0.0/16 and lo up", out)
	}
	if !strings.Contains(stderr, "contid=") || !strings.Contains(stderr, "netnspath=/run/netns/") {
		t.Errorf("weir run did not say where it ran: %s", stderr)
	}
	if after := hostState(t, state); after != before {
		t.Errorf("weir run left state behind:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if ents, _ := os.ReadDir("/run/netns"); len(ents) != 0 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("weir run left namespaces: %v", names)
	}

	// CMD's exit code comes back, and the teardown still happens.
	_, _, err = weirCLI(t, bin, "run", "--net", "mynet", "--plugin-dir", bin, "--state-dir", state, "--", "sh", "-c", "exit 7")
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 7 {
		t.Errorf("weir run of a failing command: %v, want exit 7", err)
	}
	if after := hostState(t, state); after != before {
		t.Errorf("weir run of a failing command left state behind:\n%s", after)
	}
}

func TestRunInterruptedTearsDown(t *testing.T) {
	bin := binDir(t)
	netd, state := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(netd, "10-mynet.conf"), seedMynetBridge)
	before := hostState(t, state)
	mark := filepath.Join(t.TempDir(), "running")
	cmd := exec.Command(filepath.Join(bin, "weir"), "run", "--conf-dir", netd, "--plugin-dir", bin, "--state-dir", state, "--", "sh", "-c", "touch "+mark+"; exec sleep 60")
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(mark); err == nil {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("weir run never started the command: %s", errb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Errorf("interrupted weir run: %v, want exit 130 (SIGINT reached the command)", err)
	}
	if after := hostState(t, state); after != before {
		t.Errorf("interrupted weir run left state behind:\n%s", after)
	}
}

// TestKilledMidAddThenDelLeavesNothing kills weir while a chain is half
// attached (bridge done, the next plugin hanging), then runs DEL from the
// record: nothing may remain.
func TestKilledMidAddThenDelLeavesNothing(t *testing.T) {
	bin := binDir(t)
	netd, state, extra := t.TempDir(), t.TempDir(), t.TempDir()
	mark := filepath.Join(extra, "hanging")
	writeFile(t, filepath.Join(extra, "hang"), "#!/bin/sh\ncat >/dev/null\n[ \"$CNI_COMMAND\" = ADD ] || exit 0\necho $$ > "+mark+"\nexec sleep 60\n")
	if err := os.Chmod(filepath.Join(extra, "hang"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(netd, "10-half.conflist"), `{"cniVersion":"1.0.0","name":"half","plugins":[
	  {"type":"bridge","bridge":"half0","isGateway":true,"ipMasq":true,"ipam":{"type":"host-local","subnet":"10.66.0.0/24","dataDir":"`+state+`/ipam"}},
	  {"type":"hang"}]}`)
	n := sandbox.NewNS(t)
	flags := []string{"--conf-dir", netd, "--plugin-dir", bin + ":" + extra, "--state-dir", state}
	before := hostState(t, state)

	cmd := exec.Command(filepath.Join(bin, "weir"), append([]string{"net", "add", "half", "ctr9", n.Path()}, flags...)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if pid, err := os.ReadFile(mark); err == nil && strings.HasSuffix(string(pid), "\n") {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatal("the chain never reached the hanging plugin")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(hostState(t, state), "veth") {
		t.Fatal("bridge ADD had not happened before the kill; the test proves nothing")
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	// The hanging plugin (its own process group) outlives weir: end it.
	if pid, err := os.ReadFile(mark); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(pid))); err == nil {
			_ = syscall.Kill(n, syscall.SIGKILL)
		}
	}

	if _, stderr, err := weirCLI(t, bin, append([]string{"net", "del", "half", "ctr9", n.Path()}, flags...)...); err != nil {
		t.Fatalf("weir net del after a crash: %v\n%s", err, stderr)
	}
	if after := hostState(t, state); after != before {
		t.Errorf("state left after crash + DEL:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

func TestNetworksValidate(t *testing.T) {
	bin := binDir(t)
	netd := t.TempDir()
	writeFile(t, filepath.Join(netd, "10-mynet.conf"), seedMynetBridge)
	writeFile(t, filepath.Join(netd, "99-loopback.conf"), seedLoopback)
	out, stderr, err := weirCLI(t, bin, "networks", "validate", netd, "--plugin-dir", bin)
	if err != nil || !strings.Contains(out, "2 networks, no errors") {
		t.Fatalf("validate of the seed's configs: %v\n%s%s", err, out, stderr)
	}
	out, _, _ = weirCLI(t, bin, "networks", "--conf-dir", netd, "--plugin-dir", bin)
	if !strings.Contains(out, "99-loopback") || !strings.Contains(out, "bridge") {
		t.Errorf("weir networks:\n%s", out)
	}
	writeFile(t, filepath.Join(netd, "20-bad.conf"), `{"name":"bad","type":"nosuchplugin"}`)
	out, _, err = weirCLI(t, bin, "networks", "validate", netd, "--plugin-dir", bin)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(out, "20-bad.conf") || !strings.Contains(out, "nosuchplugin") {
		t.Errorf("validate with a bad file: %v\n%s", err, out)
	}
}
