package compile

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/weirnet/weir/policy"
	"github.com/weirnet/weir/policy/dataplane"
)

// Mode is where an endpoint's policy is enforced.
type Mode string

const (
	// Host enforces in the host's FORWARD path, by the endpoint's host-side
	// veth (bridge networks, with br_netfilter).
	Host Mode = "host"
	// NetNS enforces inside the container's namespace, in INPUT and OUTPUT
	// (macvlan networks, whose traffic the host's iptables never sees).
	NetNS Mode = "netns"
)

// Endpoint is one container interface under policy.
type Endpoint struct {
	policy.Endpoint
	Mode          Mode
	PolicyDir     string        // the directory of the policies that apply to it
	HostIface     string        // host-side veth, for Host mode
	NetNS         string        // the container's namespace, for NetNS mode
	DefaultAction policy.Action // for directions no policy selects: allow or deny

	key    string // endpointKey, set by Compile on its own copy
	labels string // labelsKey, set by the compiler when first needed
}

// Output is the compiled dataplane: the host's state and, for each endpoint
// enforced in its own namespace, that namespace's state.
type Output struct {
	Host  dataplane.State
	NetNS map[string]dataplane.State // by namespace path
}

var families = []dataplane.Family{dataplane.IPv4, dataplane.IPv6}

// Compile computes the dataplane for every local endpoint, each under the
// policies of its PolicyDir (pols, by directory; a directory missing from
// pols has no policies). It is a pure function: same input, same output, so
// the writer only rewrites what changed.
func Compile(pols map[string]*policy.Set, eps []Endpoint) (*Output, error) {
	return CompileMemo(pols, eps, nil)
}

// CompileMemo is Compile taking each unchanged endpoint's own chains from
// memo (nil: none), and leaving in memo those of this compilation's
// endpoints (see Memo). Its output is Compile's.
func CompileMemo(pols map[string]*policy.Set, eps []Endpoint, memo *Memo) (*Output, error) {
	// Each endpoint has two chains and a few dispatch rules per family:
	// maps sized for them do not grow (and rehash) a dozen times.
	host := dataplane.State{Sets: make(map[string]dataplane.IPSet, 64), Chains: make(map[string]dataplane.Chain, 4*len(eps)+64)}
	c := &compiler{pols: pols, eps: sortEndpoints(eps), out: &Output{Host: host, NetNS: map[string]dataplane.State{}},
		selecting: map[string][]*policy.Policy{}, memo: memo}
	if memo != nil {
		memo.begin()
	}
	out, err := c.compile()
	if memo != nil {
		if err != nil {
			memo.abort()
		} else {
			memo.commit()
		}
	}
	return out, err
}

func (c *compiler) compile() (*Output, error) {
	for i := range c.eps {
		if err := c.validate(&c.eps[i]); err != nil {
			return nil, err
		}
	}
	if err := c.host(); err != nil {
		return nil, err
	}
	for i := range c.eps {
		ep := &c.eps[i]
		if ep.Mode == NetNS {
			if err := c.netns(ep); err != nil {
				return nil, err
			}
		}
	}
	return c.out, nil
}

type compiler struct {
	pols map[string]*policy.Set
	eps  []Endpoint
	out  *Output
	// selecting memoises policiesFor by policy directory, direction and
	// label set: endpoints far outnumber distinct label sets.
	selecting map[string][]*policy.Policy
	memo      *Memo         // nil: generate every endpoint's chains
	groups    []*labelGroup // see labelGroups; nil until first needed
}

func sortEndpoints(eps []Endpoint) []Endpoint {
	out := append([]Endpoint(nil), eps...)
	for i := range out {
		out[i].key = hash16(out[i].Network, out[i].ID, out[i].IfName)
	}
	slices.SortFunc(out, func(a, b Endpoint) int { return strings.Compare(a.key, b.key) })
	return out
}

func (c *compiler) validate(ep *Endpoint) error {
	switch ep.Mode {
	case Host:
		if ep.HostIface == "" {
			return fmt.Errorf("endpoint %s/%s: host enforcement needs the host-side interface", ep.ID, ep.IfName)
		}
	case NetNS:
		if ep.NetNS == "" {
			return fmt.Errorf("endpoint %s/%s: namespace enforcement needs the namespace path", ep.ID, ep.IfName)
		}
	default:
		return fmt.Errorf("endpoint %s/%s: unknown enforcement mode %q", ep.ID, ep.IfName, ep.Mode)
	}
	if ep.DefaultAction != policy.Allow && ep.DefaultAction != policy.Deny {
		return fmt.Errorf("endpoint %s/%s: default action %q is not allow or deny", ep.ID, ep.IfName, ep.DefaultAction)
	}
	return nil
}

func addrsOf(ep *Endpoint, f dataplane.Family) []netip.Addr {
	var out []netip.Addr
	for _, a := range ep.IPs {
		if (f == dataplane.IPv4) == a.Unmap().Is4() {
			out = append(out, a.Unmap())
		}
	}
	return out
}

func hostPrefix(a netip.Addr) string {
	return netip.PrefixFrom(a, a.BitLen()).String()
}

func epComment(ep *Endpoint) string { return "weir: id=" + ep.ID + " if=" + ep.IfName }

// addChain adds a chain to st, merging nothing: a name is owned by one
// generator.
func addChain(st *dataplane.State, f dataplane.Family, name string, rules []string) {
	st.Chains[dataplane.ChainKey(dataplane.Filter, f, name)] = dataplane.Chain{Table: dataplane.Filter, Family: f, Name: name, Rules: rules}
}

func addSet(st *dataplane.State, name, typ string, f dataplane.Family, members []string) {
	sort.Strings(members)
	st.Sets[name] = dataplane.IPSet{Name: name, Type: typ, Family: f, Members: members}
}
