package chaos

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// faultScript is a CNI plugin in POSIX sh that misbehaves on one command
// as behave says, passes prevResult on otherwise, logs every call to
// <name>.log and, once <name>.fixed exists, behaves.
const faultScript = `#!/bin/sh
conf=$(cat)
me={{dir}}/{{name}}
echo "$CNI_COMMAND $$" >> "$me.log"
ver=$(printf '%s' "$conf" | tr -d '\n' | sed -n 's/.*"cniVersion" *: *"\([^"]*\)".*/\1/p')
ok() {
  if [ "$CNI_COMMAND" = ADD ]; then
    p=$(printf '%s' "$conf" | tr -d '\n' | awk '{
      i = index($0, "\"prevResult\":"); if (i == 0) exit
      s = substr($0, i + 13); d = 0; q = 0
      for (j = 1; j <= length(s); j++) {
        c = substr(s, j, 1)
        if (q) { if (c == "\\") j++; else if (c == "\"") q = 0; continue }
        if (c == "\"") q = 1
        else if (c == "{") d++
        else if (c == "}") { d--; if (d == 0) { print substr(s, 1, j); exit } }
      }
    }')
    if [ -n "$p" ]; then printf '%s' "$p"; else printf '{"cniVersion":"%s"}' "$ver"; fi
  fi
  exit 0
}
case "$CNI_COMMAND" in
VERSION) printf '{"cniVersion":"1.1.0","supportedVersions":["0.4.0","1.0.0","1.1.0"]}'; exit 0 ;;
{{cmd}}) [ -e "$me.fixed" ] && ok ;;
*) ok ;;
esac
{{behave}}
`

// Behaviours of the misbehaving command.
var faultBehaviours = map[string]string{
	"hang":    `sleep 600 & echo $! > "$me.child"; echo $$ > "$me.pid"; wait; ok`,
	"crash":   `kill -SEGV $$; sleep 1; exit 3`,
	"garbage": `echo 'this is not JSON {'; exit 0`,
	"empty":   `exit 0`,
	"code7":   `printf '{"cniVersion":"%s","code":7,"msg":"fault: broken on purpose","details":"the test said so"}' "$ver"; exit 1`,
	"exit1":   `ok_out=$(ok); printf '%s' "$ok_out"; exit 1`,
	"code11x2": `n=$(cat "$me.n" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$me.n"
if [ $n -le 2 ]; then printf '{"cniVersion":"%s","code":11,"msg":"busy, try again"}' "$ver"; exit 1; fi; ok`,
	"code11x9": `n=$(cat "$me.n" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$me.n"
if [ $n -le 9 ]; then printf '{"cniVersion":"%s","code":11,"msg":"busy, try again"}' "$ver"; exit 1; fi; ok`,
	"daemonize": `setsid sleep 600 & echo $! > "$me.child"; ok`,
	"slow":      `sleep 0.4; ok`,
}

// faultCase is one misbehaving plugin in a chain with weir's bridge and
// host-local (and policy after it).
type faultCase struct {
	name   string
	cmd    string // the command that misbehaves: ADD or DEL
	behave string
	first  bool   // the plugin comes before bridge, not after it
	add    string // "" when ADD succeeds, else what its error says
	del    string // "" when the first DEL succeeds, else what its error says
	calls  int    // how often the misbehaving command must have been called (0: don't count)
	maxDur time.Duration
	// timeout is weir's --timeout (default 1s).
	timeout string
}

