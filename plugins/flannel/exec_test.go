package flannel

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/weirnet/weir/internal/sandbox"
	"github.com/weirnet/weir/plugins/pluginkit"
)

// faildelScript is a delegate plugin executed as a separate process: ADD
// prints a fixed result, DEL fails until the file allow-del exists beside
// the script. Each call's stdin is kept as <command>.stdin.
const faildelScript = `#!/bin/sh
dir=$(dirname "$0")
cat > "$dir/$CNI_COMMAND.stdin"
case "$CNI_COMMAND" in
ADD) printf '{"cniVersion":"1.0.0","ips":[{"address":"192.168.22.130/26","gateway":"192.168.22.129"}]}' ;;
DEL) [ -e "$dir/allow-del" ] && exit 0
     printf '{"code":11,"msg":"faildel refuses DEL","details":"container %s"}' "$CNI_CONTAINERID"; exit 1 ;;
esac
`

// A delegate found on CNI_PATH that is not weir's own runs as a process;
// its failed DEL is reported with its code, message and details, and the
// saved configuration stays until a DEL succeeds.
func TestExecDelegateDelFailureReported(t *testing.T) {
	plugins := sandbox.NewRunner(t, "flannel", pluginkit.Registry{"flannel": New()})
	scripts := t.TempDir()
	plugins.Path += string(os.PathListSeparator) + scripts
	if err := os.WriteFile(filepath.Join(scripts, "faildel"), []byte(faildelScript), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	subnetFile := filepath.Join(tmp, "subnet.env")
	if err := os.WriteFile(subnetFile, []byte(seedSubnetEnv), 0o644); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(tmp, "data")
	conf := []byte(`{"cniVersion":"1.0.0","name":"mynet","type":"flannel","subnetFile":"` + subnetFile +
		`","dataDir":"` + dataDir + `","delegate":{"type":"faildel"}}`)
	call := func(cmd string) ([]byte, error) {
		return plugins.Run(sandbox.Call{Command: cmd, ContainerID: "ctr1", NetNS: "/var/run/netns/ctr1", Conf: conf})
	}
	saved := filepath.Join(dataDir, "mynet", "ctr1@eth0.json")

	out, err := call("ADD")
	if err != nil {
		t.Fatalf("ADD: %v", err)
	}
	if !strings.Contains(string(out), `"address": "192.168.22.130/26"`) {
		t.Fatalf("ADD result = %s", out)
	}
	want := `{"cniVersion":"1.0.0","ipMasq":true,"ipam":{"ranges":[[{"subnet":"192.168.22.128/26"}]],"routes":[{"dst":"192.168.0.0/16"}],"type":"host-local"},"mtu":1450,"name":"mynet","type":"faildel"}`
	if b, _ := os.ReadFile(filepath.Join(scripts, "ADD.stdin")); string(b) != want {
		t.Fatalf("delegate ADD stdin:\n got %s\nwant %s", b, want)
	}

	_, err = call("DEL")
	var cerr *types.Error
	assertCNIError(t, err, 11, "delegate faildel DEL: faildel refuses DEL (saved configuration "+saved+" kept for a retry)")
	if errors.As(err, &cerr); cerr.Details != "container ctr1" {
		t.Fatalf("DEL error details = %q", cerr.Details)
	}
	if b, _ := os.ReadFile(filepath.Join(scripts, "DEL.stdin")); string(b) != want {
		t.Fatalf("delegate DEL stdin:\n got %s\nwant %s", b, want)
	}
	if !exists(t, saved) {
		t.Fatal("saved configuration removed although the delegate's DEL failed")
	}

	if err := os.WriteFile(filepath.Join(scripts, "allow-del"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := call("DEL"); err != nil {
		t.Fatalf("retried DEL: %v", err)
	}
	if exists(t, saved) {
		t.Fatal("saved configuration left after the retried DEL")
	}
}
