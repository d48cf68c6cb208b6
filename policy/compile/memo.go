package compile

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/weirnet/weir/internal/bincodec"
	"github.com/weirnet/weir/policy"
	"github.com/weirnet/weir/policy/dataplane"
)

// Memo carries each in-namespace endpoint's own chains (its egress and
// ingress chains, and its address set) from one compilation to the next,
// so that a compilation after one endpoint joined or left generates the
// chains of that endpoint only. (Host endpoints have no chains of their
// own: they are members of their class's sets, see classes.go.)
//
// An endpoint's own chains depend on nothing but its entry's key
// (enforcement mode, endpoint key, family) and signature (its identity,
// policy directory, default action, its addresses of the family, and the
// names, in order, of the policies selecting it in each direction: the
// policies' rules live in the shared policy chains, which are generated
// anew every time). An entry is used only when both are the same, so a
// memo never changes what Compile returns; a stale or foreign memo only
// costs misses.
//
// A Memo is not safe for concurrent use; the engine uses it under its lock.
type Memo struct {
	entries map[memoKey]*memoEntry
	next    map[memoKey]*memoEntry
	// Hits and Misses count the endpoint chains of the last compilation
	// that came from the memo and that were generated.
	Hits, Misses int
}

// memoKey names an endpoint's entry: its enforcement mode, its key
// (network, container, interface) and the family.
type memoKey struct {
	mode Mode
	key  string
	fam  dataplane.Family
}

// memoEntry is an endpoint's own chains and sets for one family, with
// what they were generated from (its signature).
type memoEntry struct {
	sig      memoSig
	policies bool // the chains jump to policy chains: generate those
	chains   []dataplane.Chain
	keys     []string // the chains' ChainKeys
	sets     []dataplane.IPSet
}

// memoSig is everything genEndpointChains reads of an endpoint for one
// family. It is compared field by field: computing a signature string for
// each of a thousand endpoints would cost much of what the memo saves.
type memoSig struct {
	network, id, ifName, policyDir string
	defaultAction                  policy.Action
	addrs                          []netip.Addr
	egress, ingress                []string // names of the selecting policies, in order
}

// NewMemo returns an empty memo.
func NewMemo() *Memo { return &Memo{entries: map[memoKey]*memoEntry{}} }

// Len is the number of entries.
func (m *Memo) Len() int { return len(m.entries) }

func (m *Memo) begin() {
	m.next = make(map[memoKey]*memoEntry, len(m.entries)+1)
	m.Hits, m.Misses = 0, 0
}

// commit makes the compilation's entries the memo: endpoints gone since
// are dropped.
func (m *Memo) commit() { m.entries, m.next = m.next, nil }

func (m *Memo) abort() { m.next = nil }

// matches reports whether sig is what ep's chains for f are generated from.
func (b *builder) matches(sig *memoSig, ep *Endpoint, f dataplane.Family) bool {
	if sig.network != ep.Network || sig.id != ep.ID || sig.ifName != ep.IfName ||
		sig.policyDir != ep.PolicyDir || sig.defaultAction != ep.DefaultAction {
		return false
	}
	n := 0
	for _, a := range ep.IPs {
		if a = a.Unmap(); a.Is4() == (f == dataplane.IPv4) {
			if n >= len(sig.addrs) || sig.addrs[n] != a {
				return false
			}
			n++
		}
	}
	return n == len(sig.addrs) &&
		sameNames(sig.egress, b.c.policiesFor(ep, policy.Egress)) &&
		sameNames(sig.ingress, b.c.policiesFor(ep, policy.Ingress))
}

func sameNames(names []string, ps []*policy.Policy) bool {
	if len(names) != len(ps) {
		return false
	}
	for i, p := range ps {
		if p.Name != names[i] {
			return false
		}
	}
	return true
}

func (b *builder) signature(ep *Endpoint, f dataplane.Family) memoSig {
	sig := memoSig{network: ep.Network, id: ep.ID, ifName: ep.IfName, policyDir: ep.PolicyDir,
		defaultAction: ep.DefaultAction, addrs: addrsOf(ep, f)}
	for _, p := range b.c.policiesFor(ep, policy.Egress) {
		sig.egress = append(sig.egress, p.Name)
	}
	for _, p := range b.c.policiesFor(ep, policy.Ingress) {
		sig.ingress = append(sig.ingress, p.Name)
	}
	return sig
}

