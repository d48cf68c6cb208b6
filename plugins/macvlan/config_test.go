package macvlan

import (
	"context"
	"testing"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/hashicorp/go-hclog"
	"github.com/vishvananda/netlink"

	"github.com/weirnet/weir/plugins/pluginkit"
)

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name     string
		conf     string
		wantErr  string
		wantCode uint
		mode     netlink.MacvlanMode
		modeName string
		mtu      int
		mac      string
		master   string
	}{
		{
			name:     "defaults: bridge mode, no mtu, no mac",
			conf:     `{"cniVersion":"1.0.0","name":"n","type":"macvlan","master":"eth0"}`,
			mode:     netlink.MACVLAN_MODE_BRIDGE,
			modeName: "bridge",
			master:   "eth0",
		},
		{
			name:     "no master is left for the host lookup",
			conf:     `{"cniVersion":"1.0.0","name":"n","type":"macvlan"}`,
			mode:     netlink.MACVLAN_MODE_BRIDGE,
			modeName: "bridge",
		},
		{
			name:     "private",
			conf:     `{"name":"n","type":"macvlan","master":"eth0","mode":"private"}`,
			mode:     netlink.MACVLAN_MODE_PRIVATE,
			modeName: "private",
			master:   "eth0",
		},
		{
			name:     "vepa",
			conf:     `{"name":"n","type":"macvlan","master":"eth0","mode":"vepa"}`,
			mode:     netlink.MACVLAN_MODE_VEPA,
			modeName: "vepa",
			master:   "eth0",
		},
		{
			name:     "passthru with mtu",
			conf:     `{"name":"n","type":"macvlan","master":"eth0","mode":"passthru","mtu":1400}`,
			mode:     netlink.MACVLAN_MODE_PASSTHRU,
			modeName: "passthru",
			mtu:      1400,
			master:   "eth0",
		},
		{
			name:     "unknown mode",
			conf:     `{"name":"n","type":"macvlan","master":"eth0","mode":"Bridge"}`,
			wantErr:  `invalid field "mode": unknown macvlan mode "Bridge" (want bridge, private, vepa or passthru)`,
			wantCode: types.ErrInvalidNetworkConfig,
		},
		{
			name:     "negative mtu",
			conf:     `{"name":"n","type":"macvlan","master":"eth0","mtu":-1}`,
			wantErr:  `invalid field "mtu": -1 is negative`,
			wantCode: types.ErrInvalidNetworkConfig,
		},
		{
			name:     "mtu of the wrong type",
			conf:     `{"name":"n","type":"macvlan","master":"eth0","mtu":"1500"}`,
			wantErr:  `decoding macvlan network configuration: json: cannot unmarshal string into Go struct field NetConf.mtu of type int`,
			wantCode: types.ErrDecodingFailure,
		},
		{
			name:     "master name too long",
			conf:     `{"name":"n","type":"macvlan","master":"abcdefghijklmnop"}`,
			wantErr:  `invalid field "master": interface name "abcdefghijklmnop" is longer than 15 characters`,
			wantCode: types.ErrInvalidNetworkConfig,
		},
		{
			name:     "static mac",
			conf:     `{"name":"n","type":"macvlan","master":"eth0","mac":"02:00:00:00:00:01"}`,
			mode:     netlink.MACVLAN_MODE_BRIDGE,
			modeName: "bridge",
			mac:      "02:00:00:00:00:01",
			master:   "eth0",
		},
		{
			name:     "runtimeConfig.mac wins over mac",
			conf:     `{"name":"n","type":"macvlan","master":"eth0","mac":"02:00:00:00:00:01","runtimeConfig":{"mac":"0A:58:0A:00:00:07"}}`,
			mode:     netlink.MACVLAN_MODE_BRIDGE,
			modeName: "bridge",
			mac:      "0a:58:0a:00:00:07",
			master:   "eth0",
		},
		{
			name:     "bad runtimeConfig.mac",
			conf:     `{"name":"n","type":"macvlan","master":"eth0","runtimeConfig":{"mac":"zz:00"}}`,
			wantErr:  `invalid field "runtimeConfig.mac": parsing MAC address "zz:00": address zz:00: invalid MAC address`,
			wantCode: types.ErrInvalidNetworkConfig,
		},
		{
			name:     "mac in passthru mode",
			conf:     `{"name":"n","type":"macvlan","master":"eth0","mode":"passthru","runtimeConfig":{"mac":"02:00:00:00:00:01"}}`,
			wantErr:  `invalid field "runtimeConfig.mac": cannot be set in passthru mode, which takes the master's MAC address`,
			wantCode: types.ErrInvalidNetworkConfig,
		},
		{
			name:     "multicast mac",
			conf:     `{"name":"n","type":"macvlan","master":"eth0","mac":"01:00:5e:00:00:01"}`,
			wantErr:  `invalid field "mac": "01:00:5e:00:00:01" is a multicast address`,
			wantCode: types.ErrInvalidNetworkConfig,
		},
		{
			name:     "long mac",
			conf:     `{"name":"n","type":"macvlan","master":"eth0","mac":"02:00:00:00:00:00:00:01"}`,
			wantErr:  `invalid field "mac": "02:00:00:00:00:00:00:01" is not a 6-byte Ethernet address`,
			wantCode: types.ErrInvalidNetworkConfig,
		},
		{
			name:     "not json",
			conf:     `{"name":`,
			wantErr:  `decoding macvlan network configuration: unexpected end of JSON input`,
			wantCode: types.ErrDecodingFailure,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadConfig([]byte(tt.conf))
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("loadConfig succeeded, want error %q", tt.wantErr)
				}
				e := pluginkit.AsCNIError(err)
				if e.Msg != tt.wantErr || e.Code != tt.wantCode {
					t.Fatalf("error = (%d) %q\nwant    (%d) %q", e.Code, e.Msg, tt.wantCode, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("loadConfig: %v", err)
			}
			if c.mode != tt.mode || c.Mode != tt.modeName {
				t.Errorf("mode = %d (%q), want %d (%q)", c.mode, c.Mode, tt.mode, tt.modeName)
			}
			if got := modeName(c.mode); got != tt.modeName {
				t.Errorf("modeName(%d) = %q, want %q", c.mode, got, tt.modeName)
			}
			if c.MTU != tt.mtu {
				t.Errorf("mtu = %d, want %d", c.MTU, tt.mtu)
			}
			if got := c.mac.String(); got != tt.mac {
				t.Errorf("mac = %q, want %q", got, tt.mac)
			}
			if c.Master != tt.master {
				t.Errorf("master = %q, want %q", c.Master, tt.master)
			}
		})
	}
}

