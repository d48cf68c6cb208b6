package hostlocal

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
)

// gcConf is a 1.1.0 configuration carrying the GC's valid attachments.
func gcConf(dataDir, ipamBody, valid string) string {
	return fmt.Sprintf(`{"cniVersion": "1.1.0", "name": "testnet", "type": "bridge",
		"cni.dev/valid-attachments": [%s],
		"ipam": {"type": "host-local", "dataDir": %q, %s}}`, valid, dataDir, ipamBody)
}

func TestGC(t *testing.T) {
	dir := t.TempDir()
	body := `"ranges": [[{"subnet": "10.0.0.0/24"}], [{"subnet": "fd00::/64"}]]`
	conf := confJSON("1.1.0", dir, body)
	for _, id := range []string{"keep1", "leak", "keep2"} {
		addAddrs(t, conf, call{id: id, ifname: "eth0"})
	}
	st, err := OpenStore(dir, "testnet", false)
	if err != nil {
		t.Fatal(err)
	}
	// Leftovers of killed ADDs: a temp reservation file, a pending index of
	// a dead attachment with one reservation, and a pending index of a live
	// attachment whose ADD was retried elsewhere.
	for _, name := range []string{".reserve-123", ".attachment.x.tmp-9"} {
		if err := os.WriteFile(filepath.Join(st.Dir(), name), []byte("half"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dead, live := Owner{"dead", "eth0"}, Owner{"live", "eth1"}
	for _, o := range []Owner{dead, live} {
		if err := st.WriteIndex(&Index{ContainerID: o.ContainerID, IfName: o.IfName, State: StatePending}); err != nil {
			t.Fatal(err)
		}
	}
	if ok, err := st.Reserve(dead, netip.MustParseAddr("10.0.0.200")); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if ok, err := st.Reserve(live, netip.MustParseAddr("10.0.0.201")); !ok || err != nil {
		t.Fatal(ok, err)
	}

	valid := `{"containerID": "keep1", "ifname": "eth0"}, {"containerID": "keep2", "ifname": "eth0"}, {"containerID": "live", "ifname": "eth1"}`
	_, terr := dispatch(t, gcConf(dir, body, valid), call{command: "GC"})
	mustOK(t, "GC", nil, terr)

	if got, want := fmt.Sprint(reservedIPs(t, dir)), "[10.0.0.2 10.0.0.201 10.0.0.4 fd00::2 fd00::4]"; got != want {
		t.Errorf("after GC reserved %s, want %s", got, want)
	}
	if got := tempFiles(t, dir); len(got) != 0 {
		t.Errorf("temp files left: %v", got)
	}
	want := []string{indexName(Owner{"keep1", "eth0"}), indexName(Owner{"keep2", "eth0"}), indexName(live)}
	slices.Sort(want)
	if got := indexFiles(t, dir); !slices.Equal(got, want) {
		t.Errorf("index files %v, want %v", got, want)
	}
	ix, err := st.ReadIndex(live)
	if err != nil || ix == nil {
		t.Fatal(ix, err)
	}
	if got, want := fmt.Sprint(ix.State, " ", ix.IPs), "ready [10.0.0.201]"; got != want {
		t.Errorf("repaired index %s, want %s", got, want)
	}
	// The kept attachments are intact: CHECK and DEL work.
	_, terr = dispatch(t, conf, call{command: "CHECK", id: "keep2", ifname: "eth0"})
	mustOK(t, "CHECK keep2", nil, terr)
	_, terr = dispatch(t, conf, call{command: "DEL", id: "live", ifname: "eth1"})
	mustOK(t, "DEL live", nil, terr)
	if got, want := fmt.Sprint(reservedIPs(t, dir)), "[10.0.0.2 10.0.0.4 fd00::2 fd00::4]"; got != want {
		t.Errorf("after DEL live reserved %s, want %s", got, want)
	}

	// An empty list means nothing is valid.
	_, terr = dispatch(t, gcConf(dir, body, ""), call{command: "GC"})
	mustOK(t, "GC with no valid attachments", nil, terr)
	if got := reservedIPs(t, dir); len(got) != 0 {
		t.Errorf("after empty GC reserved %v", got)
	}
	if got := indexFiles(t, dir); len(got) != 0 {
		t.Errorf("after empty GC index files %v", got)
	}
	// GC of a network never used is a no-op.
	_, terr = dispatch(t, gcConf(t.TempDir(), body, ""), call{command: "GC"})
	mustOK(t, "GC of an empty data dir", nil, terr)
}

func TestStatus(t *testing.T) {
	dir := t.TempDir()
	// Range set 1 has exactly one allocatable address (.2 of a /30).
	body := `"ranges": [[{"subnet": "10.0.0.0/24"}], [{"subnet": "10.1.0.0/30"}]]`
	conf := confJSON("1.1.0", dir, body)
	_, err := dispatch(t, conf, call{command: "STATUS"})
	mustOK(t, "STATUS before any ADD", nil, err)
	addAddrs(t, conf, call{id: "c1", ifname: "eth0"})
	_, err = dispatch(t, conf, call{command: "STATUS"})
	wantErr(t, "STATUS when full", err, types.ErrPluginNotAvailable, "no free address in range set 1 (10.1.0.0/30)")
	_, err = dispatch(t, conf, call{command: "DEL", id: "c1", ifname: "eth0"})
	mustOK(t, "DEL", nil, err)
	_, err = dispatch(t, conf, call{command: "STATUS"})
	mustOK(t, "STATUS after DEL", nil, err)

	// Addresses outside the configured ranges (an older config's) and the
	// gateway do not count.
	conf2 := confJSON("1.1.0", dir, `"subnet": "10.1.0.0/29", "rangeStart": "10.1.0.2", "rangeEnd": "10.1.0.3"`)
	st, _ := OpenStore(dir, "testnet", false)
	for _, a := range []string{"10.1.0.1", "10.1.0.5", "10.1.0.2"} {
		if ok, err := st.Reserve(Owner{"x" + a, "eth0"}, netip.MustParseAddr(a)); !ok || err != nil {
			t.Fatal(a, ok, err)
		}
	}
	_, err = dispatch(t, conf2, call{command: "STATUS"})
	mustOK(t, "STATUS with one free address", nil, err)
	addAddrs(t, conf2, call{id: "c2", ifname: "eth0"})
	_, err = dispatch(t, conf2, call{command: "STATUS"})
	wantErr(t, "STATUS when full", err, types.ErrPluginNotAvailable, "no free address in range set 0 (10.1.0.0/29)")

	// STATUS checks the configuration too.
	_, err = dispatch(t, confJSON("1.1.0", dir, `"subnet": "10.1.0.0/33"`), call{command: "STATUS"})
	wantErr(t, "STATUS with a bad config", err, types.ErrInvalidNetworkConfig,
		`invalid field "ipam.subnet": "10.1.0.0/33" is not a CIDR: netip.ParsePrefix("10.1.0.0/33"): prefix length out of range`)
}
