package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"

	"github.com/weirnet/weir/internal/sandbox"
)

// BenchmarkConcurrentAttach: N containers (WEIR_BENCH_CONCURRENT, default
// 100) attached at once, each with the full chain and a published port of
// its own, and detached again, in R interleaved rounds
// (WEIR_BENCH_CONCURRENT_ROUNDS, default 1: a round of 100 is some 50 s on
// two cores, the detaches included; variants in rotating order):
//
//   - weir: N `weir attach` processes started together (exec'd, as a
//     containerizer runs them; flannel -> bridge -> host-local, portmap,
//     policy in-process), then N `weir detach`;
//   - weir-api: the same through `weir serve`'s API, N concurrent POST
//     /v1/containers/{id}, then N DELETE;
//   - reference: N `cnitool add` started together with the reference
//     plugins v1.10.0 (bridge + host-local, firewall, portmap; the network
//     of BenchmarkIsolatorAttachDetach), then N `cnitool del`.
//
// The wall time from the start of the first to the end of the last attach
// is ms-p50/<variant> (median over rounds; detaches: ms-p50/detach-<variant>)
// and ratio-p50/<variant> is a weir variant's median over the reference's.
// After every round each container's IPv4 address is read from its result
// (weir attach --json, the daemon's status, cnitool's result) and from eth0
// in its namespace; they must agree. dup-addrs/weir (both weir variants)
// and dup-addrs/reference count the addresses held by more than one
// container at once, summed over rounds: any is a failure, reported after
// the figures are logged. After the detaches
// the host (links, iptables and ipset rules, mounts, the files under the
// state and IPAM directories) must be as it was before the round's
// attaches.
func BenchmarkConcurrentAttach(b *testing.B) {
	bin, ref := binDir(b), refDir(b)
	n, rounds, err := concParams()
	if err != nil {
		b.Fatal(err)
	}
	if bin, err = ibenchCopyBin(bin); err != nil {
		b.Fatal(err)
	}
	w := newIBenchHost(b, bin, "concnet", "conc0", "10.125.9.1/24")
	d, err := startIBenchDaemon(b, w)
	if err != nil {
		b.Fatal(err)
	}
	defer d.stop()
	refRoot, err := os.MkdirTemp("/run", "weir-cbench-ref-")
	if err != nil {
		b.Fatal(err)
	}
	// The reference's network is BenchmarkIsolatorAttachDetach's, on a
	// bridge and subnet of its own.
	refConf := strings.NewReplacer(`"refbench"`, `"refconc"`, `"refb0"`, `"refc0"`, "10.126.0.0/24", "10.126.9.0/24", "{{root}}", refRoot).
		Replace(ibenchRefConflist)
	writeFile(b, filepath.Join(refRoot, "net.d", "10-refconc.conflist"), refConf)
	nss := func() []ns.NetNS {
		out := make([]ns.NetNS, n)
		for i := range out {
			out[i] = sandbox.NewNS(b)
		}
		return out
	}
	vs := []*concVariant{
		newConcRef(ref, refRoot, nss()),
		newConcCLI(w, nss()),
		newConcAPI(d, nss()),
	}
	roots := []string{w.root, refRoot, "/var/lib/cni"}
	// Every variant must really attach: one container each, before timing
	// (the reference makes its shared chains and bridge here, as on any
	// host in use).
	for _, v := range vs {
		if err := concRound(v, 1, -1, roots); err != nil {
			b.Fatalf("%s, one container: %v", v.name, err)
		}
	}
	b.ResetTimer()
	for r := range rounds {
		for k := range vs {
			v := vs[(r+k)%len(vs)]
			if err := concRound(v, n, r, roots); err != nil {
				b.Fatalf("%s, round %d: %v", v.name, r, err)
			}
		}
	}
	b.StopTimer()

	var logged []string
	report := func(v float64, unit string) {
		b.ReportMetric(v, unit)
		logged = append(logged, fmt.Sprintf("%s %g", unit, v))
	}
	report(float64(n), "containers/round")
	report(float64(rounds), "rounds/run")
	refP50 := ibenchQuantile(vs[0].attach, 0.5)
	dups := map[string]int{}
	for _, v := range vs {
		p50 := ibenchQuantile(v.attach, 0.5)
		report(ibenchMS(p50), "ms-p50/"+v.name)
		report(ibenchMS(ibenchQuantile(v.detach, 0.5)), "ms-p50/detach-"+v.name)
		if v != vs[0] {
			report(float64(p50)/float64(refP50), "ratio-p50/"+v.name)
		}
		dups[strings.TrimSuffix(v.name, "-api")] += v.dups
	}
	report(float64(dups["weir"]), "dup-addrs/weir")
	report(float64(dups["reference"]), "dup-addrs/reference")
	if dups["weir"]+dups["reference"] > 0 {
		// A failed benchmark prints no result line: log the figures in
		// the "unit value" form the report reads from a failure.
		for _, l := range logged {
			b.Log(l)
		}
		for _, v := range vs {
			for _, msg := range v.dupMsgs {
				b.Log(msg)
			}
		}
		b.Fatalf("an address was handed out twice: %d duplicates with weir, %d with the reference", dups["weir"], dups["reference"])
	}
}

