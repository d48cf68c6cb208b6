package loopback_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/containernetworking/plugins/pkg/testutils"

	"github.com/weirnet/weir/internal/sandbox"
	"github.com/weirnet/weir/plugins/loopback"
	"github.com/weirnet/weir/plugins/pluginkit"
)

// harness runs weir's loopback in-process, as a runtime would.
type harness struct{ *sandbox.Runner }

func newHarness(t *testing.T) harness {
	t.Helper()
	return harness{sandbox.NewRunner(t, "loopback", pluginkit.Registry{"loopback": loopback.New()})}
}

func (h harness) run(cmd, netns string, conf []byte) ([]byte, error) {
	return h.Run(sandbox.Call{Command: cmd, ContainerID: "ctr-lo", NetNS: netns, IfName: "eth0", Conf: conf})
}

// loUp returns whether lo is up in n.
func loUp(t *testing.T, n ns.NetNS) bool {
	t.Helper()
	l, err := sandbox.LinkIn(n, "lo")
	if err != nil {
		t.Fatal(err)
	}
	return l.Attrs().Flags&net.FlagUp != 0
}

func ipv6Enabled() bool {
	b, err := os.ReadFile("/proc/sys/net/ipv6/conf/default/disable_ipv6")
	return err == nil && strings.TrimSpace(string(b)) == "0"
}

func TestAddCheckDelAllVersions(t *testing.T) {
	sandbox.Require(t)
	h := newHarness(t)
	for _, ver := range testutils.AllSpecVersions {
		t.Run(ver, func(t *testing.T) {
			n := sandbox.NewNS(t)
			conf := sandbox.Conf(`{"cniVersion": "{{ver}}", "name": "lo-net", "type": "loopback"}`, ver)
			if loUp(t, n) {
				t.Fatal("lo is up in a fresh namespace")
			}
			if _, err := sandbox.Exchange(n, n, "127.0.0.1:0"); err == nil {
				t.Fatal("TCP to 127.0.0.1 worked before ADD")
			}

			out, err := h.run("ADD", n.Path(), conf)
			if err != nil {
				t.Fatalf("ADD: %v", err)
			}
			res := sandbox.ParseResult(t, ver, out)
			var ips []string
			for _, ipc := range res.IPs {
				ips = append(ips, ipc.Address.String())
			}
			// Every version carries both families (0.1.0/0.2.0 as ip4/ip6).
			want := []string{"127.0.0.1/8"}
			if ipv6Enabled() {
				want = append(want, "::1/128")
			}
			if !reflect.DeepEqual(ips, want) {
				t.Errorf("result IPs = %v, want %v (%s)", ips, want, out)
			}
			if ver >= "0.3.0" {
				if len(res.Interfaces) != 1 || res.Interfaces[0].Name != "lo" || res.Interfaces[0].Sandbox != n.Path() ||
					res.Interfaces[0].Mac != "00:00:00:00:00:00" {
					t.Errorf("result interfaces = %+v, want lo in %s", res.Interfaces, n.Path())
				}
			}
			if !loUp(t, n) {
				t.Fatal("lo is down after ADD")
			}
			sandbox.MustExchange(t, n, n, "127.0.0.1:0")
			if ipv6Enabled() {
				sandbox.MustExchange(t, n, n, "[::1]:0")
			}
			check := ver >= "0.4.0"
			if check {
				if _, err := h.run("CHECK", n.Path(), conf); err != nil {
					t.Fatalf("CHECK: %v", err)
				}
			}

			if _, err := h.run("DEL", n.Path(), conf); err != nil {
				t.Fatalf("DEL: %v", err)
			}
			if loUp(t, n) {
				t.Fatal("lo is up after DEL")
			}
			if check {
				_, err := h.run("CHECK", n.Path(), conf)
				if err == nil || !strings.Contains(err.Error(), "lo is down") {
					t.Fatalf("CHECK after DEL: %v, want lo is down", err)
				}
			}
			if _, err := h.run("DEL", n.Path(), conf); err != nil {
				t.Fatalf("second DEL: %v", err)
			}
		})
	}
}

