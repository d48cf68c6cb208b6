package isolator_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weirnet/weir/chain"
	"github.com/weirnet/weir/isolator"
)

// TestStatusCacheFollowsChangesByOtherProcesses: every change the CLI makes
// to the records behind the daemon's back shows in the daemon's very next
// status, whatever was cached before.
func TestStatusCacheFollowsChangesByOtherProcesses(t *testing.T) {
	h := newCacheHost(t)
	h.expect(t, "nothing yet", "c1", "unknown")
	if _, err := h.cli.Prepare("c1", config1("n1", "n2")); err != nil {
		t.Fatal(err)
	}
	h.expect(t, "prepared by the CLI", "c1", "preparing")
	h.cached(t, "c1", "preparing")

	h.netAdd(t, "n1", "c1", "eth0")
	h.expect(t, "n1 attached by the CLI", "c1", "isolated n1=eth0,10.9.0.1")
	h.cached(t, "c1", "isolated n1=eth0,10.9.0.1")

	h.netAdd(t, "n2", "c1", "eth1")
	h.expect(t, "n2 attached by the CLI", "c1", "isolated n1=eth0,10.9.0.1 n2=eth1,10.9.0.2")
	h.cached(t, "c1", "isolated n1=eth0,10.9.0.1 n2=eth1,10.9.0.2")

	h.netDel(t, "n1", "c1")
	h.expect(t, "n1 detached by the CLI", "c1", "isolated n2=eth1,10.9.0.2")
	h.cached(t, "c1", "isolated n2=eth1,10.9.0.2")

	// A record rewritten in place, its size and times put back: only its
	// ctime tells.
	info := filepath.Join(h.cli.Runner.StateDir, "containers", "c1", "n2", "eth1", "network.info")
	old, err := os.Stat(info)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := chain.Store{Dir: h.cli.Runner.StateDir}.Load("c1", "n2")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(info)
	if err != nil {
		t.Fatal(err)
	}
	edited := bytes.Replace(data, []byte(`"10.9.0.2/24"`), []byte(`"10.9.0.7/24"`), 1)
	if bytes.Equal(edited, data) {
		t.Fatalf("the record has no 10.9.0.2/24: %s", data)
	}
	f, err := os.OpenFile(info, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(edited, 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Chtimes(info, old.ModTime(), old.ModTime()); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(info); st.Size() != old.Size() || !st.ModTime().Equal(old.ModTime()) {
		t.Fatalf("the edit changed the size or mtime: %v %v", st.Size(), st.ModTime())
	}
	h.expect(t, "record edited in place", "c1", "isolated n2=eth1,10.9.0.7")

	// A record in the middle of an attach (state "adding") is partial;
	// only network.info is replaced (atomically, as the runner does).
	rec.State, rec.Config = chain.StateAdding, nil
	if err := (chain.Store{Dir: h.cli.Runner.StateDir}).Save(rec); err != nil {
		t.Fatal(err)
	}
	h.expect(t, "record rewritten as adding", "c1", "partial n2=eth1,10.9.0.2")

	h.cached(t, "c1", "partial n2=eth1,10.9.0.2")
	h.netDel(t, "n2", "c1")
	if err := os.Remove(filepath.Join(h.cli.Runner.StateDir, "containers", "c1", "config.json")); err != nil {
		t.Fatal(err)
	}
	h.expect(t, "config removed, container gone", "c1", "unknown")
}

// TestStatusCacheKeepsOnlySettledRecords: a status read right after a
// change is not kept (the next change could land in the same clock tick
// and leave every stamp as it was), and is once the records are older than
// Settle.
func TestStatusCacheKeepsOnlySettledRecords(t *testing.T) {
	h := newCacheHost(t)
	h.cache.Settle = time.Hour
	if _, err := h.cli.Prepare("c1", config1("n1")); err != nil {
		t.Fatal(err)
	}
	h.netAdd(t, "n1", "c1", "eth0")
	for range 3 {
		h.expect(t, "fresh records", "c1", "isolated n1=eth0,10.9.0.1")
	}
	if hits, misses := h.cache.Lookups(); hits != 0 || misses != 3 || h.cache.Len() != 0 {
		t.Fatalf("records younger than Settle: hits %d, misses %d, %d cached; want 0, 3, 0", hits, misses, h.cache.Len())
	}
	h.cache.Settle = settle
	h.cached(t, "c1", "isolated n1=eth0,10.9.0.1")
	if h.cache.Len() != 1 {
		t.Fatalf("%d containers cached, want 1", h.cache.Len())
	}
}

// TestStatusCacheCopies: what Status returns is the caller's; changing it
// changes nothing in the cache.
func TestStatusCacheCopies(t *testing.T) {
	h := newCacheHost(t)
	cfg := config1("n1")
	cfg.ContainerInfo.NetworkInfos[0].Labels = &isolator.Labels{Labels: []isolator.Label{{Key: "app", Value: "web"}}}
	cfg.ContainerInfo.NetworkInfos[0].PortMappings = []isolator.PortMapping{{HostPort: 8080, ContainerPort: 80}}
	if _, err := h.cli.Prepare("c1", cfg); err != nil {
		t.Fatal(err)
	}
	h.netAdd(t, "n1", "c1", "eth0")
	h.cached(t, "c1", "isolated n1=eth0,10.9.0.1")
	st, err := h.daemon.Status("c1")
	if err != nil {
		t.Fatal(err)
	}
	st.State = "mangled"
	st.Interfaces["n1"] = "mangled"
	st.NetworkInfos[0].IPAddresses[0].IPAddress = "mangled"
	st.NetworkInfos[0].Labels.Labels[0].Value = "mangled"
	st.NetworkInfos[0].PortMappings[0].HostPort = 1
	st.NetworkInfos = append(st.NetworkInfos, isolator.NetworkInfo{Name: "mangled"})
	again, err := h.daemon.Status("c1")
	if err != nil {
		t.Fatal(err)
	}
	n := again.NetworkInfos
	if again.State != "isolated" || again.Interfaces["n1"] != "eth0" || len(n) != 1 || n[0].IPAddresses[0].IPAddress != "10.9.0.1" ||
		n[0].Labels.Labels[0].Value != "web" || n[0].PortMappings[0].HostPort != 8080 {
		t.Fatalf("the cache was changed through a returned status: %+v", again)
	}
}

// TestStatusCacheListDropsGone: List answers from the cache and forgets
// containers that are gone.
func TestStatusCacheListDropsGone(t *testing.T) {
	h := newCacheHost(t)
	for _, id := range []string{"c1", "c2", "c3"} {
		if _, err := h.cli.Prepare(id, config1("n1")); err != nil {
			t.Fatal(err)
		}
		h.netAdd(t, "n1", id, "eth0")
	}
	time.Sleep(2 * settle)
	list := func() []string {
		all, err := h.daemon.List()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, st := range all {
			out = append(out, st.ContainerID+" "+st.State)
		}
		return out
	}
	if got := list(); !slices.Equal(got, []string{"c1 isolated", "c2 isolated", "c3 isolated"}) {
		t.Fatalf("List = %q", got)
	}
	hits, _ := h.cache.Lookups()
	list()
	if h2, _ := h.cache.Lookups(); h2 != hits+3 || h.cache.Len() != 3 {
		t.Fatalf("a second List: %d hits, %d cached; want 3, 3", h2-hits, h.cache.Len())
	}
	h.netDel(t, "n1", "c2")
	if err := os.RemoveAll(filepath.Join(h.cli.Runner.StateDir, "containers", "c2")); err != nil {
		t.Fatal(err)
	}
	if got := list(); !slices.Equal(got, []string{"c1 isolated", "c3 isolated"}) {
		t.Fatalf("List after c2 went = %q", got)
	}
	if h.cache.Len() != 2 {
		t.Fatalf("%d containers cached after c2 went, want 2", h.cache.Len())
	}
}

// TestStatusCacheConcurrentChanges: statuses asked for while the CLI
// attaches and detaches are each one the records really had, and the one
// asked for after the last change is the last one.
func TestStatusCacheConcurrentChanges(t *testing.T) {
	h := newCacheHost(t)
	h.cache.Settle = time.Millisecond // keep entries while the records change under them
	if _, err := h.cli.Prepare("c1", config1("n1")); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var bad atomic.Value
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				st, err := h.daemon.Status("c1")
				if err != nil {
					bad.Store(err.Error())
					continue
				}
				if st.State != "preparing" && st.State != "isolated" && st.State != "partial" {
					bad.Store("state " + st.State)
				}
			}
		}()
	}
	for range 20 {
		h.netAdd(t, "n1", "c1", "eth0")
		h.netDel(t, "n1", "c1")
	}
	h.netAdd(t, "n1", "c1", "eth0")
	close(stop)
	wg.Wait()
	if b := bad.Load(); b != nil {
		t.Fatalf("a status during the changes: %v", b)
	}
	h.expect(t, "after the last attach", "c1", "isolated n1=eth0,10.9.0.21")
}
