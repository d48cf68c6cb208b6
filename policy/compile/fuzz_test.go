package compile_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/weirnet/weir/policy"
	"github.com/weirnet/weir/policy/compile"
)

// FuzzCompile: every policy file that loads compiles, for a mix of
// endpoints (host and in-namespace enforcement, IPv4 and IPv6, deny and
// allow defaults), to a dataplane state that validates — rules that parse,
// no jump to a missing chain, no set that is not there — and compiling is
// a pure function. A file that loads but does not compile would make every
// attach and detach on its networks fail.
func FuzzCompile(f *testing.F) {
	seeds, _ := filepath.Glob("../testdata/*.toml")
	for _, p := range seeds {
		src, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(src))
	}
	f.Add("[[policy]]\nname = \"a\"\nselector = \"all()\"\ntypes = [\"ingress\", \"egress\"]\n")
	f.Add("[[policy]]\nname = \"l\"\nselector = \"has(app)\"\n[[policy.ingress]]\naction = \"log\"\nprotocol = \"udp\"\nports = [53, \"1-65535\"]\nfrom = { nets = [\"::/0\", \"10.0.0.0/8\"], not_nets = [\"10.1.0.0/16\"] }\n[[policy.egress]]\naction = \"deny\"\nprotocol = \"icmp\"\nto = { selector = \"app != 'db' || !has(env)\" }\n")
	dir := f.TempDir()
	path := filepath.Join(dir, "fuzz.toml")
	const polDir = "/etc/weir/policies"
	eps := []compile.Endpoint{
		{Endpoint: policy.Endpoint{ID: "c1", IfName: "eth0", Network: "n", IPs: []netip.Addr{netip.MustParseAddr("10.1.0.2")}, Labels: map[string]string{"app": "db", "env": "prod"}},
			Mode: compile.Host, PolicyDir: polDir, HostIface: "veth0000000001", DefaultAction: policy.Allow},
		{Endpoint: policy.Endpoint{ID: "c2", IfName: "eth0", Network: "n", IPs: []netip.Addr{netip.MustParseAddr("10.1.0.3"), netip.MustParseAddr("fd00::3")}, Labels: map[string]string{"app": "web"}},
			Mode: compile.Host, PolicyDir: polDir, HostIface: "veth0000000002", DefaultAction: policy.Deny},
		{Endpoint: policy.Endpoint{ID: "c3", IfName: "eth1", Network: "m", IPs: []netip.Addr{netip.MustParseAddr("172.16.0.9")}, Labels: map[string]string{}},
			Mode: compile.NetNS, PolicyDir: polDir, NetNS: "/run/netns/c3", DefaultAction: policy.Allow},
	}
	f.Fuzz(func(t *testing.T, src string) {
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		set, err := policy.LoadDir(dir)
		if err != nil {
			return // FuzzLoad (package policy) checks the errors
		}
		sets := map[string]*policy.Set{polDir: set}
		out, err := compile.Compile(sets, eps)
		if err != nil {
			t.Fatalf("a policy file that loads does not compile: %v\n%s", err, src)
		}
		if err := out.Host.Validate(); err != nil {
			t.Fatalf("the host's compiled state does not validate: %v\n%s", err, src)
		}
		for p, st := range out.NetNS {
			if err := st.Validate(); err != nil {
				t.Fatalf("the compiled state of %s does not validate: %v\n%s", p, err, src)
			}
		}
		again, err := compile.Compile(sets, []compile.Endpoint{eps[2], eps[0], eps[1]})
		if err != nil || !reflect.DeepEqual(again, out) {
			t.Fatalf("compiling the same input in another order gives another output (%v)\n%s", err, src)
		}
	})
}
