package isolator

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/containernetworking/cni/libcni"
	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/weirnet/weir/internal/atomicfile"
)

// HostResolvConf is the host's resolver configuration, the last fallback
// for a container's resolv.conf.
const HostResolvConf = "/etc/resolv.conf"

// writeFiles writes the container's hosts, hostname and resolv.conf: DNS
// from the networks' results in order, else the host's resolv.conf.
func (iso *Isolator) writeFiles(id string, cfg *ContainerConfig) error {
	st, err := iso.Status(id)
	if err != nil {
		return err
	}
	hostname := id
	if len(hostname) > 63 {
		hostname = hostname[:63]
	}
	if cfg.ContainerInfo != nil && cfg.ContainerInfo.Hostname != "" {
		hostname = cfg.ContainerInfo.Hostname
	}
	var hosts bytes.Buffer
	hosts.WriteString("127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n")
	for _, n := range st.NetworkInfos {
		for _, a := range n.IPAddresses {
			fmt.Fprintf(&hosts, "%s %s\n", a.IPAddress, hostname)
		}
	}
	resolv, err := iso.resolvConf(id, st)
	if err != nil {
		return err
	}
	// hosts last: recovery takes its presence for "the files are written".
	for _, f := range []struct {
		name string
		data []byte
	}{{"hostname", []byte(hostname + "\n")}, {"resolv.conf", resolv}, {"hosts", hosts.Bytes()}} {
		if err := atomicfile.WriteFile(filepath.Join(iso.dir(id), f.name), f.data, 0o644); err != nil {
			return fmt.Errorf("writing %s of %s: %w", f.name, id, err)
		}
	}
	return nil
}

// resolvConf renders the DNS the networks' results carry, or the host's
// resolver configuration when none does.
func (iso *Isolator) resolvConf(id string, st *ContainerStatus) ([]byte, error) {
	var servers, search, options []string
	var domain string
	for _, n := range st.NetworkInfos {
		_, res, err := iso.Runner.Result(id, n.Name)
		if err != nil || res == nil {
			continue
		}
		cur, err := current.NewResultFromResult(res)
		if err != nil {
			continue
		}
		servers = appendNew(servers, cur.DNS.Nameservers...)
		search = appendNew(search, cur.DNS.Search...)
		options = appendNew(options, cur.DNS.Options...)
		if domain == "" {
			domain = cur.DNS.Domain
		}
	}
	if len(servers) == 0 {
		servers, search, domain = iso.defaultDNS(id, st)
	}
	if len(servers) == 0 {
		host, err := os.ReadFile(HostResolvConf)
		if err != nil {
			return []byte("# no DNS from the networks, and the host has no " + HostResolvConf + "\n"), nil
		}
		return host, nil
	}
	var b bytes.Buffer
	b.WriteString("# written by weir from the networks' DNS\n")
	for _, s := range servers {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	if domain != "" {
		fmt.Fprintf(&b, "domain %s\n", domain)
	}
	if len(search) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(search, " "))
	}
	if len(options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(options, " "))
	}
	return b.Bytes(), nil
}

func appendNew(list []string, items ...string) []string {
	for _, it := range items {
		found := false
		for _, l := range list {
			if l == it {
				found = true
			}
		}
		if !found {
			list = append(list, it)
		}
	}
	return list
}

// defaultDNS returns the "dns" a network's definition gives, as recorded
// when the container attached, for networks whose plugins returned none.
func (iso *Isolator) defaultDNS(id string, st *ContainerStatus) (servers, search []string, domain string) {
	for _, n := range st.NetworkInfos {
		rec, _, err := iso.Runner.Result(id, n.Name)
		if err != nil {
			continue
		}
		list, err := libcni.ConfListFromBytes(rec.Config)
		if err != nil {
			continue
		}
		for _, p := range list.Plugins {
			servers = appendNew(servers, p.Network.DNS.Nameservers...)
			search = appendNew(search, p.Network.DNS.Search...)
			if domain == "" {
				domain = p.Network.DNS.Domain
			}
		}
	}
	return servers, search, domain
}

// validateHostname accepts an RFC 1123 host name: dot-separated labels of
// letters, digits and '-', 1-63 characters each, not starting or ending
// with '-', 253 characters at most. It goes into /etc/hosts and
// /etc/hostname, where anything else (a newline above all) would forge
// entries.
func validateHostname(name string) error {
	if len(name) > 253 {
		return fmt.Errorf("host name %q is %d characters long, the limit is 253", name, len(name))
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("invalid host name %q: each dot-separated label must be 1-63 characters, not starting or ending with '-'", name)
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return fmt.Errorf("invalid host name %q: %q is not a letter, digit or '-'", name, r)
			}
		}
	}
	return nil
}
