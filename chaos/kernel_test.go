package chaos

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os/exec"
	"regexp"
	"sort"
	"strings"

	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
)

// link is one network interface as ip(8) shows it.
type link struct {
	Name   string
	Kind   string // veth, bridge, macvlan, ... ("" for lo)
	Master string
	Up     bool
	Addrs  []netip.Prefix
}

func (l link) String() string {
	s := l.Name + " " + l.Kind
	if l.Master != "" {
		s += " master " + l.Master
	}
	if l.Up {
		s += " up"
	}
	for _, a := range l.Addrs {
		s += " " + a.String()
	}
	return s
}

// hostLinks lists the sandbox's own links with their addresses.
func hostLinks() ([]link, error) {
	out, err := exec.Command("ip", "-d", "-j", "addr", "show").Output()
	if err != nil {
		return nil, fmt.Errorf("ip -d -j addr show: %w", err)
	}
	var raw []struct {
		IfName   string   `json:"ifname"`
		Flags    []string `json:"flags"`
		Master   string   `json:"master"`
		LinkInfo struct {
			Kind string `json:"info_kind"`
		} `json:"linkinfo"`
		AddrInfo []struct {
			Local     string `json:"local"`
			PrefixLen int    `json:"prefixlen"`
		} `json:"addr_info"`
	}
	if err := json.Unmarshal(out, &raw); err != nil {
		return nil, fmt.Errorf("decoding ip -j output: %w", err)
	}
	var links []link
	for _, r := range raw {
		l := link{Name: r.IfName, Kind: r.LinkInfo.Kind, Master: r.Master}
		for _, f := range r.Flags {
			if f == "UP" {
				l.Up = true
			}
		}
		for _, a := range r.AddrInfo {
			if ip, err := netip.ParseAddr(a.Local); err == nil {
				l.Addrs = append(l.Addrs, netip.PrefixFrom(ip, a.PrefixLen))
			}
		}
		links = append(links, l)
	}
	return links, nil
}

// nsLinks lists the links and addresses inside the namespace at path.
func nsLinks(path string) ([]link, error) {
	var links []link
	err := ns.WithNetNSPath(path, func(ns.NetNS) error {
		ls, err := netlinksafe.LinkList()
		if err != nil {
			return err
		}
		for _, nl := range ls {
			a := nl.Attrs()
			l := link{Name: a.Name, Kind: nl.Type(), Up: a.Flags&1 != 0}
			addrs, err := netlinksafe.AddrList(nl, netlink.FAMILY_ALL)
			if err != nil {
				return err
			}
			for _, ad := range addrs {
				if ip, ok := netip.AddrFromSlice(ad.IP); ok {
					ones, _ := ad.Mask.Size()
					l.Addrs = append(l.Addrs, netip.PrefixFrom(ip.Unmap(), ones))
				}
			}
			links = append(links, l)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("links in %s: %w", path, err)
	}
	return links, nil
}

// inNS prefixes a command with nsenter into the namespace at path ("" is
// the sandbox's own).
func inNS(path string, args ...string) *exec.Cmd {
	if path == "" {
		return exec.Command(args[0], args[1:]...)
	}
	return exec.Command("nsenter", append([]string{"--net=" + path}, args...)...)
}

// ruleLine is one rule of an iptables-save dump.
type ruleLine struct {
	Family, Table, Chain, Rule string
}

func (r ruleLine) String() string { return r.Family + "/" + r.Table + " -A " + r.Chain + " " + r.Rule }

// iptables is both families' iptables-save of a namespace.
type iptables struct {
	Rules  []ruleLine
	Chains map[string]bool // family/table/chain of every user chain
}

var counters = regexp.MustCompile(`\[\d+:\d+\]`)

// saveIPTables reads every table of both families in the namespace at path.
func saveIPTables(path string) (*iptables, error) {
	ipt := &iptables{Chains: map[string]bool{}}
	for _, fam := range []string{"ipv4", "ipv6"} {
		tool := "iptables-save"
		if fam == "ipv6" {
			tool = "ip6tables-save"
		}
		out, err := inNS(path, tool).Output()
		if err != nil {
			return nil, fmt.Errorf("%s in %q: %w", tool, path, err)
		}
		table := ""
		for _, l := range strings.Split(string(out), "\n") {
			switch {
			case strings.HasPrefix(l, "*"):
				table = l[1:]
			case strings.HasPrefix(l, ":"):
				name := strings.Fields(l[1:])[0]
				if !isBuiltin(name) {
					ipt.Chains[fam+"/"+table+"/"+name] = true
				}
			case strings.HasPrefix(l, "-A "):
				chain, rule, _ := strings.Cut(l[3:], " ")
				ipt.Rules = append(ipt.Rules, ruleLine{Family: fam, Table: table, Chain: chain, Rule: rule})
			}
		}
	}
	return ipt, nil
}

// normalized renders a dump for comparison: no counters, sorted chains.
func (ipt *iptables) normalized() []string {
	var out []string
	for c := range ipt.Chains {
		out = append(out, "chain "+c)
	}
	sort.Strings(out)
	for _, r := range ipt.Rules {
		out = append(out, counters.ReplaceAllString(r.String(), ""))
	}
	return out
}

func isBuiltin(chain string) bool {
	switch chain {
	case "INPUT", "OUTPUT", "FORWARD", "PREROUTING", "POSTROUTING":
		return true
	}
	return false
}

var commentRE = regexp.MustCompile(`--comment (?:"([^"]*)"|(\S+))`)

// comment returns the rule's comment.
func (r ruleLine) comment() string {
	m := commentRE.FindStringSubmatch(r.Rule)
	if m == nil {
		return ""
	}
	return m[1] + m[2]
}

// owner reads the net=, id= and if= words of a rule's comment.
func (r ruleLine) owner() (network, id, ifName string) {
	for _, f := range strings.Fields(r.comment()) {
		switch {
		case strings.HasPrefix(f, "net="):
			network = f[4:]
		case strings.HasPrefix(f, "id="):
			id = f[3:]
		case strings.HasPrefix(f, "if="):
			ifName = f[3:]
		}
	}
	return network, id, ifName
}

var jumpRE = regexp.MustCompile(`-[jg] (WEIR-\S+)`)

// target returns the weir chain a rule jumps or goes to.
func (r ruleLine) target() string {
	if m := jumpRE.FindStringSubmatch(r.Rule); m != nil {
		return m[1]
	}
	return ""
}

// ipset is one set of `ipset save`.
type ipset struct {
	Name    string
	Header  string
	Members []string
}

// saveIPSets reads the ipsets of the namespace at path.
func saveIPSets(path string) (map[string]*ipset, error) {
	out, err := inNS(path, "ipset", "save").Output()
	if err != nil {
		return nil, fmt.Errorf("ipset save in %q: %w", path, err)
	}
	sets := map[string]*ipset{}
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "create":
			// Drop the hash seed (initval), which differs per creation.
			var hdr []string
			for i := 2; i < len(f); i++ {
				if f[i] == "initval" {
					i++
					continue
				}
				hdr = append(hdr, f[i])
			}
			sets[f[1]] = &ipset{Name: f[1], Header: strings.Join(hdr, " ")}
		case "add":
			if s := sets[f[1]]; s != nil && len(f) > 2 {
				s.Members = append(s.Members, f[2])
			}
		}
	}
	for _, s := range sets {
		sort.Strings(s.Members)
	}
	return sets, nil
}
