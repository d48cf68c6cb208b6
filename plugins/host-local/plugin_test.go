package hostlocal

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"
)

// specVersions are every cniVersion a configuration may carry; "" is a
// configuration without one (0.1.0).
func specVersions() []string {
	return append([]string{""}, version.All.SupportedVersions()...)
}

func TestLifecycleAllVersions(t *testing.T) {
	for _, ver := range specVersions() {
		t.Run("v"+ver, func(t *testing.T) {
			dir := t.TempDir()
			conf := confJSON(ver, dir, `"ranges": [[{"subnet": "10.22.0.0/16"}], [{"subnet": "fd00:22::/64"}]],
				"routes": [{"dst": "0.0.0.0/0"}, {"dst": "10.99.0.0/16", "gw": "10.22.0.254"}]`)
			res := addResult(t, conf, ver, call{id: "c1", ifname: "eth0"})
			if got, want := fmt.Sprint(addrs(res)), "[10.22.0.2/16 fd00:22::2/64]"; got != want {
				t.Errorf("addresses %s, want %s", got, want)
			}
			if got, want := fmt.Sprint(res.IPs[0].Gateway, " ", res.IPs[1].Gateway), "10.22.0.1 fd00:22::1"; got != want {
				t.Errorf("gateways %s, want %s", got, want)
			}
			if len(res.Interfaces) != 0 {
				t.Errorf("an IPAM result has no interfaces, got %v", res.Interfaces)
			}
			var routes []string
			for _, r := range res.Routes {
				routes = append(routes, fmt.Sprintf("%s via %v", r.Dst.String(), r.GW))
			}
			if got, want := fmt.Sprint(routes), "[0.0.0.0/0 via <nil> 10.99.0.0/16 via 10.22.0.254]"; got != want {
				t.Errorf("routes\n got %s\nwant %s", got, want)
			}
			if got, want := ownerOf(t, dir, "10.22.0.2"), "c1\neth0"; got != want {
				t.Errorf("reservation holds %q, want %q", got, want)
			}
			res2 := addResult(t, conf, ver, call{id: "c2", ifname: "eth0"})
			if got, want := fmt.Sprint(addrs(res2)), "[10.22.0.3/16 fd00:22::3/64]"; got != want {
				t.Errorf("second attachment got %s, want %s", got, want)
			}
			if ge, _ := version.GreaterThanOrEqualTo(ver, "0.4.0"); ver != "" && ge {
				_, err := dispatch(t, conf, call{command: "CHECK", id: "c1", ifname: "eth0"})
				mustOK(t, "CHECK", nil, err)
			}
			for range 2 {
				_, err := dispatch(t, conf, call{command: "DEL", id: "c1", ifname: "eth0"})
				mustOK(t, "DEL", nil, err)
			}
			if got, want := fmt.Sprint(reservedIPs(t, dir)), "[10.22.0.3 fd00:22::3]"; got != want {
				t.Errorf("after DEL reserved %s, want %s", got, want)
			}
			if got := len(indexFiles(t, dir)); got != 1 {
				t.Errorf("%d index files after DEL, want 1 (c2's)", got)
			}
			if ge, _ := version.GreaterThanOrEqualTo(ver, "0.4.0"); ver != "" && ge {
				_, err := dispatch(t, conf, call{command: "CHECK", id: "c1", ifname: "eth0"})
				wantErr(t, "CHECK after DEL", err, types.ErrUnknownContainer, "no addresses reserved for c1/eth0 on network testnet")
			}
		})
	}
}

