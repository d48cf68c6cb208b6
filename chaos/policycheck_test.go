package chaos

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"

	"github.com/containernetworking/plugins/pkg/ns"
	"golang.org/x/sys/unix"

	"github.com/weirnet/weir/policy"
	"github.com/weirnet/weir/policy/compile"
	"github.com/weirnet/weir/policy/dataplane"
	"github.com/weirnet/weir/policy/enforce"
)

// policy: the endpoint index lists exactly the attachments, and the
// kernel's filter table and ipsets — on the host and inside every
// container namespace the test knows — hold exactly what the index and
// the policy files compile to: nothing left of a container that is gone,
// nothing missing of one that is there.
func (c *checker) policy(ctx context.Context, atts []*att, exp expect) {
	eps, err := enforce.New(c.w.state, nil).Endpoints()
	if err != nil {
		c.add(kError, "reading the endpoint index: %v", err)
		return
	}
	byKey := map[string]*att{}
	for _, a := range atts {
		byKey[enforce.Key(a.rec.Network, a.rec.ContainerID, a.rec.IfName)] = a
	}
	inIndex := map[string]bool{}
	for _, ep := range eps {
		k := enforce.Key(ep.Network, ep.ID, ep.IfName)
		inIndex[k] = true
		a := byKey[k]
		switch {
		case a == nil:
			c.add(kLeak, "policy endpoint %s has no attachment", k)
		case !sameAddrs(ep.IPs, a.ips):
			c.add(kMismatch, "policy endpoint %s has %v, its attachment %v", k, ep.IPs, a.ips)
		case ep.Mode == compile.Host && ep.HostIface != a.hostIf:
			c.add(kMismatch, "policy endpoint %s is enforced at %s, its veth is %s", k, ep.HostIface, a.hostIf)
		case ep.Mode == compile.NetNS && ep.NetNS != a.rec.NetNS:
			c.add(kMismatch, "policy endpoint %s is enforced in %s, its namespace is %s", k, ep.NetNS, a.rec.NetNS)
		}
	}
	for k := range byKey {
		if !inIndex[k] {
			c.add(kMissing, "attachment %s is not under policy", k)
		}
	}

	sets := map[string]*policy.Set{}
	for _, ep := range eps {
		if _, done := sets[ep.PolicyDir]; done {
			continue
		}
		s, err := policy.LoadDir(ep.PolicyDir)
		if err != nil {
			// The engine falls back to the last good copy.
			h := sha256.Sum256([]byte(ep.PolicyDir))
			s, err = policy.LoadDir(filepath.Join(c.w.state, "policy", "lastgood", hex.EncodeToString(h[:8])))
		}
		if err != nil {
			c.add(kError, "loading policies of %s: %v", ep.PolicyDir, err)
			return
		}
		sets[ep.PolicyDir] = s
	}
	out, err := compile.Compile(sets, eps)
	if err != nil {
		c.add(kError, "compiling the index: %v", err)
		return
	}
	wr := dataplane.New(dataplane.Config{LockPath: filepath.Join(c.w.state, "dataplane.lock"), CacheDir: filepath.Join(c.w.base, "checker-cache"), NoCache: true})
	have, err := wr.Read(ctx)
	if err != nil {
		c.add(kError, "reading the host dataplane: %v", err)
	} else {
		c.compareState("host", out.Host, have)
		c.cacheCheck("host", "", have)
	}
	// Inside namespaces: the endpoints' and every other one the test knows.
	paths := map[string]bool{}
	for p := range out.NetNS {
		paths[p] = true
	}
	for _, a := range atts {
		if a.hostIf == "" {
			paths[a.rec.NetNS] = true
		}
	}
	for _, e := range append(slices.Clone(exp.attached), exp.gone...) {
		if p := e.ns(); p != "" {
			paths[p] = true
		}
	}
	seen := map[string]bool{}
	for p := range paths {
		k, ok := nsKey(p)
		if !ok || seen[k] {
			continue
		}
		seen[k] = true
		want, ok := out.NetNS[p]
		if !ok {
			// Known under another path?
			for q, st := range out.NetNS {
				if qk, _ := nsKey(q); qk == k {
					want, ok = st, true
				}
			}
		}
		if !ok {
			want = dataplane.NewState()
		}
		have, err := wr.ReadInNetNS(ctx, p)
		if err != nil {
			c.add(kError, "reading the dataplane in %s: %v", p, err)
			continue
		}
		c.compareState(p, want, have)
		c.cacheCheck(p, p, have)
	}
}

