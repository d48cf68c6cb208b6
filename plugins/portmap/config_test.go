package portmap

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/hashicorp/go-hclog"
)

// conf returns a portmap configuration with extra keys (",..." JSON) and
// port mappings (a JSON array, "" for none).
func conf(extra, mappings string) string {
	s := `{"cniVersion":"1.0.0","name":"net1","type":"portmap"` + extra
	if mappings != "" {
		s += `,"runtimeConfig":{"portMappings":` + mappings + `}`
	}
	return s + "}"
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		name string
		conf string
		code uint
		msg  string
	}{
		{"bad json", `{"name":`, types.ErrDecodingFailure, "decoding portmap configuration: unexpected end of JSON input"},
		{"no name", `{"cniVersion":"1.0.0","type":"portmap"}`, 7, `invalid field "name": the portmap plugin needs the network's name`},
		{"relative stateDir", conf(`,"stateDir":"run/pm"`, ""), 7, `invalid field "stateDir": "run/pm" is not an absolute path`},
		{"mark bit too high", conf(`,"markMasqBit":32`, ""), 7, `invalid field "markMasqBit": 32 is out of range 0-31`},
		{"mark bit negative", conf(`,"markMasqBit":-1`, ""), 7, `invalid field "markMasqBit": -1 is out of range 0-31`},
		{"condition not an option", conf(`,"conditionsV4":["ip","daddr","1.2.3.4"]`, ""), 7,
			`invalid field "conditionsV4[0]": "ip" is not an iptables match option (it must start with - or !)`},
		{"condition with a line break", conf(`,"conditionsV6":["-d","::1\n-A INPUT -j DROP"]`, ""), 7,
			`invalid field "conditionsV6[1]": "::1\n-A INPUT -j DROP" contains a line break or NUL`},
		{"empty condition", conf(`,"conditionsV4":["-d",""]`, ""), 7, `invalid field "conditionsV4[1]": an argument cannot be empty`},
		{"nftables backend", conf(`,"backend":"nftables"`, ""), 7, `invalid field "backend": "nftables" is not supported: weir's portmap writes iptables rules`},
		{"masqAll", conf(`,"masqAll":true`, ""), 7, `invalid field "masqAll": is not supported`},
		{"externalSetMarkChain", conf(`,"externalSetMarkChain":"KUBE-MARK-MASQ"`, ""), 7,
			`invalid field "externalSetMarkChain": is not supported; use markMasqBit`},
		{"host port zero", conf("", `[{"hostPort":0,"containerPort":80,"protocol":"tcp"}]`), 7,
			`invalid field "runtimeConfig.portMappings[0].hostPort": 0 is out of range 1-65535`},
		{"host port too high", conf("", `[{"hostPort":80,"containerPort":80},{"hostPort":65536,"containerPort":80,"protocol":"tcp"}]`), 7,
			`invalid field "runtimeConfig.portMappings[1].hostPort": 65536 is out of range 1-65535`},
		{"container port zero", conf("", `[{"hostPort":8080,"containerPort":0,"protocol":"tcp"}]`), 7,
			`invalid field "runtimeConfig.portMappings[0].containerPort": 0 is out of range 1-65535`},
		{"container port too high", conf("", `[{"hostPort":8080,"containerPort":70000,"protocol":"udp"}]`), 7,
			`invalid field "runtimeConfig.portMappings[0].containerPort": 70000 is out of range 1-65535`},
		{"sctp", conf("", `[{"hostPort":8080,"containerPort":80,"protocol":"sctp"}]`), 7,
			`invalid field "runtimeConfig.portMappings[0].protocol": "sctp" is not tcp or udp`},
		{"host IP not an address", conf("", `[{"hostPort":8080,"containerPort":80,"protocol":"tcp","hostIP":"10.0.0.300"}]`), 7,
			`invalid field "runtimeConfig.portMappings[0].hostIP": "10.0.0.300" is not an IP address`},
		{"host IP with a zone", conf("", `[{"hostPort":8080,"containerPort":80,"protocol":"tcp","hostIP":"fe80::1%eth0"}]`), 7,
			`invalid field "runtimeConfig.portMappings[0].hostIP": "fe80::1%eth0" is not an IP address`},
		{"host port mapped twice", conf("", `[{"hostPort":8080,"containerPort":80,"protocol":"tcp"},{"hostPort":9,"containerPort":9,"protocol":"udp"},{"hostPort":8080,"containerPort":81,"protocol":"TCP"}]`), 7,
			`invalid field "runtimeConfig.portMappings[2]": host port 8080/tcp is already mapped to container port 80 by runtimeConfig.portMappings[0]`},
		{"bad prevResult", conf(`,"prevResult":{"cniVersion":"1.0.0","ips":[{"address":"nonsense"}]}`, ""), types.ErrDecodingFailure, "decoding prevResult: "},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := loadConfig([]byte(c.conf))
			if err == nil {
				err = cfg.validate()
			}
			var e *types.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v (%T), want a *types.Error", err, err)
			}
			if e.Code != c.code {
				t.Errorf("code %d, want %d (%s)", e.Code, c.code, e.Msg)
			}
			if strings.HasSuffix(c.msg, ": ") {
				if !strings.HasPrefix(e.Msg, c.msg) {
					t.Errorf("message %q, want it to start with %q", e.Msg, c.msg)
				}
			} else if e.Msg != c.msg {
				t.Errorf("message %q\nwant       %q", e.Msg, c.msg)
			}
		})
	}
}

