package portmap

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestStoreRoundTrip(t *testing.T) {
	st := store{dir: t.TempDir()}
	mark := 5
	p := basePlan([]mapping{web, {HostPort: 5300, ContainerPort: 53, Protocol: "udp", HostIP: "fd00::1"}}, "10.22.0.5", "fd00:22::5")
	p.MarkMasqBit = &mark
	p.ConditionsV4 = []string{"!", "-d", "192.0.2.0/24"}
	if err := st.save(p); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(st.dir, "net1", "c1:eth0.json")
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("record %s: %v %v", path, fi, err)
	}
	got, err := st.load("net1", "c1", "eth0")
	if err != nil || !reflect.DeepEqual(got, p) {
		t.Fatalf("load: %+v %v\nwant %+v", got, err, p)
	}

	// Another attachment, a corrupt record, a temporary file and a stranger.
	other := basePlan([]mapping{web}, "10.22.0.6")
	other.ContainerID = "c2"
	if err := st.save(other); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{"c3:eth0.json": "{", ".c4:eth0.json.tmp-1": "{}", "notes.txt": "x", "a b:eth0.json": "{}"} {
		if err := os.WriteFile(filepath.Join(st.dir, "net1", name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := st.list("net1")
	if err == nil {
		t.Error("list hid the corrupt record's error")
	}
	var names []string
	for _, r := range recs {
		names = append(names, r.containerID+"/"+r.ifName)
		if (r.plan == nil) != (r.containerID == "c3") {
			t.Errorf("record %s/%s: plan %v", r.containerID, r.ifName, r.plan)
		}
	}
	if !reflect.DeepEqual(names, []string{"c1/eth0", "c2/eth0", "c3/eth0"}) {
		t.Errorf("records %v", names)
	}
	if recs, err := st.list("nonet"); err != nil || len(recs) != 0 {
		t.Errorf("records of an unknown network: %v %v", recs, err)
	}

	if err := st.remove("net1", "c1", "eth0"); err != nil {
		t.Fatal(err)
	}
	if err := st.remove("net1", "c1", "eth0"); err != nil {
		t.Errorf("removing a missing record: %v", err)
	}
	if got, err := st.load("net1", "c1", "eth0"); got != nil || err != nil {
		t.Errorf("load after remove: %v %v", got, err)
	}
	if _, err := st.load("net1", "../x", "eth0"); err == nil {
		t.Error("a container id with a slash was accepted")
	}
}

// TestTempsOfKilledWritesGo: the temporary file of a record write killed
// mid-way goes with the attachment's next save or remove; other files stay.
func TestTempsOfKilledWritesGo(t *testing.T) {
	st := store{dir: t.TempDir()}
	p := basePlan([]mapping{web}, "10.22.0.5")
	dir := filepath.Join(st.dir, p.Network)
	tmp := filepath.Join(dir, "."+p.ContainerID+":"+p.IfName+".json.tmp-123")
	other := filepath.Join(dir, ".c9:eth0.json.tmp-7")
	for _, op := range []string{"save", "remove"} {
		for _, f := range []string{tmp, other} {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(f, []byte("{"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		var err error
		if op == "save" {
			err = st.save(p)
		} else {
			err = st.remove(p.Network, p.ContainerID, p.IfName)
		}
		if err != nil {
			t.Fatalf("%s: %v", op, err)
		}
		if _, err := os.Stat(tmp); !os.IsNotExist(err) {
			t.Fatalf("after %s the temporary file is there: %v", op, err)
		}
		if _, err := os.Stat(other); err != nil {
			t.Fatalf("after %s another attachment's file is gone: %v", op, err)
		}
	}
}
