package portmap_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weirnet/weir/internal/sandbox"
	"github.com/weirnet/weir/plugins/portmap"
)

// olderWeir writes, in family v6's nat table, the rules an older weir made
// for attachment id of network (address addr, host port 8090 to 80): its
// DNAT chain, its own masquerade chain and the jumps to both, and the
// shared chains with their hooks when missing.
func olderWeir(t *testing.T, network, id, addr string, v6 bool) {
	t.Helper()
	dn, sn := portmap.Chains(network, id, "eth0")
	comment := fmt.Sprintf(`-m comment --comment "weir: net=%s id=%s if=eth0"`, network, id)
	tool, host, to := "iptables-restore", "/32", addr+":80"
	if v6 {
		tool, host, to = "ip6tables-restore", "/128", "["+addr+"]:80"
	}
	var b strings.Builder
	b.WriteString("*nat\n")
	if !nat(t, v6).Has(":WEIR-HOSTPORTS ") {
		b.WriteString(":WEIR-HOSTPORTS - [0:0]\n:WEIR-HOSTPORTS-MASQ - [0:0]\n")
		for _, h := range hookLines {
			b.WriteString(h + "\n")
		}
	}
	fmt.Fprintf(&b, ":%s - [0:0]\n:%s - [0:0]\n", dn, sn)
	fmt.Fprintf(&b, "-A WEIR-HOSTPORTS %s -j %s\n-A WEIR-HOSTPORTS-MASQ %s -j %s\n", comment, dn, comment, sn)
	fmt.Fprintf(&b, "-A %s -p tcp -m tcp --dport 8090 %s -j DNAT --to-destination %s\n", dn, comment, to)
	fmt.Fprintf(&b, "-A %s -s %s%s -d %s%s -p tcp -m tcp --dport 80 %s -j MASQUERADE\n", sn, addr, host, addr, host, comment)
	b.WriteString("COMMIT\n")
	cmd := exec.Command(tool, "--noflush")
	cmd.Stdin = strings.NewReader(b.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s\n%s", tool, err, out, b.String())
	}
}

// A host upgraded with ports published by an older weir: an attachment of
// this weir is added beside them (the masquerade chain exists without its
// shared rules, which the ADD adds), the older attachment's DEL removes
// its own masquerade chain from iptables-save without touching the new
// one's, and the last DEL leaves nothing.
func TestOlderWeirAttachment(t *testing.T) {
	sandbox.Require(t)
	out := newOutside(t)
	l := newLab(t, "1.1.0", 54, "", false)
	const oldIP4, oldIP6 = "10.66.54.99", "fd00:66:54::99"
	olderWeir(t, l.name, "old", oldIP4, false)
	olderWeir(t, l.name, "old", oldIP6, true)
	rec := fmt.Sprintf(`{"network":%q,"containerID":"old","ifName":"eth0","mappings":[{"hostPort":8090,"containerPort":80,"protocol":"tcp"}],"addresses":[%q,%q],"snat":true}`,
		l.name, oldIP4, oldIP6)
	if err := os.MkdirAll(filepath.Join(l.stateDir, l.name), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(l.stateDir, l.name, "old:eth0.json"), []byte(rec), 0o600); err != nil {
		t.Fatal(err)
	}

	c := l.add("new", web)
	publishedOnce(t, l, c, 8080)
	reach(t, "the new attachment from outside", out, hp(hostIP4, 8080), "new saw "+outIP4)
	reach(t, "the new attachment's hairpin", c.ns, hp(l.gw4, 8080), "new saw "+l.gw4)
	reach(t, "the new attachment's IPv6 hairpin", c.ns, hp(l.gw6, 8080), "new saw "+l.gw6)

	if _, err := l.invoke("DEL", "old", l.portmapConf("")); err != nil {
		t.Fatalf("DEL of the older weir's attachment: %v", err)
	}
	dn, sn := portmap.Chains(l.name, "old", "eth0")
	for _, v6 := range []bool{false, true} {
		if r := nat(t, v6); r.Has(dn) || r.Has(sn) || r.Has("id=old ") {
			t.Errorf("the older weir's attachment outlives its DEL (v6 %v):\n%s", v6, r)
		}
	}
	publishedOnce(t, l, c, 8080)
	reach(t, "the new attachment's hairpin after the older one's DEL", c.ns, hp(l.gw4, 8080), "new saw "+l.gw4)
	reach(t, "the new attachment from 127.0.0.1", nil, hp("127.0.0.1", 8080), "new saw "+l.gw4)

	if err := l.detach(c); err != nil {
		t.Fatal(err)
	}
	noChainsLeft(t)
	if recs := l.records(); len(recs) != 0 {
		t.Errorf("records left: %v", recs)
	}
}

// The last attachment of an older weir goes with the shared chains, and
// GC finds one whose record is lost by its comments.
func TestOlderWeirAttachmentAlone(t *testing.T) {
	sandbox.Require(t)
	l := newLab(t, "1.1.0", 55, "", false)
	olderWeir(t, l.name, "lost", "10.66.55.99", false)
	olderWeir(t, l.name, "lost", "fd00:66:55::99", true)
	conf := l.portmapConf(`,"cni.dev/valid-attachments":[]`)
	if _, err := l.invoke("GC", "", conf); err != nil {
		t.Fatalf("GC: %v", err)
	}
	noChainsLeft(t)
}
