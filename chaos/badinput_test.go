package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// outcome is what one bad request got.
type outcome struct {
	text string // everything the command or server said
	code int    // exit code or HTTP status
	ok   bool   // it was accepted
}

// badRun runs bad requests against a world with containers attached and
// checks that each is refused with a clear error and changes nothing.
type badRun struct {
	t       *testing.T
	w       *world
	ns      []string // namespaces whose links are part of the snapshot
	target  string   // a namespace the requests name, which must stay empty
	before  snapshot
	locks   []string // cases that left only a chain lock file
	stuck   []string // failed ADDs whose DEL failed too, leaving the record
	delErrs []string // failed ADDs whose DEL failed though nothing was recorded
	changes int
}

// expect checks one case: refused (with code, when not 0), its error
// mentioning every want, and the host unchanged.
func (b *badRun) expect(t *testing.T, out outcome, code int, want ...string) {
	t.Helper()
	tally.badInputs.Add(1)
	if out.ok {
		t.Errorf("accepted: %s", clip(out.text))
	}
	if code != 0 && out.code != code {
		t.Errorf("got code %d, want %d: %s", out.code, code, clip(out.text))
	}
	for _, s := range want {
		if !strings.Contains(out.text, s) {
			t.Errorf("the error does not mention %q: %s", s, clip(out.text))
		}
	}
	after := b.w.snapshot(t, b.ns...)
	d := b.before.diff(after, false)
	if d == "" {
		return
	}
	var rest []string
	for _, l := range strings.Split(strings.TrimSuffix(d, "\n"), "\n") {
		if strings.Contains(l, "files: + file locks/") {
			b.locks = append(b.locks, t.Name()+": "+strings.TrimSpace(l))
			continue
		}
		rest = append(rest, l)
	}
	// Either way, go on from the host as it is now.
	for _, l := range strings.Split(d, "\n") {
		if f := strings.Fields(l); len(f) == 5 && f[2] == "+" && strings.HasPrefix(f[4], "locks/") {
			_ = os.Remove(filepath.Join(b.w.state, f[4]))
		}
	}
	b.before = b.w.snapshot(t, b.ns...)
	if len(rest) > 0 {
		tally.stateChanges.Add(1)
		b.changes++
		t.Errorf("the refused request changed the host:\n%s", strings.Join(rest, "\n"))
	}
}

// runtimeDel does what a CNI runtime does after a failed ADD — DEL with
// the same arguments — and reports when that fails too; whatever is
// still recorded of id afterwards is removed by hand (with the bridge a
// bad definition made), so the next case starts from a known host.
func (b *badRun) runtimeDel(t *testing.T, network, id string, extra ...string) {
	t.Helper()
	r := b.w.weir(context.Background(), append([]string{"net", "del", network, id, b.target}, extra...)...)
	_, statErr := os.Stat(filepath.Join(b.w.state, "containers", id))
	switch {
	case statErr == nil:
		b.stuck = append(b.stuck, fmt.Sprintf("%s: weir net del %s %s: %s", t.Name(), network, id, strings.TrimSpace(r.stdout+r.stderr)))
	case r.err != nil:
		b.delErrs = append(b.delErrs, fmt.Sprintf("%s: %s", t.Name(), lastLine([]byte(r.stderr))))
	}
	_ = os.RemoveAll(filepath.Join(b.w.state, "containers", id))
	_ = os.Remove(filepath.Join(b.w.state, "locks", id))
	_ = os.Remove(filepath.Join(b.w.state, "locks", "_isolator", id))
	_ = exec.Command("ip", "link", "del", "chaosb0").Run()
	b.before = b.w.snapshot(t, b.ns...)
}

func clip(s string) string {
	if len(s) > 1500 {
		return s[:1500] + "…"
	}
	return s
}

func fromResult(r result) outcome {
	return outcome{text: r.stdout + r.stderr, code: r.code, ok: r.err == nil}
}

