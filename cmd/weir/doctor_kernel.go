package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"

	"github.com/weirnet/weir/internal/netns"
	"github.com/weirnet/weir/plugins/flannel"
	"github.com/weirnet/weir/policy/dataplane"
)

// checkKernelLinks creates a throwaway network namespace (pinned under the
// state dir while the checks run) and, inside it only, a veth pair, a
// bridge and a macvlan on the veth: the link kinds weir's plugins make.
// Nothing is created in the host's namespace, and the namespace goes away
// with everything in it.
func checkKernelLinks(stateDir string) []check {
	dir, err := os.MkdirTemp(stateDir, ".doctor-")
	if err != nil {
		if os.MkdirAll(stateDir, 0o755) == nil {
			dir, err = os.MkdirTemp(stateDir, ".doctor-")
		}
	}
	if err != nil {
		return []check{failure("network namespaces", fmt.Sprintf("creating a directory under %s: %v", stateDir, err), "run as root, or give a writable --state-dir")}
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "ns")
	if err := netns.Create(path); err != nil {
		return []check{
			failure("network namespaces", err.Error(), "run as root, on a kernel with CONFIG_NET_NS"),
			{Name: "veth", Status: checkSkip, Detail: "needs a network namespace"},
			{Name: "bridge", Status: checkSkip, Detail: "needs a network namespace"},
			{Name: "macvlan", Status: checkSkip, Detail: "needs a network namespace"},
		}
	}
	defer netns.Remove(path)
	out := []check{pass("network namespaces", "created a throwaway namespace")}
	err = ns.WithNetNSPath(path, func(ns.NetNS) error {
		out = append(out, linkChecks()...)
		return nil
	})
	if err != nil {
		out = append(out, failure("veth", "entering the throwaway namespace: "+err.Error(), "run as root"))
	}
	return out
}

// linkChecks runs inside the throwaway namespace.
func linkChecks() []check {
	var out []check
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "doctor0"}, PeerName: "doctor1"}
	var parent netlink.Link
	if err := netlink.LinkAdd(veth); err != nil {
		out = append(out, failure("veth", "creating a veth pair: "+err.Error(), "modprobe veth (CONFIG_VETH); bridge networks need it"))
	} else {
		out = append(out, pass("veth", "created and deleted a veth pair"))
		parent, _ = netlink.LinkByName("doctor0")
	}
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "doctorbr0"}}
	if err := netlink.LinkAdd(br); err != nil {
		out = append(out, failure("bridge", "creating a bridge: "+err.Error(), "modprobe bridge (CONFIG_BRIDGE); bridge and flannel networks need it"))
	} else {
		_ = netlink.LinkDel(br)
		out = append(out, pass("bridge", "created and deleted a bridge"))
	}
	if parent == nil {
		dummy := &netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: "doctordum0"}}
		if err := netlink.LinkAdd(dummy); err == nil {
			parent, _ = netlink.LinkByName("doctordum0")
		}
	}
	if parent == nil {
		out = append(out, check{Name: "macvlan", Status: checkSkip, Detail: "no link to put a macvlan on (veth and dummy both failed)"})
	} else {
		mv := &netlink.Macvlan{LinkAttrs: netlink.LinkAttrs{Name: "doctormv0", ParentIndex: parent.Attrs().Index}, Mode: netlink.MACVLAN_MODE_BRIDGE}
		if err := netlink.LinkAdd(mv); err != nil {
			out = append(out, failure("macvlan", "creating a macvlan: "+err.Error(), "modprobe macvlan (CONFIG_MACVLAN); macvlan networks need it"))
		} else {
			_ = netlink.LinkDel(mv)
			out = append(out, pass("macvlan", "created and deleted a macvlan"))
		}
		_ = netlink.LinkDel(parent)
	}
	return out
}

