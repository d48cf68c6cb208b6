package integration

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weirnet/weir/internal/sandbox"
)

// apiConflist is a bridge network with its gateway on the sandbox's bridge,
// so a container can ping 10.91.0.1.
const apiConflist = `{"cniVersion":"1.1.0","name":"apinet","plugins":[
  {"type":"bridge","bridge":"api0","isGateway":true,"ipam":{"type":"host-local","subnet":"10.91.0.0/24","dataDir":"{{state}}/ipam"}}]}`

// TestDaemonAPI drives weir serve over its socket with real container
// processes: attach, status against the addresses inside the namespace,
// usage counters moving with a ping, list, metrics, networks, policies,
// health, bad requests that change nothing, and a DELETE that leaves
// nothing.
func TestDaemonAPI(t *testing.T) {
	bin := binDir(t)
	netd, state, policies := t.TempDir(), t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(netd, "10-apinet.conflist"), strings.ReplaceAll(apiConflist, "{{state}}", state))
	writeFile(t, filepath.Join(policies, "web.toml"), "[[policy]]\nname = \"web-in\"\norder = 50\nselector = \"app == 'web'\"\n\n[[policy.ingress]]\naction = \"allow\"\nprotocol = \"tcp\"\nports = [80]\n")
	d := startDaemon(t, bin, state, "--conf-dir", netd, "--plugin-dir", bin, "--policy-dir", policies, "--gc-interval", "1h")

	// The socket is the owner's alone.
	if st, err := os.Stat(d.socket); err != nil || st.Mode().Perm() != 0o600 || st.Mode()&os.ModeSocket == 0 {
		t.Errorf("socket %s: %v %v, want a socket with mode 0600", d.socket, st.Mode(), err)
	}
	// A second daemon on the same socket refuses to start.
	out, err := exec.Command(filepath.Join(bin, "weir"), "serve", "--state-dir", state, "--conf-dir", netd, "--plugin-dir", bin).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "another weir serve") {
		t.Errorf("a second weir serve: %v\n%s, want a refusal", err, out)
	}

	code, body := d.do(t, "GET", "/healthz", "")
	if code != http.StatusOK || !strings.Contains(string(body), `"name": "apinet"`) || !strings.Contains(string(body), `"ready": true`) {
		t.Errorf("GET /healthz: %d %s", code, body)
	}

	pid := startContainer(t)
	before := hostState(t, state)

	t.Run("bad requests change nothing", func(t *testing.T) {
		cases := []struct {
			method, path, body string
			code               int
			want               string
		}{
			{"POST", "/v1/containers/..%2Fx", attachBody(pid, nil, "apinet"), 400, `container id \"../x\" contains \"..\"`},
			{"POST", "/v1/containers/../x", attachBody(pid, nil, "apinet"), 400, `container id \"../x\" contains \"..\"`},
			{"POST", "/v1/containers/", attachBody(pid, nil, "apinet"), 400, "container id is empty"},
			{"POST", "/v1/containers/" + strings.Repeat("a", 200), attachBody(pid, nil, "apinet"), 400, "is 200 characters long, the limit is 128"},
			{"POST", "/v1/containers/a%00b", attachBody(pid, nil, "apinet"), 400, `container id \"a\\x00b\": invalid characters`},
			{"DELETE", "/v1/containers/a%2Fb", "", 400, `container id \"a/b\"`},
			{"POST", "/v1/containers/bad1", `{"container_config": {`, 400, "malformed JSON"},
			{"POST", "/v1/containers/bad1", `{"container_config": {"container_info": {"network_infos": [{"name": 5}]}}, "pid": 1}`, 400,
				"container_config.container_info.network_infos.name: want string, not number"},
			{"POST", "/v1/containers/bad1", `{"container_config": {}, "pid": 1, "pidd": 2}`, 400, `unknown field \"pidd\"`},
			{"POST", "/v1/containers/bad1", `{"pid": 1}`, 400, "container_config is missing"},
			{"POST", "/v1/containers/bad1", `{"container_config": {"container_info": {"network_infos": [{"name": "apinet"}]}}}`, 400, "give exactly one of pid"},
			{"POST", "/v1/containers/bad1", attachBody(2147483646, nil, "apinet"), 400, "pid: pid 2147483646: no such process"},
			{"POST", "/v1/containers/bad1", attachBody(pid, nil, "nosuch"), 422, `container_config.container_info.network_infos[0]: network \"nosuch\" is not defined`},
			{"POST", "/v1/containers/bad1", attachBody(pid, nil, "apinet", "apinet"), 400, `container_config.container_info.network_infos[1]: network \"apinet\" is asked for twice`},
			{"GET", "/v1/containers/bad1", "", 404, "unknown container"},
		}
		for _, c := range cases {
			code, body := d.do(t, c.method, c.path, c.body)
			if code != c.code || !strings.Contains(string(body), `"error": `) || !strings.Contains(string(body), c.want) {
				t.Errorf("%s %s %.60s: %d %s, want %d and an error containing %s", c.method, c.path, c.body, code, body, c.code, c.want)
			}
			if after := hostState(t, state); after != before {
				t.Fatalf("%s %s changed the host:\nbefore:\n%s\nafter:\n%s", c.method, c.path, before, after)
			}
		}
	})

	// Attach a real process.
	code, body = d.do(t, "POST", "/v1/containers/api1", attachBody(pid, map[string]string{"app": "web"}, "apinet"))
	if code != http.StatusCreated {
		t.Fatalf("POST /v1/containers/api1: %d %s\n%s", code, body, d.logs.String())
	}
	var st containerStatus
	decode(t, body, &st)
	inside := ipsIn(t, nsOf(t, pid), "eth0")
	if st.State != "isolated" || len(inside) != 1 || !slices.Equal(st.ips(), inside) || !strings.HasPrefix(inside[0], "10.91.0.") {
		t.Fatalf("POST answered %+v; eth0 inside has %v", st, inside)
	}

	t.Run("second attach conflicts", func(t *testing.T) {
		mid := hostState(t, state)
		code, body := d.do(t, "POST", "/v1/containers/api1", attachBody(pid, nil, "apinet"))
		if code != http.StatusConflict || !strings.Contains(string(body), "already prepared") {
			t.Errorf("second POST of api1: %d %s, want 409", code, body)
		}
		if after := hostState(t, state); after != mid {
			t.Errorf("the refused POST changed the host:\n%s", after)
		}
	})

	t.Run("status, list and usage", func(t *testing.T) {
		code, body := d.do(t, "GET", "/v1/containers/api1", "")
		var got containerStatus
		decode(t, body, &got)
		if code != 200 || !slices.Equal(got.ips(), inside) || got.Interfaces["apinet"] != "eth0" || got.Usage != nil {
			t.Errorf("GET api1: %d %s, want %v on eth0 and no usage", code, body, inside)
		}
		code, body = d.do(t, "GET", "/v1/containers", "")
		var all []containerStatus
		decode(t, body, &all)
		if code != 200 || len(all) != 1 || all[0].ContainerID != "api1" || all[0].State != "isolated" {
			t.Errorf("GET /v1/containers: %d %s", code, body)
		}
		// The CLI reads the same records.
		out, stderr, err := weirCLI(t, bin, "list", "--state-dir", state, "--conf-dir", netd)
		if err != nil || !regexp.MustCompile(`(?m)^api1\s+isolated$`).MatchString(out) {
			t.Errorf("weir list beside the daemon: %v\n%s%s", err, out, stderr)
		}

		usage := func() (tx, rx uint64) {
			_, body := d.do(t, "GET", "/v1/containers/api1?usage=1", "")
			var s containerStatus
			decode(t, body, &s)
			if len(s.Usage) != 1 || s.Usage[0].Interface != "eth0" {
				t.Fatalf("usage: %s", body)
			}
			return s.Usage[0].TxPackets, s.Usage[0].RxPackets
		}
		tx0, rx0 := usage()
		for range 3 {
			if err := sandbox.Ping(nsOf(t, pid).Path(), "10.91.0.1"); err != nil {
				t.Fatalf("ping from the container to its gateway: %v", err)
			}
		}
		tx1, rx1 := usage()
		if tx1 < tx0+3 || rx1 < rx0+3 {
			t.Errorf("counters did not move with 3 pings: tx %d→%d rx %d→%d", tx0, tx1, rx0, rx1)
		}
	})

	t.Run("networks and policies", func(t *testing.T) {
		code, body := d.do(t, "GET", "/v1/networks", "")
		if code != 200 || !strings.Contains(string(body), `"name": "apinet"`) || !strings.Contains(string(body), `"errors": []`) {
			t.Errorf("GET /v1/networks: %d %s", code, body)
		}
		writeFile(t, filepath.Join(netd, "20-broken.conf"), `{"name": "broken", "type": `)
		code, body = d.do(t, "GET", "/v1/networks", "")
		if code != 200 || !strings.Contains(string(body), "20-broken.conf") {
			t.Errorf("GET /v1/networks with a broken file: %d %s, want its error", code, body)
		}
		_ = os.Remove(filepath.Join(netd, "20-broken.conf"))

		var pols struct {
			Dirs []struct {
				Dir      string
				Policies []struct {
					Name     string
					Order    float64
					Selector string
				}
				Errors []string
			}
		}
		code, body = d.do(t, "GET", "/v1/policies", "")
		decode(t, body, &pols)
		if code != 200 || len(pols.Dirs) != 1 || len(pols.Dirs[0].Policies) != 1 || len(pols.Dirs[0].Errors) != 0 {
			t.Fatalf("GET /v1/policies: %d %s", code, body)
		}
		if p := pols.Dirs[0].Policies[0]; p.Name != "web-in" || p.Order != 50 || p.Selector != `app == "web"` {
			t.Errorf("policy: %+v", p)
		}
		writeFile(t, filepath.Join(policies, "zz-bad.toml"), "[[policy]]\nname = \"bad\"\nselector = \"app ==\"\n")
		code, body = d.do(t, "GET", "/v1/policies", "")
		decode(t, body, &pols)
		if code != 200 || len(pols.Dirs[0].Policies) != 1 || len(pols.Dirs[0].Errors) != 1 || !strings.Contains(pols.Dirs[0].Errors[0], "zz-bad.toml") {
			t.Errorf("GET /v1/policies with a bad file: %d %s, want web-in and the bad file's error", code, body)
		}
		_ = os.Remove(filepath.Join(policies, "zz-bad.toml"))
	})

	t.Run("metrics", func(t *testing.T) {
		code, body := d.do(t, "GET", "/metrics", "")
		text := string(body)
		for _, want := range []string{
			`weir_attach_duration_seconds_count{result="ok"} 1`,
			`weir_attach_duration_seconds_bucket{result="ok",le="+Inf"} 1`,
			`weir_containers{state="isolated"} 1`,
			`weir_ipam_addresses{network="apinet",state="used"} 1`,
			`weir_ipam_addresses{network="apinet",state="free"} 252`, // .1-.254, less the gateway, less one
			`go_goroutines `,
		} {
			if code != 200 || !strings.Contains(text, want) {
				t.Errorf("GET /metrics: %d, no %q in:\n%s", code, want, grepLines(text, "weir_"))
			}
		}
	})

	t.Run("unhealthy network", func(t *testing.T) {
		// A flannel network whose subnet file flanneld never wrote: its
		// STATUS fails with CNI error 50.
		writeFile(t, filepath.Join(netd, "30-flan.conflist"), `{"cniVersion":"1.1.0","name":"flan","plugins":[{"type":"flannel","subnetFile":"`+state+`/no-subnet.env"}]}`)
		defer os.Remove(filepath.Join(netd, "30-flan.conflist"))
		code, body := d.do(t, "GET", "/healthz", "")
		if code != http.StatusServiceUnavailable || !strings.Contains(string(body), `"name": "flan"`) || !strings.Contains(string(body), "no-subnet.env") {
			t.Errorf("GET /healthz with flannel down: %d %s, want 503 naming flan and its subnet file", code, body)
		}
		_, body = d.do(t, "GET", "/metrics", "")
		if !strings.Contains(string(body), `weir_plugin_errors_total{code="50",command="status",plugin="flannel"} 1`) {
			t.Errorf("no flannel STATUS error in the metrics:\n%s", grepLines(string(body), "weir_plugin"))
		}
	})

	// DELETE leaves nothing, and again is fine.
	code, body = d.do(t, "DELETE", "/v1/containers/api1", "")
	if code != http.StatusNoContent {
		t.Fatalf("DELETE api1: %d %s", code, body)
	}
	if after := hostState(t, state); after != before {
		t.Errorf("DELETE left state behind:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if mounted(t, state) {
		t.Error("the container's namespace is still mounted under the state dir")
	}
	if code, body = d.do(t, "DELETE", "/v1/containers/api1", ""); code != http.StatusNoContent {
		t.Errorf("second DELETE: %d %s", code, body)
	}
	if code, _ = d.do(t, "GET", "/v1/containers/api1", ""); code != http.StatusNotFound {
		t.Errorf("GET after DELETE: %d, want 404", code)
	}
	_, body = d.do(t, "GET", "/metrics", "")
	if !strings.Contains(string(body), `weir_detach_duration_seconds_count{result="ok"} 2`) {
		t.Errorf("no detach latencies in the metrics:\n%s", grepLines(string(body), "weir_detach"))
	}

	// SIGTERM: a clean exit that removes the socket.
	d.stop(t)
	if _, err := os.Stat(d.socket); !os.IsNotExist(err) {
		t.Errorf("the socket is still there after the daemon stopped: %v", err)
	}
}

