package chain

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"

	"github.com/weirnet/weir/plugins/pluginkit"
)

func fakeList(t *testing.T, name string, plugins ...string) *libcni.NetworkConfigList {
	t.Helper()
	var ps []string
	for _, p := range plugins {
		ps = append(ps, `{"type":"`+p+`","capabilities":{"portMappings":true},"tag":"`+p+`-v1"}`)
	}
	list, err := libcni.ConfListFromBytes([]byte(`{"cniVersion":"1.1.0","name":"` + name + `","plugins":[` + strings.Join(ps, ",") + `]}`))
	if err != nil {
		t.Fatal(err)
	}
	return list
}

func newRunner(fe *fakeEnv) *Runner {
	return &Runner{Exec: &pluginkit.Exec{}, Path: []string{fe.bin}, StateDir: fe.t.TempDir(), Timeout: 5 * time.Second, Backoff: time.Millisecond}
}

func att(id string) Attachment {
	return Attachment{ContainerID: id, NetNS: "/run/netns/" + id, IfName: "eth0", Args: [][2]string{{"IP", "10.9.0.2"}},
		CapabilityArgs: map[string]any{"portMappings": []any{map[string]any{"hostPort": 8080.0, "containerPort": 80.0, "protocol": "tcp"}}}}
}

func TestAddRunsInOrderWithPrevResult(t *testing.T) {
	fe := newFakeEnv(t, "fake-a", "fake-b", "fake-c")
	r := newRunner(fe)
	res, err := r.Add(context.Background(), fakeList(t, "net1", "fake-a", "fake-b", "fake-c"), att("c1"))
	if err != nil {
		t.Fatalf("Add: %v", err)
	}
	short, full := fe.calls()
	if want := []string{"fake-a ADD", "fake-b ADD", "fake-c ADD"}; !reflect.DeepEqual(short, want) {
		t.Fatalf("calls = %v, want %v", short, want)
	}
	var b struct {
		PrevResult struct {
			IPs []struct{ Address string } `json:"ips"`
		} `json:"prevResult"`
		RuntimeConfig map[string]any `json:"runtimeConfig"`
		Name          string         `json:"name"`
	}
	if err := json.Unmarshal(full[1].Stdin, &b); err != nil {
		t.Fatal(err)
	}
	if len(b.PrevResult.IPs) != 1 || b.PrevResult.IPs[0].Address != "10.9.0.2/24" {
		t.Errorf("second plugin got prevResult %+v, want the first plugin's result", b.PrevResult)
	}
	if b.Name != "net1" || b.RuntimeConfig["portMappings"] == nil {
		t.Errorf("second plugin's config lacks the list name or capability args: %s", full[1].Stdin)
	}
	if full[0].Env["CNI_ARGS"] != "IP=10.9.0.2" || full[0].Env["CNI_IFNAME"] != "eth0" || full[0].Env["CNI_CONTAINERID"] != "c1" {
		t.Errorf("plugin env = %v", full[0].Env)
	}
	if res == nil || res.Version() != "1.1.0" {
		t.Errorf("result = %v", res)
	}
	rec, _, err := r.Result("c1", "net1")
	if err != nil || rec.State != StateAdded {
		t.Fatalf("record after Add: %+v, %v", rec, err)
	}
}

func TestDelReplaysRecordInReverseAfterDefinitionChanged(t *testing.T) {
	fe := newFakeEnv(t, "fake-a", "fake-b")
	r := newRunner(fe)
	if _, err := r.Add(context.Background(), fakeList(t, "net1", "fake-a", "fake-b"), att("c1")); err != nil {
		t.Fatal(err)
	}
	fe.reset()
	// The operator edits the definition: DEL must still replay the ADD's config.
	changed := fakeList(t, "net1", "fake-b")
	if err := r.Del(context.Background(), "net1", Attachment{ContainerID: "c1"}, changed); err != nil {
		t.Fatalf("Del: %v", err)
	}
	short, full := fe.calls()
	if want := []string{"fake-b DEL", "fake-a DEL"}; !reflect.DeepEqual(short, want) {
		t.Fatalf("calls = %v, want %v", short, want)
	}
	for _, c := range full {
		if !strings.Contains(string(c.Stdin), `"portMappings"`) || !strings.Contains(string(c.Stdin), `"prevResult"`) {
			t.Errorf("%s DEL lacks the recorded capability args or prevResult: %s", c.Plugin, c.Stdin)
		}
		if c.Env["CNI_ARGS"] != "IP=10.9.0.2" || c.Env["CNI_NETNS"] != "/run/netns/c1" {
			t.Errorf("%s DEL env = %v, want the ADD's args and netns", c.Plugin, c.Env)
		}
	}
	if _, err := os.Stat(filepath.Join(r.StateDir, "containers", "c1")); !os.IsNotExist(err) {
		t.Errorf("container records left after Del: %v", err)
	}
	fe.reset()
	// A second DEL, with no record and no definition, has nothing to do.
	if err := r.Del(context.Background(), "net1", Attachment{ContainerID: "c1"}, nil); err != nil {
		t.Fatalf("second Del: %v", err)
	}
	if short, _ := fe.calls(); len(short) != 0 {
		t.Errorf("second Del ran plugins: %v", short)
	}
}