// Commands that only decode the configuration still reject what is not JSON,
// before touching anything, with the decoding error code.
func TestDecodeErrorsBeforeKernel(t *testing.T) {
	env := &pluginkit.Env{Log: hclog.NewNullLogger()}
	args := &skel.CmdArgs{ContainerID: "c", IfName: "eth0", Netns: "/nonexistent", StdinData: []byte(`[1]`)}
	p := New()
	const want = "decoding macvlan network configuration: json: cannot unmarshal array into Go value of type macvlan.NetConf"
	for name, run := range map[string]func() error{
		"del":    func() error { return p.Del(context.Background(), env, args) },
		"gc":     func() error { return p.GC(context.Background(), env, args) },
		"check":  func() error { return p.Check(context.Background(), env, args) },
		"status": func() error { return p.Status(context.Background(), env, args) },
		"add":    func() error { _, err := p.Add(context.Background(), env, args); return err },
	} {
		e := pluginkit.AsCNIError(run())
		if e == nil || e.Code != types.ErrDecodingFailure || e.Msg != want {
			t.Errorf("%s: error = %v, want (6) %q", name, e, want)
		}
	}
}

// CHECK without a prevResult is refused before any kernel lookup.
func TestCheckNeedsPrevResult(t *testing.T) {
	c, err := loadConfig([]byte(`{"cniVersion":"1.0.0","name":"n","type":"macvlan","master":"eth0"}`))
	if err != nil {
		t.Fatal(err)
	}
	_, err = prevResult(c)
	e := pluginkit.AsCNIError(err)
	const want = `invalid field "prevResult": CHECK needs the result of ADD and there is none`
	if e == nil || e.Code != types.ErrInvalidNetworkConfig || e.Msg != want {
		t.Fatalf("error = %v, want (7) %q", e, want)
	}
}