var faultCases = []faultCase{
	{name: "hang-add", cmd: "ADD", behave: "hang", add: "timed out after 1s and was killed", calls: 1, maxDur: 8 * time.Second},
	{name: "hang-add-first", cmd: "ADD", behave: "hang", first: true, add: "timed out after 1s and was killed", calls: 1, maxDur: 8 * time.Second},
	{name: "crash-add", cmd: "ADD", behave: "crash", add: "plugin fault-crash-add failed (add)", calls: 1},
	{name: "garbage-add", cmd: "ADD", behave: "garbage", add: "fault-garbage-add", calls: 1},
	{name: "empty-add", cmd: "ADD", behave: "empty", add: "fault-empty-add", calls: 1},
	{name: "exit1-add", cmd: "ADD", behave: "exit1", add: "fault-exit1-add", calls: 1},
	{name: "code7-add", cmd: "ADD", behave: "code7", add: "fault: broken on purpose", calls: 1},
	{name: "code7-add-first", cmd: "ADD", behave: "code7", first: true, add: "fault: broken on purpose", calls: 1},
	{name: "code11-add-retried", cmd: "ADD", behave: "code11x2", calls: 3},
	{name: "code11-add-exhausted", cmd: "ADD", behave: "code11x9", add: "busy, try again", calls: 4},
	// A plugin that leaves a helper holding its stdout (a daemon it did
	// not detach from the pipe) and answers: weir stops waiting for the
	// pipe a second after the plugin exits, and takes the answer.
	{name: "daemonize-add", cmd: "ADD", behave: "daemonize", maxDur: 8 * time.Second, timeout: "5s"},
	{name: "slow-add", cmd: "ADD", behave: "slow"},
	{name: "code7-del", cmd: "DEL", behave: "code7", del: "fault: broken on purpose"},
	{name: "code7-del-first", cmd: "DEL", behave: "code7", first: true, del: "fault: broken on purpose"},
	{name: "hang-del", cmd: "DEL", behave: "hang", del: "timed out after 1s and was killed", maxDur: 8 * time.Second},
	{name: "crash-del", cmd: "DEL", behave: "crash", del: "plugin fault-crash-del failed (del)"},
	{name: "code11-del-retried", cmd: "DEL", behave: "code11x2", calls: 3},
}

// TestPluginFaults runs each misbehaving plugin through `weir net add` and
// `weir net del` (with --timeout 1s), and the hanging one through
// `weir attach` too: the error names what happened, a hung plugin dies
// with its process group, a failed ADD is rolled back, DEL runs every
// plugin and keeps the record until a retry succeeds — and in the end the
// host is exactly as before.
func TestPluginFaults(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	// A healthy chain first: its bridge stays, as bridges do.
	w.writeFaultNet(t, "", false)
	c0 := w.newContainer(t, "fault-warm", []string{"fault"}, false)
	c0.viaNet = true
	if r := w.attach(ctx, c0); r.err != nil {
		t.Fatalf("healthy chain: %s", r)
	}
	if r := w.detach(ctx, c0); r.err != nil {
		t.Fatalf("healthy chain: %s", r)
	}
	w.release(c0)
	base := w.snapshot(t) // with the fault network's bridge and store
	for _, fc := range faultCases {
		t.Run(fc.name, func(t *testing.T) {
			tally.faults.Add(1)
			w.runFault(t, fc)
		})
	}
	t.Run("hang-attach", func(t *testing.T) {
		tally.faults.Add(1)
		fc := faultCase{name: "hang-attach", cmd: "ADD", behave: "hang"}
		netName := w.writeFaultNet(t, w.faultPlugin(t, fc), false)
		c := w.newContainer(t, "f-"+fc.name, []string{netName}, true)
		defer w.release(c)
		before := w.snapshot(t, c.ns())
		start := time.Now()
		r := w.weir(ctx, append(c.attachArgs(), "--timeout", "1s")...)
		if r.err == nil || !strings.Contains(r.stderr, "timed out after 1s and was killed") || time.Since(start) > 8*time.Second {
			t.Errorf("weir attach with a hanging plugin: %s (took %v)", r, time.Since(start))
		}
		w.faultProcsGone(t, fc)
		if d := w.leftBehind(t, before, c); d != "" {
			tally.faultLeaks.Add(1)
			t.Errorf("the failed attach left:\n%s", d)
		}
	})
	if len(w.lockLeaks) > 0 {
		tally.faultLeaks.Add(1)
		t.Errorf("failed ADDs leave the chain runner's lock file of the container behind (until the runtime's DEL):\n  %s", strings.Join(w.lockLeaks, "\n  "))
	}
	if d := base.diff(w.snapshot(t), true); d != "" {
		t.Errorf("the host differs from before the faults:\n%s", d)
	}
}

