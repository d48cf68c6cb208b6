package flannel

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
)

const fakeDelegateConf = `{"bridge":"fl0","cniVersion":"1.0.0","ipMasq":true,"ipam":{"ranges":[[{"subnet":"192.168.22.128/26"}]],"routes":[{"dst":"192.168.0.0/16"}],"type":"host-local"},"mtu":1450,"name":"mynet","type":"fakebr"}`

func TestAddSavesBeforeDelegateAndDelRemoves(t *testing.T) {
	e := newFakeEnv(t)
	savedDuringAdd := ""
	e.fake.onAdd = func() {
		b, _ := os.ReadFile(e.saved("c1"))
		savedDuringAdd = string(b)
	}
	out, err := e.call("ADD", "c1", e.conf("1.0.0", ""))
	if err != nil {
		t.Fatalf("ADD: %v", err)
	}
	if savedDuringAdd != fakeDelegateConf {
		t.Fatalf("saved before the delegate's ADD:\n got %s\nwant %s", savedDuringAdd, fakeDelegateConf)
	}
	calls := e.wantCalls("ADD")
	if calls[0].Conf != fakeDelegateConf || calls[0].ContainerID != "c1" || calls[0].IfName != "eth0" {
		t.Fatalf("delegate ADD call = %+v", calls[0])
	}
	var res current.Result
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	if res.CNIVersion != "1.0.0" || len(res.IPs) != 1 || res.IPs[0].Address.String() != "192.168.22.130/26" {
		t.Fatalf("ADD result = %s", out)
	}

	// DEL replays the saved configuration even after flanneld is gone.
	if err := os.Remove(e.subnetFile); err != nil {
		t.Fatal(err)
	}
	if _, err := e.call("DEL", "c1", e.conf("1.0.0", "")); err != nil {
		t.Fatalf("DEL: %v", err)
	}
	if calls := e.wantCalls("DEL"); calls[0].Conf != fakeDelegateConf {
		t.Fatalf("delegate DEL conf = %s", calls[0].Conf)
	}
	if exists(t, e.saved("c1")) {
		t.Fatal("saved configuration left after DEL")
	}
	// DEL again: nothing saved, success, the delegate is not called.
	if _, err := e.call("DEL", "c1", e.conf("1.0.0", "")); err != nil {
		t.Fatalf("second DEL: %v", err)
	}
	e.wantCalls()
}

func TestDelWithoutSavedConfigSucceeds(t *testing.T) {
	e := newFakeEnv(t)
	// Not even the data directory exists, nor does the delegate type.
	conf := []byte(`{"cniVersion":"0.3.1","name":"mynet","type":"flannel","dataDir":"` + e.dataDir + `","delegate":{"type":"nonexistent"}}`)
	if _, err := e.call("DEL", "never-added", conf); err != nil {
		t.Fatalf("DEL: %v", err)
	}
	e.wantCalls()
	if exists(t, e.dataDir) {
		t.Fatal("DEL created the data directory")
	}
}

func TestAddMissingSubnetFile(t *testing.T) {
	e := newFakeEnv(t)
	if err := os.Remove(e.subnetFile); err != nil {
		t.Fatal(err)
	}
	_, err := e.call("ADD", "c1", e.conf("1.0.0", ""))
	assertCNIError(t, err, types.ErrTryAgainLater, "flannel subnet file "+e.subnetFile+
		` does not exist: flanneld must be running on this host and have written its lease there (or set "subnetFile" to where it writes it)`)
	e.wantCalls()
	if exists(t, e.dataDir) {
		t.Fatal("failed ADD created the data directory")
	}
}

func TestAddFailureUndoes(t *testing.T) {
	e := newFakeEnv(t)
	e.fake.setFail("ADD", &types.Error{Code: 11, Msg: "no bridge today"})
	_, err := e.call("ADD", "c1", e.conf("1.0.0", ""))
	assertCNIError(t, err, 11, "delegate fakebr ADD: no bridge today")
	calls := e.wantCalls("ADD", "DEL")
	if calls[1].Conf != fakeDelegateConf || calls[1].ContainerID != "c1" {
		t.Fatalf("undo DEL call = %+v", calls[1])
	}
	if exists(t, e.saved("c1")) {
		t.Fatal("saved configuration left after a failed ADD")
	}

	// When the undo fails too, both are reported and the configuration
	// stays for the runtime's DEL.
	e.fake.setFail("DEL", &types.Error{Code: 999, Msg: "stuck"})
	_, err = e.call("ADD", "c2", e.conf("1.0.0", ""))
	assertCNIError(t, err, 11, "delegate fakebr ADD: no bridge today\ndelegate fakebr DEL: stuck")
	e.wantCalls("ADD", "DEL")
	e.retryDel("c2", "1.0.0")
}

