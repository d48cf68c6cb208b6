package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/types/create"

	"github.com/weirnet/weir/chain"
)

// Kinds of invariant violations.
const (
	kLeak        = "leak"        // something on the host or in the state no attachment owns
	kDupIP       = "dup-ip"      // an address held twice
	kUnreachable = "unreachable" // a container weir reports attached cannot reach its gateway
	kMissing     = "missing"     // an attachment lacks what it needs (address, rule, reservation)
	kPartial     = "partial"     // weir reports something half done after recovery
	kMismatch    = "mismatch"    // weir's report differs from what the test did
	kStale       = "stale-cache" // the policy dataplane's cache, trusted, differs from the kernel
	kError       = "error"       // the check itself could not read something
)

type violation struct{ kind, msg string }

func (v violation) String() string { return v.kind + ": " + v.msg }

// expect is what the test knows: containers whose attach completed and
// that were not detached since, and containers that must have left
// nothing behind.
type expect struct {
	attached []*container
	gone     []*container
}

// att is one attachment on record.
type att struct {
	rec    *chain.Record
	net    *netDef
	ips    []netip.Addr
	hostIf string // host-side veth ("" on macvlan)
}

func (a *att) key() string { return a.rec.ContainerID + "/" + a.rec.Network + "/" + a.rec.IfName }

// checker collects violations of one check.
type checker struct {
	w    *world
	mu   sync.Mutex
	errs []violation
}

func (c *checker) add(kind, format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.errs = append(c.errs, violation{kind, fmt.Sprintf(format, args...)})
}

// check verifies every invariant and returns the violations found; the
// caller counts them.
func (w *world) check(t testing.TB, exp expect) []violation {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c := &checker{w: w}
	atts := c.records()
	reported := c.reported(ctx, atts, exp)
	c.addresses(atts)
	c.ipam(atts)
	c.hostLinks(atts)
	c.namespaces(atts, exp)
	c.reach(atts)
	c.rules(atts)
	c.policy(ctx, atts, exp)
	c.stateTree(atts, reported)
	tally.checks.Add(1)
	sort.Slice(c.errs, func(i, j int) bool { return c.errs[i].String() < c.errs[j].String() })
	return c.errs
}

// records reads every record and decodes the completed ones' results.
func (c *checker) records() []*att {
	recs, err := chain.Store{Dir: c.w.state}.All()
	if err != nil {
		c.add(kError, "reading records: %v", err)
		return nil
	}
	var out []*att
	for _, r := range recs {
		if r.State != chain.StateAdded {
			c.add(kPartial, "record %s/%s is %q after recovery", r.ContainerID, r.Network, r.State)
			continue
		}
		a := &att{rec: r, net: c.w.netByName(r.Network)}
		res, err := decodeRecord(r)
		if err != nil {
			c.add(kError, "record %s/%s: %v", r.ContainerID, r.Network, err)
			continue
		}
		for _, ip := range res.IPs {
			if addr, ok := netip.AddrFromSlice(ip.Address.IP); ok {
				a.ips = append(a.ips, addr.Unmap())
			}
		}
		for _, i := range res.Interfaces {
			if i.Sandbox == "" && (a.net == nil || i.Name != a.net.Bridge) {
				a.hostIf = i.Name
			}
		}
		if len(a.ips) == 0 {
			c.add(kMissing, "attachment %s has no address in its result", a.key())
		}
		out = append(out, a)
	}
	return out
}

func decodeRecord(r *chain.Record) (*current.Result, error) {
	list, err := libcni.ConfListFromBytes(r.Config)
	if err != nil {
		return nil, err
	}
	res, err := create.Create(list.CNIVersion, r.Result)
	if err != nil {
		return nil, err
	}
	return current.NewResultFromResult(res)
}

// listed is one line of `weir list --json`.
type listed struct {
	ID    string `json:"container_id"`
	State string `json:"state"`
}

