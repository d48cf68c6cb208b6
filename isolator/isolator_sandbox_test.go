package isolator_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"

	"github.com/weirnet/weir/chain"
	"github.com/weirnet/weir/internal/sandbox"
	"github.com/weirnet/weir/isolator"
	"github.com/weirnet/weir/plugins/all"
)

const labNet = `{"cniVersion":"1.1.0","name":"lab","plugins":[
  {"type":"bridge","bridge":"lab0","isGateway":true,"ipMasq":true,"capabilities":{"ipRanges":true},
   "ipam":{"type":"host-local","subnet":"10.120.0.0/16","dataDir":"{{state}}/ipam","routes":[{"dst":"0.0.0.0/0"}]},
   "dns":{"nameservers":["10.120.0.1"],"search":["lab.local"]}},
  {"type":"loopback"}]}`

const otherNet = `{"cniVersion":"1.1.0","name":"other","plugins":[
  {"type":"bridge","bridge":"oth0","isGateway":true,
   "ipam":{"type":"host-local","subnet":"10.121.0.0/24","dataDir":"{{state}}/ipam"}}]}`

func newIsolator(t *testing.T) *isolator.Isolator {
	t.Helper()
	sandbox.Require(t)
	dir, exec := sandbox.PluginDir(t, all.Registry())
	state, conf := t.TempDir(), t.TempDir()
	for name, c := range map[string]string{"10-lab.conflist": labNet, "20-other.conflist": otherNet} {
		if err := os.WriteFile(filepath.Join(conf, name), []byte(strings.ReplaceAll(c, "{{state}}", state)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return &isolator.Isolator{Runner: &chain.Runner{Exec: exec, Path: []string{dir}, StateDir: state, Timeout: 30 * time.Second}, ConfDir: conf}
}

// process starts a container: a real process in its own network namespace.
func process(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "300")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting a container process: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

func nsOf(t *testing.T, pid int) ns.NetNS {
	t.Helper()
	n, err := ns.GetNS(fmt.Sprintf("/proc/%d/ns/net", pid))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func config(nets ...string) *isolator.ContainerConfig {
	var infos []isolator.NetworkInfo
	for _, n := range nets {
		infos = append(infos, isolator.NetworkInfo{Name: n, Labels: &isolator.Labels{Labels: []isolator.Label{{Key: "app", Value: "web"}}}})
	}
	return &isolator.ContainerConfig{ContainerInfo: &isolator.ContainerInfo{NetworkInfos: infos}}
}

// leftovers lists what a cleaned-up container could leave behind.
func leftovers(t *testing.T, iso *isolator.Isolator) []string {
	t.Helper()
	var out []string
	links, _ := exec.Command("ip", "-o", "link", "show", "type", "veth").Output()
	if s := strings.TrimSpace(string(links)); s != "" {
		out = append(out, "veths: "+s)
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mounts), iso.Runner.StateDir) {
		out = append(out, "a namespace is still mounted under the state directory")
	}
	entries, _ := os.ReadDir(filepath.Join(iso.Runner.StateDir, "containers"))
	for _, e := range entries {
		out = append(out, "record: "+e.Name())
	}
	for _, dir := range []string{"locks", "locks/_isolator"} {
		locks, _ := os.ReadDir(filepath.Join(iso.Runner.StateDir, dir))
		for _, e := range locks {
			if !e.IsDir() && !strings.HasPrefix(e.Name(), ".") { // dot files are host-wide locks
				out = append(out, "lock file: "+dir+"/"+e.Name())
			}
		}
	}
	for _, n := range []string{"lab", "other"} {
		ips, _ := filepath.Glob(filepath.Join(iso.Runner.StateDir, "ipam", n, "10.*"))
		for _, ip := range ips {
			out = append(out, "address: "+filepath.Base(ip))
		}
	}
	return out
}

func TestLifecycleWithRealProcess(t *testing.T) {
	iso := newIsolator(t)
	ctx := context.Background()
	p := process(t)
	info, err := iso.Prepare("task-1", config("lab", "other"))
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	if strings.Join(info.Namespaces, ",") != "network,mount,uts" {
		t.Errorf("namespaces = %v", info.Namespaces)
	}
	st, err := iso.Isolate(ctx, "task-1", p.Process.Pid, "")
	if err != nil {
		t.Fatalf("Isolate: %v", err)
	}
	n := nsOf(t, p.Process.Pid)
	for i, ni := range st.NetworkInfos {
		ifName := fmt.Sprintf("eth%d", i)
		addrs, err := sandbox.AddrsIn(n, ifName)
		if err != nil || len(addrs) != 1 || len(ni.IPAddresses) != 1 || !strings.HasPrefix(addrs[0], ni.IPAddresses[0].IPAddress+"/") {
			t.Errorf("network %s: status says %v, %s inside has %v (%v)", ni.Name, ni.IPAddresses, ifName, addrs, err)
		}
	}
	if st.State != isolator.StateIsolated || st.Interfaces["lab"] != "eth0" || st.Interfaces["other"] != "eth1" {
		t.Errorf("status = %+v", st)
	}
	resolv, _ := os.ReadFile(filepath.Join(iso.Runner.StateDir, "containers", "task-1", "resolv.conf"))
	if !strings.Contains(string(resolv), "nameserver 10.120.0.1") || !strings.Contains(string(resolv), "search lab.local") {
		t.Errorf("resolv.conf does not carry the network's DNS:\n%s", resolv)
	}
	hosts, _ := os.ReadFile(filepath.Join(iso.Runner.StateDir, "containers", "task-1", "hosts"))
	if !strings.Contains(string(hosts), st.NetworkInfos[0].IPAddresses[0].IPAddress+" task-1") {
		t.Errorf("hosts lacks the container's address:\n%s", hosts)
	}

	before, err := iso.Usage("task-1")
	if err != nil {
		t.Fatalf("Usage: %v", err)
	}
	for i := 0; i < 3; i++ {
		if err := sandbox.Ping(fmt.Sprintf("/proc/%d/ns/net", p.Process.Pid), "10.120.0.1"); err != nil {
			t.Fatalf("the container cannot reach its gateway: %v", err)
		}
	}
	after, err := iso.Usage("task-1")
	if err != nil {
		t.Fatal(err)
	}
	if after[0].TxPackets < before[0].TxPackets+3 || after[0].RxBytes <= before[0].RxBytes {
		t.Errorf("counters did not move with traffic: before %+v after %+v", before[0], after[0])
	}

	if err := iso.Cleanup(ctx, "task-1"); err != nil {
		t.Fatalf("Cleanup: %v", err)
	}
	if l := leftovers(t, iso); len(l) != 0 {
		t.Errorf("left after cleanup: %v", l)
	}
	if err := iso.Cleanup(ctx, "task-1"); err != nil {
		t.Errorf("second Cleanup: %v", err)
	}
}

func TestCleanupAfterNamespaceIsGone(t *testing.T) {
	iso := newIsolator(t)
	ctx := context.Background()
	p := process(t)
	if _, err := iso.Prepare("task-2", config("lab")); err != nil {
		t.Fatal(err)
	}
	if _, err := iso.Isolate(ctx, "task-2", p.Process.Pid, ""); err != nil {
		t.Fatal(err)
	}
	// The process exits and the pin goes (a reboot or an unmount by hand):
	// the kernel destroys the namespace and its veth end.
	_ = p.Process.Kill()
	_ = p.Wait()
	if err := syscall.Unmount(iso.NSPath("task-2"), syscall.MNT_DETACH); err != nil {
		t.Fatal(err)
	}
	if err := iso.Cleanup(ctx, "task-2"); err != nil {
		t.Fatalf("Cleanup with the namespace gone: %v", err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for len(leftovers(t, iso)) != 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond) // the kernel destroys the namespace asynchronously
	}
	if l := leftovers(t, iso); len(l) != 0 {
		t.Errorf("left after cleanup: %v", l)
	}
}

func TestBadRequestsChangeNothing(t *testing.T) {
	iso := newIsolator(t)
	cases := []struct {
		id   string
		cfg  *isolator.ContainerConfig
		want string
	}{
		{"../x", config("lab"), `container id "../x"`},
		{"", config("lab"), "container id is empty"},
		{strings.Repeat("a", 200), config("lab"), "the limit is 128"},
		{"t\x00x", config("lab"), "invalid characters"},
		{"t1", config("nosuch"), `network_infos[0]: network "nosuch" is not defined`},
		{"t2", config("lab", "lab"), `network_infos[1]: network "lab" is asked for twice`},
		{"t3", &isolator.ContainerConfig{ContainerInfo: &isolator.ContainerInfo{NetworkInfos: []isolator.NetworkInfo{{Name: "lab", PortMappings: []isolator.PortMapping{{HostPort: 0, ContainerPort: 80}}}}}}, "network_infos[0].port_mappings[0]"},
		{"t4", &isolator.ContainerConfig{ContainerInfo: &isolator.ContainerInfo{Hostname: "x\n10.0.0.66 evil", NetworkInfos: []isolator.NetworkInfo{{Name: "lab"}}}}, "container_info.hostname"},
		{"t5", &isolator.ContainerConfig{ContainerInfo: &isolator.ContainerInfo{Hostname: "-x", NetworkInfos: []isolator.NetworkInfo{{Name: "lab"}}}}, "container_info.hostname"},
	}
	for _, c := range cases {
		_, err := iso.Prepare(c.id, c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Prepare(%q): %v, want an error containing %q", c.id, err, c.want)
		}
	}
	if l := leftovers(t, iso); len(l) != 0 {
		t.Errorf("bad requests changed the host: %v", l)
	}
}

func TestConcurrentAttachDetach(t *testing.T) {
	iso := newIsolator(t)
	ctx := context.Background()
	const n = 100
	procs := make([]*exec.Cmd, n)
	for i := range procs {
		procs[i] = process(t)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	ips := make([]string, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("c%03d", i)
			if _, err := iso.Prepare(id, config("lab")); err != nil {
				errs <- err
				return
			}
			st, err := iso.Isolate(ctx, id, procs[i].Process.Pid, "")
			if err != nil {
				errs <- err
				return
			}
			ips[i] = st.NetworkInfos[0].IPAddresses[0].IPAddress
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	seen := map[string]bool{}
	for i, ip := range ips {
		if net.ParseIP(ip) == nil || seen[ip] {
			t.Errorf("container %d got %q (duplicate or none)", i, ip)
		}
		seen[ip] = true
	}
	list, err := iso.List()
	if err != nil || len(list) != n {
		t.Fatalf("List: %d containers, %v", len(list), err)
	}
	errs2 := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := iso.Cleanup(ctx, fmt.Sprintf("c%03d", i)); err != nil {
				errs2 <- err
			}
		}()
	}
	wg.Wait()
	close(errs2)
	for err := range errs2 {
		t.Error(err)
	}
	if l := leftovers(t, iso); len(l) != 0 {
		t.Errorf("left after 100 detaches: %v", l)
	}
}

type fakeKubelet map[string]string

func (f fakeKubelet) GetNetNS(id string) (string, error) {
	if p, ok := f[id]; ok {
		return p, nil
	}
	return "", fmt.Errorf("no pod infra container %s", id)
}

func TestKubeletAdapterDrivesAPod(t *testing.T) {
	iso := newIsolator(t)
	k := isolator.NewKubeletPlugin(iso, "lab")
	p1, p2 := sandbox.NewNS(t), sandbox.NewNS(t)
	host := fakeKubelet{"infra-1": p1.Path(), "infra-2": p2.Path()}
	if err := k.Init(host, "hairpin-veth", "10.0.0.0/8"); err != nil {
		t.Fatalf("Init: %v", err)
	}
	if k.Name() != "weir" || len(k.Capabilities()) != 0 {
		t.Errorf("name %q capabilities %v", k.Name(), k.Capabilities())
	}
	if err := k.Status(); err != nil {
		t.Errorf("Status: %v", err)
	}
	if err := k.SetUpPod("default", "web-1", "infra-1"); err != nil {
		t.Fatalf("SetUpPod: %v", err)
	}
	st, err := k.GetPodNetworkStatus("default", "web-1", "infra-1")
	if err != nil || !strings.HasPrefix(st.IP.String(), "10.120.") {
		t.Fatalf("GetPodNetworkStatus: %v %v", st, err)
	}
	if err := sandbox.Ping(p1.Path(), "10.120.0.1"); err != nil {
		t.Errorf("pod cannot reach its gateway: %v", err)
	}
	// A pod-CIDR change: the next pod's first address comes from it.
	k.Event(isolator.EventPodCIDRChange, map[string]any{isolator.PodCIDRDetail: "10.130.7.0/24"})
	if err := k.SetUpPod("default", "web-2", "infra-2"); err != nil {
		t.Fatalf("SetUpPod after the pod-CIDR event: %v", err)
	}
	st2, err := k.GetPodNetworkStatus("default", "web-2", "infra-2")
	if err != nil || !strings.HasPrefix(st2.IP.String(), "10.130.7.") {
		t.Errorf("pod set up after the pod-CIDR event got %v (%v), want an address in 10.130.7.0/24", st2, err)
	}
	for _, id := range []string{"infra-1", "infra-2"} {
		if err := k.TearDownPod("default", id, id); err != nil {
			t.Fatalf("TearDownPod: %v", err)
		}
	}
	if err := k.SetUpPod("default", "ghost", "infra-9"); err == nil {
		t.Error("SetUpPod of a pod the kubelet does not know succeeded")
	}
	if l := leftovers(t, iso); len(l) != 0 {
		t.Errorf("left after teardown: %v", l)
	}
}

// TestRecoverLeavesNoLockOfNetAddContainers: Recover locks every container
// it finds, those attached with `weir net add` too (records, no isolator
// config); the runtime's DEL, which takes no isolator lock, then removes
// the container, and no lock file of it may stay.
func TestRecoverLeavesNoLockOfNetAddContainers(t *testing.T) {
	iso := newIsolator(t)
	ctx := context.Background()
	p := process(t)
	set, err := chain.LoadDir(iso.ConfDir, iso.Runner.Path)
	if err != nil {
		t.Fatal(err)
	}
	def, err := set.Get("other")
	if err != nil {
		t.Fatal(err)
	}
	list, err := def.ConfList()
	if err != nil {
		t.Fatal(err)
	}
	a := chain.Attachment{ContainerID: "net-1", NetNS: fmt.Sprintf("/proc/%d/ns/net", p.Process.Pid), IfName: "eth0"}
	if _, err := iso.Runner.Add(ctx, list, a); err != nil {
		t.Fatal(err)
	}
	if _, err := iso.Recover(ctx, nil, nil); err != nil {
		t.Fatalf("Recover: %v", err)
	}
	if err := iso.Runner.Del(ctx, "other", a, nil); err != nil {
		t.Fatal(err)
	}
	if l := leftovers(t, iso); len(l) != 0 {
		t.Errorf("left after the runtime's DEL: %v", l)
	}
}
