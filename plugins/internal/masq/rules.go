package masq

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"strings"
)

// ChainPrefix starts the name of every masquerade chain weir makes, the
// groups' and the legacy per-attachment ones.
const ChainPrefix = "WEIR-MASQ-"

// maxComment is the longest comment the kernel keeps (XT_MAX_COMMENT_LEN
// less its terminating NUL; ipset's limit is the same).
const maxComment = 255

// Attachment names one container attachment: the network, the container and
// the interface inside it.
type Attachment struct {
	Network     string
	ContainerID string
	IfName      string
}

// LegacyChain returns the nat chain older weir made for the attachment
// alone: WEIR-MASQ- and 16 hex characters of a hash of the attachment, 26
// characters in all (iptables allows 28). Teardown and GC still remove it.
func (a Attachment) LegacyChain() string {
	h := sha256.Sum256([]byte(a.Network + "\x00" + a.ContainerID + "\x00" + a.IfName))
	return ChainPrefix + hex.EncodeToString(h[:8])
}

// Comment returns the comment that names the attachment: on its ipset
// members (and on the rules of its legacy chain). It starts with the
// network, so a comment cut to the kernel's limit still names it.
func (a Attachment) Comment() string {
	c := fmt.Sprintf("weir: net=%s id=%s if=%s", a.Network, a.ContainerID, a.IfName)
	if len(c) > maxComment {
		c = c[:maxComment]
	}
	return c
}

// commentNetwork returns the network a weir comment names.
func commentNetwork(c string) (string, bool) {
	rest, ok := strings.CutPrefix(c, "weir: net=")
	if !ok {
		return "", false
	}
	name, _, _ := strings.Cut(rest, " ")
	return name, name != ""
}

// quote renders s as one argument of an iptables-restore line.
func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return `"` + r.Replace(s) + `"`
}

// rule is one "-A CHAIN spec" line of iptables-save output.
type rule struct {
	chain   string
	spec    string // everything after "-A CHAIN ", as iptables-save wrote it
	target  string // the -j argument
	comment string // the --comment argument, unquoted
}

// natTable is what masq needs to know of iptables-save -t nat.
type natTable struct {
	chains map[string]bool
	rules  []rule
}

// parseSave reads the output of iptables-save -t nat.
func parseSave(data []byte) (*natTable, error) {
	t := &natTable{chains: map[string]bool{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	inNat := false
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "*"):
			inNat = line == "*nat"
		case !inNat:
		case strings.HasPrefix(line, ":"):
			name, _, _ := strings.Cut(line[1:], " ")
			t.chains[name] = true
		case strings.HasPrefix(line, "-A "):
			args, err := splitArgs(line)
			if err != nil {
				return nil, fmt.Errorf("parsing iptables-save line %q: %w", line, err)
			}
			if len(args) < 2 {
				continue
			}
			r := rule{chain: args[1], spec: strings.TrimPrefix(line[len("-A "):], args[1]+" ")}
			for i := 2; i+1 < len(args); i++ {
				switch args[i] {
				case "-j", "--jump":
					r.target = args[i+1]
				case "--comment":
					r.comment = args[i+1]
				}
			}
			t.rules = append(t.rules, r)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading iptables-save output: %w", err)
	}
	return t, nil
}

// splitArgs splits an iptables-save line into arguments the way
// iptables-restore does: whitespace separates, double quotes group, and a
// backslash inside quotes escapes the next character.
func splitArgs(line string) ([]string, error) {
	var args []string
	var cur strings.Builder
	inArg, quoted := false, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quoted && c == '\\' && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
		case c == '"':
			quoted = !quoted
			inArg = true
		case !quoted && (c == ' ' || c == '\t'):
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
		default:
			cur.WriteByte(c)
			inArg = true
		}
	}
	if quoted {
		return nil, fmt.Errorf("unterminated quote")
	}
	if inArg {
		args = append(args, cur.String())
	}
	return args, nil
}

// multicast is the destination never masqueraded, per family.
func multicast(f Family) string {
	if f == IPv6 {
		return "ff00::/8"
	}
	return "224.0.0.0/4"
}

// hostPrefix renders ip as a single-host prefix, as iptables-save prints it.
func hostPrefix(ip net.IP, f Family) string {
	if f == IPv6 {
		return ip.String() + "/128"
	}
	return ip.To4().String() + "/32"
}

// removeLines appends to b the lines that delete chain and every rule that
// jumps to it, and reports whether there was anything to delete.
func removeLines(b *bytes.Buffer, t *natTable, chain string) bool {
	found := false
	for _, r := range t.rules {
		if r.target == chain {
			fmt.Fprintf(b, "-D %s %s\n", r.chain, r.spec)
			found = true
		}
	}
	if t.chains[chain] {
		fmt.Fprintf(b, "-F %s\n-X %s\n", chain, chain)
		found = true
	}
	return found
}

// teardownBatch returns the batch that removes the given chains and the
// jumps to them, or nil when none of them exists.
func teardownBatch(t *natTable, chains []string) []byte {
	var body bytes.Buffer
	found := false
	for _, c := range chains {
		if removeLines(&body, t, c) {
			found = true
		}
	}
	if !found {
		return nil
	}
	var b bytes.Buffer
	b.WriteString("*nat\n")
	b.Write(body.Bytes())
	b.WriteString("COMMIT\n")
	return b.Bytes()
}
