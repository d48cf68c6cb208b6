package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/weirnet/weir/chain"
	"github.com/weirnet/weir/policy"
)

const doctorSynopsis = `weir doctor [--conf-dir DIR] [--plugin-dir DIRS] [--policy-dir DIR] [--state-dir DIR] [--json]`

// Check outcomes. Only a failed check makes `weir doctor` exit 1; a
// warning names something weir copes with (a plugin turns a sysctl on when
// it needs it) that an operator may still want to settle.
const (
	checkOK   = "ok"
	checkWarn = "warn"
	checkFail = "FAIL"
	checkSkip = "skip"
)

// check is one finding of `weir doctor`.
type check struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Detail string `json:"detail,omitempty"`
	Fix    string `json:"fix,omitempty"`
}

func pass(name, detail string) check { return check{Name: name, Status: checkOK, Detail: detail} }
func warning(name, detail, fix string) check {
	return check{Name: name, Status: checkWarn, Detail: detail, Fix: fix}
}
func failure(name, detail, fix string) check {
	return check{Name: name, Status: checkFail, Detail: detail, Fix: fix}
}

// doctor checks that this host can run weir and says how to fix what is
// missing.
func (a *app) doctor(args []string) error {
	fs := newFlagSet("doctor", doctorSynopsis, &a.opts)
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageError{fmt.Sprintf("unexpected arguments %q", pos)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	defs := loadDoctorDefs(a.opts.confDir)

	checks := []check{checkRoot()}
	checks = append(checks, checkKernelLinks(a.opts.stateDir)...)
	checks = append(checks, checkBridgeNetfilter(defs)...)
	checks = append(checks, checkIPForward())
	checks = append(checks, checkIptables(ctx)...)
	checks = append(checks, checkPluginDirs(a.opts.pluginPath(), defs, a.types()))
	checks = append(checks, checkConfDir(a.opts.confDir, defs))
	checks = append(checks, checkFlannel(defs)...)
	checks = append(checks, checkPolicyDir(a.opts.policyDir))

	failed := false
	for _, c := range checks {
		failed = failed || c.Status == checkFail
	}
	if a.opts.json {
		if err := printJSON(a, map[string]any{"ok": !failed, "checks": checks}); err != nil {
			return err
		}
	} else {
		printChecks(a.stdout, checks)
	}
	if failed {
		return exitError{1}
	}
	return nil
}

func printChecks(w io.Writer, checks []check) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tCHECK\tDETAIL")
	var problems []check
	for _, c := range checks {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Status, c.Name, firstLine(c.Detail))
		if c.Status == checkFail || c.Status == checkWarn {
			problems = append(problems, c)
		}
	}
	tw.Flush()
	if len(problems) == 0 {
		fmt.Fprintln(w, "\nno problems found")
		return
	}
	fmt.Fprintln(w, "\nproblems and their fixes:")
	for _, p := range problems {
		fmt.Fprintf(w, "  %s %s: %s\n", p.Status, p.Name, indent(p.Detail, "      "))
		if p.Fix != "" {
			fmt.Fprintf(w, "      fix: %s\n", indent(p.Fix, "           "))
		}
	}
}

func firstLine(s string) string {
	line, rest, _ := strings.Cut(s, "\n")
	if rest != "" {
		return line + " (…)"
	}
	return line
}

func indent(s, prefix string) string { return strings.ReplaceAll(s, "\n", "\n"+prefix) }

func checkRoot() check {
	if uid := os.Geteuid(); uid != 0 {
		return failure("root", fmt.Sprintf("running as uid %d", uid), "run weir as root: it creates network namespaces, links and iptables rules")
	}
	return pass("root", "running as root")
}

// doctorDefs is the conf dir read without the plugin-path check, so that a
// network whose plugin is missing still counts as defined (the plugin-dir
// check names what it lacks).
type doctorDefs struct {
	set *chain.Set
	err error // the directory could not be read
}

func loadDoctorDefs(dir string) doctorDefs {
	set, err := chain.LoadDir(dir, nil)
	return doctorDefs{set: set, err: err}
}

func (d doctorDefs) definitions() []*chain.Definition {
	if d.set == nil {
		return nil
	}
	return d.set.Definitions()
}

