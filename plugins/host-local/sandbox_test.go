package hostlocal_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/weirnet/weir/internal/sandbox"
	hostlocal "github.com/weirnet/weir/plugins/host-local"
	"github.com/weirnet/weir/plugins/internal/ipam"
	"github.com/weirnet/weir/plugins/pluginkit"
)

// TestDelegatedWithDefaultDataDir runs host-local the way bridge and macvlan
// do, through the ipam delegate and an in-process plugin directory, with the
// default store under /run/weir/ipam (the sandbox's private tmpfs).
func TestDelegatedWithDefaultDataDir(t *testing.T) {
	sandbox.Require(t)
	dir, exec := sandbox.PluginDir(t, pluginkit.Registry{"host-local": hostlocal.New()})
	env := &pluginkit.Env{Exec: exec, Log: pluginkit.NewStderrLogger("test", os.Stderr, "warn"), Stderr: os.Stderr}
	ctx := context.Background()
	for i, ver := range version.All.SupportedVersions() {
		network := fmt.Sprintf("sbnet%d", i)
		conf := sandbox.Conf(`{"cniVersion": "{{ver}}", "name": "`+network+`", "type": "bridge",
			"ipam": {"type": "host-local", "subnet": "10.77.0.0/24", "routes": [{"dst": "0.0.0.0/0"}]}}`, ver)
		args := &skel.CmdArgs{ContainerID: "sb1", Netns: "/x", IfName: "eth0", Path: dir, StdinData: conf}
		res, err := ipam.Add(ctx, env, conf, args)
		if err != nil {
			t.Fatalf("%s: ipam ADD: %v", ver, err)
		}
		if got, want := res.IPs[0].Address.String(), "10.77.0.2/24"; got != want {
			t.Errorf("%s: got %s, want %s", ver, got, want)
		}
		path := "/run/weir/ipam/" + network + "/10.77.0.2"
		if b, err := os.ReadFile(path); err != nil || string(b) != "sb1\neth0" {
			t.Errorf("%s: %s holds %q (%v)", ver, path, b, err)
		}
		if ge, _ := version.GreaterThanOrEqualTo(ver, "0.4.0"); ge {
			if err := ipam.Check(ctx, env, conf, args); err != nil {
				t.Errorf("%s: ipam CHECK: %v", ver, err)
			}
		}
		for range 2 {
			if err := ipam.Del(ctx, env, conf, args); err != nil {
				t.Fatalf("%s: ipam DEL: %v", ver, err)
			}
		}
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Errorf("%s: %s still exists after DEL (%v)", ver, path, err)
		}
	}
}