// reported checks what weir says against the records and the test's
// expectations, and returns the containers weir lists.
func (c *checker) reported(ctx context.Context, atts []*att, exp expect) map[string]string {
	r := c.w.weir(ctx, "list", "--json")
	if r.err != nil {
		c.add(kError, "weir list: %s", r)
		return nil
	}
	var list []listed
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
		c.add(kError, "weir list printed %q: %v", r.stdout, err)
		return nil
	}
	rep := map[string]string{}
	for _, l := range list {
		rep[l.ID] = l.State
		if l.State != "isolated" {
			c.add(kPartial, "weir reports %s as %q after recovery", l.ID, l.State)
		}
	}
	nets := map[string][]string{}
	for _, a := range atts {
		nets[a.rec.ContainerID] = append(nets[a.rec.ContainerID], a.rec.Network)
		if _, ok := rep[a.rec.ContainerID]; !ok {
			c.add(kMismatch, "%s has records but weir does not list it", a.rec.ContainerID)
		}
	}
	for _, e := range exp.attached {
		got := slices.Sorted(slices.Values(nets[e.id]))
		want := slices.Sorted(slices.Values(e.nets))
		if rep[e.id] != "isolated" || !slices.Equal(got, want) {
			c.add(kMismatch, "%s was attached to %v, weir reports %q on %v", e.id, want, rep[e.id], got)
		}
	}
	for _, e := range exp.gone {
		if _, ok := rep[e.id]; ok || len(nets[e.id]) > 0 {
			c.add(kLeak, "%s is gone but weir still reports it (%q on %v)", e.id, rep[e.id], nets[e.id])
		}
		if _, err := os.Stat(filepath.Join(c.w.state, "containers", e.id)); err == nil {
			c.add(kLeak, "%s is gone but its directory is still there", e.id)
		}
	}
	return rep
}

// addresses: no address on two records.
func (c *checker) addresses(atts []*att) {
	owner := map[netip.Addr]string{}
	for _, a := range atts {
		for _, ip := range a.ips {
			if o, dup := owner[ip]; dup {
				c.add(kDupIP, "%s is recorded for both %s and %s", ip, o, a.key())
			}
			owner[ip] = a.key()
		}
	}
}

// ipam: the address stores hold a reservation, with the right owner, for
// every recorded address and nothing else; no temporary files.
func (c *checker) ipam(atts []*att) {
	for _, n := range c.w.networks() {
		dir := filepath.Join(c.w.state, "ipam", n.Name)
		want := map[netip.Addr]*att{}
		owners := map[string]*att{}
		for _, a := range atts {
			if a.rec.Network != n.Name {
				continue
			}
			owners[a.rec.ContainerID+"\n"+a.rec.IfName] = a
			for _, ip := range a.ips {
				want[ip] = a
			}
		}
		ents, err := os.ReadDir(dir)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) || len(want) > 0 {
				c.add(kError, "reading address store %s: %v", dir, err)
			}
			continue
		}
		have := map[netip.Addr]bool{}
		for _, e := range ents {
			name := e.Name()
			data, _ := os.ReadFile(filepath.Join(dir, name))
			switch {
			case strings.HasPrefix(name, "."):
				c.add(kLeak, "temporary file %s left in the address store of %s", name, n.Name)
			case strings.HasPrefix(name, "attachment."):
				var ix struct {
					ContainerID string       `json:"containerID"`
					IfName      string       `json:"ifname"`
					State       string       `json:"state"`
					IPs         []netip.Addr `json:"ips"`
				}
				if err := json.Unmarshal(data, &ix); err != nil {
					c.add(kLeak, "unreadable address index %s on %s: %v", name, n.Name, err)
					continue
				}
				a := owners[ix.ContainerID+"\n"+ix.IfName]
				switch {
				case a == nil:
					c.add(kLeak, "address index of %s/%s on %s (%v, %s) has no attachment", ix.ContainerID, ix.IfName, n.Name, ix.IPs, ix.State)
				case ix.State != "ready" || !sameAddrs(ix.IPs, a.ips):
					c.add(kMismatch, "address index of %s says %v (%s), the record %v", a.key(), ix.IPs, ix.State, a.ips)
				}
			default:
				ip, err := netip.ParseAddr(name)
				if err != nil {
					continue // lock, last_reserved_ip.N
				}
				have[ip] = true
				id, ifName, _ := strings.Cut(strings.TrimSpace(string(data)), "\n")
				a := want[ip]
				switch {
				case a == nil:
					c.add(kLeak, "address %s on %s is reserved for %s/%s, who has no attachment holding it", ip, n.Name, id, ifName)
				case a.rec.ContainerID != id || a.rec.IfName != strings.TrimSpace(ifName):
					c.add(kDupIP, "address %s on %s is reserved for %s/%s but recorded for %s", ip, n.Name, id, ifName, a.key())
				}
			}
		}
		for ip, a := range want {
			if !have[ip] {
				c.add(kMissing, "address %s of %s has no reservation", ip, a.key())
			}
		}
	}
}