// uses reports whether any defined network has a plugin of type typ.
func (d doctorDefs) uses(typ string) bool {
	for _, def := range d.definitions() {
		for _, p := range def.Plugins {
			if p.Type == typ {
				return true
			}
		}
	}
	return false
}

func checkConfDir(dir string, d doctorDefs) check {
	const name = "network definitions"
	if d.err != nil {
		return failure(name, d.err.Error(), fmt.Sprintf("mkdir -p %s and put the network definitions there (see configs/net.d), or point --conf-dir at them", dir))
	}
	if len(d.set.Errors) > 0 {
		var lines []string
		for _, e := range d.set.Errors {
			lines = append(lines, e.Error())
		}
		return failure(name, fmt.Sprintf("%d file(s) in %s do not load:\n%s", len(lines), dir, strings.Join(lines, "\n")),
			fmt.Sprintf("correct or remove the file(s) named above; `weir networks validate %s` shows every problem", dir))
	}
	if len(d.set.Names()) == 0 {
		return warning(name, "no network definitions in "+dir, "add network definitions (*.toml, *.conflist, *.conf) to "+dir)
	}
	return pass(name, fmt.Sprintf("%d network(s) in %s: %s", len(d.set.Names()), dir, strings.Join(d.set.Names(), ", ")))
}

func checkPolicyDir(dir string) check {
	const name = "policy files"
	set, err := policy.LoadDir(dir)
	if err != nil {
		return failure(name, err.Error(), fmt.Sprintf("correct the file(s) named above; `weir policy check %s` shows every problem", dir))
	}
	return pass(name, fmt.Sprintf("%d policies in %s", set.Len(), dir))
}

func checkIPForward() check {
	const name = "ip_forward"
	v, err := readSysctl("net/ipv4/ip_forward")
	switch {
	case err != nil:
		return failure(name, err.Error(), "check that /proc/sys is mounted")
	case v != "1":
		return warning(name, "net.ipv4.ip_forward is "+v+": containers reach nothing beyond this host until a bridge network with isGateway turns it on",
			"sysctl -w net.ipv4.ip_forward=1, and set it in /etc/sysctl.d/ to keep it")
	}
	return pass(name, "net.ipv4.ip_forward = 1")
}

// checkBridgeNetfilter checks br_netfilter and bridge-nf-call-iptables:
// policy on bridge networks is enforced on bridged traffic, which only
// traverses iptables with them. Missing br_netfilter fails when a network
// uses the policy plugin, and is a warning otherwise.
func checkBridgeNetfilter(d doctorDefs) []check {
	policyUsed := d.uses("policy")
	if _, err := os.Stat("/proc/sys/net/bridge"); err != nil {
		c := warning("br_netfilter", "the br_netfilter module is not loaded (/proc/sys/net/bridge is missing)",
			"modprobe br_netfilter, and list it in /etc/modules-load.d/ to keep it")
		if policyUsed {
			c.Status = checkFail
			c.Detail += ": the policy plugin cannot filter bridged traffic"
		}
		return []check{c, {Name: "bridge-nf-call-iptables", Status: checkSkip, Detail: "needs br_netfilter"}}
	}
	out := []check{pass("br_netfilter", "loaded")}
	v, err := readSysctl("net/bridge/bridge-nf-call-iptables")
	switch {
	case err != nil:
		out = append(out, failure("bridge-nf-call-iptables", err.Error(), "modprobe br_netfilter"))
	case v != "1":
		out = append(out, warning("bridge-nf-call-iptables", "net.bridge.bridge-nf-call-iptables is "+v+": bridged traffic bypasses iptables until the policy plugin turns it on",
			"sysctl -w net.bridge.bridge-nf-call-iptables=1, and set it in /etc/sysctl.d/ to keep it"))
	default:
		out = append(out, pass("bridge-nf-call-iptables", "net.bridge.bridge-nf-call-iptables = 1"))
	}
	return out
}

func readSysctl(name string) (string, error) {
	b, err := os.ReadFile(filepath.Join("/proc/sys", name))
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", strings.ReplaceAll(name, "/", "."), err)
	}
	return strings.TrimSpace(string(b)), nil
}

// lookTool finds a tool in PATH, or in /usr/sbin or /sbin (root's tools
// are often not in a user's PATH).
func lookTool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s is not installed (not in PATH, /usr/sbin or /sbin)", name)
}