// faultPlugin writes the fault plugin of fc and returns its type.
func (w *world) faultPlugin(t *testing.T, fc faultCase) string {
	name := "fault-" + fc.name
	s := strings.NewReplacer("{{dir}}", w.extra, "{{name}}", name, "{{cmd}}", fc.cmd, "{{behave}}", faultBehaviours[fc.behave]).Replace(faultScript)
	path := filepath.Join(w.extra, name)
	writeFile(t, path, s)
	if err := os.Chmod(path, 0o755); err != nil {
		t.Fatal(err)
	}
	return name
}

// writeFaultNet (re)defines the network "fault": bridge (with
// host-local), the plugin typ (first or after bridge; none when typ is
// ""), then policy.
func (w *world) writeFaultNet(t *testing.T, typ string, first bool) string {
	const name = "fault"
	bridge := fmt.Sprintf(`{"type":"bridge","bridge":"chaosf0","isGateway":true,"ipMasq":true,"ipam":{"type":"host-local","subnet":"10.79.0.0/24","dataDir":"%s/ipam"}}`, w.state)
	pol := fmt.Sprintf(`{"type":"policy","policyDir":"%s","stateDir":"%s"}`, w.pol, w.state)
	plugins := []string{bridge, pol}
	if typ != "" {
		f := fmt.Sprintf(`{"type":%q}`, typ)
		if first {
			plugins = []string{f, bridge, pol}
		} else {
			plugins = []string{bridge, f, pol}
		}
	}
	if w.netByName(name) == nil {
		w.addNet(&netDef{Name: name, Bridge: "chaosf0", Subnet: netip.MustParsePrefix("10.79.0.0/24"), Gateway: netip.MustParseAddr("10.79.0.1"), Masq: true})
	}
	writeFile(t, filepath.Join(w.conf, "90-fault.conflist"),
		fmt.Sprintf(`{"cniVersion":"1.1.0","name":%q,"plugins":[%s]}`, name, strings.Join(plugins, ",")))
	return name
}

// calls counts how often the fault plugin of fc was called with cmd.
func (w *world) calls(fc faultCase, cmd string) int {
	data, _ := os.ReadFile(filepath.Join(w.extra, "fault-"+fc.name+".log"))
	n := 0
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, cmd+" ") {
			n++
		}
	}
	return n
}