func sameAddrs(a, b []netip.Addr) bool {
	x := slices.Clone(a)
	y := slices.Clone(b)
	slices.SortFunc(x, netip.Addr.Compare)
	slices.SortFunc(y, netip.Addr.Compare)
	return slices.Equal(x, y)
}

// hostLinks: the sandbox has the fixture, the bridges and one veth per
// bridge attachment; its only addresses are the fixture's and gateways.
func (c *checker) hostLinks(atts []*att) {
	links, err := hostLinks()
	if err != nil {
		c.add(kError, "%v", err)
		return
	}
	want := map[string]*att{}
	for _, a := range atts {
		if a.net != nil && a.net.Bridge != "" {
			if a.hostIf == "" {
				c.add(kMissing, "attachment %s has no host-side veth in its result", a.key())
				continue
			}
			want[a.hostIf] = a
		}
	}
	allowedAddr := map[string]bool{"lo 127.0.0.1/8": true, "lo ::1/128": true, lanGW + " 172.31.77.1/24": true}
	bridges := map[string]bool{}
	for _, n := range c.w.networks() {
		if n.Bridge != "" {
			bridges[n.Bridge] = true
			allowedAddr[n.Bridge+" "+netip.PrefixFrom(n.Gateway, n.Subnet.Bits()).String()] = true
		}
	}
	seen := map[string]bool{}
	for _, l := range links {
		seen[l.Name] = true
		for _, p := range l.Addrs {
			if !p.Addr().IsLinkLocalUnicast() && !allowedAddr[l.Name+" "+p.String()] {
				c.add(kLeak, "address %s on host link %s", p, l.Name)
			}
		}
		switch {
		case fixtureLinks[l.Name], bridges[l.Name]:
		case want[l.Name] != nil:
			if a := want[l.Name]; l.Master != a.net.Bridge {
				c.add(kMismatch, "veth %s of %s is on %q, not bridge %s", l.Name, a.key(), l.Master, a.net.Bridge)
			}
		default:
			c.add(kLeak, "host link %s (%s) belongs to no attachment", l.Name, l.Kind)
		}
	}
	for name, a := range want {
		if !seen[name] {
			c.add(kMissing, "host veth %s of %s is gone", name, a.key())
		}
	}
}

// nsKey identifies a namespace file whatever its path.
func nsKey(path string) (string, bool) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return "", false
	}
	return fmt.Sprintf("%d:%d", st.Dev, st.Ino), true
}

// namespaces: inside every container namespace the test knows, the
// interfaces are lo and the recorded attachments', carrying exactly their
// recorded addresses; no address is in two namespaces.
func (c *checker) namespaces(atts []*att, exp expect) {
	type nsInfo struct {
		path string
		atts []*att
	}
	byKey := map[string]*nsInfo{}
	addNS := func(path string) *nsInfo {
		k, ok := nsKey(path)
		if !ok {
			return nil
		}
		if byKey[k] == nil {
			byKey[k] = &nsInfo{path: path}
		}
		return byKey[k]
	}
	for _, a := range atts {
		info := addNS(a.rec.NetNS)
		if info == nil {
			c.add(kMissing, "the namespace %s of %s is gone", a.rec.NetNS, a.key())
			continue
		}
		info.atts = append(info.atts, a)
	}
	for _, e := range append(slices.Clone(exp.attached), exp.gone...) {
		if p := e.ns(); p != "" {
			addNS(p)
		}
	}
	where := map[netip.Addr]string{}
	for _, info := range byKey {
		links, err := nsLinks(info.path)
		if err != nil {
			c.add(kError, "%v", err)
			continue
		}
		mine := map[string]*att{}
		for _, a := range info.atts {
			mine[a.rec.IfName] = a
		}
		present := map[string]bool{}
		for _, l := range links {
			if l.Name == "lo" {
				continue
			}
			present[l.Name] = true
			a := mine[l.Name]
			if a == nil {
				c.add(kLeak, "interface %s (%s, %v) in namespace %s belongs to no attachment", l.Name, l.Kind, l.Addrs, info.path)
			}
			var addrs []netip.Addr
			for _, p := range l.Addrs {
				if p.Addr().IsLinkLocalUnicast() {
					continue
				}
				addrs = append(addrs, p.Addr())
				if o, dup := where[p.Addr()]; dup {
					c.add(kDupIP, "%s is on %s and on %s in %s", p.Addr(), o, l.Name, info.path)
				}
				where[p.Addr()] = l.Name + " in " + info.path
			}
			if a != nil && !sameAddrs(addrs, a.ips) {
				c.add(kMismatch, "%s in %s has %v, its record %v", l.Name, info.path, addrs, a.ips)
			}
		}
		for name, a := range mine {
			if !present[name] {
				c.add(kMissing, "interface %s of %s is missing from %s", name, a.key(), info.path)
			}
		}
	}
}