// concParams reads WEIR_BENCH_CONCURRENT (containers at once, 1..200: the
// subnets are /24s) and WEIR_BENCH_CONCURRENT_ROUNDS (1..50).
func concParams() (n, rounds int, err error) {
	n, rounds = 100, 1
	for _, p := range []struct {
		env      string
		v        *int
		min, max int
	}{{"WEIR_BENCH_CONCURRENT", &n, 1, 200}, {"WEIR_BENCH_CONCURRENT_ROUNDS", &rounds, 1, 50}} {
		s := os.Getenv(p.env)
		if s == "" {
			continue
		}
		v, err := strconv.Atoi(s)
		if err != nil || v < p.min || v > p.max {
			return 0, 0, fmt.Errorf("%s=%q: want %d..%d", p.env, s, p.min, p.max)
		}
		*p.v = v
	}
	return n, rounds, nil
}

// concVariant is one way of attaching containers at once. attachAll
// attaches containers 0..n-1 of round r at once, addrs returns each one's
// IPv4 address as its result said, detachAll detaches them at once.
type concVariant struct {
	name      string
	nss       []ns.NetNS
	attachAll func(n, r int) error
	addrs     func(n, r int) ([]string, error)
	detachAll func(n, r int) error

	attach, detach []time.Duration // the rounds' wall times
	dups           int
	dupMsgs        []string
}

// concRound attaches n containers of round r at once (r < 0: the untimed
// sanity round), checks their addresses, detaches them at once and checks
// that the host is as before (after a timed round).
func concRound(v *concVariant, n, r int, roots []string) error {
	before, err := concHostState(roots)
	if err != nil {
		return err
	}
	t0 := time.Now()
	err = v.attachAll(n, r)
	took := time.Since(t0)
	if err != nil {
		_ = v.detachAll(n, r)
		return fmt.Errorf("attaching %d at once: %w", n, err)
	}
	got, err := v.addrs(n, r)
	if err != nil {
		_ = v.detachAll(n, r)
		return err
	}
	dups, msgs, err := concCheckAddrs(v.nss[:n], got)
	if err != nil {
		_ = v.detachAll(n, r)
		return err
	}
	t0 = time.Now()
	if err := v.detachAll(n, r); err != nil {
		return fmt.Errorf("detaching %d at once: %w", n, err)
	}
	tookDetach := time.Since(t0)
	after, err := concHostState(roots)
	if err != nil {
		return err
	}
	// The sanity round makes what stays (bridges, the reference's shared
	// chains, IPAM's last-reserved files); every timed one starts from it.
	if diff := crashDiff(before, after); diff != "" && r >= 0 {
		return fmt.Errorf("the host is not as before the attaches after detaching all %d containers:\n%s", n, concHead(diff, 40))
	}
	if r >= 0 {
		v.attach, v.detach = append(v.attach, took), append(v.detach, tookDetach)
		v.dups += dups
		for _, m := range msgs {
			v.dupMsgs = append(v.dupMsgs, fmt.Sprintf("%s, round %d: %s", v.name, r, m))
		}
	} else if dups > 0 {
		return fmt.Errorf("duplicate addresses: %s", strings.Join(msgs, "; "))
	}
	return nil
}