// checkIptables detects the iptables backend as the policy dataplane does,
// and looks for the tools it runs.
func checkIptables(ctx context.Context) []check {
	var out []check
	b, err := dataplane.DetectBackend(ctx)
	if err != nil {
		out = append(out, failure("iptables backend", err.Error(), "install iptables (apt-get install iptables)"))
	} else {
		c := pass("iptables backend", string(b))
		if _, err := dataplane.NewExecRunner(b); err != nil {
			c = failure("iptables backend", fmt.Sprintf("%s, but its tools are missing: %v", b, err), "install iptables and ipset (apt-get install iptables ipset)")
		}
		out = append(out, c)
	}
	for _, tool := range []string{"iptables-restore", "ipset"} {
		if p, err := lookTool(tool); err != nil {
			out = append(out, failure(tool, err.Error(), "apt-get install "+map[string]string{"iptables-restore": "iptables", "ipset": "ipset"}[tool]))
		} else {
			out = append(out, pass(tool, p))
		}
	}
	return out
}

// checkPluginDirs checks that the plugin path holds weir's plugins, or at
// least every plugin type the defined networks use (the chain's types, their
// ipam types, and flannel's delegate).
func checkPluginDirs(path []string, d doctorDefs, ownTypes []string) check {
	const name = "plugin dir"
	dirs := strings.Join(path, ":")
	var existing []string
	for _, dir := range path {
		if st, err := os.Stat(dir); err == nil && st.IsDir() {
			existing = append(existing, dir)
		}
	}
	install := "weir install-plugins " + firstOr(path, "/opt/cni/bin")
	if len(existing) == 0 {
		return failure(name, fmt.Sprintf("no plugin directory: %s does not exist", dirs), install+" (links weir's plugins there), or point --plugin-dir / CNI_PATH at them")
	}
	found := func(typ string) bool {
		for _, dir := range existing {
			if st, err := os.Stat(filepath.Join(dir, typ)); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
				return true
			}
		}
		return false
	}
	var missingUsed, missingOwn []string
	for _, t := range usedTypes(d) {
		if !found(t) {
			missingUsed = append(missingUsed, t)
		}
	}
	for _, t := range ownTypes {
		if !found(t) {
			missingOwn = append(missingOwn, t)
		}
	}
	if len(missingUsed) > 0 {
		return failure(name, fmt.Sprintf("the networks use plugins missing from %s: %s", dirs, strings.Join(missingUsed, ", ")),
			install+" for weir's own ("+strings.Join(ownTypes, ", ")+"); install any other plugin there")
	}
	if len(missingOwn) > 0 {
		return pass(name, fmt.Sprintf("%s holds every plugin the networks use (not weir's %s)", dirs, strings.Join(missingOwn, ", ")))
	}
	return pass(name, dirs+" holds weir's plugins")
}

func firstOr(list []string, def string) string {
	if len(list) > 0 {
		return list[0]
	}
	return def
}

// usedTypes lists the plugin types the defined networks need, sorted.
func usedTypes(d doctorDefs) []string {
	seen := map[string]bool{}
	for _, def := range d.definitions() {
		for _, p := range def.Plugins {
			seen[p.Type] = true
			var conf struct {
				IPAM *struct {
					Type string `json:"type"`
				} `json:"ipam"`
				Delegate *struct {
					Type string `json:"type"`
				} `json:"delegate"`
			}
			if json.Unmarshal(p.Bytes, &conf) != nil {
				continue
			}
			if conf.IPAM != nil && conf.IPAM.Type != "" {
				seen[conf.IPAM.Type] = true
			}
			if p.Type == "flannel" {
				delegate := "bridge"
				if conf.Delegate != nil && conf.Delegate.Type != "" {
					delegate = conf.Delegate.Type
				}
				seen[delegate], seen["host-local"] = true, true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for t := range seen {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// checkFlannel checks, for every flannel network, that flanneld's subnet
// file is there and valid.
func checkFlannel(d doctorDefs) []check {
	var out []check
	for _, def := range d.definitions() {
		for _, p := range def.Plugins {
			if p.Type != "flannel" {
				continue
			}
			var conf struct {
				SubnetFile string `json:"subnetFile"`
			}
			_ = json.Unmarshal(p.Bytes, &conf)
			file := conf.SubnetFile
			if file == "" {
				file = flannel.DefaultSubnetFile
			}
			name := "flannel subnet.env (" + def.Name + ")"
			if _, err := flannel.LoadSubnetEnv(file); err != nil {
				out = append(out, failure(name, err.Error(),
					fmt.Sprintf("start flanneld on this host (it writes %s), or set subnetFile in network %s's flannel plugin to where it writes it", file, def.Name)))
			} else {
				out = append(out, pass(name, file))
			}
		}
	}
	return out
}
