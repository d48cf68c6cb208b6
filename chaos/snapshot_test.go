package chaos

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/weirnet/weir/policy/enforce"
)

// snapshot is the host state a refused request must not change: links and
// addresses (the sandbox's and, given, containers'), both families'
// iptables, the ipsets, the state directory's tree with each file's
// contents, and the mounts under the world's directory.
type snapshot map[string][]string

// snapshot takes the host's state, and the links and addresses inside the
// namespaces at nsPaths.
func (w *world) snapshot(t testing.TB, nsPaths ...string) snapshot {
	t.Helper()
	s := snapshot{}
	links, err := hostLinks()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		s["links"] = append(s["links"], l.String())
	}
	for _, p := range nsPaths {
		ls, err := nsLinks(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range ls {
			s["links"] = append(s["links"], p+": "+l.String())
		}
	}
	ipt, err := saveIPTables("")
	if err != nil {
		t.Fatal(err)
	}
	s["iptables"] = ipt.normalized()
	sets, err := saveIPSets("")
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range sets {
		s["ipsets"] = append(s["ipsets"], st.Name+" "+st.Header+" "+strings.Join(st.Members, ","))
	}
	_ = filepath.WalkDir(w.state, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(w.state, p)
		switch {
		case d.IsDir():
			s["files"] = append(s["files"], "dir "+rel)
		case d.Type().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return nil
			}
			h := sha256.Sum256(data)
			s["files"] = append(s["files"], "file "+rel+" "+hex.EncodeToString(h[:6]))
		default:
			s["files"] = append(s["files"], fmt.Sprintf("%s %s", d.Type(), rel))
		}
		return nil
	})
	s["mounts"] = mountsUnder(w.base)
	for k := range s {
		sort.Strings(s[k])
	}
	return s
}

// volatile reports whether a state file's contents may differ after a
// test ends even though nothing leaked: allocation cursors, the policy
// dataplane's cache, the compiler's memo and the last good copy of policy
// files that were edited.
func volatile(line string) bool {
	f := strings.Fields(line)
	if len(f) < 2 || f[0] != "file" {
		return false
	}
	p := f[1]
	return strings.Contains(p, "/last_reserved_ip.") || strings.HasPrefix(p, "policy/dataplane-") || p == "policy/compile.memo" ||
		strings.HasPrefix(p, "policy/lastgood/") || p == "policy/"+enforce.IndexFile ||
		strings.HasPrefix(p, "policy/parsed/") || p == "policy/render.stamp"
}

// lastGoodVersionless drops the version of a last good copy's directory
// ("<hash>.v<digits>", see policy/enforce/lastgood.go) from a line.
func lastGoodVersionless(l string) string {
	i := strings.LastIndex(l, ".v")
	if i < 0 || i+2 == len(l) || strings.Trim(l[i+2:], "0123456789") != "" {
		return l
	}
	return l[:i+2]
}

// diff describes how o differs from s; "" when they are equal. With
// loose, volatile files are compared by name only.
func (s snapshot) diff(o snapshot, loose bool) string {
	var b strings.Builder
	keys := map[string]bool{}
	for k := range s {
		keys[k] = true
	}
	for k := range o {
		keys[k] = true
	}
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	norm := func(lines []string) map[string]int {
		m := map[string]int{}
		for _, l := range lines {
			if loose && strings.HasPrefix(l, "dir policy/lastgood/") {
				l = lastGoodVersionless(l) // each new copy is a new version directory
			}
			if loose && volatile(l) {
				f := strings.Fields(l)
				if strings.HasPrefix(f[1], "policy/lastgood/") {
					continue // the copy follows the edits
				}
				l = f[0] + " " + f[1]
			}
			m[l]++
		}
		return m
	}
	for _, k := range names {
		a, c := norm(s[k]), norm(o[k])
		var gone, added []string
		for l, n := range a {
			if c[l] < n {
				gone = append(gone, l)
			}
		}
		for l, n := range c {
			if a[l] < n {
				added = append(added, l)
			}
		}
		sort.Strings(gone)
		sort.Strings(added)
		for _, l := range gone {
			fmt.Fprintf(&b, "  %s: - %s\n", k, l)
		}
		for _, l := range added {
			fmt.Fprintf(&b, "  %s: + %s\n", k, l)
		}
	}
	return b.String()
}