func TestDelRunsEveryPluginPastFailuresAndKeepsRecord(t *testing.T) {
	fe := newFakeEnv(t, "fake-a", "fake-b", "fake-c")
	r := newRunner(fe)
	list := fakeList(t, "net1", "fake-a", "fake-b", "fake-c")
	if _, err := r.Add(context.Background(), list, att("c1")); err != nil {
		t.Fatal(err)
	}
	fe.reset()
	fe.script("fake-b", fakeScript{"DEL": {Code: 5, Msg: "b cannot delete"}})
	fe.script("fake-a", fakeScript{"DEL": {Code: 7, Msg: "a cannot delete"}})
	err := r.Del(context.Background(), "net1", Attachment{ContainerID: "c1"}, nil)
	if err == nil || !strings.Contains(err.Error(), "plugin fake-b failed (del): b cannot delete") || !strings.Contains(err.Error(), "plugin fake-a failed (del): a cannot delete") {
		t.Fatalf("Del error = %v, want both failures", err)
	}
	short, _ := fe.calls()
	if want := []string{"fake-c DEL", "fake-b DEL", "fake-a DEL"}; !reflect.DeepEqual(short, want) {
		t.Fatalf("calls = %v, want %v", short, want)
	}
	if _, _, err := r.Result("c1", "net1"); err != nil {
		t.Fatalf("record must survive a failed Del for a retry: %v", err)
	}
	fe.script("fake-b", fakeScript{})
	fe.script("fake-a", fakeScript{})
	if err := r.Del(context.Background(), "net1", Attachment{ContainerID: "c1"}, nil); err != nil {
		t.Fatalf("retried Del: %v", err)
	}
	if _, _, err := r.Result("c1", "net1"); !errors.Is(err, ErrNoRecord) {
		t.Fatalf("record after successful Del: %v", err)
	}
}

func TestFailedAddRollsBackEverything(t *testing.T) {
	for _, tc := range []struct {
		name   string
		action fakeAction
		want   string
	}{
		{"error", fakeAction{Code: 7, Msg: "bad config"}, "plugin fake-c failed (add): bad config"},
		{"garbage", fakeAction{Garbage: true}, "not a CNI error"},
		{"crash", fakeAction{CrashExit: 2}, "plugin failed with no error message"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fe := newFakeEnv(t, "fake-a", "fake-b", "fake-c")
			r := newRunner(fe)
			fe.script("fake-c", fakeScript{"ADD": tc.action})
			_, err := r.Add(context.Background(), fakeList(t, "net1", "fake-a", "fake-b", "fake-c"), att("c1"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Add error = %v, want %q", err, tc.want)
			}
			short, full := fe.calls()
			want := []string{"fake-a ADD", "fake-b ADD", "fake-c ADD", "fake-c DEL", "fake-b DEL", "fake-a DEL"}
			if !reflect.DeepEqual(short, want) {
				t.Fatalf("calls = %v, want %v", short, want)
			}
			if full[3].Env["CNI_ARGS"] != "IP=10.9.0.2" || !strings.Contains(string(full[3].Stdin), "portMappings") {
				t.Errorf("rollback DEL did not get the ADD's args: %v %s", full[3].Env, full[3].Stdin)
			}
			if _, err := os.Stat(filepath.Join(r.StateDir, "containers", "c1")); !os.IsNotExist(err) {
				t.Errorf("records left after a failed Add: %v", err)
			}
		})
	}
}

func TestTimeoutKillsHungPluginAndRollsBack(t *testing.T) {
	fe := newFakeEnv(t, "fake-a", "fake-b")
	r := newRunner(fe)
	r.Timeout = 300 * time.Millisecond
	fe.script("fake-b", fakeScript{"ADD": {Hang: true}})
	start := time.Now()
	_, err := r.Add(context.Background(), fakeList(t, "net1", "fake-a", "fake-b"), att("c1"))
	if err == nil || !strings.Contains(err.Error(), "plugin fake-b timed out after 300ms and was killed") {
		t.Fatalf("Add error = %v, want a timeout", err)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("a hung plugin held Add for %s", d)
	}
	short, _ := fe.calls()
	if want := []string{"fake-a ADD", "fake-b ADD", "fake-b DEL", "fake-a DEL"}; !reflect.DeepEqual(short, want) {
		t.Fatalf("calls = %v, want %v", short, want)
	}
}