// TestBadInput feeds weir a generated corpus of bad input — network
// definitions, policy files, container ids, command-line flags, CNI
// environments and configurations given to the plugins directly, and
// requests to the daemon's API — while containers are attached. Each must
// be refused with an error naming the file and line, the field or the
// variable, and leave links, addresses, iptables, ipsets, the state
// directory and the mounts exactly as they were.
func TestBadInput(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	live := w.newContainer(t, "live", []string{"chaos", "lan"}, true)
	live.labels = map[string]string{"app": "db", "env": "prod"}
	live.ports = []string{"18070:80"}
	liveN := w.newContainer(t, "live-n", []string{"chaos2"}, false)
	liveN.viaNet = true
	target := w.newContainer(t, "target", nil, false)
	for _, c := range []*container{live, liveN} {
		if r := w.attach(ctx, c); r.err != nil {
			t.Fatalf("attaching %s: %s", c.id, r)
		}
	}
	b := &badRun{t: t, w: w, ns: []string{live.ns(), liveN.ns(), target.nsPath}, target: target.nsPath}
	b.before = w.snapshot(t, b.ns...)

	t.Run("definitions", func(t *testing.T) { b.definitions(t) })
	t.Run("policies", func(t *testing.T) { b.policies(t) })
	t.Run("ids", func(t *testing.T) { b.ids(t) })
	t.Run("flags", func(t *testing.T) { b.flags(t) })
	t.Run("cni", func(t *testing.T) { b.cni(t) })
	t.Run("api", func(t *testing.T) { b.api(t) })

	if len(b.stuck) > 0 {
		t.Errorf("%d refused ADDs could not be undone by the runtime's DEL either; their records stay (here removed by hand):\n  %s",
			len(b.stuck), strings.Join(b.stuck, "\n  "))
	}
	if len(b.delErrs) > 0 {
		t.Logf("%d refused ADDs left nothing recorded, but the runtime's DEL of them fails on the same definition (a runtime would retry it for ever):\n  %s",
			len(b.delErrs), strings.Join(b.delErrs, "\n  "))
	}
	if len(b.locks) > 0 {
		t.Errorf("%d refused requests left only the chain runner's lock file of the container they named:\n  %s",
			len(b.locks), strings.Join(b.locks, "\n  "))
	}
	if v := w.check(t, expect{attached: []*container{live, liveN}, gone: []*container{target}}); len(v) > 0 {
		tally.checkViolations.Add(int64(len(v)))
		countViolations(v)
		t.Errorf("after the bad input:\n%s", list(v))
	}
	for _, c := range []*container{live, liveN} {
		if r := w.detach(ctx, c); r.err != nil {
			t.Errorf("detaching %s: %s", c.id, r)
		}
		w.release(c)
	}
	w.release(target)
	if d := w.baseline.diff(w.snapshot(t), true); d != "" {
		t.Errorf("the host differs from the baseline:\n%s", d)
	}
	t.Logf("%d bad inputs, %d changed the host", tally.badInputs.Load(), b.changes)
}

func (b *badRun) render(s string) string {
	return strings.NewReplacer("{{state}}", b.w.state, "{{pol}}", b.w.pol).Replace(s)
}

// definitions: each malformed file beside the good ones; `weir networks
// validate` names it, and `weir net add` of its network is refused.
func (b *badRun) definitions(t *testing.T) {
	w, ctx := b.w, context.Background()
	for _, f := range badDefinitions() {
		t.Run(f.name, func(t *testing.T) {
			path := filepath.Join(w.conf, "50-bad"+f.ext)
			writeFile(t, path, b.render(f.content))
			defer os.Remove(path)
			want := make([]string, len(f.want))
			for i, s := range f.want {
				want[i] = strings.ReplaceAll(s, "{{file}}", path)
			}
			v := w.weir(ctx, "networks", "validate", w.conf)
			if f.addTime {
				if v.err != nil {
					t.Logf("(refused already by validate: %s)", clip(v.stdout+v.stderr))
				}
				id := "c-" + f.name
				a := w.weir(ctx, "net", "add", "badnet", id, b.target)
				b.expect(t, fromResult(a), 1, want...)
				b.runtimeDel(t, "badnet", id)
				return
			}
			out := fromResult(v)
			if f.name != "dup-name" {
				a := w.weir(ctx, "net", "add", "badnet", "c-bad", b.target)
				if a.err == nil {
					out.ok = true
				}
				out.text += "\n" + a.stdout + a.stderr
			}
			b.expect(t, out, 0, want...)
			if v.code != 1 {
				t.Errorf("weir networks validate exited %d, want 1", v.code)
			}
		})
	}
}

// policies: `weir policy check FILE` names file, line and policy; with the
// file in the live policy directory, `weir policy apply` keeps the last
// good policy in force and the kernel unchanged.
func (b *badRun) policies(t *testing.T) {
	w, ctx := b.w, context.Background()
	dir := filepath.Join(w.base, "badpol")
	for _, f := range badPolicies() {
		t.Run(f.name, func(t *testing.T) {
			path := filepath.Join(dir, f.name+".toml")
			writeFile(t, path, f.content)
			want := make([]string, len(f.want))
			for i, s := range f.want {
				want[i] = strings.ReplaceAll(s, "{{file}}", path)
			}
			r := w.weir(ctx, "policy", "check", path)
			b.expect(t, fromResult(r), 1, want...)

			live := filepath.Join(w.pol, "90-bad.toml")
			writeFile(t, live, f.content)
			r = w.weir(ctx, "policy", "apply")
			_ = os.Remove(live)
			text := r.stdout + r.stderr
			if !strings.Contains(text, live) {
				t.Errorf("weir policy apply with %s in the policy directory does not name it: %s", f.name, clip(text))
			}
			b.expect(t, outcome{text: text, code: r.code}, 0)
		})
	}
}

