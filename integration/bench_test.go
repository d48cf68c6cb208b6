package integration

import (
	"fmt"
	"testing"

	"github.com/weirnet/weir/internal/sandbox"
	"github.com/weirnet/weir/plugins/pluginkit"
)

// BenchmarkBridgeAddDel measures ADD+DEL of one container on the seed's
// bridge network shape (bridge + host-local, ipMasq), three ways in one run:
// the reference plugins v1.10.0 exec'd (bridge execs host-local), weir's
// binary exec'd (host-local runs inside it), and weir fully in-process (what
// weir's own runner does).
func BenchmarkBridgeAddDel(b *testing.B) {
	bin, ref := binDir(b), refDir(b)
	variants := []struct {
		name string
		path string
		exec *pluginkit.Exec
	}{
		{"reference", ref, execer()},
		{"weir-exec", bin, execer()},
		{"weir-in-process", bin, inProcess(bin)},
	}
	for i, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			conf := []byte(fmt.Sprintf(`{"cniVersion":"1.0.0","name":"bench%d","type":"bridge","bridge":"bench%d","isGateway":true,"ipMasq":true,
			  "ipam":{"type":"host-local","subnet":"10.%d.0.0/16","dataDir":"/run/bench-ipam","routes":[{"dst":"0.0.0.0/0"}]}}`, i, i, 60+i))
			n := sandbox.NewNS(b)
			call := sandbox.Call{Type: "bridge", Path: v.path, ContainerID: "bench", NetNS: n.Path(), Conf: conf}
			b.ResetTimer()
			for j := 0; j < b.N; j++ {
				call.Command = "ADD"
				if _, err := sandbox.Invoke(ctx(b), v.exec, call); err != nil {
					b.Fatalf("ADD: %v", err)
				}
				call.Command = "DEL"
				if _, err := sandbox.Invoke(ctx(b), v.exec, call); err != nil {
					b.Fatalf("DEL: %v", err)
				}
			}
		})
	}
}
