package hostlocal

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestPendingIndexFallback(t *testing.T) {
	dir := t.TempDir()
	conf := confJSON("1.0.0", dir, `"ranges": [[{"subnet": "10.0.0.0/24"}], [{"subnet": "fd00::/64"}]]`)
	addAddrs(t, conf, call{id: "other", ifname: "eth0"}) // 10.0.0.2, fd00::2
	st, err := OpenStore(dir, "testnet", false)
	if err != nil {
		t.Fatal(err)
	}
	killedAdd := func(o Owner, ips ...string) {
		t.Helper()
		if err := st.WriteIndex(&Index{ContainerID: o.ContainerID, IfName: o.IfName, State: StatePending}); err != nil {
			t.Fatal(err)
		}
		res, err := st.newReservation(o)
		if err != nil {
			t.Fatal(err)
		}
		// The killed process never removed its temp file.
		for _, ip := range ips {
			if ok, err := res.link(netip.MustParseAddr(ip)); !ok || err != nil {
				t.Fatal(ip, ok, err)
			}
		}
	}

	// DEL after a killed ADD releases what the ADD got, by scanning.
	c1 := Owner{"c1", "eth0"}
	killedAdd(c1, "10.0.0.3", "fd00::3")
	_, terr := dispatch(t, conf, call{command: "DEL", id: "c1", ifname: "eth0"})
	mustOK(t, "DEL after killed ADD", nil, terr)
	if got, want := fmt.Sprint(reservedIPs(t, dir)), "[10.0.0.2 fd00::2]"; got != want {
		t.Errorf("after DEL reserved %s, want %s", got, want)
	}
	if got := len(indexFiles(t, dir)); got != 1 {
		t.Errorf("%d index files, want 1", got)
	}

	// A retried ADD after a killed ADD cleans up and reserves once.
	c2 := Owner{"c2", "eth0"}
	killedAdd(c2, "10.0.0.77")
	if got, want := fmt.Sprint(addAddrs(t, conf, call{id: "c2", ifname: "eth0"})), "[10.0.0.3/24 fd00::3/64]"; got != want {
		t.Errorf("retried ADD got %s, want %s", got, want)
	}
	if got, want := fmt.Sprint(reservedIPs(t, dir)), "[10.0.0.2 10.0.0.3 fd00::2 fd00::3]"; got != want {
		t.Errorf("after retried ADD reserved %s, want %s", got, want)
	}
	_, terr = dispatch(t, conf, call{command: "CHECK", id: "c2", ifname: "eth0"})
	mustOK(t, "CHECK after retried ADD", nil, terr)

	// CHECK reports an ADD that never completed.
	c3 := Owner{"c3", "eth0"}
	killedAdd(c3, "10.0.0.90")
	_, terr = dispatch(t, conf, call{command: "CHECK", id: "c3", ifname: "eth0"})
	wantErr(t, "CHECK of a killed ADD", terr, 999, "the ADD of c3/eth0 on network testnet did not complete")

	// A corrupt index is treated as pending.
	if err := os.WriteFile(filepath.Join(st.Dir(), indexName(c3)), []byte(`{"containerID": "c3", "ifn`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, terr = dispatch(t, conf, call{command: "DEL", id: "c3", ifname: "eth0"})
	mustOK(t, "DEL with a corrupt index", nil, terr)
	if got, want := fmt.Sprint(reservedIPs(t, dir)), "[10.0.0.2 10.0.0.3 fd00::2 fd00::3]"; got != want {
		t.Errorf("after DEL reserved %s, want %s", got, want)
	}
	if got := len(tempFiles(t, dir)); got != 3 {
		t.Errorf("%d temp files, want the 3 killed ADDs' (GC removes them)", got)
	}
}

func TestConcurrentAllocations(t *testing.T) {
	dir := t.TempDir()
	conf := confJSON("1.0.0", dir, `"ranges": [[{"subnet": "10.8.0.0/22"}], [{"subnet": "fd00:8::/118"}]]`)
	const workers, perWorker = 12, 24
	var mu sync.Mutex
	got := make(map[string]string) // address -> attachment
	var dups []string
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				id := fmt.Sprintf("w%d-c%d", w, i)
				out, terr := dispatch(t, conf, call{command: "ADD", id: id, ifname: "eth0"})
				if terr != nil {
					t.Errorf("ADD %s: %v", id, terr)
					return
				}
				var res struct {
					IPs []struct{ Address string } `json:"ips"`
				}
				if err := json.Unmarshal(out, &res); err != nil || len(res.IPs) != 2 {
					t.Errorf("ADD %s printed %s (%v)", id, out, err)
					return
				}
				mu.Lock()
				for _, ip := range res.IPs {
					if prev, ok := got[ip.Address]; ok {
						dups = append(dups, fmt.Sprintf("%s to %s and %s", ip.Address, prev, id))
					}
					got[ip.Address] = id
				}
				mu.Unlock()
				// Every third attachment goes away again at once, so
				// releases race with allocations too.
				if i%3 == 0 {
					if _, terr := dispatch(t, conf, call{command: "DEL", id: id, ifname: "eth0"}); terr != nil {
						t.Errorf("DEL %s: %v", id, terr)
					}
					mu.Lock()
					for _, ip := range res.IPs {
						delete(got, ip.Address)
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if len(dups) > 0 {
		t.Fatalf("addresses handed out twice: %v", dups)
	}
	live := workers * (perWorker - perWorker/3)
	if len(got) != 2*live {
		t.Errorf("%d live addresses, want %d", len(got), 2*live)
	}
	// The store agrees with what was handed out, file by file.
	st, _ := OpenStore(dir, "testnet", false)
	c, err := st.Scan(true)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Reservations) != len(got) || len(c.Indexes) != live || len(c.Temps) != 0 {
		t.Errorf("store has %d reservations, %d indexes, %d temps; want %d, %d, 0",
			len(c.Reservations), len(c.Indexes), len(c.Temps), len(got), live)
	}
	for a, o := range c.Reservations {
		if want := got[netip.PrefixFrom(a, map[bool]int{true: 22, false: 118}[a.Is4()]).String()]; o.ContainerID != want || o.IfName != "eth0" {
			t.Errorf("%s reserved for %s, handed to %q", a, o, want)
		}
	}
}

// crashChildEnv makes the test binary a child that runs ADD and DEL in a
// loop against the store in that directory until it is killed.
const crashChildEnv = "HOSTLOCAL_CRASH_CHILD_DIR"

func crashConf(dir string) string {
	return confJSON("1.0.0", dir, `"ranges": [[{"subnet": "10.9.0.0/24"}], [{"subnet": "fd00:9::/120"}]]`)
}

func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashChildEnv)
	if dir == "" {
		t.Skip("only runs as the child of TestKilledMidOperation")
	}
	conf := crashConf(dir)
	fmt.Println("ready")
	for {
		id := fmt.Sprintf("crash-%d", rand.IntN(20))
		cmd := "ADD"
		if rand.IntN(5) < 2 {
			cmd = "DEL"
		}
		_, _ = dispatch(t, conf, call{command: cmd, id: id, ifname: "eth0"})
	}
}

// TestKilledMidOperation SIGKILLs a process doing ADDs and DELs at random
// moments and checks after each kill that no reservation is empty or torn,
// every index decodes, and DEL (falling back to a scan for interrupted ADDs)
// releases everything.
func TestKilledMidOperation(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	dir := t.TempDir()
	conf := crashConf(dir)
	owner := regexp.MustCompile(`^crash-\d+\neth0$`)
	var pending, temps int
	for round := range 12 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if line, _ := bufio.NewReader(stdout).ReadString('\n'); strings.TrimSpace(line) != "ready" {
			t.Fatalf("child said %q", line)
		}
		time.Sleep(time.Duration(20+rand.IntN(60)) * time.Millisecond)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()

		st, _ := OpenStore(dir, "testnet", false)
		c, err := st.Scan(false)
		if err != nil {
			t.Fatal(err)
		}
		for a := range c.Reservations {
			if b := ownerOf(t, dir, a.String()); !owner.MatchString(b) {
				t.Errorf("round %d: reservation %s holds %q", round, a, b)
			}
		}
		for _, name := range c.Indexes {
			ix, err := st.readIndexFile(name)
			if err != nil || ix == nil {
				t.Errorf("round %d: index %s: %v", round, name, err)
				continue
			}
			if ix.State == StatePending {
				pending++
			}
		}
		temps += len(c.Temps)
		for i := range 20 {
			_, terr := dispatch(t, conf, call{command: "DEL", id: fmt.Sprintf("crash-%d", i), ifname: "eth0"})
			mustOK(t, "DEL", nil, terr)
		}
		if got := reservedIPs(t, dir); len(got) != 0 {
			t.Fatalf("round %d: after DEL of every attachment, reserved: %v", round, got)
		}
		if got := indexFiles(t, dir); len(got) != 0 {
			t.Fatalf("round %d: after DEL of every attachment, index files: %v", round, got)
		}
	}
	t.Logf("kills interrupted %d ADDs (pending indexes) and left %d temp files", pending, temps)
	_, terr := dispatch(t, gcConf(dir, `"subnet": "10.9.0.0/24"`, ""), call{command: "GC"})
	mustOK(t, "GC", nil, terr)
	left := storeFiles(t, dir)
	left = slices.DeleteFunc(left, func(n string) bool { return n == lockName || strings.HasPrefix(n, lastReservedName) })
	if len(left) != 0 {
		t.Errorf("after GC the store still has %v", left)
	}
}