func TestTryAgainIsRetried(t *testing.T) {
	fe := newFakeEnv(t, "fake-a")
	r := newRunner(fe)
	fe.script("fake-a", fakeScript{"ADD": {TryAgain: 2}})
	if _, err := r.Add(context.Background(), fakeList(t, "net1", "fake-a"), att("c1")); err != nil {
		t.Fatalf("Add with two code-11 answers: %v", err)
	}
	if short, _ := fe.calls(); len(short) != 3 {
		t.Fatalf("calls = %v, want three ADD attempts", short)
	}
	fe2 := newFakeEnv(t, "fake-a")
	r2 := newRunner(fe2)
	r2.Retries = 1
	fe2.script("fake-a", fakeScript{"ADD": {TryAgain: 5}})
	_, err := r2.Add(context.Background(), fakeList(t, "net1", "fake-a"), att("c2"))
	var terr *types.Error
	if !errors.As(err, &terr) || terr.Code != types.ErrTryAgainLater {
		t.Fatalf("Add error = %v, want code 11 once retries are spent", err)
	}
}

func TestAddAllIsAllOrNothing(t *testing.T) {
	fe := newFakeEnv(t, "fake-a", "fake-b")
	r := newRunner(fe)
	fe.script("fake-b", fakeScript{"ADD": {Code: 11 + 1, Msg: "nope"}})
	a0, a1 := att("c1"), att("c1")
	a1.IfName = "eth1"
	_, err := r.AddAll(context.Background(), []Request{{fakeList(t, "good", "fake-a"), a0}, {fakeList(t, "bad", "fake-b"), a1}})
	if err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("AddAll error = %v", err)
	}
	if nets, _ := r.store().Networks("c1"); len(nets) != 0 {
		t.Errorf("networks left after a failed AddAll: %v", nets)
	}
	short, _ := fe.calls()
	dels := 0
	for _, c := range short {
		if c == "fake-a DEL" {
			dels++
		}
	}
	if dels != 1 {
		t.Errorf("the good network was not rolled back exactly once: %v", short)
	}
}

func TestAddTwiceAndBadIDs(t *testing.T) {
	fe := newFakeEnv(t, "fake-a")
	r := newRunner(fe)
	list := fakeList(t, "net1", "fake-a")
	if _, err := r.Add(context.Background(), list, att("c1")); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Add(context.Background(), list, att("c1")); err == nil || !strings.Contains(err.Error(), "already on network net1") {
		t.Errorf("second Add: %v", err)
	}
	for _, id := range []string{"", "../x", "a/b", "a..b", strings.Repeat("x", 200), "nul\x00"} {
		a := att("x")
		a.ContainerID = id
		if _, err := r.Add(context.Background(), list, a); err == nil {
			t.Errorf("Add accepted container id %q", id)
		}
	}
	entries, _ := os.ReadDir(filepath.Join(r.StateDir, "containers"))
	if len(entries) != 1 {
		t.Errorf("state holds %d containers, want only c1", len(entries))
	}
}

func TestGCSendsValidAttachments(t *testing.T) {
	fe := newFakeEnv(t, "fake-a")
	r := newRunner(fe)
	list := fakeList(t, "net1", "fake-a")
	for _, id := range []string{"c2", "c1"} {
		if _, err := r.Add(context.Background(), list, att(id)); err != nil {
			t.Fatal(err)
		}
	}
	fe.reset()
	if err := r.GC(context.Background(), []*libcni.NetworkConfigList{list}); err != nil {
		t.Fatalf("GC: %v", err)
	}
	_, full := fe.calls()
	if len(full) != 1 || full[0].Command != "GC" {
		t.Fatalf("calls = %+v", full)
	}
	var conf struct {
		Valid []map[string]string `json:"cni.dev/valid-attachments"`
	}
	_ = json.Unmarshal(full[0].Stdin, &conf)
	want := []map[string]string{{"containerID": "c1", "ifname": "eth0"}, {"containerID": "c2", "ifname": "eth0"}}
	if !reflect.DeepEqual(conf.Valid, want) {
		t.Errorf("valid attachments = %v, want %v", conf.Valid, want)
	}
}

// TestDelAfterSaveDiedMidway: a process killed inside Store.Save leaves a
// network directory without network.conf, or network.conf without
// network.info. No plugin ran in either case: DEL runs none and removes
// what is there.
func TestDelAfterSaveDiedMidway(t *testing.T) {
	fe := newFakeEnv(t, "fake-a")
	r := newRunner(fe)
	dir := filepath.Join(r.StateDir, "containers", "c1", "net1")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := r.Del(context.Background(), "net1", Attachment{ContainerID: "c1"}, nil); err != nil {
		t.Fatalf("Del with an empty network directory: %v", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "network.conf"), fakeList(t, "net1", "fake-a").Bytes, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := r.Del(context.Background(), "net1", Attachment{ContainerID: "c1"}, nil); err != nil {
		t.Fatalf("Del with network.conf and no network.info: %v", err)
	}
	if short, _ := fe.calls(); len(short) != 0 {
		t.Errorf("plugins ran for an attach that never started: %v", short)
	}
	if _, err := os.Stat(filepath.Join(r.StateDir, "containers", "c1")); !os.IsNotExist(err) {
		t.Errorf("records left: %v", err)
	}
}
