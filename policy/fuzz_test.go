package policy_test

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weirnet/weir/policy"
)

func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.toml")
	invalid, _ := filepath.Glob("testdata/invalid/*.toml")
	for _, path := range append(seeds, invalid...) {
		src, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(src))
	}
	f.Add("policy = [{ name = \"a\", ingress = [{ action = \"allow\", from = {} }] }]\n")
	f.Add("[[policy]]\nname = \"p\"\n[[policy.egress]]\naction = \"deny\"\nto = {\n nets = [\"::/0\"],\n}\n")
	f.Add("[[policy]]\nname='''x'''\nselector = \"\"\"\n[[policy]]\"\"\"\n")

	// One directory per fuzzing process: the fuzz function runs one input
	// at a time, and a fresh t.TempDir per input is most of the cost.
	dir := f.TempDir()
	path := filepath.Join(dir, "fuzz.toml")
	f.Fuzz(func(t *testing.T, src string) {
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		set, err := policy.LoadDir(dir)
		if err != nil {
			if set != nil {
				t.Fatal("LoadDir returned a set with an error")
			}
			errs := []error{err}
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				errs = j.Unwrap()
			}
			for _, e := range errs {
				if !strings.HasPrefix(e.Error(), path+":") {
					t.Fatalf("error does not start with the file name: %v", e)
				}
				var pe *policy.Error
				if !errors.As(e, &pe) || pe.File != path {
					t.Fatalf("error is not a *policy.Error for the file: %#v", e)
				}
				if lines := strings.Count(src, "\n") + 1; pe.Line < 0 || pe.Line > lines {
					t.Fatalf("error line %d outside the file's %d lines: %v", pe.Line, lines, e)
				}
			}
			return
		}
		checkSet(t, set, path, src)
	})
}

// checkSet asserts what a successfully loaded Set promises.
func checkSet(t *testing.T, set *policy.Set, path, src string) {
	t.Helper()
	lines := strings.Count(src, "\n") + 1
	seen := map[string]bool{}
	for i, p := range set.Policies {
		if p.Name == "" || seen[p.Name] {
			t.Fatalf("policy %d: empty or duplicate name %q", i, p.Name)
		}
		seen[p.Name] = true
		if i > 0 {
			q := set.Policies[i-1]
			if q.Order > p.Order || q.Order == p.Order && q.Name > p.Name {
				t.Fatalf("policies out of order: %q (%v) before %q (%v)", q.Name, q.Order, p.Name, p.Order)
			}
		}
		if math.IsNaN(p.Order) || math.IsInf(p.Order, 0) {
			t.Fatalf("policy %q: order %v", p.Name, p.Order)
		}
		if p.Selector == nil || p.File != path || p.Line < 0 || p.Line > lines {
			t.Fatalf("policy %q: selector %v file %q line %d", p.Name, p.Selector, p.File, p.Line)
		}
		for _, dir := range []policy.Direction{policy.Ingress, policy.Egress} {
			for j, r := range p.Rules(dir) {
				if _, err := policy.ParseAction(string(r.Action)); err != nil {
					t.Fatalf("policy %q %s[%d]: action %q", p.Name, dir, j, r.Action)
				}
				if _, err := policy.ParseProtocol(string(r.Protocol)); err != nil || r.Protocol == "" {
					t.Fatalf("policy %q %s[%d]: protocol %q", p.Name, dir, j, r.Protocol)
				}
				if len(r.Ports) > 0 && !r.Protocol.HasPorts() {
					t.Fatalf("policy %q %s[%d]: ports with protocol %q", p.Name, dir, j, r.Protocol)
				}
				for _, pr := range r.Ports {
					if pr.From < 1 || pr.To > 65535 || pr.From > pr.To {
						t.Fatalf("policy %q %s[%d]: port range %v", p.Name, dir, j, pr)
					}
				}
				for _, n := range append(r.Peer.Nets, r.Peer.NotNets...) {
					if !n.IsValid() || n != n.Masked() {
						t.Fatalf("policy %q %s[%d]: net %v", p.Name, dir, j, n)
					}
				}
			}
		}
	}
	ep := policy.Endpoint{ID: "c", Labels: map[string]string{"app": "db"}}
	if e := set.Explain(ep, ep, policy.Packet{Protocol: policy.TCP, Port: 80}, ""); e.String() == "" {
		t.Fatal("empty explanation")
	}
}