// badIDs are container ids every command must refuse.
var badIDs = map[string]string{
	"dotdot-slash": "../x",
	"empty":        "",
	"huge":         strings.Repeat("a", 129),
	"slash":        "a/b",
	"dotdot":       "..",
	"dot":          ".",
	"unicode":      "ünïcödé",
	"space":        "a b",
	"newline":      "a\nb",
	"tab":          "a\tb",
	"shell":        "$(id)",
	"colon":        "a:b",
	"percent":      "a%2Fb",
}

func (b *badRun) ids(t *testing.T) {
	w, ctx := b.w, context.Background()
	for name, id := range badIDs {
		for _, cmd := range [][]string{
			{"attach", id, "--netns", b.target, "--net", "chaos"},
			{"detach", id},
			{"status", id},
			{"net", "add", "chaos", id, b.target},
			{"net", "del", "chaos", id, b.target},
		} {
			t.Run(name+"/"+cmd[0]+cmd[1], func(t *testing.T) {
				b.expect(t, fromResult(w.weir(ctx, cmd...)), 0, "container id")
			})
		}
	}
}

func (b *badRun) flags(t *testing.T) {
	w, ctx := b.w, context.Background()
	T := b.target
	for _, c := range []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"args-no-equals", []string{"net", "add", "chaos", "f1", T, "--args", "IP"}, 2, []string{"CNI args", `"IP"`}},
		{"args-empty-key", []string{"net", "add", "chaos", "f1", T, "--args", "=v"}, 2, []string{"CNI args"}},
		{"args-empty-pair", []string{"net", "add", "chaos", "f1", T, "--args", "A=1;;B=2"}, 2, []string{"CNI args"}},
		{"args-bad-ip", []string{"net", "add", "chaos", "f1", T, "--args", "IP=notanip"}, 1, []string{"notanip"}},
		{"args-ip-outside", []string{"net", "add", "chaos", "f1", T, "--args", "IP=10.99.0.5"}, 1, []string{"10.99.0.5"}},
		{"label-empty-key", []string{"net", "add", "chaos", "f1", T, "--label", "=v"}, 2, []string{"label"}},
		{"label-no-equals", []string{"net", "add", "chaos", "f1", T, "--label", "novalue"}, 2, []string{"label", "key=value"}},
		{"publish-port-range", []string{"net", "add", "chaos", "f1", T, "--publish", "99999:80"}, 2, []string{"host port", "99999"}},
		{"publish-one-port", []string{"net", "add", "chaos", "f1", T, "--publish", "80"}, 2, []string{"port mapping"}},
		{"publish-bad-ip", []string{"net", "add", "chaos", "f1", T, "--publish", "1.2.3:80:80"}, 2, []string{"host IP"}},
		{"publish-sctp", []string{"net", "add", "chaos", "f1", T, "--publish", "80:80/sctp"}, 2, []string{"sctp"}},
		{"publish-zero", []string{"net", "add", "chaos", "f1", T, "--publish", "0:80"}, 2, []string{"host port"}},
		{"publish-words", []string{"net", "add", "chaos", "f1", T, "--publish", "a:b"}, 2, []string{"host port"}},
		{"ifname-long", []string{"net", "add", "chaos", "f1", T, "--ifname", "toolonginterfacename0"}, 0, []string{"interface name"}},
		{"ifname-slash", []string{"net", "add", "chaos", "f1", T, "--ifname", "a/b"}, 0, []string{"interface name"}},
		{"ifname-empty", []string{"net", "add", "chaos", "f1", T, "--ifname", ""}, 0, []string{"interface name"}},
		{"ifname-traversal", []string{"net", "add", "chaos", "f1", T, "--ifname", "../../../../escape"}, 0, []string{"interface name"}},
		{"netns-missing", []string{"net", "add", "chaos", "f1", "/nonexistent"}, 0, []string{"/nonexistent"}},
		{"netns-not-a-namespace", []string{"net", "add", "chaos", "f1", "/etc/hostname"}, 0, []string{"/etc/hostname"}},
		{"net-unknown-verb", []string{"net", "bogus", "chaos", "f1", T}, 2, []string{"unknown net command"}},
		{"net-unknown-network", []string{"net", "add", "nosuch", "f1", T}, 1, []string{`"nosuch" is not defined`}},
		{"net-missing-args", []string{"net", "add", "chaos"}, 2, []string{"want add|del|check NAME ID NETNS"}},
		{"attach-negative-pid", []string{"attach", "f1", "--pid", "-5", "--net", "chaos"}, 2, []string{"--pid"}},
		{"attach-pid-word", []string{"attach", "f1", "--pid", "abc", "--net", "chaos"}, 2, []string{"invalid value", "pid"}},
		{"attach-pid-gone", []string{"attach", "f1", "--pid", "2147483646", "--net", "chaos"}, 2, []string{"pid 2147483646"}},
		{"attach-pid-and-netns", []string{"attach", "f1", "--pid", "1", "--netns", T, "--net", "chaos"}, 2, []string{"exactly one"}},
		{"attach-netns-missing", []string{"attach", "f1", "--netns", "/nonexistent", "--net", "chaos"}, 2, []string{"/nonexistent"}},
		{"attach-netns-file", []string{"attach", "f1", "--netns", "/etc/hostname", "--net", "chaos"}, 2, []string{"/etc/hostname"}},
		{"attach-no-net", []string{"attach", "f1", "--netns", T}, 2, []string{"--net"}},
		{"attach-net-empty", []string{"attach", "f1", "--netns", T, "--net", ""}, 1, []string{"network_infos[0]", "no name"}},
		{"attach-net-unknown", []string{"attach", "f1", "--netns", T, "--net", "nosuch"}, 1, []string{`"nosuch" is not defined`}},
		{"attach-net-twice", []string{"attach", "f1", "--netns", T, "--net", "chaos", "--net", "chaos"}, 1, []string{"asked for twice"}},
		{"attach-publish-ip", []string{"attach", "f1", "--netns", T, "--net", "chaos", "--publish", "10.0.0.1:80:80"}, 2, []string{"no host address"}},
		{"attach-label-empty-key", []string{"attach", "f1", "--netns", T, "--net", "chaos", "--label", "=x"}, 2, []string{"label"}},
		{"attach-hostname-newline", []string{"attach", "f1", "--netns", T, "--net", "chaos", "--hostname", "x\n10.0.0.66 evil"}, 0, []string{"hostname"}},
		{"attach-extra-arg", []string{"attach", "f1", "f2", "--netns", T, "--net", "chaos"}, 2, []string{"exactly one container ID"}},
		{"attach-unknown-flag", []string{"attach", "f1", "--netns", T, "--net", "chaos", "--nope"}, 2, []string{"-nope"}},
		{"explain-label-syntax", []string{"policy", "explain", "--from", "app", "--to", "app=db"}, 2, []string{"--from"}},
		{"explain-port", []string{"policy", "explain", "--from", "app=web", "--to", "app=db", "--port", "99999/tcp"}, 2, []string{"--port"}},
		{"explain-proto", []string{"policy", "explain", "--from", "app=web", "--to", "app=db", "--port", "53/sctp"}, 2, []string{"--port"}},
		{"explain-default", []string{"policy", "explain", "--from", "app=web", "--to", "app=db", "--default", "maybe"}, 2, []string{"--default"}},
		{"explain-from-ip", []string{"policy", "explain", "--from-ip", "10.0.0.300", "--to", "app=db"}, 2, []string{"10.0.0.300"}},
		{"policy-unknown-verb", []string{"policy", "bogus"}, 2, []string{"unknown policy command"}},
		{"networks-show-unknown", []string{"networks", "show", "nosuch"}, 1, []string{"nosuch"}},
		{"unknown-command", []string{"bogus"}, 2, []string{"unknown command"}},
		{"timeout-word", []string{"net", "add", "chaos", "f1", T, "--timeout", "soon"}, 2, []string{"timeout"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			id := "f-" + c.name
			args := make([]string, len(c.args))
			for i, a := range c.args {
				if a == "f1" {
					a = id
				}
				args[i] = a
			}
			r := w.weir(ctx, args...)
			b.expect(t, fromResult(r), c.code, c.want...)
			if escaped := filepath.Join(w.base, "escape"); c.name == "ifname-traversal" {
				if _, err := os.Stat(escaped); err == nil {
					t.Errorf("--ifname ../../../../escape made %s, outside the state directory", escaped)
					_ = os.RemoveAll(escaped)
				}
			}
			if len(args) > 4 && args[0] == "net" && args[1] == "add" && r.code != 2 {
				var extra []string
				for i, a := range args {
					if a == "--ifname" || a == "--args" {
						extra = append(extra, a, args[i+1])
					}
				}
				b.runtimeDel(t, args[2], id, extra...)
			}
			if args[0] == "attach" {
				if r := w.weir(ctx, "detach", id); r.err == nil {
					b.before = w.snapshot(t, b.ns...)
				}
			}
		})
	}
}

