package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/weirnet/weir/chain"
	"github.com/weirnet/weir/isolator"
)

// statusHost is a state directory with records written as the chain
// runner writes them (no plugin runs), the daemon's API over an isolator
// with a status cache, and the CLI's isolator without one.
type statusHost struct {
	state string
	cache *isolator.StatusCache
	api   http.Handler
	cli   *isolator.Isolator
	reg   *prometheus.Registry
}

const statusConflist = `{"cniVersion":"1.1.0","name":"%s","plugins":[{"type":"bridge","bridge":"x0"}]}`

func newStatusHost(t *testing.T) *statusHost {
	t.Helper()
	state, conf := t.TempDir(), t.TempDir()
	for _, n := range []string{"n1", "n2"} {
		if err := os.WriteFile(filepath.Join(conf, n+".conflist"), fmt.Appendf(nil, statusConflist, n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h := &statusHost{state: state, cache: &isolator.StatusCache{Settle: 20 * time.Millisecond}, reg: prometheus.NewRegistry()}
	daemon := &isolator.Isolator{Runner: &chain.Runner{StateDir: state}, ConfDir: conf, Cache: h.cache}
	h.cli = &isolator.Isolator{Runner: &chain.Runner{StateDir: state}, ConfDir: conf}
	m := newMetrics(h.reg, newHostCollector(daemon, conf, nil, hclog.NewNullLogger()))
	h.api = (&api{iso: daemon, metrics: m, registry: h.reg, log: hclog.NewNullLogger()}).handler()
	return h
}

// attach records container id on network as attached with address ip, as
// `weir attach` without the daemon leaves it (the records only).
func (h *statusHost) attach(t *testing.T, id, network, ifName, ip string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(h.state, "containers", id, "config.json")); err != nil {
		cfg := &isolator.ContainerConfig{ContainerInfo: &isolator.ContainerInfo{NetworkInfos: []isolator.NetworkInfo{{Name: network,
			Labels: &isolator.Labels{Labels: []isolator.Label{{Key: "app", Value: "a&b<c>"}}}}}}}
		if _, err := h.cli.Prepare(id, cfg); err != nil {
			t.Fatal(err)
		}
	}
	store := chain.Store{Dir: h.state}
	rec := &chain.Record{Network: network, ContainerID: id, IfName: ifName, State: chain.StateAdding, Config: fmt.Appendf(nil, statusConflist, network)}
	if err := store.Save(rec); err != nil {
		t.Fatal(err)
	}
	rec.State, rec.Config = chain.StateAdded, nil
	rec.Result = fmt.Appendf(nil, `{"cniVersion":"1.1.0","interfaces":[{"name":%q}],"ips":[{"address":"%s/24","interface":0}]}`, ifName, ip)
	if err := store.Save(rec); err != nil {
		t.Fatal(err)
	}
}

func (h *statusHost) get(t *testing.T, path string) (int, []byte) {
	t.Helper()
	w := httptest.NewRecorder()
	h.api.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
	return w.Code, w.Body.Bytes()
}

// summary is GET /v1/containers/{id} in a line: the code, the state and
// every network's interface and addresses.
func (h *statusHost) summary(t *testing.T, id string) string {
	t.Helper()
	code, body := h.get(t, "/v1/containers/"+id)
	if code != http.StatusOK {
		return fmt.Sprint(code)
	}
	var st isolator.ContainerStatus
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatalf("GET %s: %v: %s", id, err, body)
	}
	s := st.State
	for _, n := range st.NetworkInfos {
		s += " " + n.Name + "=" + st.Interfaces[n.Name]
		for _, a := range n.IPAddresses {
			s += "," + a.IPAddress
		}
	}
	return s
}

// hits is how many status lookups the daemon's cache answered. (Its
// metric, weir_status_cache_lookups_total, is no probe: a scrape lists
// the containers, which looks them up.)
func (h *statusHost) hits(t *testing.T) uint64 {
	hits, _ := h.cache.Lookups()
	return hits
}

// metric is the value of the daemon's metric name, with the label value
// label when not empty.
func (h *statusHost) metric(t *testing.T, name, label string) float64 {
	t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label != "" && (len(m.GetLabel()) == 0 || m.GetLabel()[0].GetValue() != label) {
				continue
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s{%s}", name, label)
	return 0
}

// TestAPIStatusFollowsTheCLI: the daemon answers GET /v1/containers/{id}
// from its cache once the records settled, and the first GET after the CLI
// changed the records behind its back reflects the change.
func TestAPIStatusFollowsTheCLI(t *testing.T) {
	h := newStatusHost(t)
	steps := []struct {
		name   string
		change func()
		want   string
	}{
		{"attached by the CLI", func() { h.attach(t, "c1", "n1", "eth0", "10.1.0.2") }, "isolated n1=eth0,10.1.0.2"},
		{"second network by the CLI", func() { h.attach(t, "c1", "n2", "eth1", "10.2.0.2") }, "isolated n1=eth0,10.1.0.2 n2=eth1,10.2.0.2"},
		{"first network detached by the CLI", func() {
			if err := (chain.Store{Dir: h.state}).Delete("c1", "n1"); err != nil {
				t.Fatal(err)
			}
		}, "isolated n2=eth1,10.2.0.2"},
		{"detached and attached again, another address", func() {
			if err := os.RemoveAll(filepath.Join(h.state, "containers", "c1")); err != nil {
				t.Fatal(err)
			}
			h.attach(t, "c1", "n2", "eth1", "10.2.0.9")
		}, "isolated n2=eth1,10.2.0.9"},
		{"detached by the CLI", func() {
			if err := os.RemoveAll(filepath.Join(h.state, "containers", "c1")); err != nil {
				t.Fatal(err)
			}
		}, "404"},
	}
	if got := h.summary(t, "c1"); got != "404" {
		t.Fatalf("before any attach: %s", got)
	}
	for _, s := range steps {
		s.change()
		if got := h.summary(t, "c1"); got != s.want {
			t.Fatalf("%s: GET right after = %q, want %q", s.name, got, s.want)
		}
		if s.want == "404" {
			continue
		}
		// Settled: the next GETs are answered from the cache.
		time.Sleep(50 * time.Millisecond)
		h.summary(t, "c1")
		before := h.hits(t)
		if got := h.summary(t, "c1"); got != s.want {
			t.Fatalf("%s: GET from the cache = %q, want %q", s.name, got, s.want)
		}
		if after := h.hits(t); after != before+1 {
			t.Fatalf("%s: the GET after the records settled was not a cache hit (hits %v, then %v)", s.name, before, after)
		}
	}
}

// TestAPIStatusBody: the status body from the cache is byte for byte what
// the API wrote before it had one (containerView through writeJSON), and
// the list agrees.
func TestAPIStatusBody(t *testing.T) {
	h := newStatusHost(t)
	h.attach(t, "c1", "n1", "eth0", "10.1.0.2")
	time.Sleep(50 * time.Millisecond)
	st, err := h.cli.Status("c1")
	if err != nil {
		t.Fatal(err)
	}
	want := httptest.NewRecorder()
	writeJSON(want, http.StatusOK, containerView{ContainerStatus: st})
	for i := range 3 { // a miss, then hits
		code, got := h.get(t, "/v1/containers/c1")
		if code != http.StatusOK || !bytes.Equal(got, want.Body.Bytes()) {
			t.Fatalf("GET %d: %d\n%s\nwant\n%s", i, code, got, want.Body.Bytes())
		}
	}
	if !strings.Contains(want.Body.String(), `"a\u0026b\u003cc\u003e"`) {
		t.Errorf("the label is not HTML-escaped as json.Encoder does: %s", want.Body.String())
	}
	code, list := h.get(t, "/v1/containers")
	var all []*isolator.ContainerStatus
	if err := json.Unmarshal(list, &all); code != http.StatusOK || err != nil || len(all) != 1 || all[0].NetworkInfos[0].IPAddresses[0].IPAddress != "10.1.0.2" {
		t.Fatalf("GET /v1/containers: %d %v %s", code, err, list)
	}
	if n := h.metric(t, "weir_status_cache_entries", ""); n != 1 {
		t.Errorf("weir_status_cache_entries = %v, want 1", n)
	}
	hits, misses := h.cache.Lookups()
	if got := h.metric(t, "weir_status_cache_lookups_total", "hit"); got < float64(hits) {
		t.Errorf("weir_status_cache_lookups_total{result=\"hit\"} = %v, want at least %d", got, hits)
	}
	if got := h.metric(t, "weir_status_cache_lookups_total", "miss"); got != float64(misses) {
		t.Errorf("weir_status_cache_lookups_total{result=\"miss\"} = %v, want %d", got, misses)
	}
}
