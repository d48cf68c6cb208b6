package pluginkit

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"
)

// recorder is a fake plugin that records what it was called with.
type recorder struct {
	calls []string
	args  *skel.CmdArgs
	err   error
}

func (r *recorder) Add(_ context.Context, _ *Env, a *skel.CmdArgs) (types.Result, error) {
	r.calls, r.args = append(r.calls, "ADD"), a
	if r.err != nil {
		return nil, r.err
	}
	_, n, _ := net.ParseCIDR("10.1.2.3/24")
	n.IP = net.ParseIP("10.1.2.3")
	idx := 0
	return &current.Result{
		CNIVersion: current.ImplementedSpecVersion,
		Interfaces: []*current.Interface{{Name: a.IfName, Sandbox: a.Netns}},
		IPs:        []*current.IPConfig{{Address: *n, Interface: &idx}},
	}, nil
}
func (r *recorder) Del(_ context.Context, _ *Env, a *skel.CmdArgs) error {
	r.calls, r.args = append(r.calls, "DEL"), a
	return r.err
}
func (r *recorder) Check(_ context.Context, _ *Env, a *skel.CmdArgs) error {
	r.calls = append(r.calls, "CHECK")
	return r.err
}
func (r *recorder) GC(_ context.Context, _ *Env, a *skel.CmdArgs) error {
	r.calls = append(r.calls, "GC")
	return r.err
}
func (r *recorder) Status(_ context.Context, _ *Env, a *skel.CmdArgs) error {
	r.calls = append(r.calls, "STATUS")
	return r.err
}

func environ(cmd string) []string {
	return []string{"CNI_COMMAND=" + cmd, "CNI_CONTAINERID=c1", "CNI_NETNS=/run/netns/x", "CNI_IFNAME=eth0", "CNI_PATH=/opt/cni/bin", "CNI_ARGS=IP=10.1.2.3;K=V"}
}

func TestDispatchConvertsResultToConfigVersion(t *testing.T) {
	for _, ver := range version.All.SupportedVersions() {
		t.Run(ver, func(t *testing.T) {
			r := &recorder{}
			out, terr := Dispatch(context.Background(), r, &Env{}, environ("ADD"), []byte(`{"cniVersion":"`+ver+`","name":"n","type":"t"}`))
			if terr != nil {
				t.Fatalf("ADD: %v", terr)
			}
			var got struct {
				CNIVersion string `json:"cniVersion"`
			}
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("result is not JSON: %v: %s", err, out)
			}
			if got.CNIVersion != ver {
				t.Errorf("result cniVersion = %q, want %q", got.CNIVersion, ver)
			}
			if !strings.Contains(string(out), "10.1.2.3/24") {
				t.Errorf("result lost the address: %s", out)
			}
			if r.args.Args != "IP=10.1.2.3;K=V" || r.args.ContainerID != "c1" || r.args.IfName != "eth0" {
				t.Errorf("args = %+v", r.args)
			}
		})
	}
}

func TestDispatchMissingVersionIsLegacy(t *testing.T) {
	out, terr := Dispatch(context.Background(), &recorder{}, &Env{}, environ("ADD"), []byte(`{"type":"loopback"}`))
	if terr != nil {
		t.Fatalf("ADD without name or cniVersion: %v", terr)
	}
	if !strings.Contains(string(out), `"ip4"`) {
		t.Errorf("a config without cniVersion should get a 0.1.0/0.2.0-shaped result, got %s", out)
	}
}

