// Command weir-demo is `make demo`: inside the sandbox, it builds the
// configs/ networks (a flannel overlay and a macvlan LAN) and policy, starts
// four containers — real processes in their own namespaces, each running a
// small TCP service — with DC/OS-style labels, attaches them with the weir
// CLI, and shows the status table, the connection matrix measured with real
// connects beside the verdicts the policy files give, a policy edit and the
// matrix after it, a published port reached through the host port, and the
// teardown leaving nothing behind.
package main

import (
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		os.Exit(serveMain(os.Args[2:]))
	}
	if os.Getenv("WEIR_SANDBOX") != "1" {
		fmt.Fprintln(os.Stderr, "weir-demo runs inside the sandbox: make demo (or scripts/sandbox bin/weir-demo)")
		os.Exit(2)
	}
	self, _ := os.Executable()
	d := &demo{bin: filepath.Dir(self), root: "/run/demo", repo: os.Getenv("WEIR_REPO")}
	if err := d.run(); err != nil {
		fmt.Fprintf(os.Stderr, "demo failed: %v\n", err)
		d.teardown()
		os.Exit(1)
	}
}