// TestDaemonRecoversOnStart: a container attached while no daemon ran is
// kept by the daemon's recovery, and served.
func TestDaemonRecoversOnStart(t *testing.T) {
	bin := binDir(t)
	netd, state := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(netd, "10-apinet.conflist"), strings.Replace(strings.ReplaceAll(apiConflist, "{{state}}", state), "10.91.0.0/24", "10.92.0.0/24", 1))
	pid := startContainer(t)
	flags := []string{"--conf-dir", netd, "--plugin-dir", bin, "--state-dir", state}
	// A first daemon run leaves the policy engine's files; the socket goes
	// with the daemon, so a second one starts on it.
	startDaemon(t, bin, state, "--conf-dir", netd, "--plugin-dir", bin).stop(t)
	before := hostState(t, state)
	if out, stderr, err := weirCLI(t, bin, append([]string{"attach", "early", "--pid", strconv.Itoa(pid), "--net", "apinet"}, flags...)...); err != nil {
		t.Fatalf("weir attach: %v\n%s%s", err, out, stderr)
	}
	d := startDaemon(t, bin, state, "--conf-dir", netd, "--plugin-dir", bin)
	code, body := d.do(t, "GET", "/v1/containers/early", "")
	var st containerStatus
	decode(t, body, &st)
	if code != 200 || st.State != "isolated" || !slices.Equal(st.ips(), ipsIn(t, nsOf(t, pid), "eth0")) {
		t.Fatalf("GET early after the daemon started: %d %s", code, body)
	}
	if !strings.Contains(d.logs.String(), "recovered") {
		t.Errorf("the daemon did not log its recovery:\n%s", d.logs.String())
	}
	if code, body := d.do(t, "DELETE", "/v1/containers/early", ""); code != http.StatusNoContent {
		t.Fatalf("DELETE early: %d %s", code, body)
	}
	d.stop(t)
	if after := hostState(t, state); after != before {
		t.Errorf("state left:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// grepLines returns the lines of text that contain s.
func grepLines(text, s string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestDaemonGCLoop: the daemon's periodic CNI GC releases an address that
// leaked (a reservation no record accounts for) and keeps the attached
// container's.
func TestDaemonGCLoop(t *testing.T) {
	bin := binDir(t)
	netd, state := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(netd, "10-gcnet.conflist"), strings.NewReplacer("{{state}}", state, "apinet", "gcnet", "api0", "gc0", "10.91.0.", "10.95.0.").Replace(apiConflist))
	d := startDaemon(t, bin, state, "--conf-dir", netd, "--plugin-dir", bin, "--gc-interval", "200ms")
	pid := startContainer(t)
	code, body := d.do(t, "POST", "/v1/containers/gc1", attachBody(pid, nil, "gcnet"))
	if code != http.StatusCreated {
		t.Fatalf("POST gc1: %d %s", code, body)
	}
	live := filepath.Join(state, "ipam", "gcnet", ipsIn(t, nsOf(t, pid), "eth0")[0])
	leaked := filepath.Join(state, "ipam", "gcnet", "10.95.0.77")
	writeFile(t, leaked, "ghost\neth0")
	if _, ok := waitFor(5*time.Second, func() bool { _, err := os.Stat(leaked); return os.IsNotExist(err) }); !ok {
		t.Fatalf("the leaked reservation was not collected within 5s\n%s", d.logs.String())
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("GC released the attached container's address: %v", err)
	}
	gcRan := regexp.MustCompile(`weir_gc_runs_total\{result="ok"\} [1-9]`)
	if _, ok := waitFor(5*time.Second, func() bool { _, body = d.do(t, "GET", "/metrics", ""); return gcRan.Match(body) }); !ok {
		t.Errorf("no GC runs in the metrics:\n%s", grepLines(string(body), "weir_gc"))
	}
	if code, body := d.do(t, "DELETE", "/v1/containers/gc1", ""); code != http.StatusNoContent {
		t.Fatalf("DELETE gc1: %d %s", code, body)
	}
}
