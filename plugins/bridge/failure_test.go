package bridge

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/plugins/pkg/testutils"
	"github.com/hashicorp/go-hclog"
	"github.com/vishvananda/netlink"

	"github.com/weirnet/weir/internal/sandbox"
	"github.com/weirnet/weir/plugins/pluginkit"
)

// TestBadIPAMConfigTouchesNothing: an ADD whose IPAM section host-local
// refuses is refused before the bridge is made, for every CNI version;
// CheckConfig refuses it the same way without running anything.
func TestBadIPAMConfigTouchesNothing(t *testing.T) {
	for i, ver := range testutils.AllSpecVersions {
		t.Run(ver, func(t *testing.T) {
			h := newHarness(t)
			o := h.newNet(fmt.Sprintf("badipam%d", i), fmt.Sprintf("brbadipam%d", i), "banana")
			o.extra = `"isGateway":true,"ipMasq":true,`
			conf := o.conf(ver)
			netns := sandbox.NewNS(t)
			_, err := h.call("ADD", conf, "ctr-1", netns.Path(), "eth0")
			if err == nil || cniError(t, err).Code != types.ErrInvalidNetworkConfig || !strings.Contains(err.Error(), "subnet") {
				t.Fatalf("ADD with subnet banana: %v, want code 7 naming the subnet", err)
			}
			if sandbox.HasLink(t, nil, o.bridge) {
				t.Error("the refused ADD made the bridge")
			}
			if ents, _ := os.ReadDir(o.dataDir); len(ents) != 0 {
				t.Errorf("the refused ADD wrote the address store: %v", ents)
			}
			args := &skel.CmdArgs{ContainerID: "ctr-1", Netns: netns.Path(), IfName: "eth0", Path: h.Path, StdinData: conf}
			env := &pluginkit.Env{Exec: h.Exec, Log: hclog.NewNullLogger()}
			if err := New().CheckConfig(context.Background(), env, args); err == nil || !strings.Contains(err.Error(), "subnet") {
				t.Errorf("CheckConfig: %v, want the subnet refused", err)
			}
			o.subnet = fmt.Sprintf("10.15.%d.0/24", i)
			args.StdinData = o.conf(ver)
			if err := New().CheckConfig(context.Background(), env, args); err != nil {
				t.Errorf("CheckConfig of a good configuration: %v", err)
			}
			if sandbox.HasLink(t, nil, o.bridge) {
				t.Error("CheckConfig made the bridge")
			}
		})
	}
}

// TestFailedAddRemovesOnlyTheBridgeItMade: an IPAM plugin that runs out of
// process cannot be checked beforehand and refuses the ADD after the bridge
// exists. A bridge this ADD made goes with the failed ADD; a bridge that
// was there before stays.
func TestFailedAddRemovesOnlyTheBridgeItMade(t *testing.T) {
	h := newHarness(t)
	dir := t.TempDir()
	script := "#!/bin/sh\ncat >/dev/null\n[ \"$CNI_COMMAND\" = ADD ] || exit 0\n" +
		`echo '{"cniVersion":"1.0.0","code":7,"msg":"fail-ipam refuses"}'; exit 1` + "\n"
	if err := os.WriteFile(filepath.Join(dir, "fail-ipam"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	h.Path += ":" + dir
	conf := func(bridge string) []byte {
		return []byte(fmt.Sprintf(`{"cniVersion":"1.1.0","name":"failipam","type":"bridge","bridge":%q,"isGateway":true,"ipam":{"type":"fail-ipam"}}`, bridge))
	}
	netns := sandbox.NewNS(t)

	sandbox.CleanupLink(t, "brfailnew")
	_, err := h.call("ADD", conf("brfailnew"), "ctr-1", netns.Path(), "eth0")
	if err == nil || !strings.Contains(err.Error(), "fail-ipam refuses") {
		t.Fatalf("ADD: %v, want the IPAM plugin's refusal", err)
	}
	if sandbox.HasLink(t, nil, "brfailnew") {
		t.Error("the failed ADD left the bridge it made")
	}
	if sandbox.HasLink(t, nil, hostVeth("failipam", "ctr-1")) || sandbox.HasLink(t, netns, "eth0") {
		t.Error("the failed ADD left its veth")
	}

	sandbox.CleanupLink(t, "brfailold")
	if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "brfailold"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.call("ADD", conf("brfailold"), "ctr-1", netns.Path(), "eth0"); err == nil {
		t.Fatal("ADD succeeded")
	}
	if !sandbox.HasLink(t, nil, "brfailold") {
		t.Error("the failed ADD deleted a bridge that was there before it")
	}
}
