package hostlocal

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/hashicorp/go-hclog"

	"github.com/weirnet/weir/internal/sandbox"
	"github.com/weirnet/weir/plugins/pluginkit"
)

// call is one CNI invocation of the plugin through pluginkit.Dispatch.
type call struct {
	command, id, ifname, cniArgs string
}

func testEnv() *pluginkit.Env {
	return &pluginkit.Env{Log: hclog.NewNullLogger(), Stderr: os.Stderr}
}

// dispatch runs c against conf the way a runtime would: environment (with
// PATH, which the plugin ignores) and stdin.
func dispatch(t testing.TB, conf string, c call) ([]byte, *types.Error) {
	t.Helper()
	sc := sandbox.Call{Command: c.command, Path: "/nonexistent", ContainerID: c.id, IfName: c.ifname, Args: c.cniArgs}
	if c.id != "" {
		sc.NetNS = "/var/run/netns/" + c.id
	}
	return pluginkit.Dispatch(context.Background(), New(), testEnv(), sc.Environ(), []byte(conf))
}

// confJSON renders a network configuration with the given ipam keys (a JSON
// object body without braces) and cniVersion ("" leaves it out).
func confJSON(ver, dataDir, ipamBody string) string {
	v := ""
	if ver != "" {
		v = fmt.Sprintf(`"cniVersion": %q,`, ver)
	}
	return fmt.Sprintf(`{%s "name": "testnet", "type": "bridge", "ipam": {"type": "host-local", "dataDir": %q, %s}}`, v, dataDir, ipamBody)
}

// storeFiles lists the store directory of testnet, sorted.
func storeFiles(t testing.TB, dataDir string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dataDir, "testnet"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// reservedIPs lists the reservation files of testnet.
func reservedIPs(t testing.TB, dataDir string) []string {
	t.Helper()
	var ips []string
	for _, n := range storeFiles(t, dataDir) {
		if strings.ContainsAny(n, ".:") && !strings.HasPrefix(n, ".") && !strings.HasPrefix(n, indexPrefix) && !strings.HasPrefix(n, lastReservedName) {
			ips = append(ips, n)
		}
	}
	return ips
}

// addResult runs ADD through Dispatch and decodes the printed result in the
// configuration's version, converted to the current one.
func addResult(t testing.TB, conf, ver string, c call) *current.Result {
	t.Helper()
	c.command = "ADD"
	out, terr := dispatch(t, conf, c)
	if terr != nil {
		t.Fatalf("ADD %s/%s: %v", c.id, c.ifname, terr)
	}
	if ver == "" {
		ver = "0.1.0"
	}
	return sandbox.ParseResult(t, ver, out)
}

// addrs returns the result's addresses as "ip/len".
func addrs(r *current.Result) []string {
	var out []string
	for _, ip := range r.IPs {
		out = append(out, ip.Address.String())
	}
	return out
}

// addAddrs runs ADD through Dispatch and returns the addresses it printed.
func addAddrs(t testing.TB, conf string, c call) []string {
	t.Helper()
	var v struct {
		CNIVersion string `json:"cniVersion"`
	}
	_ = json.Unmarshal([]byte(conf), &v)
	return addrs(addResult(t, conf, v.CNIVersion, c))
}

// wantErr checks a CNI error's code and message exactly.
func wantErr(t testing.TB, what string, err *types.Error, code uint, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s succeeded, want error %d %q", what, code, msg)
	}
	if err.Code != code || err.Msg != msg {
		t.Fatalf("%s: got error %d %q\nwant %d %q", what, err.Code, err.Msg, code, msg)
	}
}

// mustOK fails the test on a CNI error.
func mustOK(t testing.TB, what string, _ []byte, err *types.Error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// indexFiles lists testnet's index files.
func indexFiles(t testing.TB, dataDir string) []string {
	t.Helper()
	var out []string
	for _, n := range storeFiles(t, dataDir) {
		if strings.HasPrefix(n, indexPrefix) {
			out = append(out, n)
		}
	}
	return out
}

// tempFiles lists testnet's temporary files.
func tempFiles(t testing.TB, dataDir string) []string {
	t.Helper()
	var out []string
	for _, n := range storeFiles(t, dataDir) {
		if strings.HasPrefix(n, ".") {
			out = append(out, n)
		}
	}
	return out
}

// owner reads a reservation file's raw content.
func ownerOf(t testing.TB, dataDir, ip string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, "testnet", ip))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
