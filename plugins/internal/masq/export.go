package masq

// Exported views of masq's iptables-save reader and restore-line helpers,
// for the other plugins that write weir's nat chains (portmap). They wrap
// the functions masq itself uses and change none of its behaviour.

// Rule is one "-A CHAIN spec" line of iptables-save -t nat.
type Rule struct {
	Chain   string
	Spec    string // everything after "-A CHAIN ", as iptables-save wrote it
	Target  string // the -j argument
	Comment string // the --comment argument, unquoted
}

// Table is the nat table of one family as iptables-save printed it: the
// chains it declares and its rules in order.
type Table struct {
	Chains map[string]bool
	Rules  []Rule
}

// ParseNat reads the output of iptables-save -t nat (or ip6tables-save).
func ParseNat(data []byte) (*Table, error) {
	t, err := parseSave(data)
	if err != nil {
		return nil, err
	}
	out := &Table{Chains: t.chains, Rules: make([]Rule, len(t.rules))}
	for i, r := range t.rules {
		out.Rules[i] = Rule{Chain: r.chain, Spec: r.spec, Target: r.target, Comment: r.comment}
	}
	return out, nil
}

// Quote renders s as one double-quoted argument of an iptables-restore line.
func Quote(s string) string { return quote(s) }

// SplitArgs splits an iptables-save line into arguments the way
// iptables-restore does.
func SplitArgs(line string) ([]string, error) { return splitArgs(line) }

// CommentNetwork returns the network a weir rule comment
// ("weir: net=NAME ...") names.
func CommentNetwork(comment string) (string, bool) { return commentNetwork(comment) }

// FindTool finds an iptables tool by name as ExecRunner does (PATH, then
// /usr/sbin and /sbin); a missing tool is ErrNotInstalled.
func FindTool(name string) (string, error) { return lookPath(name) }
