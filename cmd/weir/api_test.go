package main

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/hashicorp/go-hclog"

	"github.com/weirnet/weir/chain"
	"github.com/weirnet/weir/isolator"
)

func TestPluginFailures(t *testing.T) {
	// Shaped as the isolator returns a failed attach: the runner's failure
	// of one network, joined with its rollback's failures.
	add := fmt.Errorf("plugin bridge failed (add): %w", &types.Error{Code: types.ErrTryAgainLater, Msg: "busy"})
	del := fmt.Errorf("plugin host-local failed (del): %w", errors.New("not a CNI error"))
	err := fmt.Errorf("isolating c1: %w", errors.Join(add, fmt.Errorf("rolling back: %w", errors.Join(del))))
	got := pluginFailures(err)
	want := []pluginFailure{{"bridge", "add", "11"}, {"host-local", "del", "none"}}
	if !slices.Equal(got, want) {
		t.Errorf("pluginFailures = %v, want %v", got, want)
	}
	if got := pluginFailures(errors.New("container id is empty")); got != nil {
		t.Errorf("an error without plugin failures gave %v", got)
	}
	if got := pluginFailures(nil); got != nil {
		t.Errorf("nil gave %v", got)
	}
}

func TestDecodeAttachErrors(t *testing.T) {
	cfg := `"container_config": {"container_info": {"network_infos": [{"name": "n"}]}}`
	cases := []struct{ body, want string }{
		{``, "malformed JSON at byte 0: unexpected end of JSON input"},
		{`{"container_config": {`, "malformed JSON at byte 22: unexpected end of JSON input"},
		{`{"container_config": }`, "malformed JSON at byte 22: invalid character '}' looking for beginning of value"},
		{`[1]`, "malformed JSON: the body must be an object, not array"},
		{`{"container_config": {"container_info": {"network_infos": [{"name": 5}]}}, "pid": 1}`, "container_config.container_info.network_infos.name: want string, not number"},
		{`{"container_config": {}, "pid": "12"}`, "pid: want int, not string"},
		{`{` + cfg + `, "pid": 1, "extra": 2}`, `unknown field "extra": want container_config and pid or netns`},
		{`{"pid": 1}`, "container_config is missing"},
		{`{"container_config": {}, "pid": 1}`, "container_config.container_info.network_infos is empty: name at least one network"},
		{`{` + cfg + `}`, "give exactly one of pid (the container's first process) and netns (its namespace path)"},
		{`{` + cfg + `, "pid": 1, "netns": "/x"}`, "give exactly one of pid"},
		{`{` + cfg + `, "pid": -4}`, "pid: -4 is not a process id"},
		{`{` + cfg + `, "pid": 2147483646}`, "pid: pid 2147483646: no such process"},
		{`{` + cfg + `, "netns": "/nonexistent/ns"}`, "netns: "},
	}
	for _, c := range cases {
		_, err := decodeAttach(strings.NewReader(c.body))
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("decodeAttach(%s) = %v, want %q", c.body, err, c.want)
		}
	}
	req, err := decodeAttach(strings.NewReader(`{` + cfg + `, "pid": ` + fmt.Sprint(os.Getpid()) + `}`))
	if err != nil || req.PID != os.Getpid() || req.ContainerConfig.ContainerInfo.NetworkInfos[0].Name != "n" {
		t.Errorf("a good body: %+v %v", req, err)
	}
}

func TestFailStatus(t *testing.T) {
	s := &api{log: hclog.NewNullLogger()}
	unknown := &chain.UnknownNetworkError{Name: "x", Dir: "/d"}
	cases := []struct {
		err  error
		code int
		msg  string
	}{
		{fmt.Errorf("container c is %w", isolator.ErrAlreadyPrepared), 409, "container c is already prepared"},
		{&isolator.ConfigError{Field: "container_info.network_infos[0]", Err: unknown}, 422,
			`container_config.container_info.network_infos[0]: network "x" is not defined in /d (known: none)`},
		{fmt.Errorf("network %q is not usable: %w", "b", &chain.DefError{File: "/d/b.conf", Msg: "bad"}), 422, "network \"b\" is not usable: /d/b.conf: bad"},
		{&isolator.ConfigError{Field: "container_info.network_infos[1]", Err: errors.New(`network "n" is asked for twice`)}, 400,
			`container_config.container_info.network_infos[1]: network "n" is asked for twice`},
		{fmt.Errorf("container c: %w", isolator.ErrUnknownContainer), 404, "container c: unknown container"},
		{errors.New("disk on fire"), 500, "disk on fire"},
	}
	for _, c := range cases {
		w := httptest.NewRecorder()
		s.fail(w, "container_config.", c.err)
		want := fmt.Sprintf("{\n  \"error\": %q\n}\n", c.msg)
		if w.Code != c.code || w.Body.String() != want || w.Header().Get("Content-Type") != "application/json" {
			t.Errorf("fail(%v) = %d %q, want %d %q", c.err, w.Code, w.Body.String(), c.code, want)
		}
	}
}