// cni invokes bin/<plugin> directly, as a CNI runtime would, with a bad
// environment or configuration.
func (b *badRun) cni(t *testing.T) {
	w := b.w
	bridge := b.render(`{"cniVersion":"1.1.0","name":"chaos","type":"bridge","bridge":"chaos0","isGateway":true,"ipMasq":true,"ipam":{"type":"host-local","subnet":"10.77.0.0/22","dataDir":"{{state}}/ipam"}}`)
	hostLocal := b.render(`{"cniVersion":"1.1.0","name":"chaos","type":"bridge","ipam":{"type":"host-local","subnet":"10.77.0.0/22","dataDir":"{{state}}/ipam"}}`)
	macvlan := b.render(`{"cniVersion":"1.1.0","name":"lan","type":"macvlan","master":"chaosm0","mode":"bridge","ipam":{"type":"host-local","subnet":"172.31.77.0/24","rangeStart":"172.31.77.10","rangeEnd":"172.31.77.250","dataDir":"{{state}}/ipam"}}`)
	policy := b.render(`{"cniVersion":"1.1.0","name":"chaos","type":"policy","policyDir":"{{pol}}","stateDir":"{{state}}"}`)
	portmap := b.render(`{"cniVersion":"1.1.0","name":"chaos","type":"portmap","capabilities":{"portMappings":true},"stateDir":"{{state}}/portmap","runtimeConfig":{"portMappings":"lots"},"prevResult":{"cniVersion":"1.1.0","ips":[{"address":"10.77.3.3/22"}]}}`)
	loopback := `{"cniVersion":"1.1.0","name":"lo","type":"loopback"}`
	set := func(conf, key string, v any) string {
		var m map[string]any
		if err := json.Unmarshal([]byte(conf), &m); err != nil {
			t.Fatal(err)
		}
		m[key] = v
		out, _ := json.Marshal(m)
		return string(out)
	}
	ipamWith := func(key string, v any) string {
		var m map[string]any
		_ = json.Unmarshal([]byte(hostLocal), &m)
		m["ipam"].(map[string]any)[key] = v
		out, _ := json.Marshal(m)
		return string(out)
	}
	const drop = "\x00drop"
	for _, c := range []struct {
		name, plugin, stdin string
		env                 map[string]string
		want                []string
	}{
		{"no-command", "bridge", bridge, map[string]string{"CNI_COMMAND": drop}, []string{"CNI_COMMAND is not set"}},
		{"unknown-command", "bridge", bridge, map[string]string{"CNI_COMMAND": "BOGUS"}, []string{"BOGUS"}},
		{"no-containerid", "bridge", bridge, map[string]string{"CNI_CONTAINERID": drop}, []string{"CNI_CONTAINERID"}},
		{"containerid-dotdot", "bridge", bridge, map[string]string{"CNI_CONTAINERID": "../x"}, []string{"containerID"}},
		{"containerid-slash", "host-local", hostLocal, map[string]string{"CNI_CONTAINERID": "a/b"}, []string{"containerID"}},
		{"no-netns", "bridge", bridge, map[string]string{"CNI_NETNS": drop}, []string{"CNI_NETNS"}},
		{"netns-missing", "bridge", bridge, map[string]string{"CNI_NETNS": "/nonexistent"}, []string{"/nonexistent"}},
		{"netns-not-a-namespace", "bridge", bridge, map[string]string{"CNI_NETNS": "/etc/hostname"}, []string{"/etc/hostname"}},
		{"netns-missing-macvlan", "macvlan", macvlan, map[string]string{"CNI_NETNS": "/nonexistent"}, []string{"/nonexistent"}},
		{"netns-missing-loopback", "loopback", loopback, map[string]string{"CNI_NETNS": "/nonexistent"}, []string{"/nonexistent"}},
		{"no-ifname", "bridge", bridge, map[string]string{"CNI_IFNAME": drop}, []string{"CNI_IFNAME"}},
		{"ifname-long", "bridge", bridge, map[string]string{"CNI_IFNAME": "toolonginterfacename0"}, []string{"interface name"}},
		{"ifname-slash", "macvlan", macvlan, map[string]string{"CNI_IFNAME": "a/b"}, []string{"interface name"}},
		{"ifname-dot", "bridge", bridge, map[string]string{"CNI_IFNAME": "."}, []string{"interface name"}},
		{"no-path", "bridge", bridge, map[string]string{"CNI_PATH": drop}, []string{"CNI_PATH"}},
		{"path-without-ipam", "bridge", bridge, map[string]string{"CNI_PATH": "/nonexistent"}, []string{"host-local"}},
		{"args-no-equals", "host-local", hostLocal, map[string]string{"CNI_ARGS": "IP"}, []string{"CNI_ARGS"}},
		{"args-bad-ip", "host-local", hostLocal, map[string]string{"CNI_ARGS": "IP=notanip"}, []string{"notanip"}},
		{"args-ip-outside", "host-local", hostLocal, map[string]string{"CNI_ARGS": "IP=10.99.0.5"}, []string{"10.99.0.5"}},
		{"args-ip-taken", "bridge", bridge, map[string]string{"CNI_ARGS": "IP=10.77.0.1"}, []string{"10.77.0.1"}},
		{"stdin-empty", "bridge", "", nil, []string{"decoding"}},
		{"stdin-garbage", "bridge", "this is not json", nil, []string{"decoding"}},
		{"stdin-huge", "host-local", strings.Repeat("x", 5<<20), nil, []string{"decoding"}},
		{"stdin-array", "bridge", "[]", nil, []string{"decoding"}},
		{"version-unknown", "bridge", set(bridge, "cniVersion", "9.9.9"), nil, []string{"9.9.9"}},
		{"version-number", "bridge", set(bridge, "cniVersion", 1), nil, []string{"cniVersion"}},
		{"name-invalid", "bridge", set(bridge, "name", "bad/name"), nil, []string{"bad/name"}},
		{"name-missing", "bridge", set(bridge, "name", ""), nil, []string{"name"}},
		{"ipam-missing", "bridge", set(bridge, "ipam", nil), nil, []string{"ipam"}},
		{"ipam-type-unknown", "bridge", set(bridge, "ipam", map[string]any{"type": "nosuch-ipam"}), nil, []string{"nosuch-ipam"}},
		{"ipam-subnet-word", "host-local", ipamWith("subnet", "banana"), nil, []string{"subnet"}},
		{"ipam-ranges-type", "host-local", ipamWith("ranges", "x"), nil, []string{"ranges"}},
		{"bridge-vlan-string", "bridge", set(bridge, "vlan", "ten"), nil, []string{"vlan"}},
		{"macvlan-master-missing", "macvlan", set(macvlan, "master", "nosuchdev"), nil, []string{"nosuchdev"}},
		{"macvlan-mode", "macvlan", set(macvlan, "mode", "sideways"), nil, []string{"sideways"}},
		{"policy-no-prevresult", "policy", policy, nil, []string{"prevResult"}},
		{"policy-default-action", "policy", set(policy, "defaultAction", "maybe"), nil, []string{"defaultAction"}},
		{"portmap-mappings-type", "portmap", portmap, nil, []string{"portMappings"}},
		{"check-old-version", "bridge", set(bridge, "cniVersion", "0.3.1"), map[string]string{"CNI_COMMAND": "CHECK"}, []string{"CHECK"}},
		{"gc-old-version", "host-local", set(hostLocal, "cniVersion", "1.0.0"), map[string]string{"CNI_COMMAND": "GC"}, []string{"GC"}},
		{"gc-attachments-type", "host-local", set(hostLocal, "cni.dev/valid-attachments", "all"), map[string]string{"CNI_COMMAND": "GC"}, []string{"valid-attachments"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			env := map[string]string{"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "cni-bad", "CNI_NETNS": b.target, "CNI_IFNAME": "eth0", "CNI_PATH": w.bin}
			for k, v := range c.env {
				env[k] = v
			}
			environ := []string{"PATH=" + os.Getenv("PATH")}
			for k, v := range env {
				if v != drop {
					environ = append(environ, k+"="+v)
				}
			}
			cmd := exec.Command(filepath.Join(w.bin, c.plugin))
			cmd.Env = environ
			cmd.Stdin = strings.NewReader(c.stdin)
			var out, errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			done := make(chan error, 1)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			go func() { done <- cmd.Wait() }()
			var err error
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
				err = <-done
				t.Errorf("the plugin did not answer within 30s")
			}
			var cniErr struct {
				Code    int    `json:"code"`
				Msg     string `json:"msg"`
				Details string `json:"details"`
			}
			if jerr := json.Unmarshal(out.Bytes(), &cniErr); err != nil && (jerr != nil || cniErr.Code == 0 || cniErr.Msg == "") {
				t.Errorf("the plugin failed without a CNI error on stdout: %q (stderr %q)", clip(out.String()), clip(errb.String()))
			}
			// Without CNI_COMMAND a plugin tells a person what it is and
			// exits 0, as the reference plugins do.
			accepted := err == nil && !(c.name == "no-command" && out.Len() == 0)
			b.expect(t, outcome{text: cniErr.Msg + " " + cniErr.Details + "\n" + out.String() + errb.String(), code: exitCode(err), ok: accepted}, 0, c.want...)
			if accepted && c.env["CNI_COMMAND"] == "" {
				// Accepted by mistake: the runtime's DEL undoes it.
				del := exec.Command(filepath.Join(w.bin, c.plugin))
				del.Env = append(environ, "CNI_COMMAND=DEL")
				del.Stdin = strings.NewReader(c.stdin)
				_ = del.Run()
				b.before = w.snapshot(t, b.ns...)
			}
		})
	}
}

