package pluginkit

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
)

func writeScript(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestExecRunsForeignPluginAndDecodesErrors(t *testing.T) {
	dir := t.TempDir()
	ok := writeScript(t, dir, "ok", `cat >/dev/null; echo "{\"cniVersion\":\"1.0.0\",\"cmd\":\"$CNI_COMMAND\"}"`)
	fail := writeScript(t, dir, "fail", `echo '{"cniVersion":"1.0.0","code":11,"msg":"try later"}'; exit 1`)
	garbage := writeScript(t, dir, "garbage", `echo 'not json'; exit 1`)
	e := &Exec{}
	out, err := e.ExecPlugin(context.Background(), ok, []byte(`{}`), []string{"CNI_COMMAND=ADD"})
	if err != nil || !strings.Contains(string(out), `"cmd":"ADD"`) {
		t.Fatalf("ok plugin: out=%s err=%v", out, err)
	}
	_, err = e.ExecPlugin(context.Background(), fail, nil, nil)
	var terr *types.Error
	if !errors.As(err, &terr) || terr.Code != 11 || terr.Msg != "try later" {
		t.Fatalf("failing plugin: err=%#v, want code 11", err)
	}
	_, err = e.ExecPlugin(context.Background(), garbage, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "not a CNI error") {
		t.Fatalf("garbage plugin: err=%v", err)
	}
}

func TestExecTimeoutKillsProcessGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child.pid")
	// The plugin forks a helper that would outlive a plain kill of the plugin.
	hang := writeScript(t, dir, "hang", "sleep 300 & echo $! > "+pidFile+"; wait\n")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := (&Exec{}).ExecPlugin(ctx, hang, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("hanging plugin: err=%v, want killed", err)
	}
	raw, rerr := os.ReadFile(pidFile)
	if rerr != nil {
		t.Fatalf("helper pid: %v", rerr)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatalf("helper pid %q: %v", raw, err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		// Signal 0 probes; a reaped or zombie-free child gives ESRCH.
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return
		}
		if stat, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat")); strings.Contains(string(stat), ") Z ") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("helper process %d survived the plugin's timeout", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestExecInProcessOnlyForSelf(t *testing.T) {
	dir := t.TempDir()
	self := writeScript(t, dir, "weir", "exit 1\n")
	if err := os.Symlink("weir", filepath.Join(dir, "bridge")); err != nil {
		t.Fatal(err)
	}
	other := writeScript(t, dir, "macvlan", "exit 1\n")
	e := &Exec{Self: self, Plugins: Registry{"bridge": &recorder{}, "macvlan": &recorder{}}}
	if _, ok := e.InProcess(filepath.Join(dir, "bridge")); !ok {
		t.Error("a link to weir's own binary should run in-process")
	}
	if _, ok := e.InProcess(other); ok {
		t.Error("another file named like a weir plugin must be executed, not run in-process")
	}
	out, err := e.ExecPlugin(context.Background(), filepath.Join(dir, "bridge"), []byte(`{"cniVersion":"1.0.0","name":"n"}`), environ("ADD"))
	if err != nil || !strings.Contains(string(out), "10.1.2.3/24") {
		t.Fatalf("in-process ADD: out=%s err=%v", out, err)
	}
}