func TestConfigDefaultsAndNormalisation(t *testing.T) {
	cfg, err := loadConfig([]byte(conf("", `[
	  {"hostPort":8080,"containerPort":80,"protocol":"TCP"},
	  {"hostPort":8080,"containerPort":80,"protocol":"tcp"},
	  {"hostPort":5300,"containerPort":53,"protocol":"Udp","hostIP":"::ffff:192.0.2.1"},
	  {"hostPort":9090,"containerPort":90},
	  {"hostPort":9090,"containerPort":91,"protocol":"tcp","hostIP":"2001:DB8::1"}]`)))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.StateDir != DefaultStateDir || !cfg.snat() || cfg.MarkMasqBit != nil || cfg.prev != nil {
		t.Errorf("defaults: stateDir %q snat %v mark %v prev %v", cfg.StateDir, cfg.snat(), cfg.MarkMasqBit, cfg.prev)
	}
	want := []mapping{
		{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"},
		{HostPort: 5300, ContainerPort: 53, Protocol: "udp", HostIP: "192.0.2.1"},
		{HostPort: 9090, ContainerPort: 90, Protocol: "tcp"},
		{HostPort: 9090, ContainerPort: 91, Protocol: "tcp", HostIP: "2001:db8::1"},
	}
	if !reflect.DeepEqual(cfg.mappings, want) {
		t.Errorf("mappings %+v\nwant     %+v", cfg.mappings, want)
	}

	cfg, err = loadConfig([]byte(conf(`,"snat":false,"markMasqBit":3,"stateDir":"/x/../pm/"`, "")))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.snat() || cfg.StateDir != "/pm" {
		t.Errorf("snat %v stateDir %q", cfg.snat(), cfg.StateDir)
	}
}

// prevResult with a host-side bridge and veth, the container's eth0 and a
// second container interface eth1.
const prev = `{"cniVersion":"1.0.0",
 "interfaces":[{"name":"br0"},{"name":"veth1"},{"name":"eth0","sandbox":"/run/netns/c1"},{"name":"eth1","sandbox":"/run/netns/c1"}],
 "ips":[{"address":"10.22.0.1/24","interface":0},
        {"address":"10.22.0.5/24","interface":2,"gateway":"10.22.0.1"},
        {"address":"fd00:22::5/64","interface":2},
        {"address":"10.23.0.5/24","interface":3},
        {"address":"10.24.0.5/24"},
        {"address":"10.22.0.5/24","interface":2}]}`

func TestPlanAddresses(t *testing.T) {
	cfg, err := loadConfig([]byte(conf(`,"prevResult":`+prev, `[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}]`)))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	p, err := cfg.plan(&skel.CmdArgs{ContainerID: "c1", IfName: "eth0"}, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	if want := addrs("10.22.0.5", "fd00:22::5", "10.24.0.5"); !reflect.DeepEqual(p.Addrs, want) {
		t.Errorf("addresses %v, want %v", p.Addrs, want)
	}
	if got := hostIfaces(cfg.prev); !reflect.DeepEqual(got, []string{"br0", "veth1"}) {
		t.Errorf("host interfaces %v", got)
	}

	// An interface prevResult gives no address: refused, naming prevResult.
	noAddr := &current.Result{CNIVersion: "1.0.0", Interfaces: []*current.Interface{{Name: "eth0", Sandbox: "/x"}}}
	cfg.prev = noAddr
	_, err = cfg.plan(&skel.CmdArgs{ContainerID: "c1", IfName: "eth0"}, hclog.NewNullLogger())
	var e *types.Error
	if !errors.As(err, &e) || e.Code != 7 || e.Msg != `invalid field "prevResult": no address of eth0: nothing to forward ports to` {
		t.Errorf("plan without addresses: %v", err)
	}
	// Without mappings no address is needed.
	cfg.mappings = nil
	if p, err := cfg.plan(&skel.CmdArgs{ContainerID: "c1", IfName: "eth0"}, hclog.NewNullLogger()); err != nil || len(p.families()) != 0 {
		t.Errorf("plan without mappings: %v %v", p, err)
	}
}
