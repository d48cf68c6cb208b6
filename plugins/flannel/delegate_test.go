package flannel

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
)

func mustSubnetEnv(t *testing.T, s string) *SubnetEnv {
	t.Helper()
	se, err := parseSubnetEnv("subnet.env", strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	return se
}

func TestBuildDelegate(t *testing.T) {
	dual := seedSubnetEnv + "FLANNEL_IPV6_NETWORK=fd00:10::/56\nFLANNEL_IPV6_SUBNET=fd00:10:0:22::1/64\n"
	tests := []struct {
		name   string
		conf   string
		subnet string
		want   string
	}{
		{
			name:   "seed",
			conf:   `{"name":"mynet","type":"flannel"}`,
			subnet: seedSubnetEnv,
			want:   `{"ipMasq":true,"ipam":{"ranges":[[{"subnet":"192.168.22.128/26"}]],"routes":[{"dst":"192.168.0.0/16"}],"type":"host-local"},"isGateway":true,"mtu":1450,"name":"mynet","type":"bridge"}`,
		},
		{
			name:   "cniVersion kept, flanneld masquerades",
			conf:   `{"cniVersion":"1.1.0","name":"mynet","type":"flannel"}`,
			subnet: strings.Replace(seedSubnetEnv, "IPMASQ=false", "IPMASQ=true", 1),
			want:   `{"cniVersion":"1.1.0","ipMasq":false,"ipam":{"ranges":[[{"subnet":"192.168.22.128/26"}]],"routes":[{"dst":"192.168.0.0/16"}],"type":"host-local"},"isGateway":true,"mtu":1450,"name":"mynet","type":"bridge"}`,
		},
		{
			name:   "dual stack and several networks",
			conf:   `{"cniVersion":"1.0.0","name":"mynet","type":"flannel"}`,
			subnet: strings.Replace(dual, "192.168.0.0/16", "192.168.0.0/16,172.16.0.0/12", 1),
			want: `{"cniVersion":"1.0.0","ipMasq":true,"ipam":{"ranges":[[{"subnet":"192.168.22.128/26"}],[{"subnet":"fd00:10:0:22::/64"}]],` +
				`"routes":[{"dst":"192.168.0.0/16"},{"dst":"172.16.0.0/12"},{"dst":"fd00:10::/56"}],"type":"host-local"},"isGateway":true,"mtu":1450,"name":"mynet","type":"bridge"}`,
		},
		{
			name:   "delegate overrides top-level keys and ipam keys",
			conf:   `{"cniVersion":"1.0.0","name":"mynet","type":"flannel","delegate":{"bridge":"fl0","mtu":1400,"ipMasq":false,"hairpinMode":true,"ipam":{"dataDir":"/run/weir/ipam","routes":[{"dst":"0.0.0.0/0"}]}}}`,
			subnet: seedSubnetEnv,
			want: `{"bridge":"fl0","cniVersion":"1.0.0","hairpinMode":true,"ipMasq":false,"ipam":{"dataDir":"/run/weir/ipam","ranges":[[{"subnet":"192.168.22.128/26"}]],` +
				`"routes":[{"dst":"0.0.0.0/0"}],"type":"host-local"},"isGateway":true,"mtu":1400,"name":"mynet","type":"bridge"}`,
		},
		{
			name:   "isGateway can be turned off",
			conf:   `{"name":"mynet","delegate":{"isGateway":false}}`,
			subnet: seedSubnetEnv,
			want:   `{"ipMasq":true,"ipam":{"ranges":[[{"subnet":"192.168.22.128/26"}]],"routes":[{"dst":"192.168.0.0/16"}],"type":"host-local"},"isGateway":false,"mtu":1450,"name":"mynet","type":"bridge"}`,
		},
		{
			name:   "another delegate type gets no isGateway",
			conf:   `{"name":"mynet","delegate":{"type":"ipvlan","master":"eth0"}}`,
			subnet: seedSubnetEnv,
			want:   `{"ipMasq":true,"ipam":{"ranges":[[{"subnet":"192.168.22.128/26"}]],"routes":[{"dst":"192.168.0.0/16"}],"type":"host-local"},"master":"eth0","mtu":1450,"name":"mynet","type":"ipvlan"}`,
		},
		{
			name:   "top-level ipam is the base; its routes come first",
			conf:   `{"name":"mynet","ipam":{"type":"host-local","dataDir":"/d","routes":[{"dst":"10.96.0.0/12"}],"ranges":[[{"subnet":"1.2.3.0/24"}]]}}`,
			subnet: seedSubnetEnv,
			want: `{"ipMasq":true,"ipam":{"dataDir":"/d","ranges":[[{"subnet":"192.168.22.128/26"}]],"routes":[{"dst":"10.96.0.0/12"},{"dst":"192.168.0.0/16"}],"type":"host-local"},` +
				`"isGateway":true,"mtu":1450,"name":"mynet","type":"bridge"}`,
		},
		{
			name:   "runtimeConfig, args and capabilities pass through; prevResult does not",
			conf:   `{"cniVersion":"1.0.0","name":"mynet","type":"flannel","capabilities":{"portMappings":true},"runtimeConfig":{"portMappings":[{"hostPort":80,"containerPort":8080,"protocol":"tcp"}]},"args":{"cni":{"labels":{"app":"web"}}},"prevResult":{"cniVersion":"1.0.0"}}`,
			subnet: seedSubnetEnv,
			want: `{"args":{"cni":{"labels":{"app":"web"}}},"capabilities":{"portMappings":true},"cniVersion":"1.0.0","ipMasq":true,"ipam":{"ranges":[[{"subnet":"192.168.22.128/26"}]],"routes":[{"dst":"192.168.0.0/16"}],"type":"host-local"},` +
				`"isGateway":true,"mtu":1450,"name":"mynet","runtimeConfig":{"portMappings":[{"hostPort":80,"containerPort":8080,"protocol":"tcp"}]},"type":"bridge"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadConfig([]byte(tt.conf))
			if err != nil {
				t.Fatal(err)
			}
			got, err := buildDelegate(c, mustSubnetEnv(t, tt.subnet))
			if err != nil {
				t.Fatalf("buildDelegate: %v", err)
			}
			if string(got) != tt.want {
				t.Fatalf("buildDelegate:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestWithPrevResultAndGCAttachments(t *testing.T) {
	saved := []byte(`{"cniVersion":"0.4.0","name":"mynet","type":"bridge"}`)
	got, err := withPrevResult(saved, "1.0.0", json.RawMessage(`{"cniVersion":"1.0.0", "ips":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"cniVersion":"1.0.0","name":"mynet","prevResult":{"cniVersion":"1.0.0","ips":[]},"type":"bridge"}`; string(got) != want {
		t.Fatalf("withPrevResult:\n got %s\nwant %s", got, want)
	}
	got, err = withGCAttachments(saved, []types.GCAttachment{{ContainerID: "c1", IfName: "eth0"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"cni.dev/valid-attachments":[{"containerID":"c1","ifname":"eth0"}],"cniVersion":"0.4.0","name":"mynet","type":"bridge"}`; string(got) != want {
		t.Fatalf("withGCAttachments:\n got %s\nwant %s", got, want)
	}
	got, err = withGCAttachments(saved, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"cni.dev/valid-attachments":null,"cniVersion":"0.4.0","name":"mynet","type":"bridge"}`; string(got) != want {
		t.Fatalf("withGCAttachments(nil):\n got %s\nwant %s", got, want)
	}
}

func TestSaveLoadKeyedByContainerAndIfname(t *testing.T) {
	dir := t.TempDir()
	c, err := loadConfig([]byte(`{"name":"mynet","dataDir":"` + dir + `"}`))
	if err != nil {
		t.Fatal(err)
	}
	eth0 := statePath(c, "ctr-1", "eth0")
	eth1 := statePath(c, "ctr-1", "eth1")
	other := statePath(c, "ctr", "1-eth0")
	if want := filepath.Join(dir, "mynet", "ctr-1@eth0.json"); eth0 != want {
		t.Fatalf("statePath = %s, want %s", eth0, want)
	}
	if eth0 == eth1 || eth0 == other {
		t.Fatalf("state paths collide: %s %s %s", eth0, eth1, other)
	}
	if err := saveDelegate(eth0, []byte(`{"name":"mynet","type":"bridge","bridge":"a"}`)); err != nil {
		t.Fatal(err)
	}
	if err := saveDelegate(eth1, []byte(`{"name":"mynet","type":"ptp"}`)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, conf, typ string }{
		{eth0, `{"name":"mynet","type":"bridge","bridge":"a"}`, "bridge"},
		{eth1, `{"name":"mynet","type":"ptp"}`, "ptp"},
	} {
		conf, typ, err := loadDelegate(tc.path)
		if err != nil {
			t.Fatal(err)
		}
		if string(conf) != tc.conf || typ != tc.typ {
			t.Fatalf("loadDelegate(%s) = %s %q, want %s %q", tc.path, conf, typ, tc.conf, tc.typ)
		}
	}
	if st, err := os.Stat(eth0); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("saved file mode: %v %v", st, err)
	}
	if st, err := os.Stat(filepath.Dir(eth0)); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("state dir mode: %v %v", st, err)
	}

	_, _, err = loadDelegate(other)
	if !errors.Is(err, errNoSaved) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("loadDelegate(missing) = %v, want errNoSaved", err)
	}

	if err := os.WriteFile(other, []byte(`{"name":"mynet"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err = loadDelegate(other)
	assertCNIError(t, err, types.ErrDecodingFailure, "saved delegate configuration "+other+": it has no type")

	if err := removeDelegate(eth0); err != nil {
		t.Fatal(err)
	}
	if err := removeDelegate(eth0); err != nil {
		t.Fatalf("removing twice: %v", err)
	}
	if _, err := os.Stat(eth0); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("after remove: %v", err)
	}
}
