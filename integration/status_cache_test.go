package integration

import (
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// cacheConflists are two bridge networks for TestDaemonStatusFollowsCLI.
const cacheConflists = `{"cniVersion":"1.1.0","name":"cachenet","plugins":[
  {"type":"bridge","bridge":"cache0","isGateway":true,"ipam":{"type":"host-local","subnet":"10.93.0.0/24","dataDir":"{{state}}/ipam"}}]}
{"cniVersion":"1.1.0","name":"cachenet2","plugins":[
  {"type":"bridge","bridge":"cache1","isGateway":true,"ipam":{"type":"host-local","subnet":"10.94.0.0/24","dataDir":"{{state}}/ipam"}}]}`

// TestDaemonStatusFollowsCLI: `weir serve` answers status queries from its
// cache once a container's records have settled (a second: see
// isolator.StatusCache), and the first query after the CLI — `weir
// attach`, `weir detach`, `weir net add|del`, without the daemon —
// changed the records behind its back reflects the change.
func TestDaemonStatusFollowsCLI(t *testing.T) {
	bin := binDir(t)
	netd, state := t.TempDir(), t.TempDir()
	for i, c := range strings.Split(strings.ReplaceAll(cacheConflists, "{{state}}", state), "\n{") {
		if i > 0 {
			c = "{" + c
		}
		writeFile(t, filepath.Join(netd, fmt.Sprintf("%d.conflist", i)), c)
	}
	flags := []string{"--conf-dir", netd, "--plugin-dir", bin, "--state-dir", state}
	d := startDaemon(t, bin, state, "--conf-dir", netd, "--plugin-dir", bin, "--gc-interval", "1h")
	cli := func(args ...string) {
		t.Helper()
		if out, stderr, err := weirCLI(t, bin, append(args, flags...)...); err != nil {
			t.Fatalf("weir %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
		}
	}
	get := func(id string) (int, containerStatus) {
		t.Helper()
		code, body := d.do(t, "GET", "/v1/containers/"+id, "")
		var st containerStatus
		if code == http.StatusOK {
			decode(t, body, &st)
		}
		return code, st
	}
	hitsRE := regexp.MustCompile(`(?m)^weir_status_cache_lookups_total\{result="hit"\} (\d+)$`)
	hits := func() int {
		t.Helper()
		_, body := d.do(t, "GET", "/metrics", "")
		m := hitsRE.FindSubmatch(body)
		if m == nil {
			t.Fatalf("no status cache hits in /metrics:\n%s", grepLines(string(body), "status_cache"))
		}
		n, _ := strconv.Atoi(string(m[1]))
		return n
	}
	// settledHit waits for id's records to settle, then checks that a GET
	// is answered from the cache, with the status want says.
	settledHit := func(id string, containers int, want func(containerStatus) bool) {
		t.Helper()
		time.Sleep(1200 * time.Millisecond)
		get(id) // read and kept
		before := hits()
		code, st := get(id)
		if code != http.StatusOK || !want(st) {
			t.Fatalf("GET %s from the cache: %d %+v", id, code, st)
		}
		// The GET, and the scrape's own listing of every container.
		if after := hits(); after != before+1+containers {
			t.Fatalf("GET %s with settled records: %d cache hits, want 1 (+%d from the scrape)", id, after-before-containers, containers)
		}
	}

	// The daemon attaches c1; its status gets cached; the CLI detaches it.
	p1 := startContainer(t)
	if code, body := d.do(t, "POST", "/v1/containers/c1", attachBody(p1, nil, "cachenet")); code != http.StatusCreated {
		t.Fatalf("POST c1: %d %s", code, body)
	}
	ips1 := ipsIn(t, nsOf(t, p1), "eth0")
	settledHit("c1", 1, func(st containerStatus) bool { return slices.Equal(st.ips(), ips1) })
	cli("detach", "c1")
	if code, st := get("c1"); code != http.StatusNotFound {
		t.Fatalf("GET c1 right after weir detach: %d %+v, want 404", code, st)
	}

	// The CLI attaches c2, the daemon serves it; the CLI adds a second
	// network, then removes the first.
	p2 := startContainer(t)
	ns2 := fmt.Sprintf("/proc/%d/ns/net", p2)
	cli("attach", "c2", "--pid", strconv.Itoa(p2), "--net", "cachenet")
	eth0 := ipsIn(t, nsOf(t, p2), "eth0")
	if code, st := get("c2"); code != http.StatusOK || st.State != "isolated" || !slices.Equal(st.ips(), eth0) {
		t.Fatalf("GET c2 right after weir attach: %d %+v, want %v", code, st, eth0)
	}
	settledHit("c2", 1, func(st containerStatus) bool { return slices.Equal(st.ips(), eth0) })

	cli("net", "add", "cachenet2", "c2", ns2, "--ifname", "eth1")
	eth1 := ipsIn(t, nsOf(t, p2), "eth1")
	both := append(slices.Clone(eth0), eth1...)
	if code, st := get("c2"); code != http.StatusOK || !slices.Equal(st.ips(), both) {
		t.Fatalf("GET c2 right after weir net add: %d %+v, want %v", code, st, both)
	}
	settledHit("c2", 1, func(st containerStatus) bool { return slices.Equal(st.ips(), both) })

	cli("net", "del", "cachenet", "c2", ns2)
	if code, st := get("c2"); code != http.StatusOK || !slices.Equal(st.ips(), eth1) || len(st.NetworkInfos) != 1 {
		t.Fatalf("GET c2 right after weir net del: %d %+v, want only %v", code, st, eth1)
	}
	settledHit("c2", 1, func(st containerStatus) bool { return slices.Equal(st.ips(), eth1) })

	// The list agrees, and a DELETE through the daemon is seen at once.
	code, body := d.do(t, "GET", "/v1/containers", "")
	var all []containerStatus
	decode(t, body, &all)
	if code != http.StatusOK || len(all) != 1 || all[0].ContainerID != "c2" || !slices.Equal(all[0].ips(), eth1) {
		t.Fatalf("GET /v1/containers: %d %s", code, body)
	}
	cli("net", "del", "cachenet2", "c2", ns2)
	cli("detach", "c2")
	if code, st := get("c2"); code != http.StatusNotFound {
		t.Fatalf("GET c2 after weir detach: %d %+v, want 404", code, st)
	}
}
