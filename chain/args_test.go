package chain

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestParsePortMapping(t *testing.T) {
	cases := []struct {
		in      string
		want    PortMapping
		wantErr string
	}{
		{"8080:80", PortMapping{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}, ""},
		{"53:53/udp", PortMapping{HostPort: 53, ContainerPort: 53, Protocol: "udp"}, ""},
		{"127.0.0.1:8080:80/tcp", PortMapping{HostPort: 8080, ContainerPort: 80, Protocol: "tcp", HostIP: "127.0.0.1"}, ""},
		{"[::1]:8080:80", PortMapping{HostPort: 8080, ContainerPort: 80, Protocol: "tcp", HostIP: "::1"}, ""},
		{"80", PortMapping{}, `port mapping "80": want HOST:CONTAINER[/tcp|udp]`},
		{"8080:80/sctp", PortMapping{}, `port mapping "8080:80/sctp": protocol "sctp" is not tcp or udp`},
		{"0:80", PortMapping{}, `port mapping "0:80": host port: "0" is not a port (1-65535)`},
		{"80:70000", PortMapping{}, `port mapping "80:70000": container port: "70000" is not a port (1-65535)`},
		{"nope:80:80", PortMapping{}, `port mapping "nope:80:80": host IP "nope" is not an address`},
	}
	for _, c := range cases {
		got, err := ParsePortMapping(c.in)
		if c.wantErr != "" {
			if err == nil || err.Error() != c.wantErr {
				t.Errorf("%q: error %v, want %q", c.in, err, c.wantErr)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q: got %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
}

func TestParseCNIArgsAndLabels(t *testing.T) {
	got, err := ParseCNIArgs("IP=172.17.20.20;IgnoreUnknown=1")
	if err != nil || !reflect.DeepEqual(got, [][2]string{{"IP", "172.17.20.20"}, {"IgnoreUnknown", "1"}}) {
		t.Errorf("ParseCNIArgs = %v, %v", got, err)
	}
	if _, err := ParseCNIArgs("IP"); err == nil || err.Error() != `CNI args "IP": "IP" is not KEY=VALUE` {
		t.Errorf("bad CNI args error = %v", err)
	}
	if _, _, err := ParseLabel("=v"); err == nil {
		t.Error("a label without a key was accepted")
	}
	raw, _ := json.Marshal(LabelArgs("web", map[string]string{"app": "db", "env": "prod"}))
	want := `{"cni":{"labels":{"app":"db","env":"prod"}},"org.apache.mesos":{"network_info":{"labels":{"labels":[{"key":"app","value":"db"},{"key":"env","value":"prod"}]},"name":"web"}}}`
	if string(raw) != want {
		t.Errorf("LabelArgs =\n%s\nwant\n%s", raw, want)
	}
}
