package integration

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/weirnet/weir/internal/sandbox"
)

const cliConflist = `{"cniVersion":"1.1.0","name":"clinet","plugins":[
  {"type":"bridge","bridge":"cli0","isGateway":true,"ipam":{"type":"host-local","subnet":"10.93.0.0/24","dataDir":"{{state}}/ipam"}}]}`

// TestAttachStatusListDetach drives the isolator through the CLI, without
// a daemon: a real process attached by pid, a pinned namespace attached by
// path, status and list as tables and JSON, refusals that change nothing,
// and detach leaving nothing.
func TestAttachStatusListDetach(t *testing.T) {
	bin := binDir(t)
	netd, state := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(netd, "10-clinet.conflist"), strings.ReplaceAll(cliConflist, "{{state}}", state))
	flags := []string{"--conf-dir", netd, "--plugin-dir", bin, "--state-dir", state}
	cli := func(args ...string) (string, string, error) { return weirCLI(t, bin, append(args, flags...)...) }
	before := hostState(t, state)

	pid := startContainer(t)
	out, stderr, err := cli("attach", "c1", "--pid", strconv.Itoa(pid), "--net", "clinet", "--label", "app=web", "--label", "tier=front")
	if err != nil {
		t.Fatalf("weir attach c1: %v\n%s%s", err, out, stderr)
	}
	ip1 := ipsIn(t, nsOf(t, pid), "eth0")
	if len(ip1) != 1 || !strings.HasPrefix(ip1[0], "10.93.0.") {
		t.Fatalf("eth0 inside c1: %v", ip1)
	}
	for _, want := range []string{`(?m)^ID\s+c1$`, `(?m)^STATE\s+isolated$`, `(?m)^NETWORK\s+IFACE\s+ADDRESSES\s+LABELS\s+PORTS$`,
		`(?m)^clinet\s+eth0\s+` + regexp.QuoteMeta(ip1[0]) + `\s+app=web,tier=front\s+-$`} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("weir attach printed:\n%s\nwant a line matching %s", out, want)
		}
	}

	// A namespace given by path, JSON out.
	n2 := sandbox.NewNS(t)
	out, stderr, err = cli("attach", "c2", "--netns", n2.Path(), "--net", "clinet", "--json")
	if err != nil {
		t.Fatalf("weir attach c2: %v\n%s%s", err, out, stderr)
	}
	var st2 containerStatus
	decode(t, []byte(out), &st2)
	ip2 := ipsIn(t, n2, "eth0")
	if st2.ContainerID != "c2" || st2.State != "isolated" || !slices.Equal(st2.ips(), ip2) {
		t.Errorf("weir attach c2 --json: %s; eth0 inside has %v", out, ip2)
	}
	if err := sandbox.Ping(n2.Path(), ip1[0]); err != nil {
		t.Errorf("c2 cannot reach c1 on their bridge: %v", err)
	}

	// Status: a table of all, one in detail, JSON.
	out, _, err = cli("status")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`(?m)^ID\s+STATE\s+NETWORKS\s+ADDRESSES$`,
		`(?m)^c1\s+isolated\s+clinet\s+` + regexp.QuoteMeta(ip1[0]) + `$`, `(?m)^c2\s+isolated\s+clinet\s+` + regexp.QuoteMeta(ip2[0]) + `$`} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("weir status:\n%s\nwant a line matching %s", out, want)
		}
	}
	if cols := columnStarts(out); len(cols) != 3 || !cols[0].equal(cols[1]) || !cols[1].equal(cols[2]) {
		t.Errorf("weir status columns are not aligned:\n%s", out)
	}
	out, _, err = cli("status", "c1", "--json", "--usage")
	var st1 containerStatus
	decode(t, []byte(out), &st1)
	if err != nil || !slices.Equal(st1.ips(), ip1) || st1.NetNS != filepath.Join(state, "containers", "c1", "ns") || len(st1.Usage) != 1 {
		t.Errorf("weir status c1 --json --usage: %v\n%s", err, out)
	}
	out, _, err = cli("list")
	if err != nil || !regexp.MustCompile(`(?m)^ID\s+STATE\n(c1\s+isolated\n)(c2\s+isolated\n)$`).MatchString(out) {
		t.Errorf("weir list: %v\n%s", err, out)
	}
	out, _, _ = cli("list", "--json")
	var list []struct {
		ContainerID string `json:"container_id"`
		State       string `json:"state"`
	}
	decode(t, []byte(out), &list)
	if len(list) != 2 || list[0].ContainerID != "c1" || list[1].State != "isolated" {
		t.Errorf("weir list --json: %s", out)
	}

	// Refusals change nothing.
	mid := hostState(t, state)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"attach", "c1", "--pid", strconv.Itoa(pid), "--net", "clinet"}, 1, "container c1 is already prepared"},
		{[]string{"attach", "c3", "--pid", strconv.Itoa(pid), "--net", "nosuch"}, 1, `network "nosuch" is not defined`},
		{[]string{"attach", "c3", "--pid", strconv.Itoa(pid), "--net", "clinet", "--net", "clinet"}, 1, `network "clinet" is asked for twice`},
		{[]string{"attach", "../c3", "--pid", strconv.Itoa(pid), "--net", "clinet"}, 2, `container id "../c3" contains ".."`},
		{[]string{"attach", "c3", "--net", "clinet"}, 2, "give exactly one of --pid N and --netns PATH"},
		{[]string{"attach", "c3", "--pid", "2147483646", "--net", "clinet"}, 2, "pid 2147483646: no such process"},
		{[]string{"attach", "c3", "--pid", strconv.Itoa(pid), "--net", "clinet", "--publish", "10.0.0.1:80:80"}, 2, "no host address"},
		{[]string{"status", "nope"}, 1, "unknown container"},
	} {
		_, stderr, err := cli(c.args...)
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("weir %s: %v %s, want exit %d and %q", strings.Join(c.args, " "), err, stderr, c.code, c.want)
		}
		if after := hostState(t, state); after != mid {
			t.Fatalf("weir %s changed the host:\n%s", strings.Join(c.args, " "), after)
		}
	}

	for _, id := range []string{"c1", "c2"} {
		if out, stderr, err := cli("detach", id); err != nil || out != id+" detached\n" {
			t.Fatalf("weir detach %s: %v\n%s%s", id, err, out, stderr)
		}
	}
	if after := hostState(t, state); after != before {
		t.Errorf("detach left state behind:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if mounted(t, state) {
		t.Error("a namespace is still mounted under the state dir")
	}
	if _, stderr, err := cli("detach", "c1"); err != nil {
		t.Errorf("second weir detach: %v %s", err, stderr)
	}
	if out, _, _ := cli("list"); out != "ID  STATE\n" {
		t.Errorf("weir list after detach: %q", out)
	}
}