func TestCheckIDs(t *testing.T) {
	s := &api{log: hclog.NewNullLogger()}
	h := s.checkIDs(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(299) }))
	for path, code := range map[string]int{
		"/v1/containers/ok-1":    299,
		"/v1/containers":         299,
		"/v1/containers/":        400,
		"/v1/containers/..%2Fx":  400,
		"/v1/containers/../x":    400,
		"/v1/containers/a%2Fb":   400,
		"/v1/containers/a%00b":   400,
		"/v1/containers/-lead":   400,
		"/v1/networks/../../etc": 299, // not a container path: the mux deals with it
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "http://weir"+path, nil))
		if w.Code != code {
			t.Errorf("GET %s: %d, want %d (%s)", path, w.Code, code, w.Body.String())
		}
	}
}

func TestAttachConfig(t *testing.T) {
	cfg, err := attachConfig([]string{"a", "b"}, []string{"app=web", "env=prod"}, []string{"8080:80", "53:53/udp"}, "h1")
	if err != nil {
		t.Fatal(err)
	}
	nis := cfg.ContainerInfo.NetworkInfos
	if len(nis) != 2 || nis[0].Name != "a" || nis[1].Name != "b" || cfg.ContainerInfo.Hostname != "h1" {
		t.Fatalf("networks: %+v", cfg.ContainerInfo)
	}
	for _, ni := range nis {
		if ni.Labels == nil || len(ni.Labels.Labels) != 2 || ni.Labels.Labels[0] != (isolator.Label{Key: "app", Value: "web"}) {
			t.Errorf("labels of %s: %+v", ni.Name, ni.Labels)
		}
	}
	want := []isolator.PortMapping{{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}, {HostPort: 53, ContainerPort: 53, Protocol: "udp"}}
	if !slices.Equal(nis[0].PortMappings, want) || nis[1].PortMappings != nil {
		t.Errorf("ports: %+v / %+v, want %+v on the first network only", nis[0].PortMappings, nis[1].PortMappings, want)
	}
	for _, bad := range []struct {
		nets, labels, publish []string
		want                  string
	}{
		{nil, nil, nil, "name at least one network with --net"},
		{[]string{"a"}, []string{"novalue"}, nil, "novalue"},
		{[]string{"a"}, nil, []string{"10.0.0.1:80:80"}, `--publish "10.0.0.1:80:80": a Mesos port mapping has no host address`},
		{[]string{"a"}, nil, []string{"80"}, "80"},
	} {
		_, err := attachConfig(bad.nets, bad.labels, bad.publish, "")
		var ue usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("attachConfig(%v, %v, %v) = %v, want a usage error containing %q", bad.nets, bad.labels, bad.publish, err, bad.want)
		}
	}
}

func TestAddressUsage(t *testing.T) {
	conf, data := t.TempDir(), t.TempDir()
	write := func(path, s string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(conf, "10-a.conflist"), `{"cniVersion":"1.0.0","name":"a","plugins":[{"type":"bridge","ipam":{"type":"host-local","dataDir":"`+data+`",
	  "ranges":[[{"subnet":"10.1.0.0/24"}],[{"subnet":"fd00::/120","rangeStart":"fd00::10","rangeEnd":"fd00::1f"}]]}}]}`)
	write(filepath.Join(conf, "20-b.conf"), `{"cniVersion":"1.0.0","name":"b","type":"macvlan","master":"eth0","ipam":{"type":"static"}}`)
	write(filepath.Join(conf, "30-c.conf"), `{"cniVersion":"1.0.0","name":"c","type":"bridge","ipam":{"type":"host-local","dataDir":"`+data+`","subnet":"10.2.0.0/30"}}`)
	for _, f := range []string{"10.1.0.2", "10.1.0.3", "fd00::11", "10.9.9.9", "lock", "last_reserved_ip.0", ".reserve-x"} {
		write(filepath.Join(data, "a", f), "c1\neth0")
	}
	got, err := addressUsage(conf, nil)
	if err != nil {
		t.Fatal(err)
	}
	// a: 10.1.0.1-.254 less the gateway .1 = 253, plus fd00::10-::1f less
	// the gateway fd00::1, outside it = 16; three reservations in range.
	// c: 10.2.0.0/30 hands out .1-.2 less the gateway = 1, none used.
	want := []addressCount{{Network: "a", Used: 3, Free: 253 + 16 - 3}, {Network: "c", Used: 0, Free: 1}}
	if !slices.Equal(got, want) {
		t.Errorf("addressUsage = %+v, want %+v", got, want)
	}
}
