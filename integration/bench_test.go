package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/weirnet/weir/internal/sandbox"
)

// variant is one way of attaching and detaching a container, timed
// interleaved with the others so that machine noise hits all alike.
type variant struct {
	name   string
	attach func(b *testing.B, i int)
	total  time.Duration
}

// runInterleaved runs every variant once per iteration, in rotating order,
// and reports each one's mean time and its ratio to the first (the
// reference).
func runInterleaved(b *testing.B, vs []*variant) {
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for k := range vs {
			v := vs[(i+k)%len(vs)]
			start := time.Now()
			v.attach(b, i)
			v.total += time.Since(start)
		}
	}
	b.StopTimer()
	ref := float64(vs[0].total) / float64(b.N)
	for _, v := range vs {
		mean := float64(v.total) / float64(b.N)
		b.ReportMetric(mean/1e6, "ms/"+v.name)
		if v != vs[0] {
			b.ReportMetric(mean/ref, "ratio/"+v.name)
		}
	}
}

// BenchmarkBridgeAddDel: ADD+DEL of one container on the seed's bridge
// network shape (bridge + host-local, ipMasq), plugins driven directly as a
// runtime does: the reference plugins v1.10.0 exec'd (bridge execs
// host-local), weir's binary exec'd (host-local in-process inside it), and
// weir fully in-process. Issue target: weir-exec / reference ≤ 0.5.
func BenchmarkBridgeAddDel(b *testing.B) {
	bin, ref := binDir(b), refDir(b)
	mk := func(name, path string, inproc bool, k int) *variant {
		conf := []byte(fmt.Sprintf(`{"cniVersion":"1.0.0","name":"bench%d","type":"bridge","bridge":"bench%d","isGateway":true,"ipMasq":true,
		  "ipam":{"type":"host-local","subnet":"10.%d.0.0/16","routes":[{"dst":"0.0.0.0/0"}]}}`, k, k, 60+k))
		n := sandbox.NewNS(b)
		ex := execer()
		if inproc {
			ex = inProcess(bin)
		}
		return &variant{name: name, attach: func(b *testing.B, _ int) {
			call := sandbox.Call{Command: "ADD", Type: "bridge", Path: path, ContainerID: "bench", NetNS: n.Path(), Conf: conf}
			if _, err := sandbox.Invoke(ctx(b), ex, call); err != nil {
				b.Fatalf("%s ADD: %v", name, err)
			}
			call.Command = "DEL"
			if _, err := sandbox.Invoke(ctx(b), ex, call); err != nil {
				b.Fatalf("%s DEL: %v", name, err)
			}
		}}
	}
	runInterleaved(b, []*variant{mk("reference", ref, false, 0), mk("weir-exec", bin, false, 1), mk("weir-in-process", bin, true, 2)})
}

// BenchmarkNetAddDel: the seed's bridge network attached and detached by a
// runtime: cnitool with the reference plugins, weir's runner (`weir net
// add/del`) with the same reference plugins, and `weir net add/del` with
// weir's own plugins in-process. Issue targets: weir-net+weir / cnitool ≤ 0.2,
// weir-net+reference / cnitool ≤ 1.0.
func BenchmarkNetAddDel(b *testing.B) {
	bin, ref := binDir(b), refDir(b)
	mk := func(name string, k int, run func(netd, state, nsPath, id string, add bool) error) *variant {
		// State on tmpfs, as weir's default /run/weir is (cnitool's cache,
		// /var/lib/cni, is tmpfs in the sandbox too).
		netd, state := b.TempDir(), fmt.Sprintf("/run/weir-bench-%d", k)
		conf := fmt.Sprintf(`{"name":"mynet","type":"bridge","bridge":"netb%d","isGateway":true,"ipMasq":true,
		  "ipam":{"type":"host-local","subnet":"10.%d.0.0/16","routes":[{"dst":"0.0.0.0/0"}]}}`, k, 80+k)
		if err := os.WriteFile(filepath.Join(netd, "10-mynet.conf"), []byte(conf), 0o644); err != nil {
			b.Fatal(err)
		}
		n := sandbox.NewNS(b)
		return &variant{name: name, attach: func(b *testing.B, i int) {
			id := fmt.Sprintf("bench%d", i)
			if err := run(netd, state, n.Path(), id, true); err != nil {
				b.Fatalf("%s add: %v", name, err)
			}
			if err := run(netd, state, n.Path(), id, false); err != nil {
				b.Fatalf("%s del: %v", name, err)
			}
		}}
	}
	cmd := func(path string, env []string, args ...string) error {
		c := exec.Command(path, args...)
		c.Env = append(os.Environ(), env...)
		if out, err := c.CombinedOutput(); err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	}
	verb := func(add bool) string {
		if add {
			return "add"
		}
		return "del"
	}
	weirNet := func(pluginDir string) func(netd, state, nsPath, id string, add bool) error {
		return func(netd, state, nsPath, id string, add bool) error {
			return cmd(filepath.Join(bin, "weir"), nil, "net", verb(add), "mynet", id, nsPath,
				"--conf-dir", netd, "--plugin-dir", pluginDir, "--state-dir", state)
		}
	}
	cnitool := func(netd, state, nsPath, id string, add bool) error {
		return cmd(filepath.Join(ref, "cnitool"), []string{"NETCONFPATH=" + netd, "CNI_PATH=" + ref, "CNI_CONTAINERID=" + id}, verb(add), "mynet", nsPath)
	}
	runInterleaved(b, []*variant{
		mk("cnitool+reference", 0, cnitool),
		mk("weir-net+reference", 1, weirNet(ref)),
		mk("weir-net+weir", 2, weirNet(bin)),
	})
}
