package policy

import (
	"context"
	"errors"
	"testing"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
)

// TestCheckConfig: what Add refuses as bad configuration is refused before
// the chain runs, without prevResult (which does not exist yet).
func TestCheckConfig(t *testing.T) {
	for _, tc := range []struct {
		name, conf string
		code       uint
		msg        string
	}{
		{"good", `{"cniVersion":"1.1.0","name":"n","type":"policy"}`, 0, ""},
		{"default action", `{"cniVersion":"1.1.0","name":"n","type":"policy","defaultAction":"maybe"}`, types.ErrInvalidNetworkConfig, `invalid field "defaultAction": "maybe" is not allow or deny`},
		{"enforcement", `{"cniVersion":"1.1.0","name":"n","type":"policy","enforcement":"sideways"}`, types.ErrInvalidNetworkConfig, `invalid field "enforcement": "sideways" is not auto, host or netns`},
		{"no name", `{"cniVersion":"1.1.0","type":"policy"}`, types.ErrInvalidNetworkConfig, `invalid field "name": the policy plugin needs the network's name`},
		{"not json", `{`, types.ErrDecodingFailure, "decoding policy config: unexpected end of JSON input"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := New().CheckConfig(context.Background(), nil, &skel.CmdArgs{StdinData: []byte(tc.conf)})
			if tc.code == 0 {
				if err != nil {
					t.Fatalf("CheckConfig: %v", err)
				}
				return
			}
			var e *types.Error
			if !errors.As(err, &e) || e.Code != tc.code || e.Msg != tc.msg {
				t.Fatalf("CheckConfig: %#v, want code %d %q", err, tc.code, tc.msg)
			}
		})
	}
}
