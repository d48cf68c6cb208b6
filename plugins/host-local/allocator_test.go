package hostlocal

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
)

func TestCandidates(t *testing.T) {
	c, err := LoadConfig([]byte(`{"cniVersion": "1.0.0", "name": "n", "ipam": {"ranges": [
		[{"subnet": "10.0.0.0/29", "gateway": "10.0.0.3"}, {"subnet": "10.0.1.0/24", "rangeStart": "10.0.1.10", "rangeEnd": "10.0.1.12"}],
		[{"subnet": "fd00::/125"}]]}}`), "")
	if err != nil {
		t.Fatal(err)
	}
	list := func(set RangeSet, last string) string {
		var l netip.Addr
		if last != "" {
			l = netip.MustParseAddr(last)
		}
		return fmt.Sprint(slices.Collect(set.candidates(l)))
	}
	v4, v6 := c.RangeSets[0], c.RangeSets[1]
	tests := []struct {
		set        RangeSet
		last, want string
	}{
		{v4, "", "[10.0.0.1 10.0.0.2 10.0.0.4 10.0.0.5 10.0.0.6 10.0.1.10 10.0.1.11 10.0.1.12]"},
		{v4, "10.0.0.5", "[10.0.0.6 10.0.1.10 10.0.1.11 10.0.1.12 10.0.0.1 10.0.0.2 10.0.0.4 10.0.0.5]"},
		{v4, "10.0.0.6", "[10.0.1.10 10.0.1.11 10.0.1.12 10.0.0.1 10.0.0.2 10.0.0.4 10.0.0.5 10.0.0.6]"},
		{v4, "10.0.1.12", "[10.0.0.1 10.0.0.2 10.0.0.4 10.0.0.5 10.0.0.6 10.0.1.10 10.0.1.11 10.0.1.12]"},
		// A last position on the gateway (from an older config) still works.
		{v4, "10.0.0.3", "[10.0.0.4 10.0.0.5 10.0.0.6 10.0.1.10 10.0.1.11 10.0.1.12 10.0.0.1 10.0.0.2]"},
		// A last position outside the set starts from the beginning.
		{v4, "192.168.0.1", "[10.0.0.1 10.0.0.2 10.0.0.4 10.0.0.5 10.0.0.6 10.0.1.10 10.0.1.11 10.0.1.12]"},
		{v6, "fd00::6", "[fd00::7 fd00::2 fd00::3 fd00::4 fd00::5 fd00::6]"},
	}
	for _, tc := range tests {
		if got := list(tc.set, tc.last); got != tc.want {
			t.Errorf("candidates after %q\n got %s\nwant %s", tc.last, got, tc.want)
		}
	}
	if got, want := fmt.Sprint(v4.capacity(), " ", v6.capacity()), "8 6"; got != want {
		t.Errorf("capacities %s, want %s", got, want)
	}
	big, err := LoadConfig([]byte(`{"name": "n", "ipam": {"ranges": [[{"subnet": "fd00::/8"}]]}}`), "")
	if err != nil {
		t.Fatal(err)
	}
	if got := big.RangeSets[0].capacity(); got != 1<<64-1 {
		t.Errorf("capacity of a /8 is %d, want saturated", got)
	}
}

func TestGatewayInsideRangeIsSkipped(t *testing.T) {
	dir := t.TempDir()
	conf := confJSON("1.0.0", dir, `"subnet": "10.0.0.0/29", "gateway": "10.0.0.3"`)
	var got []string
	for i := range 5 {
		got = append(got, addAddrs(t, conf, call{id: fmt.Sprint("c", i), ifname: "eth0"})...)
	}
	if want := "[10.0.0.1/29 10.0.0.2/29 10.0.0.4/29 10.0.0.5/29 10.0.0.6/29]"; fmt.Sprint(got) != want {
		t.Errorf("allocated %v, want %s", got, want)
	}
	_, err := dispatch(t, conf, call{command: "ADD", id: "c9", ifname: "eth0"})
	wantErr(t, "ADD when full", err, types.ErrInternal, "no free address in range set 0 (10.0.0.0/29)")
}

func TestLockWaitIsCancellable(t *testing.T) {
	dir := t.TempDir()
	conf := []byte(confJSON("1.0.0", dir, `"subnet": "10.0.0.0/24"`))
	st, err := OpenStore(dir, "testnet", true)
	if err != nil {
		t.Fatal(err)
	}
	unlock, err := st.Lock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	args := &skel.CmdArgs{ContainerID: "c1", IfName: "eth0", Netns: "/x", StdinData: conf}
	start := time.Now()
	_, err = New().Add(ctx, testEnv(), args)
	e, ok := err.(*types.Error)
	if !ok || e.Code != types.ErrTryAgainLater {
		t.Fatalf("ADD while locked: %v, want code 11", err)
	}
	if want := "waiting for the lock of address store " + filepath.Join(dir, "testnet") + ": context deadline exceeded"; e.Msg != want {
		t.Errorf("got %q\nwant %q", e.Msg, want)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("gave up after %v", d)
	}
	unlock()
	if _, err := New().Add(context.Background(), testEnv(), args); err != nil {
		t.Fatalf("ADD after unlock: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "testnet", "10.0.0.2")); err != nil {
		t.Error(err)
	}
}
