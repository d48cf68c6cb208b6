package integration

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestDaemonKeepsPluginsInProcessAfterRebuild: `weir serve`'s binary is
// replaced on disk (a rebuild, an upgrade in place) after the daemon ran
// plugins; weir's plugins, linked to the new file, still run inside the
// daemon with its own code — not as processes of the new file.
func TestDaemonKeepsPluginsInProcessAfterRebuild(t *testing.T) {
	bin, err := ibenchCopyBin(binDir(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(bin) })
	netd, state := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(netd, "10-apinet.conflist"),
		strings.NewReplacer("{{state}}", state, "10.91.0.0/24", "10.95.0.0/24", `"api0"`, `"rebuild0"`).Replace(apiConflist))
	d := startDaemon(t, bin, state, "--conf-dir", netd, "--plugin-dir", bin, "--gc-interval", "1h")
	// CNI STATUS of every network: the daemon has run its plugins.
	if code, body := d.do(t, "GET", "/healthz", ""); code != http.StatusOK {
		t.Fatalf("GET /healthz: %d %s", code, body)
	}

	// The rebuild: a new file at bin/weir, which notes every run of it
	// in marker and then does what weir does.
	weir, orig, marker := filepath.Join(bin, "weir"), filepath.Join(bin, "weir.orig"), filepath.Join(bin, "marker")
	if err := os.Rename(weir, orig); err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/bash\necho \"$0\" >>" + marker + "\nexec -a \"$0\" " + orig + " \"$@\"\n"
	if err := os.WriteFile(weir+".new", []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(weir+".new", weir); err != nil {
		t.Fatal(err)
	}

	pid := startContainer(t)
	code, body := d.do(t, "POST", "/v1/containers/rb1", attachBody(pid, nil, "apinet"))
	if code != http.StatusCreated {
		t.Fatalf("POST rb1 after the rebuild: %d %s\n%s", code, body, d.logs.String())
	}
	var st containerStatus
	decode(t, body, &st)
	if ips := ipsIn(t, nsOf(t, pid), "eth0"); len(ips) != 1 || !slices.Equal(st.ips(), ips) {
		t.Fatalf("rb1 after the rebuild: status %v, namespace %v", st.ips(), ips)
	}
	if code, body := d.do(t, "DELETE", "/v1/containers/rb1", ""); code != http.StatusNoContent {
		t.Fatalf("DELETE rb1: %d %s", code, body)
	}
	if runs, err := os.ReadFile(marker); err == nil {
		t.Fatalf("the daemon ran the rebuilt file as plugins:\n%s", runs)
	}

	// The marker works: run as a plugin, the new file notes it.
	cmd := exec.Command(filepath.Join(bin, "bridge"))
	cmd.Env = []string{"CNI_COMMAND=VERSION"}
	cmd.Stdin = strings.NewReader(`{"cniVersion":"1.1.0"}`)
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "supportedVersions") {
		t.Fatalf("bin/bridge VERSION through the new file: %v %s", err, out)
	}
	if runs, err := os.ReadFile(marker); err != nil || !strings.HasSuffix(strings.TrimSpace(string(runs)), "/bridge") {
		t.Fatalf("the new file did not note its run: %q %v", runs, err)
	}
}
