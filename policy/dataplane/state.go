package dataplane

// Table is an iptables table weir writes to.
type Table string

// The tables weir uses.
const (
	Filter Table = "filter"
	Mangle Table = "mangle"
	Raw    Table = "raw"
	Nat    Table = "nat"
)

// Family is an address family; iptables and ip6tables are written
// separately.
type Family string

// The families.
const (
	IPv4 Family = "ipv4"
	IPv6 Family = "ipv6"
)

// IPSet is one ipset weir owns. Its name starts with "weir-" and is at most
// 31 characters (the kernel's limit).
type IPSet struct {
	Name    string
	Type    string // "hash:ip" or "hash:net"
	Family  Family // IPv4 ("inet") or IPv6 ("inet6")
	Members []string
}

// Chain is one iptables chain weir owns. Its name starts with "WEIR-" and
// is at most 28 characters. Rules are rule specifications as
// iptables-restore takes them after "-A <chain> ", each carrying a
// "-m comment --comment" that names its owner.
type Chain struct {
	Table  Table
	Family Family
	Name   string
	Rules  []string
}

// Hook is a rule in a built-in chain (FORWARD, INPUT, OUTPUT, ...) that
// jumps into weir's chains. Hooks are kept at the top of their chain.
type Hook struct {
	Table  Table
	Family Family
	Chain  string // the built-in chain
	Rule   string // e.g. "-m comment --comment \"weir: dispatch\" -j WEIR-FORWARD"
}

// State is everything weir wants in (or read back from) one network
// namespace's dataplane: the ipsets, chains and hooks it owns. Nothing
// outside it is ever read for a decision or written.
type State struct {
	Sets   map[string]IPSet // by set name
	Chains map[string]Chain // by ChainKey(table, family, name)
	Hooks  []Hook
}

// ChainKey is the key of a chain in State.Chains.
func ChainKey(t Table, f Family, name string) string { return string(f) + "/" + string(t) + "/" + name }

// NewState returns an empty state.
func NewState() State {
	return State{Sets: map[string]IPSet{}, Chains: map[string]Chain{}}
}
