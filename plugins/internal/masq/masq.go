package masq

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// DefaultLockPath is the host-wide lock every masq change holds.
const DefaultLockPath = "/run/weir/masq.lock"

// undoTimeout bounds the undo of a failed Setup.
const undoTimeout = 30 * time.Second

// Masq writes and removes attachments' masquerade through a Runner (the
// iptables tools) and Sets (the kernel's ipsets).
type Masq struct {
	run      Runner
	sets     Sets
	lockPath string
}

// Config configures a Masq; zero fields take the host's defaults.
type Config struct {
	Runner   Runner // ExecRunner
	Sets     Sets   // NetlinkSets
	LockPath string // DefaultLockPath
}

// New returns a Masq that changes the host's kernel.
func New() *Masq { return NewWith(Config{}) }

// NewWith returns a Masq over c (fakes, in tests).
func NewWith(c Config) *Masq {
	m := &Masq{run: c.Runner, sets: c.Sets, lockPath: c.LockPath}
	if m.run == nil {
		m.run = ExecRunner{}
	}
	if m.sets == nil {
		m.sets = NetlinkSets{}
	}
	if m.lockPath == "" {
		m.lockPath = DefaultLockPath
	}
	return m
}

var families = []Family{IPv4, IPv6}

func familyOf(ip net.IP) Family {
	if ip.To4() != nil {
		return IPv4
	}
	return IPv6
}

func (m *Masq) table(ctx context.Context, f Family) (*natTable, error) {
	data, err := m.run.Save(ctx, f)
	if err != nil {
		return nil, err
	}
	return parseSave(data)
}

// Setup makes traffic from each of addrs (the container's addresses with
// their subnets) that leaves its subnet, other than multicast, leave with
// the host's address: each address becomes a member, commented with the
// attachment, of its group's set. Setting up an attachment again is
// harmless.
//
// On the common path, where the group exists, that is one header listing
// and one member add per address, all over netlink: no fork, no iptables
// commit, no read of the table. A group whose set is missing, or whose set
// no rule matches on (a crash between making the set and its rules), gets
// its chain and jump first. A failed Setup leaves nothing of the
// attachment behind.
func (m *Masq) Setup(ctx context.Context, a Attachment, addrs []net.IPNet) (err error) {
	l, err := m.lock(ctx)
	if err != nil {
		return fmt.Errorf("setting up masquerade for %s: %w", a.Comment(), err)
	}
	defer l.Release()
	defer func() {
		if err != nil {
			// Best effort, even when ctx has ended; its own failure
			// changes nothing of what the caller must know.
			uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
			defer cancel()
			_ = m.teardownLocked(uctx, a, addrs)
		}
	}()
	groups, ips := groupsOf(a.Network, addrs)
	for _, g := range groups {
		if err := m.ensureGroup(ctx, g); err != nil {
			return fmt.Errorf("setting up %s masquerade for %s: %w", g.family, a.Comment(), err)
		}
		for _, ip := range ips[g] {
			if err := m.sets.Add(g.set(), Member{IP: ip, Comment: a.Comment()}); err != nil {
				return fmt.Errorf("setting up %s masquerade for %s: %w", g.family, a.Comment(), err)
			}
		}
	}
	return nil
}

// Teardown removes the attachment's members from the sets, and every group
// it leaves empty. It is idempotent: a missing set, member or chain is
// success.
//
// With the attachment's addresses (DEL's prevResult) that is, per group,
// one delete per address and one header listing, whatever the set holds:
// no fork, and an nf_tables commit only when the group goes. The members
// are deleted by address, so the caller must not let an address go to
// another container before its Teardown succeeded (the bridge keeps the
// address allocated when it fails). Without addresses, Teardown lists
// every weir-nat- set and deletes the members whose comment names the
// attachment. Only when no set held anything of the attachment does it
// read iptables-save, to remove a legacy per-attachment chain of an older
// weir (in the families of the given addresses, or both).
func (m *Masq) Teardown(ctx context.Context, a Attachment, known []net.IPNet) error {
	l, err := m.lock(ctx)
	if err != nil {
		return fmt.Errorf("removing masquerade for %s: %w", a.Comment(), err)
	}
	defer l.Release()
	return m.teardownLocked(ctx, a, known)
}

