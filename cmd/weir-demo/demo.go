package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"

	"github.com/weirnet/weir/isolator"
	"github.com/weirnet/weir/policy"
)

// container is one demo task: a process in its own namespace.
type container struct {
	name    string
	labels  []string // k=v
	nets    []string
	port    int
	publish string
	cmd     *exec.Cmd
	ip      string // on the dcos network
}

type demo struct {
	bin, root, repo string
	start           time.Time
	containers      []*container
}

func (d *demo) dir(p string) string { return filepath.Join(d.root, p) }

// weir runs the weir CLI with the demo's directories.
func (d *demo) weir(args ...string) (string, error) {
	// The default state directory, /run/weir (the sandbox's own tmpfs): the
	// policy plugin keeps its engine there too.
	args = append(args, "--conf-dir", d.dir("net.d"), "--plugin-dir", d.bin, "--policy-dir", d.dir("policies"))
	cmd := exec.Command(filepath.Join(d.bin, "weir"), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("weir %s: %v: %s", strings.Join(args[:min(3, len(args))], " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

func section(title string) { fmt.Printf("\n\033[1m== %s\033[0m\n", title) }

func (d *demo) run() error {
	d.start = time.Now()
	fmt.Println("weir demo: a flannel overlay and a macvlan LAN, four containers, one policy directory")
	if err := d.setup(); err != nil {
		return err
	}
	out, err := d.weir("networks")
	if err != nil {
		return err
	}
	section("networks (weir networks)")
	fmt.Print(out)

	d.containers = []*container{
		{name: "web", labels: []string{"app=web", "DCOS_SPACE=/shop/web"}, nets: []string{"dcos"}, port: 80, publish: "8080:80/tcp"},
		{name: "api", labels: []string{"app=api", "DCOS_SPACE=/shop/api"}, nets: []string{"dcos"}, port: 80},
		{name: "db", labels: []string{"app=db", "env=prod", "DCOS_SPACE=/shop/db"}, nets: []string{"dcos"}, port: 5432},
		{name: "cache", labels: []string{"app=cache", "DCOS_SPACE=/shop/cache"}, nets: []string{"dcos", "lan"}, port: 6379},
	}
	for _, c := range d.containers {
		if err := d.launch(c); err != nil {
			return err
		}
	}
	out, err = d.weir("status")
	if err != nil {
		return err
	}
	section("containers (weir status)")
	fmt.Print(out)

	section("connection matrix: measured, (policy files)   ✓ connects  · refused")
	before, err := d.matrix(nil)
	if err != nil {
		return err
	}

	edited := strings.Replace(d.policyText(), `from     = { selector = "app == 'web'" }`, `from     = { selector = "app in {'web','api'}" }`, 1)
	if err := os.WriteFile(d.dir("policies/10-shop.toml"), []byte(edited), 0o644); err != nil {
		return err
	}
	out, err = d.weir("policy", "apply")
	if err != nil {
		return err
	}
	section("edit: db-accepts-web now accepts api too — weir policy apply: " + strings.TrimSpace(strings.TrimPrefix(out, "applied policy to ")))
	if _, err := d.matrix(before); err != nil {
		return err
	}

	section("published port")
	reply, err := dial(nil, "10.50.3.1:8080")
	if err != nil {
		return fmt.Errorf("reaching web through the host port: %w", err)
	}
	fmt.Printf("host → 10.50.3.1:8080 (web's port 80 published): %q\n", strings.TrimSpace(reply))

	section("teardown (weir detach for every container)")
	for _, c := range d.containers {
		if _, err := d.weir("detach", c.name); err != nil {
			return err
		}
	}
	d.stopAll()
	left := d.leftovers()
	d.removeSetup()
	fmt.Println(left)
	if !strings.HasSuffix(left, "nothing left") {
		return fmt.Errorf("the teardown left state behind")
	}
	fmt.Printf("\ndone in %.1f s\n", time.Since(d.start).Seconds())
	return nil
}

// setup lays out configs/ (with the policy directory moved under the
// demo's root), writes flannel's subnet.env as flanneld would, and makes
// the LAN interface macvlan attaches to.
func (d *demo) setup() error {
	for _, sub := range []string{"net.d", "policies"} {
		if err := os.MkdirAll(d.dir(sub), 0o755); err != nil {
			return err
		}
	}
	for _, sub := range []string{"net.d", "policies"} {
		files, _ := filepath.Glob(filepath.Join(d.repo, "configs", sub, "*"))
		if len(files) == 0 {
			return fmt.Errorf("no files in %s (set WEIR_REPO to the checkout)", filepath.Join(d.repo, "configs", sub))
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				return err
			}
			data = bytes.ReplaceAll(data, []byte("/etc/weir/policies"), []byte(d.dir("policies")))
			if err := os.WriteFile(filepath.Join(d.dir(sub), filepath.Base(f)), data, 0o644); err != nil {
				return err
			}
		}
	}
	if err := os.MkdirAll("/run/flannel", 0o755); err != nil {
		return err
	}
	env := "FLANNEL_NETWORK=10.50.0.0/16\nFLANNEL_SUBNET=10.50.3.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n"
	if err := os.WriteFile("/run/flannel/subnet.env", []byte(env), 0o644); err != nil {
		return err
	}
	lan := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "demo-lan"}, PeerName: "demo-lan-peer"}
	if err := netlink.LinkAdd(lan); err != nil {
		return fmt.Errorf("creating the LAN interface: %w", err)
	}
	for _, n := range []string{"demo-lan", "demo-lan-peer"} {
		l, err := netlink.LinkByName(n)
		if err == nil {
			err = netlink.LinkSetUp(l)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// launch starts a container's process in new namespaces and attaches it.
func (d *demo) launch(c *container) error {
	self, _ := os.Executable()
	c.cmd = exec.Command(self, "serve", c.name, fmt.Sprint(c.port))
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET | syscall.CLONE_NEWUTS}
	if err := c.cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", c.name, err)
	}
	args := []string{"attach", c.name, "--pid", fmt.Sprint(c.cmd.Process.Pid), "--json"}
	for _, n := range c.nets {
		args = append(args, "--net", n)
	}
	for _, l := range c.labels {
		args = append(args, "--label", l)
	}
	if c.publish != "" {
		args = append(args, "--publish", c.publish)
	}
	out, err := d.weir(args...)
	if err != nil {
		return err
	}
	var st isolator.ContainerStatus
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		return fmt.Errorf("reading the status of %s: %w: %s", c.name, err, out)
	}
	for _, ni := range st.NetworkInfos {
		if ni.Name == "dcos" && len(ni.IPAddresses) > 0 {
			c.ip = ni.IPAddresses[0].IPAddress
		}
	}
	if c.ip == "" {
		return fmt.Errorf("%s got no address on dcos", c.name)
	}
	return nil
}

func (d *demo) policyText() string {
	data, _ := os.ReadFile(d.dir("policies/10-shop.toml"))
	return string(data)
}

// dial connects from the namespace of pid (nil: this one), reads the
// greeting, and returns it.
func dial(pid *int, addr string) (string, error) {
	var reply string
	do := func() error {
		c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		buf := make([]byte, 64)
		n, err := c.Read(buf)
		reply = string(buf[:n])
		return err
	}
	if pid == nil {
		return reply, do()
	}
	err := ns.WithNetNSPath(fmt.Sprintf("/proc/%d/ns/net", *pid), func(ns.NetNS) error { return do() })
	return reply, err
}

func labelsOf(c *container) map[string]string {
	m := map[string]string{}
	for _, l := range c.labels {
		k, v, _ := strings.Cut(l, "=")
		m[k] = v
	}
	return m
}

// matrix measures every pair with a real connect, side by side with the
// policy files' verdict, and marks cells that changed since prev.
func (d *demo) matrix(prev map[string]bool) (map[string]bool, error) {
	set, err := policy.LoadDir(d.dir("policies"))
	if err != nil {
		return nil, err
	}
	got, want := map[string]bool{}, map[string]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, a := range d.containers {
		for _, b := range d.containers {
			if a == b {
				continue
			}
			key := a.name + ">" + b.name
			exp := set.Explain(
				policy.Endpoint{ID: a.name, Labels: labelsOf(a), IPs: []netip.Addr{netip.MustParseAddr(a.ip)}},
				policy.Endpoint{ID: b.name, Labels: labelsOf(b), IPs: []netip.Addr{netip.MustParseAddr(b.ip)}},
				policy.Packet{Protocol: policy.TCP, Port: b.port}, policy.Allow)
			want[key] = exp.Allowed
			wg.Add(1)
			go func() {
				defer wg.Done()
				pid := a.cmd.Process.Pid
				_, err := dial(&pid, net.JoinHostPort(b.ip, fmt.Sprint(b.port)))
				mu.Lock()
				got[key] = err == nil
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	mark := func(ok bool) string {
		if ok {
			return "✓"
		}
		return "·"
	}
	fmt.Printf("%-12s", "from \\ to")
	for _, b := range d.containers {
		fmt.Printf("%-14s", fmt.Sprintf("%s:%d", b.name, b.port))
	}
	fmt.Println()
	agree := 0
	for _, a := range d.containers {
		fmt.Printf("%-12s", a.name)
		for _, b := range d.containers {
			if a == b {
				fmt.Printf("%-14s", "-")
				continue
			}
			key := a.name + ">" + b.name
			cell := fmt.Sprintf("%s (%s)", mark(got[key]), mark(want[key]))
			if got[key] == want[key] {
				agree++
			} else {
				cell += " ≠"
			}
			if prev != nil && prev[key] != got[key] {
				cell += " *"
			}
			fmt.Printf("%-14s", cell)
		}
		fmt.Println()
	}
	total := len(got)
	fmt.Printf("measured matrix equals the policy files: %v (%d of %d)", agree == total, agree, total)
	if prev != nil {
		fmt.Print("; * changed by the edit")
	}
	fmt.Println()
	if agree != total {
		return got, fmt.Errorf("the measured matrix differs from the policy files")
	}
	return got, nil
}

func (d *demo) stopAll() {
	for _, c := range d.containers {
		if c.cmd != nil && c.cmd.Process != nil {
			_ = c.cmd.Process.Kill()
			_ = c.cmd.Wait()
		}
	}
}

// leftovers describes what weir left in the sandbox.
func (d *demo) leftovers() string {
	count := func(name string, args ...string) int {
		out, _ := exec.Command(name, args...).Output()
		n := 0
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(strings.ToLower(l), "weir") {
				n++
			}
		}
		return n
	}
	veths, _ := exec.Command("ip", "-o", "link", "show", "type", "veth").Output()
	nveth := 0
	for _, l := range strings.Split(strings.TrimSpace(string(veths)), "\n") {
		if l != "" && !strings.Contains(l, "demo-lan") {
			nveth++
		}
	}
	recs, _ := os.ReadDir("/run/weir/containers")
	s := fmt.Sprintf("weir iptables lines %d, ip6tables lines %d, weir ipsets %d, container veths %d, records %d",
		count("iptables-save"), count("ip6tables-save"), count("ipset", "list", "-n"), nveth, len(recs))
	if strings.Count(s, " 0") == 5 {
		s += " — nothing left"
	}
	return s
}

// teardown is the best-effort cleanup after a failure.
func (d *demo) teardown() {
	for _, c := range d.containers {
		_, _ = d.weir("detach", c.name)
	}
	d.stopAll()
	d.removeSetup()
}

// removeSetup undoes setup: the LAN interface, subnet.env and the demo's
// directories.
func (d *demo) removeSetup() {
	if l, err := netlink.LinkByName("demo-lan"); err == nil {
		_ = netlink.LinkDel(l)
	}
	_ = os.Remove("/run/flannel/subnet.env")
	_ = os.RemoveAll(d.root)
}