// column is where the columns of one table line start.
type column []int

func (c column) equal(o column) bool { return slices.Equal(c, o) }

// columnStarts returns, for each non-empty line, the offsets where a word
// follows two or more spaces (or starts the line).
func columnStarts(table string) []column {
	var out []column
	re := regexp.MustCompile(`(^|\s{2,})\S`)
	for _, l := range strings.Split(strings.TrimSpace(table), "\n") {
		var c column
		for _, m := range re.FindAllStringIndex(l, -1) {
			c = append(c, m[1]-1)
		}
		out = append(out, c)
	}
	return out
}

// TestRecoverUndoesKilledAttach kills `weir attach` while its network's
// chain hangs half done (bridge attached, the next plugin hanging): weir
// recover undoes that attach as a whole — the chain, the pinned namespace,
// the records — and keeps a container whose attach completed.
func TestRecoverUndoesKilledAttach(t *testing.T) {
	bin := binDir(t)
	netd, state, extra := t.TempDir(), t.TempDir(), t.TempDir()
	mark := hangingPlugin(t, extra)
	writeFile(t, filepath.Join(netd, "10-half.conflist"), `{"cniVersion":"1.0.0","name":"half","plugins":[
	  {"type":"bridge","bridge":"half1","isGateway":true,"ipMasq":true,"ipam":{"type":"host-local","subnet":"10.67.0.0/24","dataDir":"`+state+`/ipam"}},
	  {"type":"hang"}]}`)
	writeFile(t, filepath.Join(netd, "20-clinet.conflist"), strings.ReplaceAll(strings.Replace(cliConflist, "10.93.0.0/24", "10.94.0.0/24", 1), "{{state}}", state))
	flags := []string{"--conf-dir", netd, "--plugin-dir", bin + ":" + extra, "--state-dir", state}
	before := hostState(t, state)

	// A container whose attach completes: recovery keeps it.
	keep := startContainer(t)
	if _, stderr, err := weirCLI(t, bin, append([]string{"attach", "kept", "--pid", strconv.Itoa(keep), "--net", "clinet"}, flags...)...); err != nil {
		t.Fatalf("weir attach kept: %v\n%s", err, stderr)
	}
	withKept := hostState(t, state)

	pid := startContainer(t)
	cmd := exec.Command(filepath.Join(bin, "weir"), append([]string{"attach", "ctrk", "--pid", strconv.Itoa(pid), "--net", "half"}, flags...)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	hangPID := waitHanging(t, mark, cmd)
	if !strings.Contains(hostState(t, state), "veth") || len(ipsIn(t, nsOf(t, pid), "eth0")) == 0 {
		t.Fatal("the bridge ADD had not happened before the kill; the test proves nothing")
	}
	// While the attach is in progress, recovery leaves it alone.
	hanging := hostState(t, state)
	out, stderr, err := weirCLI(t, bin, append([]string{"recover", "--json"}, flags...)...)
	if err != nil || !strings.Contains(out, `"busy": [`+"\n"+`        "ctrk"`) || !strings.Contains(out, `"undone": []`) {
		t.Errorf("weir recover during the attach: %v\n%s%s, want ctrk busy and nothing undone", err, out, stderr)
	}
	if after := hostState(t, state); after != hanging {
		t.Errorf("weir recover touched the attach in progress:\n%s", after)
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	_ = syscall.Kill(hangPID, syscall.SIGKILL) // the orphaned hanging plugin

	// Half done on disk: weir says so.
	out, _, err = weirCLI(t, bin, append([]string{"list"}, flags...)...)
	if err != nil || !regexp.MustCompile(`(?m)^ctrk\s+partial$`).MatchString(out) {
		t.Errorf("weir list after the kill: %v\n%s", err, out)
	}
	if !mounted(t, state) {
		t.Error("the killed attach had not pinned the namespace; the test proves less")
	}

	out, stderr, err = weirCLI(t, bin, append([]string{"recover", "--json"}, flags...)...)
	if err != nil {
		t.Fatalf("weir recover: %v\n%s%s", err, out, stderr)
	}
	var rep struct {
		Kept    []containerStatus `json:"kept"`
		Undone  []string          `json:"undone"`
		Cleaned []string          `json:"cleaned"`
		Errors  []string          `json:"errors"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("weir recover --json printed %q: %v", out, err)
	}
	if !slices.Equal(rep.Undone, []string{"ctrk/half"}) || !slices.Equal(rep.Cleaned, []string{"ctrk"}) || len(rep.Kept) != 1 || rep.Kept[0].ContainerID != "kept" || len(rep.Errors) != 0 {
		t.Errorf("weir recover reported %s, want ctrk/half undone, ctrk cleaned, kept kept", out)
	}
	if after := hostState(t, state); after != withKept {
		t.Errorf("weir recover left the half-done attach:\nwant:\n%s\ngot:\n%s", withKept, after)
	}
	if l, err := sandbox.LinkIn(nsOf(t, pid), "eth0"); err == nil {
		t.Errorf("eth0 still in the killed container's namespace: %v", l.Attrs().Name)
	}
	if _, err := os.Stat(filepath.Join(state, "containers", "ctrk")); !os.IsNotExist(err) {
		t.Errorf("the half-done container's directory is still there: %v", err)
	}
	// The kept container still works and still detaches cleanly; then a
	// recover on a clean host does nothing.
	if _, stderr, err := weirCLI(t, bin, append([]string{"detach", "kept"}, flags...)...); err != nil {
		t.Fatalf("weir detach kept: %v\n%s", err, stderr)
	}
	if after := hostState(t, state); after != before {
		t.Errorf("state left:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if mounted(t, state) {
		t.Error("a namespace is still mounted under the state dir")
	}
	out, _, err = weirCLI(t, bin, append([]string{"recover"}, flags...)...)
	if err != nil || !regexp.MustCompile(`(?m)^kept\s+0\s*$`).MatchString(out) || !regexp.MustCompile(`(?m)^undone\s+0\s*$`).MatchString(out) {
		t.Errorf("weir recover on a clean host: %v\n%s", err, out)
	}
}

// hangingPlugin writes the plugin "hang" into dir: its ADD hangs after
// writing its pid (kept by exec) to the returned file, so that a test can
// end exactly that process; other commands succeed.
func hangingPlugin(t *testing.T, dir string) string {
	t.Helper()
	mark := filepath.Join(dir, "hanging")
	writeFile(t, filepath.Join(dir, "hang"), "#!/bin/sh\ncat >/dev/null\n[ \"$CNI_COMMAND\" = ADD ] || exit 0\necho $$ > "+mark+".tmp && mv "+mark+".tmp "+mark+"\nexec sleep 60\n")
	if err := os.Chmod(filepath.Join(dir, "hang"), 0o755); err != nil {
		t.Fatal(err)
	}
	return mark
}

// waitHanging waits until cmd's chain reached the hanging plugin and
// returns the plugin's pid.
func waitHanging(t *testing.T, mark string, cmd *exec.Cmd) int {
	t.Helper()
	var pid int
	if _, ok := waitFor(10*time.Second, func() bool {
		b, err := os.ReadFile(mark)
		pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil && pid > 0
	}); !ok {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatal("the chain never reached the hanging plugin")
	}
	return pid
}

// TestRecoverSkipsNetAddInProgress: `weir net add` takes only the chain
// runner's lock; a recovery meanwhile must not take its "adding" record for
// a crash's leftover. Once it is killed, recovery undoes it.
func TestRecoverSkipsNetAddInProgress(t *testing.T) {
	bin := binDir(t)
	netd, state, extra := t.TempDir(), t.TempDir(), t.TempDir()
	mark := hangingPlugin(t, extra)
	writeFile(t, filepath.Join(netd, "10-half.conflist"), `{"cniVersion":"1.0.0","name":"half","plugins":[
	  {"type":"bridge","bridge":"half2","ipam":{"type":"host-local","subnet":"10.68.0.0/24","dataDir":"`+state+`/ipam"}},
	  {"type":"hang"}]}`)
	flags := []string{"--conf-dir", netd, "--plugin-dir", bin + ":" + extra, "--state-dir", state}
	n := sandbox.NewNS(t)
	before := hostState(t, state)
	cmd := exec.Command(filepath.Join(bin, "weir"), append([]string{"net", "add", "half", "na1", n.Path()}, flags...)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	hangPID := waitHanging(t, mark, cmd)
	hanging := hostState(t, state)
	out, stderr, err := weirCLI(t, bin, append([]string{"recover"}, flags...)...)
	if err != nil || !regexp.MustCompile(`(?m)^busy\s+1\s+na1$`).MatchString(out) || !regexp.MustCompile(`(?m)^undone\s+0\s*$`).MatchString(out) {
		t.Errorf("weir recover during weir net add: %v\n%s%s, want na1 busy", err, out, stderr)
	}
	if after := hostState(t, state); after != hanging {
		t.Errorf("weir recover touched the attach in progress:\n%s", after)
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	_ = syscall.Kill(hangPID, syscall.SIGKILL)
	out, stderr, err = weirCLI(t, bin, append([]string{"recover"}, flags...)...)
	if err != nil || !regexp.MustCompile(`(?m)^undone\s+1\s+na1/half$`).MatchString(out) {
		t.Errorf("weir recover after the kill: %v\n%s%s, want na1/half undone", err, out, stderr)
	}
	if after := hostState(t, state); after != before {
		t.Errorf("state left:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}