// teardownLocked is Teardown under the lock.
func (m *Masq) teardownLocked(ctx context.Context, a Attachment, known []net.IPNet) error {
	var found bool
	var err error
	fams := families
	if len(known) > 0 {
		found, fams, err = m.dropKnown(ctx, a, known)
	} else {
		found, err = m.dropByComment(ctx, a)
	}
	if err != nil {
		return fmt.Errorf("removing masquerade for %s: %w", a.Comment(), err)
	}
	if found {
		return nil
	}
	var errs []error
	for _, f := range fams {
		if err := m.removeLegacy(ctx, f, a); err != nil {
			errs = append(errs, fmt.Errorf("removing %s legacy masquerade chain %s of %s: %w", f, a.LegacyChain(), a.Comment(), err))
		}
	}
	return errors.Join(errs...)
}

// dropKnown deletes the addresses from their groups' sets and removes the
// groups left empty. It reports whether any address was a member, and the
// families of the addresses.
func (m *Masq) dropKnown(ctx context.Context, a Attachment, known []net.IPNet) (bool, []Family, error) {
	groups, ips := groupsOf(a.Network, known)
	var fams []Family
	var errs []error
	found := false
	for _, g := range groups {
		if !containsFamily(fams, g.family) {
			fams = append(fams, g.family)
		}
		if err := func() error {
			for _, ip := range ips[g] {
				was, err := m.sets.Del(g.set(), ip)
				if errors.Is(err, ErrSetMissing) {
					return nil
				}
				if err != nil {
					return err
				}
				found = found || was
			}
			h, err := m.sets.Header(g.set())
			if errors.Is(err, ErrSetMissing) {
				return nil
			}
			if err != nil || h.Entries > 0 {
				return err
			}
			return m.removeGroup(ctx, g.set(), g.network, g.family)
		}(); err != nil {
			errs = append(errs, err)
		}
	}
	return found, fams, errors.Join(errs...)
}

