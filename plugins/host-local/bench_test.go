package hostlocal

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/containernetworking/cni/pkg/skel"
)

// benchDir is where benchmarks keep their store: $HOSTLOCAL_BENCH_DIR when
// set, otherwise a directory on /dev/shm (tmpfs, like /run/weir where the
// store lives in production), otherwise the test's temporary directory.
func benchDir(b *testing.B) string {
	b.Helper()
	base := os.Getenv("HOSTLOCAL_BENCH_DIR")
	if base == "" {
		if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
			base = "/dev/shm"
		} else {
			return b.TempDir()
		}
	}
	dir, err := os.MkdirTemp(base, "hostlocal-bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// prefill reserves n addresses from 10.128.0.2 upwards for n attachments,
// through the store API, leaving the store as n ADDs would have.
func prefill(b *testing.B, dir string, n int) {
	b.Helper()
	st, err := OpenStore(dir, "testnet", true)
	if err != nil {
		b.Fatal(err)
	}
	a := netip.MustParseAddr("10.128.0.2")
	var last netip.Addr
	for i := range n {
		o := Owner{ContainerID: fmt.Sprintf("prefill-%d", i), IfName: "eth0"}
		if ok, err := st.Reserve(o, a); !ok || err != nil {
			b.Fatalf("reserving %s: %v %v", a, ok, err)
		}
		if err := st.WriteIndex(&Index{ContainerID: o.ContainerID, IfName: o.IfName, State: StateReady, IPs: []netip.Addr{a}}); err != nil {
			b.Fatal(err)
		}
		last, a = a, a.Next()
	}
	if err := st.SetLastReserved(0, last); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkAllocate measures one ADD and one DEL through the plugin with 10
// and with 10,000 addresses already allocated; the two should cost the same.
func BenchmarkAllocate(b *testing.B) {
	for _, n := range []int{10, 10000} {
		b.Run(fmt.Sprintf("allocated=%d", n), func(b *testing.B) {
			dir := benchDir(b)
			conf := []byte(confJSON("1.0.0", dir, `"subnet": "10.128.0.0/12"`))
			prefill(b, dir, n)
			p, env, ctx := New(), testEnv(), context.Background()
			i := 0
			for b.Loop() {
				args := &skel.CmdArgs{ContainerID: fmt.Sprintf("bench-%d", i), IfName: "eth0", Netns: "/x", StdinData: conf}
				i++
				if _, err := p.Add(ctx, env, args); err != nil {
					b.Fatal(err)
				}
				if err := p.Del(ctx, env, args); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAllocateInterleaved alternates ADD+DEL cycles between a store
// with 10 and one with 10,000 allocated addresses, so load on a shared
// machine hits both alike, and reports each one's mean cost and their ratio.
func BenchmarkAllocateInterleaved(b *testing.B) {
	type side struct {
		conf []byte
		dur  time.Duration
	}
	sides := make([]*side, 2)
	for i, n := range []int{10, 10000} {
		dir := benchDir(b)
		prefill(b, dir, n)
		sides[i] = &side{conf: []byte(confJSON("1.0.0", dir, `"subnet": "10.128.0.0/12"`))}
	}
	p, env, ctx := New(), testEnv(), context.Background()
	i := 0
	for b.Loop() {
		for _, s := range sides {
			args := &skel.CmdArgs{ContainerID: fmt.Sprintf("bench-%d", i), IfName: "eth0", Netns: "/x", StdinData: s.conf}
			start := time.Now()
			if _, err := p.Add(ctx, env, args); err != nil {
				b.Fatal(err)
			}
			if err := p.Del(ctx, env, args); err != nil {
				b.Fatal(err)
			}
			s.dur += time.Since(start)
		}
		i++
	}
	a10 := float64(sides[0].dur.Nanoseconds()) / float64(i)
	a10k := float64(sides[1].dur.Nanoseconds()) / float64(i)
	b.ReportMetric(a10, "ns/cycle@10")
	b.ReportMetric(a10k, "ns/cycle@10000")
	b.ReportMetric(a10k/a10, "ratio")
}

// refHostLocal is the reference host-local binary in WEIR_REF_DIR (`make
// ref` installs it in .cache/ref; make test and make bench set the
// variable), and that directory; the test is skipped when it is not set,
// and fails when the binary is missing there.
func refHostLocal(tb testing.TB) (bin, dir string) {
	tb.Helper()
	dir = os.Getenv("WEIR_REF_DIR")
	if dir == "" {
		tb.Skip("WEIR_REF_DIR is not set: run `make ref`, then WEIR_REF_DIR=$PWD/.cache/ref (make test and make bench set it)")
	}
	bin = filepath.Join(dir, "host-local")
	if _, err := os.Stat(bin); err != nil {
		tb.Fatalf("the reference host-local is missing in WEIR_REF_DIR: %v (run `make ref`)", err)
	}
	return bin, dir
}

// BenchmarkReferenceAllocate does the same with the reference host-local
// binary (exec'd; WEIR_REF_DIR), for context. Its DEL scans the whole store.
func BenchmarkReferenceAllocate(b *testing.B) {
	ref, refDir := refHostLocal(b)
	for _, n := range []int{10, 10000} {
		b.Run(fmt.Sprintf("allocated=%d", n), func(b *testing.B) {
			dir := benchDir(b)
			conf := []byte(confJSON("1.0.0", dir, `"subnet": "10.128.0.0/12"`))
			netDir := filepath.Join(dir, "testnet")
			if err := os.MkdirAll(netDir, 0o755); err != nil {
				b.Fatal(err)
			}
			a := netip.MustParseAddr("10.128.0.2")
			var last netip.Addr
			for i := range n {
				// The reference plugin's reservation format.
				if err := os.WriteFile(filepath.Join(netDir, a.String()), fmt.Appendf(nil, "prefill-%d\r\neth0", i), 0o644); err != nil {
					b.Fatal(err)
				}
				last, a = a, a.Next()
			}
			if err := os.WriteFile(filepath.Join(netDir, "last_reserved_ip.0"), []byte(last.String()), 0o644); err != nil {
				b.Fatal(err)
			}
			run := func(command, id string) {
				cmd := exec.Command(ref)
				cmd.Env = []string{"CNI_COMMAND=" + command, "CNI_CONTAINERID=" + id, "CNI_NETNS=/x", "CNI_IFNAME=eth0", "CNI_PATH=" + refDir}
				cmd.Stdin = bytes.NewReader(conf)
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("%s: %v: %s", command, err, out)
				}
			}
			i := 0
			for b.Loop() {
				id := fmt.Sprintf("bench-%d", i)
				i++
				run("ADD", id)
				run("DEL", id)
			}
		})
	}
}