func TestDelFailureKeepsSavedConfig(t *testing.T) {
	e := newFakeEnv(t)
	if _, err := e.call("ADD", "c1", e.conf("0.4.0", "")); err != nil {
		t.Fatal(err)
	}
	e.wantCalls("ADD")
	e.fake.setFail("DEL", &types.Error{Code: 5, Msg: "device busy", Details: "try later"})
	_, err := e.call("DEL", "c1", e.conf("0.4.0", ""))
	var cerr *types.Error
	if !errors.As(err, &cerr) || cerr.Code != 5 || cerr.Details != "try later" ||
		cerr.Msg != "delegate fakebr DEL: device busy (saved configuration "+e.saved("c1")+" kept for a retry)" {
		t.Fatalf("DEL error = %#v", err)
	}
	e.wantCalls("DEL")
	e.retryDel("c1", "0.4.0")
}

func TestDelCorruptSavedConfigRebuilds(t *testing.T) {
	e := newFakeEnv(t)
	if err := saveDelegate(e.saved("c1"), []byte("{trunc")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.call("DEL", "c1", e.conf("1.0.0", "")); err != nil {
		t.Fatalf("DEL: %v", err)
	}
	if calls := e.wantCalls("DEL"); calls[0].Conf != fakeDelegateConf {
		t.Fatalf("delegate DEL conf = %s", calls[0].Conf)
	}
	if exists(t, e.saved("c1")) {
		t.Fatal("corrupt saved configuration left after DEL")
	}

	// Without a subnet file to rebuild from, both reasons are reported
	// and the file stays.
	if err := saveDelegate(e.saved("c2"), []byte("{trunc")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(e.subnetFile); err != nil {
		t.Fatal(err)
	}
	_, err := e.call("DEL", "c2", e.conf("1.0.0", ""))
	if err == nil || !strings.Contains(err.Error(), "saved delegate configuration "+e.saved("c2")+": decoding:") ||
		!strings.Contains(err.Error(), "flanneld must be running") {
		t.Fatalf("DEL error = %v", err)
	}
	e.wantCalls()
	if !exists(t, e.saved("c2")) {
		t.Fatal("unreadable saved configuration removed although nothing was deleted")
	}
}

func TestCheckInjectsPrevResult(t *testing.T) {
	e := newFakeEnv(t)
	out, err := e.call("ADD", "c1", e.conf("1.0.0", ""))
	if err != nil {
		t.Fatal(err)
	}
	e.wantCalls("ADD")
	// flanneld rewrote its file meanwhile: CHECK still uses what ADD saved.
	e.writeSubnetEnv(strings.Replace(seedSubnetEnv, "1450", "1400", 1))
	prev := strings.TrimSpace(string(out))
	if _, err := e.call("CHECK", "c1", e.conf("1.0.0", `,"prevResult":`+prev)); err != nil {
		t.Fatalf("CHECK: %v", err)
	}
	calls := e.wantCalls("CHECK")
	var got map[string]json.RawMessage
	if err := json.Unmarshal([]byte(calls[0].Conf), &got); err != nil {
		t.Fatal(err)
	}
	var wantPrev, gotPrev any
	_ = json.Unmarshal([]byte(prev), &wantPrev)
	_ = json.Unmarshal(got["prevResult"], &gotPrev)
	if string(mustJSON(gotPrev)) != string(mustJSON(wantPrev)) || string(got["mtu"]) != "1450" || string(got["type"]) != `"fakebr"` {
		t.Fatalf("delegate CHECK conf = %s", calls[0].Conf)
	}

	_, err = e.call("CHECK", "c1", e.conf("1.0.0", ""))
	assertCNIError(t, err, types.ErrInvalidNetworkConfig, `invalid field "prevResult": CHECK needs the result of ADD`)
	_, err = e.call("CHECK", "c9", e.conf("1.0.0", `,"prevResult":`+prev))
	assertCNIError(t, err, types.ErrInternal, "checking container c9 interface eth0: no saved delegate configuration at "+
		e.saved("c9")+": open "+e.saved("c9")+": no such file or directory (was ADD run?)")
	e.wantCalls()
}

func TestGCRemovesStaleAndDelegates(t *testing.T) {
	e := newFakeEnv(t)
	for _, id := range []string{"keep", "stale1", "stale2"} {
		if _, err := e.call("ADD", id, e.conf("1.1.0", "")); err != nil {
			t.Fatal(err)
		}
	}
	e.wantCalls("ADD", "ADD", "ADD")
	// Another network's state in the same data directory is not touched.
	otherNet := filepath.Join(e.dataDir, "othernet", "stale1@eth0.json")
	if err := saveDelegate(otherNet, []byte(`{"type":"bridge"}`)); err != nil {
		t.Fatal(err)
	}
	valid := `,"cni.dev/valid-attachments":[{"containerID":"keep","ifname":"eth0"},{"containerID":"gone","ifname":"eth1"}]`
	if _, err := e.call("GC", "", e.conf("1.1.0", valid)); err != nil {
		t.Fatalf("GC: %v", err)
	}
	calls := e.wantCalls("GC")
	want := `{"bridge":"fl0","cni.dev/valid-attachments":[{"containerID":"keep","ifname":"eth0"},{"containerID":"gone","ifname":"eth1"}],"cniVersion":"1.1.0","ipMasq":true,` +
		`"ipam":{"ranges":[[{"subnet":"192.168.22.128/26"}]],"routes":[{"dst":"192.168.0.0/16"}],"type":"host-local"},"mtu":1450,"name":"mynet","type":"fakebr"}`
	if calls[0].Conf != want {
		t.Fatalf("delegate GC conf:\n got %s\nwant %s", calls[0].Conf, want)
	}
	if !exists(t, e.saved("keep")) || exists(t, e.saved("stale1")) || exists(t, e.saved("stale2")) || !exists(t, otherNet) {
		t.Fatal("GC kept or removed the wrong saved configurations")
	}

	// Without a subnet file, stale state is still removed; the delegate's
	// GC waits for flanneld.
	if err := os.Remove(e.subnetFile); err != nil {
		t.Fatal(err)
	}
	if _, err := e.call("GC", "", e.conf("1.1.0", `,"cni.dev/valid-attachments":[]`)); err != nil {
		t.Fatalf("GC without subnet file: %v", err)
	}
	e.wantCalls()
	if exists(t, e.saved("keep")) {
		t.Fatal("GC left a stale saved configuration")
	}
}

func TestStatus(t *testing.T) {
	e := newFakeEnv(t)
	if _, err := e.call("STATUS", "", e.conf("1.1.0", "")); err != nil {
		t.Fatalf("STATUS: %v", err)
	}
	if calls := e.wantCalls("STATUS"); !strings.Contains(calls[0].Conf, `"ranges":[[{"subnet":"192.168.22.128/26"}]]`) {
		t.Fatalf("delegate STATUS conf = %s", calls[0].Conf)
	}

	e.fake.setFail("STATUS", &types.Error{Code: 50, Msg: "ipam full"})
	_, err := e.call("STATUS", "", e.conf("1.1.0", ""))
	assertCNIError(t, err, 50, "delegate fakebr STATUS: ipam full")
	e.wantCalls("STATUS")

	e.writeSubnetEnv("FLANNEL_NETWORK=192.168.0.0/16\nFLANNEL_SUBNET=192.168.22.129/26\nFLANNEL_MTU=x\n")
	_, err = e.call("STATUS", "", e.conf("1.1.0", ""))
	assertCNIError(t, err, types.ErrPluginNotAvailable, "flannel is not available: "+e.subnetFile+`:3: FLANNEL_MTU: invalid MTU "x": want a number from 68 to 65535`)

	if err := os.Remove(e.subnetFile); err != nil {
		t.Fatal(err)
	}
	_, err = e.call("STATUS", "", e.conf("1.1.0", ""))
	assertCNIError(t, err, types.ErrPluginNotAvailable, "flannel is not available: flannel subnet file "+e.subnetFile+
		` does not exist: flanneld must be running on this host and have written its lease there (or set "subnetFile" to where it writes it)`)
	e.wantCalls()
}

// TestDelPassesPrevResult: the runtime's prevResult reaches the delegate's
// DEL (bridge deletes exactly the masquerade rules it names instead of
// reading the nat table); a null one is not passed on.
func TestDelPassesPrevResult(t *testing.T) {
	e := newFakeEnv(t)
	delegateConf := func(prevResult string) map[string]json.RawMessage {
		t.Helper()
		out, err := e.call("ADD", "c1", e.conf("1.0.0", ""))
		if err != nil {
			t.Fatal(err)
		}
		e.wantCalls("ADD")
		prev := strings.TrimSpace(string(out))
		if prevResult != "" {
			prev = prevResult
		}
		if _, err := e.call("DEL", "c1", e.conf("1.0.0", `,"prevResult":`+prev)); err != nil {
			t.Fatalf("DEL: %v", err)
		}
		calls := e.wantCalls("DEL")
		var got map[string]json.RawMessage
		if err := json.Unmarshal([]byte(calls[0].Conf), &got); err != nil {
			t.Fatal(err)
		}
		return got
	}
	got := delegateConf("")
	var res map[string]any
	if err := json.Unmarshal(got["prevResult"], &res); err != nil || res["ips"] == nil || string(got["cniVersion"]) != `"1.0.0"` {
		t.Fatalf("delegate DEL conf has no prevResult with the addresses: %s (%v)", got["prevResult"], err)
	}
	if got := delegateConf("null"); got["prevResult"] != nil {
		t.Fatalf("a null prevResult was passed on: %s", got["prevResult"])
	}
}

// TestTempsOfKilledWritesGo: a saved configuration's temporary file left
// by a process killed mid-write goes with the attachment's next ADD or DEL.
func TestTempsOfKilledWritesGo(t *testing.T) {
	e := newFakeEnv(t)
	for _, cmd := range []string{"ADD", "DEL"} {
		dir, base := filepath.Split(e.saved("c1"))
		tmp := filepath.Join(dir, "."+base+".tmp-4242")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(tmp, []byte("{"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := e.call(cmd, "c1", e.conf("1.0.0", "")); err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
		e.wantCalls(cmd)
		if _, err := os.Stat(tmp); !os.IsNotExist(err) {
			t.Fatalf("after %s the temporary file is there: %v", cmd, err)
		}
	}
}
