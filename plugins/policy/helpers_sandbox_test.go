package policy_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

func osExec(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}

// inNS runs a command in the network namespace at nsPath ("" for the
// sandbox's own) and returns its output, failing the test when it fails.
func inNS(t *testing.T, nsPath string, args ...string) string {
	t.Helper()
	if nsPath != "" {
		args = append([]string{"nsenter", "--net=" + nsPath}, args...)
	}
	out, err := osExec(args[0], args[1:]...)
	if err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
	return out
}

// run runs a command in the sandbox's namespace, failing the test when it
// fails.
func run(t *testing.T, args ...string) string {
	t.Helper()
	return inNS(t, "", args...)
}

// kernelDumps are the commands whose output shows a namespace's whole
// packet filter and ipsets.
var kernelDumps = [][]string{{"iptables-save"}, {"ip6tables-save"}, {"ipset", "save"}}

// weirLeft returns every line of iptables-save, ip6tables-save and ipset
// list -n in the namespace at nsPath ("" for the sandbox's) that names
// weir: nothing once every endpoint is gone.
func weirLeft(t *testing.T, nsPath string) []string {
	t.Helper()
	var out []string
	for _, cmd := range [][]string{{"iptables-save"}, {"ip6tables-save"}, {"ipset", "list", "-n"}} {
		for _, line := range strings.Split(inNS(t, nsPath, cmd...), "\n") {
			if strings.Contains(strings.ToLower(line), "weir") {
				out = append(out, cmd[0]+": "+line)
			}
		}
	}
	return out
}

// counters are the packet counts iptables-save prints on chain lines.
var counters = regexp.MustCompile(` \[\d+:\d+\]$`)

// foreign returns everything in the packet filter (both families, every
// table) and the ipsets of the namespace at nsPath that is not weir's:
// each line of the dumps that does not name weir, without packet counters
// and the tools' comments, in order.
func foreign(t *testing.T, nsPath string) []string {
	t.Helper()
	var out []string
	for _, cmd := range kernelDumps {
		for _, line := range strings.Split(inNS(t, nsPath, cmd...), "\n") {
			if line == "" || strings.HasPrefix(line, "#") || strings.Contains(strings.ToLower(line), "weir") {
				continue
			}
			out = append(out, cmd[0]+": "+counters.ReplaceAllString(line, ""))
		}
	}
	return out
}

// endpointChain is the name of an endpoint's chain, prefix "WEIR-IN-" or
// "WEIR-EG-" (policy/compile's naming: a hash of network, container and
// interface).
func endpointChain(prefix, network, id, ifName string) string {
	h := sha256.Sum256([]byte(network + "\x00" + id + "\x00" + ifName))
	return prefix + hex.EncodeToString(h[:8])
}

// linesWith returns the lines of text that contain s.
func linesWith(text, s string) []string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, s) {
			out = append(out, line)
		}
	}
	return out
}