// The seed's configuration, verbatim: no name, no cniVersion.
func TestSeedConfig(t *testing.T) {
	sandbox.Require(t)
	h := newHarness(t)
	n := sandbox.NewNS(t)
	seed := []byte(`{
    "type": "loopback"
}`)
	out, err := h.run("ADD", n.Path(), seed)
	if err != nil {
		t.Fatalf("ADD: %v", err)
	}
	var r struct {
		IP4 struct {
			IP string `json:"ip"`
		} `json:"ip4"`
	}
	if err := json.Unmarshal(out, &r); err != nil || r.IP4.IP != "127.0.0.1/8" {
		t.Fatalf("result %s: want 0.1.0 format with ip4 127.0.0.1/8 (%v)", out, err)
	}
	sandbox.MustExchange(t, n, n, "127.0.0.1:0")
	if _, err := h.run("DEL", n.Path(), seed); err != nil {
		t.Fatalf("DEL: %v", err)
	}
	if loUp(t, n) {
		t.Fatal("lo is up after DEL")
	}
}

// DEL of a namespace that is gone, or of none, succeeds.
func TestDelWithoutNetns(t *testing.T) {
	sandbox.Require(t)
	h := newHarness(t)
	conf := []byte(`{"cniVersion": "1.0.0", "name": "lo-net", "type": "loopback"}`)
	n := sandbox.NewNS(t)
	if _, err := h.run("ADD", n.Path(), conf); err != nil {
		t.Fatalf("ADD: %v", err)
	}
	path := n.Path()
	sandbox.RemoveNS(t, n)
	if _, err := h.run("DEL", path, conf); err != nil {
		t.Fatalf("DEL with removed netns: %v", err)
	}
	if _, err := h.run("DEL", "", conf); err != nil {
		t.Fatalf("DEL with empty CNI_NETNS: %v", err)
	}
	// ADD into a missing namespace fails.
	_, err := h.run("ADD", path, conf)
	if err == nil || !strings.Contains(err.Error(), "bringing lo up in netns "+path) {
		t.Fatalf("ADD into a removed netns: %v, want an error naming it", err)
	}
}

// In a chain loopback passes the previous result through unchanged.
func TestPrevResultPassedThrough(t *testing.T) {
	sandbox.Require(t)
	h := newHarness(t)
	n := sandbox.NewNS(t)
	prev := fmt.Sprintf(`{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","mac":"0a:58:0a:16:00:05","sandbox":%q}],`+
		`"ips":[{"interface":0,"address":"10.22.0.5/16","gateway":"10.22.0.1"}],"routes":[{"dst":"0.0.0.0/0"}],"dns":{"nameservers":["10.22.0.1"],"search":["example.org"]}}`, n.Path())
	conf := []byte(`{"cniVersion": "1.0.0", "name": "mynet", "type": "loopback", "prevResult": ` + prev + `}`)
	out, err := h.run("ADD", n.Path(), conf)
	if err != nil {
		t.Fatalf("ADD: %v", err)
	}
	var got, want any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(prev), &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ADD result\n%s\nwant the prevResult\n%s", out, prev)
	}
	if !loUp(t, n) {
		t.Fatal("lo is down after a chained ADD")
	}
	if _, err := h.run("CHECK", n.Path(), conf); err != nil {
		t.Fatalf("CHECK: %v", err)
	}
}

func TestGCAndStatus(t *testing.T) {
	sandbox.Require(t)
	h := newHarness(t)
	conf := []byte(`{"cniVersion": "1.1.0", "name": "lo-net", "type": "loopback"}`)
	for _, cmd := range []string{"GC", "STATUS"} {
		if _, err := h.run(cmd, "", conf); err != nil {
			t.Errorf("%s: %v", cmd, err)
		}
	}
	// Bad JSON is a decoding error, not a crash.
	_, err := h.run("ADD", "/run/netns/none", []byte(`{"type": "loopback", "prevResult": 5}`))
	var e *types.Error
	if !errors.As(err, &e) || e.Code != types.ErrDecodingFailure {
		t.Fatalf("ADD with a bad prevResult: %v, want code 6", err)
	}
}