// addChildEnv makes the test binary a child that runs 25 ADDs with ids
// "<prefix>-N" against the store in the given directory ("dir,prefix") and
// prints each address it got.
const addChildEnv = "HOSTLOCAL_ADD_CHILD"

func TestAddChild(t *testing.T) {
	spec := os.Getenv(addChildEnv)
	if spec == "" {
		t.Skip("only runs as a child of TestConcurrentProcesses")
	}
	dir, prefix, _ := strings.Cut(spec, ",")
	conf := crashConf(dir)
	for i := range 25 {
		for _, a := range addAddrs(t, conf, call{id: fmt.Sprintf("%s-%d", prefix, i), ifname: "eth0"}) {
			fmt.Println("ADDR", a)
		}
	}
}

// TestConcurrentProcesses runs ADDs from several processes at once: the
// flock must serialise them across processes as it does across goroutines.
func TestConcurrentProcesses(t *testing.T) {
	dir := t.TempDir()
	const procs = 4
	outs := make([][]byte, procs)
	var wg sync.WaitGroup
	for p := range procs {
		wg.Go(func() {
			cmd := exec.Command(os.Args[0], "-test.run=^TestAddChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s,p%d", addChildEnv, dir, p))
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Errorf("child %d: %v\n%s", p, err, out)
			}
			outs[p] = out
		})
	}
	wg.Wait()
	seen := make(map[string]bool)
	for _, out := range outs {
		for line := range strings.Lines(string(out)) {
			a, ok := strings.CutPrefix(strings.TrimSpace(line), "ADDR ")
			if !ok {
				continue
			}
			if seen[a] {
				t.Errorf("%s handed out twice", a)
			}
			seen[a] = true
		}
	}
	if len(seen) != 2*procs*25 {
		t.Errorf("%d distinct addresses, want %d", len(seen), 2*procs*25)
	}
	if got := len(reservedIPs(t, dir)); got != 2*procs*25 {
		t.Errorf("%d reservations in the store, want %d", got, 2*procs*25)
	}
}