func TestRoundRobinAndExhaustion(t *testing.T) {
	dir := t.TempDir()
	// 10.0.0.0/29: .1 is the gateway, .2-.6 are allocatable.
	conf := confJSON("1.0.0", dir, `"subnet": "10.0.0.0/29"`)
	add := func(id string) string {
		t.Helper()
		return fmt.Sprint(addAddrs(t, conf, call{id: id, ifname: "eth0"}))
	}
	for _, step := range []struct{ id, want string }{{"a", "[10.0.0.2/29]"}, {"b", "[10.0.0.3/29]"}, {"c", "[10.0.0.4/29]"}} {
		if got := add(step.id); got != step.want {
			t.Fatalf("ADD %s got %s, want %s", step.id, got, step.want)
		}
	}
	_, err := dispatch(t, conf, call{command: "DEL", id: "b", ifname: "eth0"})
	mustOK(t, "DEL b", nil, err)
	// Round robin continues after .4 instead of reusing .3 at once, then wraps.
	for _, step := range []struct{ id, want string }{{"d", "[10.0.0.5/29]"}, {"e", "[10.0.0.6/29]"}, {"f", "[10.0.0.3/29]"}} {
		if got := add(step.id); got != step.want {
			t.Fatalf("ADD %s got %s, want %s", step.id, got, step.want)
		}
	}
	before := storeFiles(t, dir)
	_, err = dispatch(t, conf, call{command: "ADD", id: "g", ifname: "eth0"})
	wantErr(t, "ADD on a full range", err, types.ErrInternal, "no free address in range set 0 (10.0.0.0/29)")
	if after := storeFiles(t, dir); !slices.Equal(before, after) {
		t.Errorf("failed ADD changed the store\nbefore %v\nafter  %v", before, after)
	}
}

func TestExhaustedSecondRangeSetLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	conf := confJSON("1.0.0", dir, `"ranges": [[{"subnet": "10.0.0.0/24"}], [{"subnet": "10.1.0.0/30"}]]`)
	if got, want := fmt.Sprint(addAddrs(t, conf, call{id: "c1", ifname: "eth0"})), "[10.0.0.2/24 10.1.0.2/30]"; got != want {
		t.Fatalf("ADD c1 got %s, want %s", got, want)
	}
	before := storeFiles(t, dir)
	_, err := dispatch(t, conf, call{command: "ADD", id: "c2", ifname: "eth0"})
	wantErr(t, "ADD c2", err, types.ErrInternal, "no free address in range set 1 (10.1.0.0/30)")
	if after := storeFiles(t, dir); !slices.Equal(before, after) {
		t.Errorf("failed ADD changed the store\nbefore %v\nafter  %v", before, after)
	}
	// The address range set 0 had tried for c2 is free again: the next
	// attachment in set 0 is .3, not .4.
	_, err = dispatch(t, conf, call{command: "DEL", id: "c1", ifname: "eth0"})
	mustOK(t, "DEL c1", nil, err)
	if got, want := fmt.Sprint(addAddrs(t, conf, call{id: "c3", ifname: "eth0"})), "[10.0.0.3/24 10.1.0.2/30]"; got != want {
		t.Errorf("ADD c3 got %s, want %s", got, want)
	}
}

func TestRequestedAddress(t *testing.T) {
	dir := t.TempDir()
	// The seed's macvlan network with CNI_ARGS="IP=172.17.20.20".
	conf := confJSON("", dir, `"subnet": "172.17.0.0/16", "routes": [{"dst": "0.0.0.0/0"}]`)
	if got, want := fmt.Sprint(addAddrs(t, conf, call{id: "1d7a448c5de37308", ifname: "eth0", cniArgs: "IP=172.17.20.20"})), "[172.17.20.20/16]"; got != want {
		t.Fatalf("ADD with IP= got %s, want %s", got, want)
	}
	// Other CNI_ARGS keys are ignored.
	got := addAddrs(t, conf, call{id: "k8s", ifname: "eth0", cniArgs: "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;IP=172.17.20.21"})
	if fmt.Sprint(got) != "[172.17.20.21/16]" {
		t.Fatalf("ADD with K8S args got %v", got)
	}
	// A requested address does not move the round-robin position.
	if got, want := fmt.Sprint(addAddrs(t, conf, call{id: "dyn", ifname: "eth0"})), "[172.17.0.2/16]"; got != want {
		t.Errorf("dynamic ADD got %s, want %s", got, want)
	}
	before := storeFiles(t, dir)
	_, err := dispatch(t, conf, call{command: "ADD", id: "other", ifname: "eth0", cniArgs: "IP=172.17.20.20"})
	wantErr(t, "ADD of a taken address", err, types.ErrInternal, "requested address 172.17.20.20 (CNI_ARGS IP) is already reserved by 1d7a448c5de37308/eth0")
	if after := storeFiles(t, dir); !slices.Equal(before, after) {
		t.Errorf("failed ADD changed the store\nbefore %v\nafter  %v", before, after)
	}

	// args.cni.ips and the ips capability, one per range set.
	conf2 := `{"cniVersion": "1.1.0", "name": "testnet", "type": "bridge",
		"args": {"cni": {"ips": ["fd00::99"]}}, "runtimeConfig": {"ips": ["10.5.0.77/24"]},
		"ipam": {"type": "host-local", "dataDir": "` + t.TempDir() + `", "ranges": [[{"subnet": "10.5.0.0/24"}], [{"subnet": "fd00::/64"}]]}}`
	if got, want := fmt.Sprint(addAddrs(t, conf2, call{id: "c1", ifname: "eth0"})), "[10.5.0.77/24 fd00::99/64]"; got != want {
		t.Errorf("ADD with args and runtimeConfig ips got %s, want %s", got, want)
	}
	_, err = dispatch(t, conf2, call{command: "ADD", id: "c1", ifname: "eth0", cniArgs: "IP=10.5.0.78"})
	wantErr(t, "conflicting requests", err, types.ErrInvalidNetworkConfig,
		`invalid field "runtimeConfig.ips[0]": requested address 10.5.0.77 and 10.5.0.78 (CNI_ARGS IP) are both in range set 0; one address per range set`)
}