// reach: every attachment pings its gateway from its namespace.
func (c *checker) reach(atts []*att) {
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for _, a := range atts {
		if a.net == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			var out []byte
			var err error
			for try := 0; try < 2; try++ {
				out, err = inNS(a.rec.NetNS, "ping", "-c1", "-W2", a.net.Gateway.String()).CombinedOutput()
				if err == nil {
					return
				}
			}
			c.add(kUnreachable, "%s cannot reach its gateway %s: %v %s", a.key(), a.net.Gateway, err, lastLine(out))
		}()
	}
	wg.Wait()
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

// rules: every rule whose comment names a container names an attachment;
// every weir chain outside the filter table is used; each masquerading
// attachment has its rules.
func (c *checker) rules(atts []*att) {
	ipt, err := saveIPTables("")
	if err != nil {
		c.add(kError, "%v", err)
		return
	}
	byID := map[string][]*att{}
	for _, a := range atts {
		byID[a.rec.ContainerID] = append(byID[a.rec.ContainerID], a)
	}
	masq := map[string]bool{}
	used := map[string]bool{}
	for _, r := range ipt.Rules {
		if t := r.target(); t != "" {
			used[r.Family+"/"+r.Table+"/"+t] = true
		}
		network, id, ifName := r.owner()
		if id == "" {
			continue
		}
		ok := false
		for _, a := range byID[id] {
			if (ifName == "" || ifName == a.rec.IfName) && (network == "" || network == a.rec.Network) {
				ok = true
			}
		}
		if !ok {
			c.add(kLeak, "rule %s names %s, which has no such attachment", r, id)
		}
	}
	for ch := range ipt.Chains {
		// The filter table is compared with the compiled policy instead,
		// which may hold chains nothing jumps to yet.
		if strings.Contains(ch, "/WEIR-") && !strings.Contains(ch, "/filter/") && !used[ch] {
			c.add(kLeak, "chain %s is not used by any rule", ch)
		}
	}
	// The bridge's masquerade: a member per container address in its
	// network's weir-nat- set, the comment naming the attachment.
	members, err := setMembers("weir-nat-")
	if err != nil {
		c.add(kError, "%v", err)
	}
	for _, m := range members {
		network, id, ifName := m.owner()
		ok := false
		for _, a := range byID[id] {
			if ifName == a.rec.IfName && network == a.rec.Network {
				ok = true
				masq[a.key()] = true
			}
		}
		if !ok {
			c.add(kLeak, "masquerade member %s names %s, which has no such attachment", m, id)
		}
	}
	for _, a := range atts {
		if a.net != nil && a.net.Masq && !masq[a.key()] {
			c.add(kMissing, "no masquerade of %s (ipMasq): no weir-nat- set member names it", a.key())
		}
	}
	// portmap's hairpin and localhost masquerade: members of the host's
	// weir-hp- sets, the comment naming the attachment.
	hostports, err := setMembers("weir-hp-")
	if err != nil {
		c.add(kError, "%v", err)
	}
	for _, m := range hostports {
		network, id, ifName := m.owner()
		ok := false
		for _, a := range byID[id] {
			ok = ok || (ifName == a.rec.IfName && network == a.rec.Network)
		}
		if !ok {
			c.add(kLeak, "portmap member %s names %s, which has no such attachment", m, id)
		}
	}
}

