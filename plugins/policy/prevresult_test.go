package policy_test

import (
	"context"
	"errors"
	"testing"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/hashicorp/go-hclog"

	"github.com/weirnet/weir/plugins/pluginkit"
	policyplugin "github.com/weirnet/weir/plugins/policy"
)

// An address whose interface index points nowhere is not the container
// interface's: ADD fails with a config error, before touching the host,
// instead of panicking (which would take down weir's own process, where
// plugins run in-process).
func TestAddRejectsAddressOnUnknownInterface(t *testing.T) {
	for _, index := range []string{"3", "-1"} {
		conf := `{"cniVersion":"1.0.0","name":"n","type":"policy","policyDir":"` + t.TempDir() + `","stateDir":"` + t.TempDir() + `",
		"prevResult":{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","sandbox":"/x"}],"ips":[{"address":"10.9.9.9/24","interface":` + index + `}]}}`
		_, err := policyplugin.New().Add(context.Background(), &pluginkit.Env{Log: hclog.NewNullLogger()},
			&skel.CmdArgs{ContainerID: "c", Netns: "/x", IfName: "eth0", StdinData: []byte(conf)})
		var e *types.Error
		want := `invalid field "prevResult": no address for eth0: nothing to enforce policy on`
		if !errors.As(err, &e) || e.Code != types.ErrInvalidNetworkConfig || e.Error() != want {
			t.Errorf("interface %s: error = %v, want code 7 %q", index, err, want)
		}
	}
}