// api sends bad requests to the daemon's socket.
func (b *badRun) api(t *testing.T) {
	w := b.w
	d := w.startDaemon(t, "--repair-interval", "1h", "--gc-interval", "0")
	defer d.stop(t)
	time.Sleep(300 * time.Millisecond) // the daemon's start-up repair
	b.before = w.snapshot(t, b.ns...)
	T := b.target
	good := func(id string) *container {
		return &container{id: id, nets: []string{"chaos"}, nsPath: T}
	}
	okBody := attachBody(good("x"))
	ni := func(infos string) string {
		return `{"container_config":{"container_info":{"type":"MESOS","network_infos":` + infos + `}},"netns":"` + T + `"}`
	}
	type apiCase struct {
		name, method, path, body string
		code                     int
		want                     []string
	}
	var cases []apiCase
	for name, id := range map[string]string{
		"dotdot": "..%2Fx", "slash": "a%2Fb", "nul": "%00", "huge": strings.Repeat("a", 129), "unicode": "%C3%A9t%C3%A9",
		"space": "a%20b", "dotdot-bare": "..", "dash": "-x", "newline": "a%0Ab", "colon": "a:b",
	} {
		for _, m := range []string{"POST", "GET", "DELETE"} {
			body := ""
			if m == "POST" {
				body = okBody
			}
			cases = append(cases, apiCase{"id-" + name + "-" + m, m, "/v1/containers/" + id, body, 400, []string{"container id"}})
		}
	}
	big := `{"container_config":{"container_info":{"network_infos":[{"name":"chaos","labels":{"labels":[{"key":"k","value":"` + strings.Repeat("v", 2<<20) + `"}]}}]}},"netns":"` + T + `"}`
	cases = append(cases,
		apiCase{"body-empty", "POST", "/v1/containers/b1", "", 400, []string{"JSON"}},
		apiCase{"body-open-brace", "POST", "/v1/containers/b1", "{", 400, []string{"malformed JSON"}},
		apiCase{"body-array", "POST", "/v1/containers/b1", "[]", 400, []string{"object"}},
		apiCase{"body-null", "POST", "/v1/containers/b1", "null", 400, []string{"container_config"}},
		apiCase{"body-string", "POST", "/v1/containers/b1", `"attach me"`, 400, []string{"object"}},
		apiCase{"pid-string", "POST", "/v1/containers/b1", `{"pid":"12"}`, 400, []string{"pid"}},
		apiCase{"config-number", "POST", "/v1/containers/b1", `{"container_config":5,"netns":"` + T + `"}`, 400, []string{"container_config"}},
		apiCase{"infos-string", "POST", "/v1/containers/b1", `{"container_config":{"container_info":{"network_infos":"x"}},"netns":"` + T + `"}`, 400, []string{"network_infos"}},
		apiCase{"infos-empty", "POST", "/v1/containers/b1", ni(`[]`), 400, []string{"network_infos"}},
		apiCase{"network-unknown", "POST", "/v1/containers/b1", ni(`[{"name":"nosuch"}]`), 422, []string{"container_config.container_info.network_infos[0]", "nosuch"}},
		apiCase{"network-twice", "POST", "/v1/containers/b1", ni(`[{"name":"chaos"},{"name":"chaos"}]`), 400, []string{"network_infos[1]", "twice"}},
		apiCase{"network-unnamed", "POST", "/v1/containers/b1", ni(`[{"name":""}]`), 400, []string{"network_infos[0]", "no name"}},
		apiCase{"network-name-number", "POST", "/v1/containers/b1", ni(`[{"name":5}]`), 400, []string{"name"}},
		apiCase{"label-key-empty", "POST", "/v1/containers/b1", ni(`[{"name":"chaos","labels":{"labels":[{"key":"","value":"x"}]}}]`), 400, []string{"labels.labels[0].key"}},
		apiCase{"labels-string", "POST", "/v1/containers/b1", ni(`[{"name":"chaos","labels":"app=web"}]`), 400, []string{"labels"}},
		apiCase{"port-zero", "POST", "/v1/containers/b1", ni(`[{"name":"chaos","port_mappings":[{"host_port":0,"container_port":80}]}]`), 400, []string{"port_mappings[0]"}},
		apiCase{"port-too-big", "POST", "/v1/containers/b1", ni(`[{"name":"chaos","port_mappings":[{"host_port":70000,"container_port":80}]}]`), 400, []string{"port_mappings[0]", "70000"}},
		apiCase{"port-sctp", "POST", "/v1/containers/b1", ni(`[{"name":"chaos","port_mappings":[{"host_port":8080,"container_port":80,"protocol":"sctp"}]}]`), 400, []string{"port_mappings[0]", "sctp"}},
		apiCase{"port-string", "POST", "/v1/containers/b1", ni(`[{"name":"chaos","port_mappings":[{"host_port":"8080","container_port":80}]}]`), 400, []string{"host_port"}},
		apiCase{"pid-negative", "POST", "/v1/containers/b1", `{"container_config":{"container_info":{"network_infos":[{"name":"chaos"}]}},"pid":-5}`, 400, []string{"pid"}},
		apiCase{"pid-gone", "POST", "/v1/containers/b1", `{"container_config":{"container_info":{"network_infos":[{"name":"chaos"}]}},"pid":2147483646}`, 400, []string{"pid"}},
		apiCase{"pid-and-netns", "POST", "/v1/containers/b1", `{"container_config":{"container_info":{"network_infos":[{"name":"chaos"}]}},"pid":1,"netns":"` + T + `"}`, 400, []string{"exactly one"}},
		apiCase{"neither", "POST", "/v1/containers/b1", `{"container_config":{"container_info":{"network_infos":[{"name":"chaos"}]}}}`, 400, []string{"exactly one"}},
		apiCase{"netns-missing", "POST", "/v1/containers/b1", `{"container_config":{"container_info":{"network_infos":[{"name":"chaos"}]}},"netns":"/nonexistent"}`, 400, []string{"netns", "/nonexistent"}},
		apiCase{"netns-file", "POST", "/v1/containers/b1", `{"container_config":{"container_info":{"network_infos":[{"name":"chaos"}]}},"netns":"/etc/hostname"}`, 400, []string{"netns"}},
		apiCase{"netns-nul", "POST", "/v1/containers/b1", `{"container_config":{"container_info":{"network_infos":[{"name":"chaos"}]}},"netns":"/run\u0000x"}`, 400, []string{"netns"}},
		apiCase{"unknown-field", "POST", "/v1/containers/b1", `{"container_config":{"container_info":{"network_infos":[{"name":"chaos"}]}},"netns":"` + T + `","priority":1}`, 400, []string{`unknown field "priority"`}},
		apiCase{"too-large", "POST", "/v1/containers/b1", big, 400, []string{"too large"}},
		apiCase{"deep-json", "POST", "/v1/containers/b1", strings.Repeat("[", 100000) + strings.Repeat("]", 100000), 400, []string{"JSON"}},
		apiCase{"hostname-newline", "POST", "/v1/containers/b1", `{"container_config":{"container_info":{"hostname":"x\n10.0.0.66 evil","network_infos":[{"name":"chaos"}]}},"netns":"` + T + `"}`, 400, []string{"hostname"}},
		apiCase{"already-attached", "POST", "/v1/containers/live", okBody, 409, []string{"already"}},
		apiCase{"wrong-method", "PUT", "/v1/containers/b1", okBody, 405, nil},
		apiCase{"no-id", "POST", "/v1/containers", okBody, 405, nil},
		apiCase{"unknown-container", "GET", "/v1/containers/nosuch", "", 404, []string{"unknown container"}},
		apiCase{"unknown-path", "GET", "/v1/nothing", "", 404, nil},
	)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, body, err := d.do(c.method, c.path, c.body)
			if err != nil {
				t.Fatalf("%s %s: %v", c.method, c.path, err)
			}
			if code < 400 {
				// Accepted: undo it so the next cases start clean.
				if c.method == "POST" {
					id := strings.TrimPrefix(c.path, "/v1/containers/")
					_, _, _ = d.do("DELETE", "/v1/containers/"+id, "")
				}
			}
			var e struct {
				Error string `json:"error"`
			}
			if code >= 400 && (code != 405 && code != 404 || len(c.want) > 0) {
				if json.Unmarshal([]byte(body), &e) != nil || e.Error == "" {
					t.Errorf("the %d answer is not a JSON error: %q", code, clip(body))
				}
			}
			if code < 400 {
				b.before = w.snapshot(t, b.ns...) // undone above; the test goes on
			}
			b.expect(t, outcome{text: e.Error + "\n" + body + " (" + strconv.Itoa(code) + ")", code: code, ok: code < 400}, c.code, c.want...)
		})
	}

}
