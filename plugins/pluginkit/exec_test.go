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