// faultProcsGone checks that the processes a hanging plugin left (itself
// and its child, in its process group) were killed.
func (w *world) faultProcsGone(t *testing.T, fc faultCase) {
	t.Helper()
	for _, f := range []string{".pid", ".child"} {
		data, err := os.ReadFile(filepath.Join(w.extra, "fault-"+fc.name+f))
		if err != nil {
			continue
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
		if pid <= 0 {
			continue
		}
		gone := false
		for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			if syscall.Kill(pid, 0) != nil || zombie(pid) {
				gone = true
				break
			}
		}
		if !gone && fc.behave != "daemonize" {
			t.Errorf("process %d of the %s plugin (%s) outlived weir", pid, fc.name, f)
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// zombie reports whether pid has exited but is not reaped yet.
func zombie(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	_, rest, _ := strings.Cut(string(data), ") ")
	return strings.HasPrefix(rest, "Z")
}

func (w *world) runFault(t *testing.T, fc faultCase) {
	ctx := context.Background()
	netName := w.writeFaultNet(t, w.faultPlugin(t, fc), fc.first)
	c := w.newContainer(t, "f-"+fc.name, []string{netName}, false)
	c.viaNet = true
	defer w.release(c)
	before := w.snapshot(t, c.ns())
	leaked := false
	defer func() {
		if leaked {
			tally.faultLeaks.Add(1)
		}
	}()

	timeout := fc.timeout
	if timeout == "" {
		timeout = "1s"
	}
	start := time.Now()
	r := w.weir(ctx, append(c.attachArgs(), "--timeout", timeout)...)
	took := time.Since(start)
	if fc.maxDur > 0 && took > fc.maxDur {
		t.Errorf("weir net add took %v, more than %v", took, fc.maxDur)
	}
	if fc.cmd == "ADD" && fc.calls > 0 {
		if n := w.calls(fc, "ADD"); n != fc.calls {
			t.Errorf("the plugin's ADD ran %d times, want %d", n, fc.calls)
		}
	}
	if fc.behave == "code11x9" && took < 700*time.Millisecond {
		t.Errorf("three retries of code 11 took %v: no backoff (100+200+400ms)", took)
	}
	w.faultProcsGone(t, fc)
	if fc.add != "" {
		if r.err == nil || !strings.Contains(r.stderr, fc.add) {
			t.Errorf("weir net add: %s; want an error containing %q", r, fc.add)
		}
		if fc.cmd == "ADD" && w.calls(fc, "DEL") == 0 && !fc.first {
			t.Errorf("the rollback did not run the plugin's DEL")
		}
		if d := w.leftBehind(t, before, c); d != "" {
			leaked = true
			t.Errorf("the failed ADD left:\n%s", d)
		}
		// The runtime sends DEL after a failed ADD; it must succeed.
		if r := w.detach(ctx, c); r.err != nil {
			t.Errorf("the runtime's DEL after the failed ADD: %s", r)
		}
		return
	}
	if r.err != nil {
		t.Errorf("weir net add: %s", r)
		if r := w.detach(ctx, c); r.err != nil {
			t.Errorf("the runtime's DEL after the failed ADD: %s", r)
		}
		return
	}
	if v := w.check(t, expect{attached: []*container{c}}); len(v) > 0 {
		tally.checkViolations.Add(int64(len(v)))
		countViolations(v)
		t.Errorf("after the ADD:\n%s", list(v))
	}

	r = w.weir(ctx, append(c.detachArgs(), "--timeout", "1s")...)
	if fc.cmd == "DEL" {
		w.faultProcsGone(t, fc)
		if fc.calls > 0 {
			if n := w.calls(fc, "DEL"); n != fc.calls {
				t.Errorf("the plugin's DEL ran %d times, want %d", n, fc.calls)
			}
		}
	}
	if fc.del != "" {
		if r.err == nil || !strings.Contains(r.stderr, fc.del) {
			t.Errorf("weir net del: %s; want an error containing %q", r, fc.del)
		}
		// DEL ran every plugin: the bridge's veth and the address are gone
		// although one plugin failed; the record stays for the retry.
		links, _ := nsLinks(c.ns())
		for _, l := range links {
			if l.Name == "eth0" {
				t.Errorf("the failed DEL did not run bridge's DEL: eth0 is still in the container")
			}
		}
		if _, err := os.Stat(filepath.Join(w.state, "containers", c.id, netName, "network.conf")); err != nil {
			t.Errorf("the failed DEL removed the record; a retry could not replay it: %v", err)
		}
		writeFile(t, filepath.Join(w.extra, "fault-"+fc.name+".fixed"), "")
		if r := w.detach(ctx, c); r.err != nil {
			t.Errorf("the runtime's DEL once the plugin is fixed: %s", r)
		}
	} else if r.err != nil {
		t.Errorf("weir net del: %s", r)
	}
	if d := w.leftBehind(t, before, c); d != "" {
		leaked = true
		t.Errorf("after DEL:\n%s", d)
	}
}

// leftBehind returns how the host differs from before, but for the chain
// runner's lock files, which are collected in w.lockLeaks instead.
func (w *world) leftBehind(t *testing.T, before snapshot, c *container) string {
	var rest []string
	for _, l := range strings.Split(before.diff(w.snapshot(t, c.ns()), true), "\n") {
		switch {
		case l == "":
		case strings.Contains(l, "files: + file locks/"):
			w.mu.Lock()
			w.lockLeaks = append(w.lockLeaks, t.Name()+": "+strings.TrimSpace(l))
			w.mu.Unlock()
		default:
			rest = append(rest, l)
		}
	}
	if len(rest) == 0 {
		return ""
	}
	return strings.Join(rest, "\n") + "\n"
}