// TestExecTakesAnswerOfPluginWhoseHelperHoldsStdout: a plugin that leaves a
// helper holding its stdout (a daemon it did not detach) and exits 0 is
// answered a second after it exits, with what it printed.
func TestExecTakesAnswerOfPluginWhoseHelperHoldsStdout(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child.pid")
	daemon := writeScript(t, dir, "daemon", "setsid sleep 30 & echo $! > "+pidFile+"\n"+`echo '{"cniVersion":"1.0.0","ips":[]}'`+"\n")
	failing := writeScript(t, dir, "daemon-fails", "setsid sleep 30 &\n"+`echo '{"cniVersion":"1.0.0","code":7,"msg":"no"}'; exit 1`+"\n")
	defer func() {
		if raw, err := os.ReadFile(pidFile); err == nil {
			if pid, _ := strconv.Atoi(strings.TrimSpace(string(raw))); pid > 0 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}()
	start := time.Now()
	out, err := (&Exec{}).ExecPlugin(context.Background(), daemon, nil, []string{"CNI_COMMAND=ADD"})
	if err != nil || !strings.Contains(string(out), `"cniVersion":"1.0.0"`) {
		t.Fatalf("plugin with a helper on its stdout: out=%q err=%v", out, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("waited %v for the helper's pipe", d)
	}
	_, err = (&Exec{}).ExecPlugin(context.Background(), failing, nil, []string{"CNI_COMMAND=ADD"})
	var terr *types.Error
	if !errors.As(err, &terr) || terr.Code != 7 || terr.Msg != "no" {
		t.Fatalf("failing plugin with a helper on its stdout: err=%#v, want its code 7", err)
	}
}

// TestExecOutputWithoutCodeIsNotACNIError: a plugin that fails but prints
// a result (no code) gets an error that says so, not an empty one.
func TestExecOutputWithoutCodeIsNotACNIError(t *testing.T) {
	p := writeScript(t, t.TempDir(), "exit1", `echo '{"cniVersion":"1.0.0","ips":[]}'; exit 1`+"\n")
	_, err := (&Exec{}).ExecPlugin(context.Background(), p, nil, []string{"CNI_COMMAND=ADD"})
	if err == nil || !strings.Contains(err.Error(), "not a CNI error") {
		t.Fatalf("err = %v, want one saying the output is not a CNI error", err)
	}
}

// checker is a recorder that checks configurations: it refuses "bad".
type checker struct{ recorder }

func (c *checker) CheckConfig(_ context.Context, _ *Env, a *skel.CmdArgs) error {
	c.calls = append(c.calls, "CHECKCONFIG "+a.IfName)
	if strings.Contains(string(a.StdinData), "bad") {
		return ConfigError("bad", "refused")
	}
	return nil
}

func TestExecCheckConfig(t *testing.T) {
	dir := t.TempDir()
	self := writeScript(t, dir, "weir", "exit 1\n")
	for _, n := range []string{"bridge", "loopback"} {
		if err := os.Symlink("weir", filepath.Join(dir, n)); err != nil {
			t.Fatal(err)
		}
	}
	foreign := writeScript(t, dir, "foreign", "exit 1\n")
	c, r := &checker{}, &recorder{}
	e := &Exec{Self: self, Plugins: Registry{"bridge": c, "loopback": r}}
	ctx := context.Background()
	good := []byte(`{"cniVersion":"1.0.0","name":"n","type":"bridge"}`)
	if err := e.CheckConfig(ctx, filepath.Join(dir, "bridge"), good, environ("ADD")); err != nil {
		t.Errorf("good config: %v", err)
	}
	err := e.CheckConfig(ctx, filepath.Join(dir, "bridge"), []byte(`{"cniVersion":"1.0.0","name":"n","type":"bridge","x":"bad"}`), environ("ADD"))
	var terr *types.Error
	if !errors.As(err, &terr) || terr.Code != types.ErrInvalidNetworkConfig || !strings.Contains(terr.Msg, `invalid field "bad": refused`) {
		t.Errorf("bad config: %#v, want code 7 naming the field", err)
	}
	err = e.CheckConfig(ctx, filepath.Join(dir, "bridge"), []byte(`{"cniVersion":"9.9.9","name":"n"}`), environ("ADD"))
	if !errors.As(err, &terr) || terr.Code != types.ErrIncompatibleCNIVersion {
		t.Errorf("unknown version: %#v, want code 1", err)
	}
	env := append(environ("ADD"), "CNI_IFNAME=toolonginterfacename0")
	if err := e.CheckConfig(ctx, filepath.Join(dir, "bridge"), good, env); err == nil || !strings.Contains(err.Error(), "interface name") {
		t.Errorf("bad CNI_IFNAME: %v", err)
	}
	if strings.Join(c.calls, ",") != "CHECKCONFIG eth0,CHECKCONFIG eth0" {
		t.Errorf("checker calls = %v", c.calls)
	}
	// Plugins that cannot check, and executed ones, pass untouched.
	if err := e.CheckConfig(ctx, filepath.Join(dir, "loopback"), []byte(`bad`), environ("ADD")); err != nil || len(r.calls) != 0 {
		t.Errorf("plugin without CheckConfig: err=%v calls=%v", err, r.calls)
	}
	if err := e.CheckConfig(ctx, foreign, []byte(`bad`), environ("ADD")); err != nil {
		t.Errorf("executed plugin: %v", err)
	}
}

// replaceFile puts a new file (a new inode) at path by rename, as `go
// build -o` and installers do.
func replaceFile(t *testing.T, path, body string) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestExecInProcessAfterRebuild: weir's binary rebuilt in place after the
// first plugin call: links to it, and hard links to the new file, still run
// in-process (this process's code), never the file; a copy of it is
// another file, and is executed.
func TestExecInProcessAfterRebuild(t *testing.T) {
	dir := t.TempDir()
	self := writeScript(t, dir, "weir", "echo old >&2; exit 1\n")
	if err := os.Symlink("weir", filepath.Join(dir, "bridge")); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	e := &Exec{Self: self, Plugins: Registry{"bridge": rec, "host-local": &recorder{}, "macvlan": &recorder{}}}
	conf := []byte(`{"cniVersion":"1.0.0","name":"n"}`)
	if _, err := e.ExecPlugin(context.Background(), filepath.Join(dir, "bridge"), conf, environ("ADD")); err != nil {
		t.Fatalf("ADD before the rebuild: %v", err)
	}

	replaceFile(t, self, "echo new >&2; exit 1\n")
	if err := os.Link(self, filepath.Join(dir, "host-local")); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "macvlan"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"bridge": true, "host-local": true, "macvlan": false} {
		if _, ok := e.InProcess(filepath.Join(dir, name)); ok != want {
			t.Errorf("after the rebuild, InProcess(%s) = %v, want %v", name, ok, want)
		}
	}
	out, err := e.ExecPlugin(context.Background(), filepath.Join(dir, "bridge"), conf, environ("ADD"))
	if err != nil || !strings.Contains(string(out), "10.1.2.3/24") || len(rec.calls) != 2 {
		t.Fatalf("ADD after the rebuild: out=%s err=%v calls=%v, want the in-process plugin's second ADD", out, err, rec.calls)
	}
	_, err = e.ExecPlugin(context.Background(), filepath.Join(dir, "macvlan"), conf, environ("ADD"))
	if err == nil || !strings.Contains(err.Error(), "new") {
		t.Fatalf("a copy of the new binary: err=%v, want it executed (its stderr says new)", err)
	}

	// Removed, as an uninstall does: nothing is weir's binary any more.
	if err := os.Remove(self); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.InProcess(filepath.Join(dir, "host-local")); ok {
		t.Error("with Self removed, a hard link to what was there still runs in-process")
	}
}

// TestExecInProcessForThisExecutable: without Self, links to this very
// process's executable run in-process.
func TestExecInProcessForThisExecutable(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Symlink(exe, filepath.Join(dir, "bridge")); err != nil {
		t.Fatal(err)
	}
	other := writeScript(t, dir, "loopback", "exit 1\n")
	e := &Exec{Plugins: Registry{"bridge": &recorder{}, "loopback": &recorder{}}}
	if _, ok := e.InProcess(filepath.Join(dir, "bridge")); !ok {
		t.Error("a link to this executable does not run in-process")
	}
	if _, ok := e.InProcess(other); ok {
		t.Error("a script named loopback runs in-process")
	}
}
