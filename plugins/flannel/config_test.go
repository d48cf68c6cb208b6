package flannel

import (
	"testing"

	"github.com/containernetworking/cni/pkg/types"
)

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name     string
		conf     string
		wantType string
		wantSub  string
		wantData string
		wantErr  string
		code     uint
	}{
		{
			name:     "seed defaults",
			conf:     `{"name":"mynet","type":"flannel"}`,
			wantType: "bridge", wantSub: "/run/flannel/subnet.env", wantData: "/run/weir/flannel",
		},
		{
			name:     "paths and delegate type",
			conf:     `{"cniVersion":"1.1.0","name":"n","type":"flannel","subnetFile":"/tmp/s.env","dataDir":"/tmp/d","delegate":{"type":"macvlan","ipam":{"dataDir":"/x"}}}`,
			wantType: "macvlan", wantSub: "/tmp/s.env", wantData: "/tmp/d",
		},
		{
			name:    "not JSON",
			conf:    `{"name":`,
			wantErr: "decoding flannel network configuration: unexpected end of JSON input",
			code:    types.ErrDecodingFailure,
		},
		{
			name:    "no name",
			conf:    `{"type":"flannel"}`,
			wantErr: `invalid field "name": a network name is required: the delegate's addresses are kept under it`,
			code:    types.ErrInvalidNetworkConfig,
		},
		{
			name:    "name that is not a file name",
			conf:    `{"name":"../etc"}`,
			wantErr: "invalid characters found in network name",
			code:    types.ErrInvalidNetworkConfig,
		},
		{
			name:    "relative subnetFile",
			conf:    `{"name":"n","subnetFile":"subnet.env"}`,
			wantErr: `invalid field "subnetFile": "subnet.env" is not an absolute path`,
			code:    types.ErrInvalidNetworkConfig,
		},
		{
			name:    "relative dataDir",
			conf:    `{"name":"n","dataDir":"run/flannel"}`,
			wantErr: `invalid field "dataDir": "run/flannel" is not an absolute path`,
			code:    types.ErrInvalidNetworkConfig,
		},
		{
			name:    "delegate type not a string",
			conf:    `{"name":"n","delegate":{"type":7}}`,
			wantErr: `invalid field "delegate.type": must be a non-empty string, got 7`,
			code:    types.ErrInvalidNetworkConfig,
		},
		{
			name:    "delegate type empty",
			conf:    `{"name":"n","delegate":{"type":""}}`,
			wantErr: `invalid field "delegate.type": must be a non-empty string, got ""`,
			code:    types.ErrInvalidNetworkConfig,
		},
		{
			name:    "delegate name",
			conf:    `{"name":"n","delegate":{"name":"other"}}`,
			wantErr: `invalid field "delegate.name": must not be set: the delegate's name is the network's name`,
			code:    types.ErrInvalidNetworkConfig,
		},
		{
			name:    "delegate cniVersion",
			conf:    `{"name":"n","delegate":{"cniVersion":"0.3.1"}}`,
			wantErr: `invalid field "delegate.cniVersion": must not be set: the delegate runs with the network's cniVersion`,
			code:    types.ErrInvalidNetworkConfig,
		},
		{
			name:    "delegate ipam not an object",
			conf:    `{"name":"n","delegate":{"ipam":["host-local"]}}`,
			wantErr: `invalid field "delegate.ipam": must be a JSON object, got ["host-local"]`,
			code:    types.ErrInvalidNetworkConfig,
		},
		{
			name:    "delegate ipam null",
			conf:    `{"name":"n","delegate":{"ipam":null}}`,
			wantErr: `invalid field "delegate.ipam": must be a JSON object, got null`,
			code:    types.ErrInvalidNetworkConfig,
		},
		{
			name:    "ipam routes not a list",
			conf:    `{"name":"n","ipam":{"routes":{"dst":"0.0.0.0/0"}}}`,
			wantErr: `invalid field "ipam.routes": must be a list of routes, got {"dst":"0.0.0.0/0"}`,
			code:    types.ErrInvalidNetworkConfig,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadConfig([]byte(tt.conf))
			if tt.wantErr != "" {
				assertCNIError(t, err, tt.code, tt.wantErr)
				return
			}
			if err != nil {
				t.Fatalf("loadConfig: %v", err)
			}
			if c.delegateType != tt.wantType || c.SubnetFile != tt.wantSub || c.DataDir != tt.wantData {
				t.Fatalf("loadConfig: type %q subnetFile %q dataDir %q, want %q %q %q",
					c.delegateType, c.SubnetFile, c.DataDir, tt.wantType, tt.wantSub, tt.wantData)
			}
		})
	}
}

// DEL only needs the name and dataDir: a delegate override that no longer
// validates must not keep an attachment from being deleted.
func TestDecodeConfigIsLenient(t *testing.T) {
	c, err := decodeConfig([]byte(`{"name":"n","delegate":{"type":7}}`))
	if err != nil {
		t.Fatalf("decodeConfig: %v", err)
	}
	if c.Name != "n" || c.DataDir != DefaultDataDir {
		t.Fatalf("decodeConfig = %+v", c)
	}
}