// endpointChains generates ep's own chains for family f, or takes them
// from the memo.
func (b *builder) endpointChains(ep *Endpoint, f dataplane.Family) {
	m := b.c.memo
	if m == nil {
		b.genEndpointChains(ep, f)
		return
	}
	key := memoKey{ep.Mode, ep.key, f}
	if e, ok := m.entries[key]; ok && b.matches(&e.sig, ep, f) {
		for i, ch := range e.chains {
			b.st.Chains[e.keys[i]] = ch
		}
		for _, s := range e.sets {
			b.st.Sets[s.Name] = s
		}
		if done := (famName{f, ep.labels}); e.policies && !b.labelsDone[done] {
			// The policy chains an endpoint jumps to depend only on
			// the policies selecting it: once per label set.
			b.labelsDone[done] = true
			for _, d := range []policy.Direction{policy.Egress, policy.Ingress} {
				for _, p := range b.c.policiesFor(ep, d) {
					b.policyChain(ep.PolicyDir, p, d, f)
				}
			}
		}
		m.next[key] = e
		m.Hits++
		return
	}
	policies := b.genEndpointChains(ep, f)
	e := &memoEntry{sig: b.signature(ep, f), policies: policies}
	for _, name := range []string{egressChain(ep), ingressChain(ep)} {
		if ch, ok := b.st.Chains[dataplane.ChainKey(dataplane.Filter, f, name)]; ok {
			e.add(ch)
		}
	}
	if s, ok := b.st.Sets[addrSet(ep, f)]; ok {
		e.sets = append(e.sets, s)
	}
	m.next[key] = e
	m.Misses++
}

func (e *memoEntry) add(ch dataplane.Chain) {
	e.chains = append(e.chains, ch)
	e.keys = append(e.keys, dataplane.ChainKey(ch.Table, ch.Family, ch.Name))
}

// memoMagic starts a memo's binary form; it changes whenever the chains
// this package generates for an endpoint change (so do the stamps the
// engine adds: a memo written by another build is never read).
const memoMagic = "weir compile memo 1\n"

// ErrMemoFormat is returned (wrapped) for data that is not a memo written
// with the same stamp.
var ErrMemoFormat = errors.New("not a compile memo of this build")

// MarshalBinary renders the memo with stamp, which UnmarshalMemo must be
// given again (the engine uses its executable's identity: a memo is never
// read by another build of the compiler).
func (m *Memo) MarshalBinary(stamp string) []byte {
	e := &bincodec.Encoder{B: make([]byte, 0, 256*len(m.entries)+64)}
	e.B = append(e.B, memoMagic...)
	e.Str(stamp)
	e.Uint(uint64(len(m.entries)))
	for k, en := range m.entries {
		e.Str(string(k.mode))
		e.Str(k.key)
		e.Str(string(k.fam))
		e.Str(en.sig.network)
		e.Str(en.sig.id)
		e.Str(en.sig.ifName)
		e.Str(en.sig.policyDir)
		e.Str(string(en.sig.defaultAction))
		e.Uint(uint64(len(en.sig.addrs)))
		for _, a := range en.sig.addrs {
			b, _ := a.MarshalBinary()
			e.Str(string(b))
		}
		e.Strs(en.sig.egress)
		e.Strs(en.sig.ingress)
		e.Bool(en.policies)
		e.Uint(uint64(len(en.chains)))
		for _, ch := range en.chains {
			e.Str(string(ch.Table))
			e.Str(string(ch.Family))
			e.Str(ch.Name)
			e.Strs(ch.Rules)
		}
		e.Uint(uint64(len(en.sets)))
		for _, s := range en.sets {
			e.Str(s.Name)
			e.Str(s.Type)
			e.Str(string(s.Family))
			e.Strs(s.Members)
		}
	}
	return e.B
}

// UnmarshalMemo parses what MarshalBinary wrote with the same stamp. The
// memo shares data's memory: data must not be modified afterwards.
func UnmarshalMemo(data []byte, stamp string) (*Memo, error) {
	if !strings.HasPrefix(string(data[:min(len(data), len(memoMagic))]), memoMagic) {
		return nil, ErrMemoFormat
	}
	d := &bincodec.Decoder{B: data[len(memoMagic):], Alias: true}
	if d.Str() != stamp {
		return nil, ErrMemoFormat
	}
	n := d.Count()
	m := &Memo{entries: make(map[memoKey]*memoEntry, n)}
	for range n {
		k := memoKey{mode: Mode(d.Str()), key: d.Str(), fam: dataplane.Family(d.Str())}
		en := &memoEntry{sig: memoSig{network: d.Str(), id: d.Str(), ifName: d.Str(), policyDir: d.Str(),
			defaultAction: policy.Action(d.Str())}}
		for c := d.Count(); c > 0; c-- {
			var a netip.Addr
			if err := a.UnmarshalBinary([]byte(d.Str())); err != nil && d.Err == nil {
				d.Err = fmt.Errorf("%w: %w", bincodec.ErrFormat, err)
			}
			en.sig.addrs = append(en.sig.addrs, a)
		}
		en.sig.egress, en.sig.ingress, en.policies = d.Strs(), d.Strs(), d.Bool()
		for c := d.Count(); c > 0; c-- {
			en.add(dataplane.Chain{Table: dataplane.Table(d.Str()), Family: dataplane.Family(d.Str()), Name: d.Str(), Rules: d.Strs()})
		}
		for c := d.Count(); c > 0; c-- {
			en.sets = append(en.sets, dataplane.IPSet{Name: d.Str(), Type: d.Str(), Family: dataplane.Family(d.Str()), Members: d.Strs()})
		}
		m.entries[k] = en
	}
	if err := d.Finish(); err != nil {
		return nil, fmt.Errorf("decoding compile memo: %w: %w", ErrMemoFormat, err)
	}
	return m, nil
}