// dropByComment deletes the attachment's members, found by their comment,
// from every weir-nat- set, and removes the groups it empties. It reports
// whether it found any.
func (m *Masq) dropByComment(ctx context.Context, a Attachment) (bool, error) {
	all, err := m.sets.Headers()
	if err != nil {
		return false, err
	}
	var errs []error
	found := false
	for _, s := range all {
		if !isMasqSet(s.Name) {
			continue
		}
		n, left, err := m.dropMembers(s.Name, func(c string) bool { return c == a.Comment() })
		found = found || n > 0
		if err == nil && n > 0 && len(left.Members) == 0 {
			// Its members named the attachment's network: the
			// group is that network's.
			err = m.removeGroup(ctx, s.Name, a.Network, left.Family)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return found, errors.Join(errs...)
}

func containsFamily(fs []Family, f Family) bool {
	for _, x := range fs {
		if x == f {
			return true
		}
	}
	return false
}

// GC removes, in both families, the members of network's attachments that
// are not one of valid, the network's groups left empty or without their
// set, and the legacy chains of network's attachments that are not valid.
// Sets that are empty and that no rule matches on (left by a crash while
// their group was made) go too, whatever their network: no group is being
// made while the lock is held, and no Setup needs them.
func (m *Masq) GC(ctx context.Context, network string, valid []Attachment) error {
	l, err := m.lock(ctx)
	if err != nil {
		return fmt.Errorf("collecting masquerade of network %s: %w", network, err)
	}
	defer l.Release()
	keep := map[string]bool{}
	keepChains := map[string]bool{}
	for _, a := range valid {
		keep[a.Comment()] = true
		keepChains[a.LegacyChain()] = true
	}
	stale := func(c string) bool {
		n, ok := commentNetwork(c)
		return ok && n == network && !keep[c]
	}
	var errs []error
	all, err := m.sets.Headers()
	if err != nil {
		return fmt.Errorf("collecting masquerade of network %s: %w", network, err)
	}
	// remaining counts the members each set keeps (-1: unknown, so kept);
	// a set not in it is missing.
	remaining := map[string]int{}
	for _, s := range all {
		if !isMasqSet(s.Name) {
			continue
		}
		// Groups are removed below, from the table, where their
		// network is known.
		_, left, err := m.dropMembers(s.Name, stale)
		if err != nil {
			errs = append(errs, fmt.Errorf("collecting masquerade of network %s: %w", network, err))
			remaining[s.Name] = -1
			continue
		}
		if left == nil {
			continue
		}
		remaining[s.Name] = len(left.Members)
		if len(left.Members) == 0 && left.References == 0 {
			if err := m.destroySet(ctx, s.Name); err != nil {
				errs = append(errs, fmt.Errorf("collecting masquerade of network %s: %w", network, err))
			}
			delete(remaining, s.Name)
		}
	}
	for _, f := range families {
		if err := m.gcTable(ctx, f, network, remaining, keepChains); err != nil {
			errs = append(errs, fmt.Errorf("collecting %s masquerade of network %s: %w", f, network, err))
		}
	}
	return errors.Join(errs...)
}

// gcTable removes from the family's nat table network's group chains
// whose set is empty or missing (destroying the set after them) and the
// legacy chains of attachments not in keepChains: one save, and one
// restore if anything is stale.
func (m *Masq) gcTable(ctx context.Context, f Family, network string, remaining map[string]int, keepChains map[string]bool) error {
	t, err := m.table(ctx, f)
	if errors.Is(err, ErrNotInstalled) {
		return nil
	}
	if err != nil {
		return err
	}
	var chains, sets []string
	for _, c := range groupChains(t, network) {
		set := setOfChain(c)
		if n, ok := remaining[set]; !ok || n == 0 {
			chains = append(chains, c)
			if ok {
				sets = append(sets, set)
			}
		}
	}
	chains = append(chains, staleLegacyChains(t, network, keepChains)...)
	if batch := teardownBatch(t, chains); batch != nil {
		if err := m.run.Restore(ctx, f, batch); err != nil {
			return err
		}
	}
	var errs []error
	for _, s := range sets {
		errs = append(errs, m.destroySet(ctx, s))
	}
	return errors.Join(errs...)
}

// Check verifies that each of addrs is a member of its group's set with
// the attachment's comment, and that the group's chain masquerades and its
// jump matches the set. An attachment an older weir set up passes when its
// legacy chain does.
func (m *Masq) Check(ctx context.Context, a Attachment, addrs []net.IPNet) error {
	groups, ips := groupsOf(a.Network, addrs)
	tables := map[Family]*natTable{}
	for _, g := range groups {
		t, ok := tables[g.family]
		if !ok {
			var err error
			if t, err = m.table(ctx, g.family); err != nil {
				return fmt.Errorf("checking %s masquerade for %s: %w", g.family, a.Comment(), err)
			}
			tables[g.family] = t
		}
		err := m.checkGroup(t, g, a, ips[g])
		if err != nil && checkLegacy(t, a, g.family, ips[g]) != nil {
			return err
		}
	}
	return nil
}

// checkGroup is Check of one group.
func (m *Masq) checkGroup(t *natTable, g group, a Attachment, ips []net.IP) error {
	s, err := m.sets.List(g.set())
	if errors.Is(err, ErrSetMissing) {
		return fmt.Errorf("%s masquerade set %s is missing", g.family, g.set())
	}
	if err != nil {
		return err
	}
	owner := map[string]string{}
	for _, mem := range s.Members {
		owner[mem.IP.String()] = mem.Comment
	}
	for _, ip := range ips {
		c, ok := owner[ip.String()]
		if !ok {
			return fmt.Errorf("%s is not in masquerade set %s", ip, g.set())
		}
		if c != a.Comment() {
			return fmt.Errorf("%s is in masquerade set %s for %q, not for %q", ip, g.set(), c, a.Comment())
		}
	}
	chain := g.chain()
	masq, jump := false, false
	for _, r := range t.rules {
		if r.chain == chain && r.target == "MASQUERADE" {
			masq = true
		}
		if r.chain == "POSTROUTING" && r.target == chain && r.spec == jumpSpec(g.set(), g.network) {
			jump = true
		}
	}
	if !masq {
		return fmt.Errorf("%s masquerade chain %s has no MASQUERADE rule", g.family, chain)
	}
	if !jump {
		return fmt.Errorf("POSTROUTING jump matching %s to %s is missing", g.set(), chain)
	}
	return nil
}
