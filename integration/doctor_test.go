package integration

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

type doctorReport struct {
	OK     bool `json:"ok"`
	Checks []struct {
		Name, Status, Detail, Fix string
	} `json:"checks"`
}

func (r doctorReport) status(name string) string {
	for _, c := range r.Checks {
		if c.Name == name {
			return c.Status
		}
	}
	return "missing"
}

// TestDoctor: in the sandbox, after `make build` and with bin/ as the plugin
// dir, every check passes; the kernel checks leave no link behind; a bad
// definition file, a missing plugin and a missing flannel subnet file are
// each reported with their fix, and make doctor exit 1.
func TestDoctor(t *testing.T) {
	bin := binDir(t)
	netd, state, policies := t.TempDir(), t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(netd, "10-mynet.conf"), seedMynetBridge)
	writeFile(t, filepath.Join(netd, "99-loopback.conf"), seedLoopback)
	flags := []string{"--conf-dir", netd, "--plugin-dir", bin, "--state-dir", state, "--policy-dir", policies}
	linksBefore := linkNames(t)

	out, stderr, err := weirCLI(t, bin, append([]string{"doctor", "--json"}, flags...)...)
	if err != nil {
		t.Fatalf("weir doctor on a good host: %v\n%s%s", err, out, stderr)
	}
	var rep doctorReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("weir doctor --json printed %q: %v", out, err)
	}
	if !rep.OK {
		t.Errorf("weir doctor: not ok:\n%s", out)
	}
	for _, name := range []string{"root", "network namespaces", "veth", "bridge", "macvlan", "br_netfilter", "bridge-nf-call-iptables",
		"iptables backend", "iptables-restore", "ipset", "plugin dir", "network definitions", "policy files"} {
		if s := rep.status(name); s != "ok" {
			t.Errorf("check %q: %s, want ok\n%s", name, s, out)
		}
	}
	if s := rep.status("ip_forward"); s != "ok" && s != "warn" {
		t.Errorf("check ip_forward: %s", s)
	}
	if linksAfter := linkNames(t); linksAfter != linksBefore {
		t.Errorf("weir doctor changed the links of the namespace it runs in:\nbefore:\n%s\nafter:\n%s", linksBefore, linksAfter)
	}
	if ents, _ := os.ReadDir(state); len(ents) != 0 {
		t.Errorf("weir doctor left files in the state dir: %v", ents)
	}
	out, _, err = weirCLI(t, bin, append([]string{"doctor"}, flags...)...)
	if err != nil || !regexp.MustCompile(`(?m)^STATUS\s+CHECK\s+DETAIL$`).MatchString(out) || !regexp.MustCompile(`(?m)^ok\s+macvlan\s+created and deleted a macvlan$`).MatchString(out) {
		t.Errorf("weir doctor for people: %v\n%s", err, out)
	}

	// Problems: a file that does not parse, a plugin that is not there, and
	// a flannel network whose subnet file flanneld never wrote.
	writeFile(t, filepath.Join(netd, "20-bad.conf"), `{"name": "bad", "type": `)
	writeFile(t, filepath.Join(netd, "30-other.conf"), `{"cniVersion": "1.0.0", "name": "other", "type": "nosuchplugin"}`)
	subnetFile := filepath.Join(state, "subnet.env")
	writeFile(t, filepath.Join(netd, "40-flan.conf"), `{"cniVersion": "1.0.0", "name": "flan", "type": "flannel", "subnetFile": "`+subnetFile+`"}`)
	out, _, err = weirCLI(t, bin, append([]string{"doctor"}, flags...)...)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Errorf("weir doctor with problems: %v, want exit 1\n%s", err, out)
	}
	for _, want := range []string{
		`(?m)^FAIL\s+network definitions\s+1 file\(s\) in .* do not load`,
		`(?m)^\s+FAIL network definitions: 1 file\(s\) in \S+ do not load:\n\s+\S*/20-bad.conf:1:\d+: .*\n\s+fix: correct or remove the file\(s\) named above; ` + "`weir networks validate ",
		`(?m)^FAIL\s+plugin dir\s+the networks use plugins missing from \S+: nosuchplugin$`,
		`(?m)^\s+fix: weir install-plugins `,
		`(?m)^FAIL\s+flannel subnet.env \(flan\)\s+.*` + regexp.QuoteMeta(subnetFile),
		`(?m)^\s+fix: start flanneld on this host \(it writes ` + regexp.QuoteMeta(subnetFile) + `\)`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("weir doctor with problems printed:\n%s\nwant a match for %s", out, want)
		}
	}
	out, _, _ = weirCLI(t, bin, append([]string{"doctor", "--json"}, flags...)...)
	rep = doctorReport{}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.OK || rep.status("network definitions") != "FAIL" || rep.status("veth") != "ok" {
		t.Errorf("weir doctor --json with problems:\n%s", out)
	}
	for _, c := range rep.Checks {
		if c.Status == "FAIL" && (c.Fix == "" || c.Detail == "") {
			t.Errorf("failed check %q has no detail or fix", c.Name)
		}
	}

	// flanneld writes its lease: that check passes.
	writeFile(t, subnetFile, seedSubnetEnv)
	out, _, _ = weirCLI(t, bin, append([]string{"doctor", "--json"}, flags...)...)
	rep = doctorReport{}
	_ = json.Unmarshal([]byte(out), &rep)
	if s := rep.status("flannel subnet.env (flan)"); s != "ok" {
		t.Errorf("flannel check with subnet.env written: %s\n%s", s, out)
	}
	if strings.Contains(out, `"status": "FAIL"`) && rep.status("network definitions") != "FAIL" {
		t.Errorf("unexpected failures:\n%s", out)
	}
}

// linkNames lists the links of the namespace the test runs in, by name
// (their states change on their own as earlier tests' bridges lose carrier).
func linkNames(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("ip", "-o", "link").Output()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(l); len(f) > 1 {
			names = append(names, f[1])
		}
	}
	return strings.Join(names, " ")
}
