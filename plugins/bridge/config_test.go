package bridge

import (
	"errors"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
)

func TestLoadConfig(t *testing.T) {
	const ipam = `"ipam":{"type":"host-local","subnet":"10.1.0.0/24"}`
	tests := []struct {
		name    string
		conf    string
		cniArgs string
		check   func(t *testing.T, c *config)
		code    uint
		err     string
	}{
		{
			name: "defaults",
			conf: `{"cniVersion":"1.1.0","name":"n","type":"bridge"}`,
			check: func(t *testing.T, c *config) {
				if c.Bridge != "cni0" || c.MTU != 0 || c.Vlan != 0 || c.IsGateway || c.IPMasq || c.mac != nil || c.hasIPAM {
					t.Errorf("defaults: %+v", c)
				}
			},
		},
		{
			name: "isDefaultGateway implies isGateway",
			conf: `{"name":"n","type":"bridge","isDefaultGateway":true,` + ipam + `}`,
			check: func(t *testing.T, c *config) {
				if !c.IsGateway || !c.IsDefaultGateway || !c.hasIPAM {
					t.Errorf("isGateway %v isDefaultGateway %v hasIPAM %v", c.IsGateway, c.IsDefaultGateway, c.hasIPAM)
				}
			},
		},
		{
			name: "all keys",
			conf: `{"name":"n","type":"bridge","bridge":"br-x","mtu":1400,"vlan":4094,"ipMasq":true,"hairpinMode":true,"macspoofchk":true,"forceAddress":true,` + ipam + `}`,
			check: func(t *testing.T, c *config) {
				if c.Bridge != "br-x" || c.MTU != 1400 || c.Vlan != 4094 || !c.IPMasq || !c.HairpinMode || !c.MacSpoofChk || !c.ForceAddress {
					t.Errorf("keys not loaded: %+v", c.NetConf)
				}
			},
		},
		{name: "vlan too high", conf: `{"name":"n","type":"bridge","vlan":4095}`, code: 7, err: `invalid field "vlan": 4095 is out of range 0-4094`},
		{name: "vlan negative", conf: `{"name":"n","type":"bridge","vlan":-1}`, code: 7, err: `invalid field "vlan": -1 is out of range 0-4094`},
		{name: "mtu too small", conf: `{"name":"n","type":"bridge","mtu":67}`, code: 7, err: `invalid field "mtu": 67 is out of range 68-65535 (0 keeps the kernel's default)`},
		{name: "mtu too large", conf: `{"name":"n","type":"bridge","mtu":65536}`, code: 7, err: `invalid field "mtu": 65536 is out of range 68-65535 (0 keeps the kernel's default)`},
		{name: "no name", conf: `{"type":"bridge"}`, code: 7, err: `invalid field "name": a network name is required`},
		{name: "bridge name too long", conf: `{"name":"n","type":"bridge","bridge":"bridge-name-too-long"}`, code: 7, err: `invalid field "bridge": "bridge-name-too-long" is not a valid interface name: interface name is too long`},
		{name: "hairpin and promisc", conf: `{"name":"n","type":"bridge","hairpinMode":true,"promiscMode":true}`, code: 7, err: `invalid field "hairpinMode": cannot be combined with promiscMode`},
		{name: "gateway without ipam", conf: `{"name":"n","type":"bridge","isGateway":true}`, code: 7, err: `invalid field "isGateway": needs an ipam section to know the gateway address`},
		{name: "masq without ipam", conf: `{"name":"n","type":"bridge","ipMasq":true}`, code: 7, err: `invalid field "ipMasq": needs an ipam section to know the container's addresses`},
		{name: "bad json", conf: `{"name":`, code: 6, err: `decoding bridge configuration: unexpected end of JSON input`},
		{name: "wrong type", conf: `{"name":"n","mtu":"big"}`, code: 6, err: `decoding bridge configuration: json: cannot unmarshal string into Go struct field NetConf.mtu of type int`},
		{
			name:    "runtimeConfig.mac wins",
			conf:    `{"name":"n","type":"bridge","runtimeConfig":{"mac":"0a:58:0a:01:00:05"},"args":{"cni":{"mac":"0a:58:0a:01:00:06"}}}`,
			cniArgs: "MAC=0a:58:0a:01:00:07",
			check: func(t *testing.T, c *config) {
				if c.mac.String() != "0a:58:0a:01:00:05" {
					t.Errorf("mac %s", c.mac)
				}
			},
		},
		{
			name:    "args.cni.mac before CNI_ARGS",
			conf:    `{"name":"n","type":"bridge","args":{"cni":{"mac":"0a:58:0a:01:00:06"}}}`,
			cniArgs: "MAC=0a:58:0a:01:00:07",
			check: func(t *testing.T, c *config) {
				if c.mac.String() != "0a:58:0a:01:00:06" {
					t.Errorf("mac %s", c.mac)
				}
			},
		},
		{
			name:    "CNI_ARGS MAC among unknown keys",
			conf:    `{"name":"n","type":"bridge"}`,
			cniArgs: "K8S_POD_NAME=x;MAC=0a:58:0a:01:00:07;Other=1",
			check: func(t *testing.T, c *config) {
				if c.mac.String() != "0a:58:0a:01:00:07" {
					t.Errorf("mac %s", c.mac)
				}
			},
		},
		{name: "multicast mac", conf: `{"name":"n","type":"bridge","runtimeConfig":{"mac":"01:00:5e:00:00:01"}}`, code: 7, err: `invalid field "runtimeConfig.mac": "01:00:5e:00:00:01" is not a unicast Ethernet address`},
		{name: "garbage mac", conf: `{"name":"n","type":"bridge","args":{"cni":{"mac":"nope"}}}`, code: 7, err: `invalid field "args.cni.mac": "nope" is not a unicast Ethernet address`},
		{name: "long mac", conf: `{"name":"n","type":"bridge"}`, cniArgs: "MAC=00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01", code: 7, err: `invalid field "CNI_ARGS MAC": "00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01" is not a unicast Ethernet address`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadConfig([]byte(tt.conf), tt.cniArgs)
			if tt.err != "" {
				var e *types.Error
				if !errors.As(err, &e) {
					t.Fatalf("want CNI error %q, got %v", tt.err, err)
				}
				if e.Code != tt.code || e.Msg != tt.err {
					t.Fatalf("got code %d %q\nwant code %d %q", e.Code, e.Msg, tt.code, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestSpoofCheckProgram(t *testing.T) {
	prog := spoofCheckProgram([]byte{0x0a, 0x58, 0x0a, 0x01, 0x00, 0xff})
	if len(prog) != 11*8 {
		t.Fatalf("program has %d bytes, want 11 instructions", len(prog))
	}
	// Instruction 2 loads the first four MAC bytes as they read in
	// network order, instruction 5 the last two.
	if got := prog[2*8+4 : 2*8+8]; string(got) != "\x01\x0a\x58\x0a" {
		t.Errorf("high word immediate % x", got)
	}
	if got := prog[5*8+4 : 5*8+8]; string(got) != "\xff\x00\x00\x00" {
		t.Errorf("low half immediate % x", got)
	}
}