// setMembers returns the members of the host's ipsets whose name starts
// with prefix (ipset save: "add weir-nat-... ADDR comment "weir: net=N
// id=C if=I""), each as a ruleLine whose Rule carries the comment, so
// owner() reads it.
func setMembers(prefix string) ([]ruleLine, error) {
	out, err := exec.Command("ipset", "save").Output()
	if err != nil {
		return nil, fmt.Errorf("ipset save: %w", err)
	}
	var ms []ruleLine
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) < 3 || f[0] != "add" || !strings.HasPrefix(f[1], prefix) {
			continue
		}
		_, comment, _ := strings.Cut(l, " comment ")
		ms = append(ms, ruleLine{Family: "ipset", Table: f[1], Chain: f[2], Rule: "--comment " + comment})
	}
	return ms, nil
}

// mounts and state files: the only mounts are pinned namespaces of
// isolated containers and the test's own; every container directory,
// lock, portmap record and dataplane cache belongs to something that
// exists; no temporary files anywhere.
func (c *checker) stateTree(atts []*att, reported map[string]string) {
	own := map[string]bool{}
	ents, _ := os.ReadDir(c.w.nsdir)
	for _, e := range ents {
		own[filepath.Join(c.w.nsdir, e.Name())] = true
	}
	for _, m := range mountsUnder(c.w.base) {
		id, ok := strings.CutPrefix(m, filepath.Join(c.w.state, "containers")+"/")
		switch {
		case own[m]:
		case ok && strings.HasSuffix(id, "/ns") && reported[strings.TrimSuffix(id, "/ns")] != "":
		default:
			c.add(kLeak, "mount %s", m)
		}
	}
	byKey := map[string]bool{}
	for _, a := range atts {
		byKey[a.rec.ContainerID+"/"+a.rec.Network+"/"+a.rec.IfName] = true
	}
	// Dataplane caches are dataplane-<netns inode>.<format> (.cache, or
	// .json before the binary format): keyed here without the extension.
	cacheOK := map[string]bool{fmt.Sprintf("dataplane-%d", c.w.hostNSIno): true}
	for _, a := range atts {
		var st syscall.Stat_t
		if a.hostIf == "" && syscall.Stat(a.rec.NetNS, &st) == nil {
			cacheOK[fmt.Sprintf("dataplane-%d", st.Ino)] = true
		}
	}
	containers := filepath.Join(c.w.state, "containers")
	_ = filepath.WalkDir(c.w.state, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(c.w.state, p)
		dir, name := filepath.Dir(rel), d.Name()
		switch {
		case strings.HasPrefix(name, ".") && strings.Contains(name, ".tmp"):
			c.add(kLeak, "temporary file %s", rel)
		case dir == "containers" && d.IsDir():
			if reported[name] == "" {
				c.add(kLeak, "container directory %s of a container weir does not list", rel)
			}
		case (dir == "locks" || dir == "locks/_isolator") && !d.IsDir() && !strings.HasPrefix(name, "."):
			// (Container ids never start with a dot; such a file is a
			// host-wide lock.)
			if _, err := os.Stat(filepath.Join(containers, name)); err != nil {
				c.add(kLeak, "lock file %s of a container that is gone", rel)
			}
		case strings.HasPrefix(rel, "portmap/") && strings.HasSuffix(name, ".json"):
			idIf := strings.TrimSuffix(name, ".json")
			id, ifName, _ := strings.Cut(idIf, ":")
			if !byKey[id+"/"+filepath.Base(dir)+"/"+ifName] {
				c.add(kLeak, "portmap record %s of no attachment", rel)
			}
		case dir == "policy" && strings.HasPrefix(name, "dataplane-"):
			if !cacheOK[strings.TrimSuffix(name, filepath.Ext(name))] {
				c.add(kLeak, "dataplane cache %s of a namespace no endpoint uses (the host's is dataplane-%d)", rel, c.w.hostNSIno)
			}
		}
		return nil
	})
}