func TestDispatchErrors(t *testing.T) {
	cases := []struct {
		name    string
		environ []string
		conf    string
		code    uint
		msg     string
	}{
		{"no command", []string{"CNI_PATH=/x"}, `{}`, types.ErrInvalidEnvironmentVariables, "required env variables [CNI_COMMAND] missing"},
		{"unknown command", []string{"CNI_COMMAND=FROB"}, `{}`, types.ErrInvalidEnvironmentVariables, "unknown CNI_COMMAND: FROB"},
		{"missing vars", []string{"CNI_COMMAND=ADD", "CNI_PATH=/x"}, `{}`, types.ErrInvalidEnvironmentVariables, "required env variables [CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME] missing"},
		{"bad json", environ("ADD"), `{`, types.ErrDecodingFailure, "decoding network configuration"},
		{"unsupported version", environ("ADD"), `{"cniVersion":"9.9.9","name":"n"}`, types.ErrIncompatibleCNIVersion, "incompatible CNI versions"},
		{"check on 0.3.1", environ("CHECK"), `{"cniVersion":"0.3.1","name":"n"}`, types.ErrIncompatibleCNIVersion, "config version 0.3.1 does not allow CHECK"},
		{"gc on 1.0.0", environ("GC"), `{"cniVersion":"1.0.0","name":"n"}`, types.ErrIncompatibleCNIVersion, "config version 1.0.0 does not allow GC"},
		{"bad name", environ("ADD"), `{"cniVersion":"1.0.0","name":"a b"}`, types.ErrInvalidNetworkConfig, "network name"},
		{"bad container id", append(environ("ADD"), "CNI_CONTAINERID=../x"), `{"cniVersion":"1.0.0","name":"n"}`, types.ErrInvalidEnvironmentVariables, "invalid characters in containerID"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := &recorder{}
			_, terr := Dispatch(context.Background(), r, &Env{}, c.environ, []byte(c.conf))
			if terr == nil {
				t.Fatal("expected an error")
			}
			if terr.Code != c.code || !strings.Contains(terr.Error(), c.msg) {
				t.Errorf("error = %d %q, want %d containing %q", terr.Code, terr.Error(), c.code, c.msg)
			}
			if len(r.calls) != 0 {
				t.Errorf("plugin was called (%v) despite a bad invocation", r.calls)
			}
		})
	}
}

func TestDispatchKeepsPluginErrorCode(t *testing.T) {
	r := &recorder{err: Errorf(types.ErrTryAgainLater, "busy: %w", errors.New("locked"))}
	_, terr := Dispatch(context.Background(), r, &Env{}, environ("DEL"), []byte(`{"cniVersion":"1.1.0","name":"n"}`))
	if terr == nil || terr.Code != types.ErrTryAgainLater || terr.Msg != "busy: locked" {
		t.Fatalf("error = %#v, want code 11 'busy: locked'", terr)
	}
	r = &recorder{err: errors.New("plain failure")}
	_, terr = Dispatch(context.Background(), r, &Env{}, environ("DEL"), []byte(`{"cniVersion":"1.1.0","name":"n"}`))
	if terr == nil || terr.Code != types.ErrInternal {
		t.Fatalf("error = %#v, want code 999", terr)
	}
}

func TestDispatchVersionAndCommands(t *testing.T) {
	out, terr := Dispatch(context.Background(), &recorder{}, &Env{}, []string{"CNI_COMMAND=VERSION"}, nil)
	if terr != nil {
		t.Fatal(terr)
	}
	info, err := (&version.PluginDecoder{}).Decode(out)
	if err != nil {
		t.Fatalf("decoding VERSION output %s: %v", out, err)
	}
	if got := strings.Join(info.SupportedVersions(), ","); got != "0.1.0,0.2.0,0.3.0,0.3.1,0.4.0,1.0.0,1.1.0" {
		t.Errorf("supported versions = %s", got)
	}
	for _, cmd := range []string{"DEL", "CHECK", "GC", "STATUS"} {
		r := &recorder{}
		out, terr := Dispatch(context.Background(), r, &Env{}, environ(cmd), []byte(`{"cniVersion":"1.1.0","name":"n"}`))
		if terr != nil || len(out) != 0 {
			t.Fatalf("%s: out=%q err=%v", cmd, out, terr)
		}
		if len(r.calls) != 1 || r.calls[0] != cmd {
			t.Errorf("%s dispatched as %v", cmd, r.calls)
		}
	}
}