// cacheCheck: a dataplane cache that the writer would trust (valid, for
// this very namespace) describes what the kernel holds. A stale one makes
// the next render diff against the wrong state and leave objects behind.
func (c *checker) cacheCheck(where, nsPath string, have dataplane.State) {
	ino, cookie, err := netnsID(nsPath)
	if err != nil {
		c.add(kError, "%s: %v", where, err)
		return
	}
	cf, err := dataplane.ReadCache(filepath.Join(c.w.state, "policy"), ino)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		c.add(kError, "%s: %v", where, err)
		return
	}
	if !cf.Valid || cf.Cookie != cookie {
		return
	}
	h, err := have.Canonical()
	if err != nil {
		return // reported by compareState
	}
	var diffs []string
	for name, s := range cf.Sets {
		hs, ok := h.Sets[name]
		if !ok {
			diffs = append(diffs, "set "+name+" is cached but not in the kernel")
			continue
		}
		if extra, missing := setDiff(hs.Members, s); len(extra)+len(missing) > 0 {
			diffs = append(diffs, fmt.Sprintf("set %s: the kernel also holds %v, lacks %v", name, extra, missing))
		}
	}
	for name := range h.Sets {
		if _, ok := cf.Sets[name]; !ok {
			diffs = append(diffs, "set "+name+" is in the kernel but not cached")
		}
	}
	for k, d := range cf.Chains {
		hc, ok := h.Chains[k]
		switch {
		case !ok:
			diffs = append(diffs, "chain "+k+" is cached but not in the kernel")
		case dataplane.RulesDigest(hc.Rules) != d:
			diffs = append(diffs, "chain "+k+" holds other rules than cached")
		}
	}
	for k := range h.Chains {
		if _, ok := cf.Chains[k]; !ok {
			diffs = append(diffs, "chain "+k+" is in the kernel but not cached")
		}
	}
	if len(diffs) > 0 {
		sort.Strings(diffs)
		c.add(kStale, "%s: the dataplane cache of namespace %d is marked valid but differs from the kernel: %s", where, ino, strings.Join(diffs, "; "))
	}
}

// netnsID returns the inode and cookie of the namespace at path ("" is
// the sandbox's), as the dataplane writer identifies namespaces.
func netnsID(path string) (ino, cookie uint64, err error) {
	id := func() error {
		var st unix.Stat_t
		if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
			return err
		}
		ino = st.Ino
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		cookie, err = unix.GetsockoptUint64(fd, unix.SOL_SOCKET, 71) // SO_NETNS_COOKIE
		return err
	}
	if path == "" {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		return ino, cookie, id()
	}
	err = ns.WithNetNSPath(path, func(ns.NetNS) error { return id() })
	return ino, cookie, err
}

// compareState reports how the kernel's weir objects (have) differ from
// the compiled state (want).
func (c *checker) compareState(where string, want, have dataplane.State) {
	w, err := want.Canonical()
	if err != nil {
		c.add(kError, "%s: the compiled state does not validate: %v", where, err)
		return
	}
	h, err := have.Canonical()
	if err != nil {
		c.add(kError, "%s: the kernel's state does not validate: %v", where, err)
		return
	}
	for k, ch := range w.Chains {
		hc, ok := h.Chains[k]
		switch {
		case !ok:
			c.add(kMissing, "%s: chain %s is missing", where, k)
		case !slices.Equal(ch.Rules, hc.Rules):
			c.add(kMismatch, "%s: chain %s differs from the compiled policy:\n%s", where, k, ruleDiff(ch.Rules, hc.Rules))
		}
	}
	for k, hc := range h.Chains {
		if _, ok := w.Chains[k]; !ok {
			c.add(kLeak, "%s: chain %s (%d rules, first %q) is not in the compiled policy", where, k, len(hc.Rules), first(hc.Rules))
		}
	}
	hooks := func(s dataplane.State) map[dataplane.Hook]bool {
		m := map[dataplane.Hook]bool{}
		for _, x := range s.Hooks {
			m[x] = true
		}
		return m
	}
	wh, hh := hooks(w), hooks(h)
	for x := range wh {
		if !hh[x] {
			c.add(kMissing, "%s: hook %s/%s %s is missing", where, x.Family, x.Chain, x.Rule)
		}
	}
	for x := range hh {
		if !wh[x] {
			c.add(kLeak, "%s: hook %s/%s %s is not in the compiled policy", where, x.Family, x.Chain, x.Rule)
		}
	}
	for name, s := range w.Sets {
		hs, ok := h.Sets[name]
		if !ok {
			c.add(kMissing, "%s: ipset %s is missing", where, name)
			continue
		}
		extra, missing := setDiff(hs.Members, s.Members)
		if len(extra) > 0 {
			c.add(kLeak, "%s: ipset %s holds %v, which the compiled policy does not", where, name, extra)
		}
		if len(missing) > 0 {
			c.add(kMissing, "%s: ipset %s lacks %v", where, name, missing)
		}
	}
	for name, hs := range h.Sets {
		if _, ok := w.Sets[name]; !ok {
			c.add(kLeak, "%s: ipset %s (%d members) is not in the compiled policy", where, name, len(hs.Members))
		}
	}
}

func first(rules []string) string {
	if len(rules) == 0 {
		return ""
	}
	return rules[0]
}

// setDiff returns what a has that b lacks, and what b has that a lacks.
func setDiff(a, b []string) (onlyA, onlyB []string) {
	ma, mb := map[string]bool{}, map[string]bool{}
	for _, x := range a {
		ma[x] = true
	}
	for _, x := range b {
		mb[x] = true
	}
	for x := range ma {
		if !mb[x] {
			onlyA = append(onlyA, x)
		}
	}
	for x := range mb {
		if !ma[x] {
			onlyB = append(onlyB, x)
		}
	}
	sort.Strings(onlyA)
	sort.Strings(onlyB)
	return onlyA, onlyB
}

// ruleDiff shows two rule lists' differences.
func ruleDiff(want, have []string) string {
	extra, missing := setDiff(have, want)
	var b strings.Builder
	for _, r := range missing {
		b.WriteString("    - " + r + "\n")
	}
	for _, r := range extra {
		b.WriteString("    + " + r + "\n")
	}
	if len(extra)+len(missing) == 0 {
		b.WriteString("    (same rules, another order)\n")
	}
	return b.String()
}