func TestIdempotentAdd(t *testing.T) {
	dir := t.TempDir()
	conf := confJSON("1.0.0", dir, `"ranges": [[{"subnet": "10.0.0.0/24"}], [{"subnet": "fd00::/64"}]]`)
	first := addAddrs(t, conf, call{id: "c1", ifname: "eth0"})
	again := addAddrs(t, conf, call{id: "c1", ifname: "eth0"})
	if !slices.Equal(first, again) {
		t.Errorf("repeated ADD got %v, first ADD %v", again, first)
	}
	if got := len(reservedIPs(t, dir)); got != 2 {
		t.Errorf("%d reservations after repeated ADD, want 2", got)
	}
	// The same container's other interface is another attachment.
	if got, want := fmt.Sprint(addAddrs(t, conf, call{id: "c1", ifname: "eth1"})), "[10.0.0.3/24 fd00::3/64]"; got != want {
		t.Errorf("ADD eth1 got %s, want %s", got, want)
	}
	// Asking for the address it holds is fine; asking for another is not.
	if got := addAddrs(t, conf, call{id: "c1", ifname: "eth0", cniArgs: "IP=10.0.0.2"}); !slices.Equal(got, first) {
		t.Errorf("repeated ADD with its own IP got %v", got)
	}
	_, err := dispatch(t, conf, call{command: "ADD", id: "c1", ifname: "eth0", cniArgs: "IP=10.0.0.50"})
	wantErr(t, "repeated ADD with another IP", err, types.ErrInternal,
		"requested address 10.0.0.50 (CNI_ARGS IP), but the attachment already holds 10.0.0.2; delete it first")

	// A held address lost from the store (removed by hand) is reserved anew.
	if err := os.Remove(filepath.Join(dir, "testnet", "10.0.0.2")); err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(addAddrs(t, conf, call{id: "c1", ifname: "eth0"})), "[10.0.0.4/24 fd00::4/64]"; got != want {
		t.Errorf("ADD after losing a reservation got %s, want %s", got, want)
	}
	if got, want := fmt.Sprint(reservedIPs(t, dir)), "[10.0.0.3 10.0.0.4 fd00::3 fd00::4]"; got != want {
		t.Errorf("reservations %s, want %s", got, want)
	}
}

