package integration

import (
	"regexp"
	"testing"

	"github.com/weirnet/weir/internal/sandbox"
	"github.com/weirnet/weir/plugins/pluginkit"
)

// macs matches MAC addresses, which are random per veth and must be masked
// before two results are compared.
var (
	macs      = regexp.MustCompile(`"mac":\s*"[0-9a-f:]+"`)
	sandboxes = regexp.MustCompile(`"sandbox":\s*"[^"]+"`)
)

// TestInProcessMatchesExec runs the same ADD through the exec'd binary and
// in-process and requires byte-identical results (random MACs masked).
func TestInProcessMatchesExec(t *testing.T) {
	bin := binDir(t)
	conf := sandbox.Conf(`{"cniVersion":"{{ver}}","name":"same","type":"bridge","bridge":"same0","isGateway":true,
	  "ipam":{"type":"host-local","subnet":"10.55.0.0/24","routes":[{"dst":"0.0.0.0/0"}]}}`, "1.1.0")
	results := map[string]string{}
	for _, mode := range []struct {
		name string
		exec *pluginkit.Exec
	}{{"exec", execer()}, {"in-process", inProcess(bin)}} {
		n := sandbox.NewNS(t)
		call := sandbox.Call{Command: "ADD", Type: "bridge", Path: bin, ContainerID: "same-ctr", NetNS: n.Path(), Args: "IP=10.55.0.9", Conf: conf}
		out, err := sandbox.Invoke(ctx(t), mode.exec, call)
		if err != nil {
			t.Fatalf("%s ADD: %v", mode.name, err)
		}
		requireAddr(t, n, "eth0", "10.55.0.9/24")
		norm := macs.ReplaceAllString(string(out), `"mac":"*"`)
		results[mode.name] = sandboxes.ReplaceAllString(norm, `"sandbox":"*"`)
		call.Command = "DEL"
		if _, err := sandbox.Invoke(ctx(t), mode.exec, call); err != nil {
			t.Fatalf("%s DEL: %v", mode.name, err)
		}
	}
	if results["exec"] != results["in-process"] {
		t.Errorf("results differ:\nexec:       %s\nin-process: %s", results["exec"], results["in-process"])
	}
}