func TestDelIdempotent(t *testing.T) {
	dir := t.TempDir()
	conf := confJSON("0.4.0", dir, `"subnet": "10.0.0.0/24"`)
	// No store yet, unknown container: success, and nothing is created.
	_, err := dispatch(t, conf, call{command: "DEL", id: "nope", ifname: "eth0"})
	mustOK(t, "DEL before any ADD", nil, err)
	if _, err := os.Stat(filepath.Join(dir, "testnet")); !os.IsNotExist(err) {
		t.Errorf("DEL created the store: %v", err)
	}
	addAddrs(t, conf, call{id: "c1", ifname: "eth0"})
	for i := range 3 {
		_, err := dispatch(t, conf, call{command: "DEL", id: "c1", ifname: "eth0"})
		mustOK(t, fmt.Sprintf("DEL #%d", i+1), nil, err)
	}
	_, err = dispatch(t, conf, call{command: "DEL", id: "unknown", ifname: "eth0"})
	mustOK(t, "DEL of an unknown container", nil, err)
	if got := reservedIPs(t, dir); len(got) != 0 {
		t.Errorf("reservations left: %v", got)
	}
	if got := indexFiles(t, dir); len(got) != 0 {
		t.Errorf("index files left: %v", got)
	}
	// DEL does not need valid ranges: a configuration whose range no longer
	// validates still releases.
	addAddrs(t, conf, call{id: "c2", ifname: "eth0"})
	broken := confJSON("0.4.0", dir, `"subnet": "10.0.0.0/33"`)
	_, err = dispatch(t, broken, call{command: "DEL", id: "c2", ifname: "eth0"})
	mustOK(t, "DEL with a broken range", nil, err)
	if got := reservedIPs(t, dir); len(got) != 0 {
		t.Errorf("reservations left: %v", got)
	}
	// A DEL that is given a reservation it does not own leaves it alone.
	addAddrs(t, conf, call{id: "c3", ifname: "eth0"})
	_, err = dispatch(t, conf, call{command: "DEL", id: "c3", ifname: "eth1"})
	mustOK(t, "DEL of another interface", nil, err)
	if got := len(reservedIPs(t, dir)); got != 1 {
		t.Errorf("%d reservations, want c3's", got)
	}
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	conf := confJSON("1.0.0", dir, `"ranges": [[{"subnet": "10.0.0.0/24"}]]`)
	_, err := dispatch(t, conf, call{command: "CHECK", id: "c1", ifname: "eth0"})
	wantErr(t, "CHECK before ADD", err, types.ErrUnknownContainer, "no addresses reserved for c1/eth0 on network testnet")
	addAddrs(t, conf, call{id: "c1", ifname: "eth0"})
	_, err = dispatch(t, conf, call{command: "CHECK", id: "c1", ifname: "eth0"})
	mustOK(t, "CHECK", nil, err)
	_, err = dispatch(t, conf, call{command: "CHECK", id: "c1", ifname: "eth1"})
	wantErr(t, "CHECK of another interface", err, types.ErrUnknownContainer, "no addresses reserved for c1/eth1 on network testnet")

	more := confJSON("1.0.0", dir, `"ranges": [[{"subnet": "10.0.0.0/24"}], [{"subnet": "fd00::/64"}]]`)
	_, err = dispatch(t, more, call{command: "CHECK", id: "c1", ifname: "eth0"})
	wantErr(t, "CHECK with a new range set", err, types.ErrInternal, "c1/eth0 holds no address in range set 1 (fd00::/64)")

	// Someone else now holds the address.
	path := filepath.Join(dir, "testnet", "10.0.0.2")
	if err := os.WriteFile(path, []byte("intruder\neth0"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = dispatch(t, conf, call{command: "CHECK", id: "c1", ifname: "eth0"})
	wantErr(t, "CHECK of a stolen address", err, types.ErrInternal, "address 10.0.0.2 of c1/eth0 is no longer reserved for it")
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	_, err = dispatch(t, conf, call{command: "CHECK", id: "c1", ifname: "eth0"})
	wantErr(t, "CHECK of a released address", err, types.ErrInternal, "address 10.0.0.2 of c1/eth0 is no longer reserved for it")
}

func TestDNSFromResolvConf(t *testing.T) {
	dir := t.TempDir()
	rc := filepath.Join(dir, "resolv.conf")
	content := "# generated\nnameserver 10.0.0.53\nnameserver fd00::53\n; comment\ndomain example.org\nsearch a.example b.example\noptions ndots:2 timeout:1\n"
	if err := os.WriteFile(rc, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := confJSON("1.0.0", dir, fmt.Sprintf(`"subnet": "10.0.0.0/24", "resolvConf": %q`, rc))
	res := addResult(t, conf, "1.0.0", call{id: "c1", ifname: "eth0"})
	if got, want := fmt.Sprintf("%+v", res.DNS), "{Nameservers:[10.0.0.53 fd00::53] Domain:example.org Search:[a.example b.example] Options:[ndots:2 timeout:1]}"; got != want {
		t.Errorf("DNS\n got %s\nwant %s", got, want)
	}
	missing := confJSON("1.0.0", dir, `"subnet": "10.0.0.0/24", "resolvConf": "/nonexistent/resolv.conf"`)
	_, err := dispatch(t, missing, call{command: "ADD", id: "c2", ifname: "eth0"})
	wantErr(t, "ADD with a missing resolv.conf", err, types.ErrInvalidNetworkConfig,
		`invalid field "ipam.resolvConf": open /nonexistent/resolv.conf: no such file or directory`)
}
