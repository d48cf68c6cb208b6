package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
)

// concAtOnce runs fn(i) for i in 0..n-1 in n goroutines released together
// and returns when all have returned, with their errors (the first few).
func concAtOnce(n int, fn func(i int) error) error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = fn(i)
		}()
	}
	close(start)
	wg.Wait()
	var out []error
	failed := 0
	for i, err := range errs {
		if err != nil {
			failed++
			if len(out) < 3 {
				out = append(out, fmt.Errorf("container %d: %w", i, err))
			}
		}
	}
	if failed > len(out) {
		out = append(out, fmt.Errorf("and %d more failed", failed-len(out)))
	}
	return errors.Join(out...)
}

// concRun runs a command with a timeout and returns its stdout.
func concRun(env []string, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s %s: %w: %s", filepath.Base(name), args[0], err, concHead(errb.String()+out.String(), 5))
	}
	return out.Bytes(), nil
}

// newConcCLI is the weir variant: `weir attach --json` and `weir detach`
// processes on host h.
func newConcCLI(h *ibenchHost, nss []ns.NetNS) *concVariant {
	v := &concVariant{name: "weir", nss: nss}
	outs := make([][]byte, len(nss))
	id := func(r, i int) string { return fmt.Sprintf("conc-cli-%d-%03d", r+1, i) }
	weir := func(args ...string) ([]byte, error) {
		return concRun(os.Environ(), filepath.Join(h.bin, "weir"), append(args, h.flags()...)...)
	}
	v.attachAll = func(n, r int) error {
		return concAtOnce(n, func(i int) error {
			var err error
			outs[i], err = weir(append(h.attachArgs(id(r, i), nss[i].Path(), i, 31000+i), "--json")...)
			return err
		})
	}
	v.addrs = func(n, r int) ([]string, error) {
		out := make([]string, n)
		for i := range n {
			var st containerStatus
			if err := json.Unmarshal(outs[i], &st); err != nil {
				return nil, fmt.Errorf("container %d: weir attach --json printed %q: %w", i, outs[i], err)
			}
			if ips := st.ips(); len(ips) == 1 {
				out[i] = concStripPrefix(ips[0])
			} else {
				return nil, fmt.Errorf("container %d: weir attach reported addresses %q, want one", i, ips)
			}
		}
		return out, nil
	}
	v.detachAll = func(n, r int) error {
		return concAtOnce(n, func(i int) error { _, err := weir("detach", id(r, i)); return err })
	}
	return v
}

// newConcAPI is the weir-api variant: POST and DELETE /v1/containers/{id}
// on the running daemon d.
func newConcAPI(d *ibenchDaemon, nss []ns.NetNS) *concVariant {
	v := &concVariant{name: "weir-api", nss: nss}
	id := func(r, i int) string { return fmt.Sprintf("conc-api-%d-%03d", r+1, i) }
	v.attachAll = func(n, r int) error {
		return concAtOnce(n, func(i int) error { return d.attach(id(r, i), nss[i].Path(), i, 32000+i) })
	}
	v.addrs = func(n, r int) ([]string, error) {
		out := make([]string, n)
		for i := range n {
			st, err := d.status(id(r, i))
			if err != nil {
				return nil, err
			}
			if ips := st.ips(); len(ips) == 1 {
				out[i] = concStripPrefix(ips[0])
			} else {
				return nil, fmt.Errorf("container %d: the daemon reports addresses %q, want one", i, ips)
			}
		}
		return out, nil
	}
	v.detachAll = func(n, r int) error {
		return concAtOnce(n, func(i int) error { return d.detach(id(r, i)) })
	}
	return v
}

// newConcRef is the reference variant: cnitool add and del with the
// reference plugins in ref, the network in refRoot/net.d, container i's
// port mapping in CAP_ARGS.
func newConcRef(ref, refRoot string, nss []ns.NetNS) *concVariant {
	v := &concVariant{name: "reference", nss: nss}
	outs := make([][]byte, len(nss))
	cnitool := func(verb string, i int) ([]byte, error) {
		env := append(os.Environ(), "NETCONFPATH="+filepath.Join(refRoot, "net.d"), "CNI_PATH="+ref,
			fmt.Sprintf(`CAP_ARGS={"portMappings":[{"hostPort":%d,"containerPort":80,"protocol":"tcp"}]}`, 33000+i))
		return concRun(env, filepath.Join(ref, "cnitool"), verb, "refconc", nss[i].Path())
	}
	v.attachAll = func(n, r int) error {
		return concAtOnce(n, func(i int) error {
			var err error
			outs[i], err = cnitool("add", i)
			return err
		})
	}
	v.addrs = func(n, r int) ([]string, error) {
		out := make([]string, n)
		for i := range n {
			var res struct {
				IPs []struct {
					Address string `json:"address"`
				} `json:"ips"`
			}
			if err := json.Unmarshal(outs[i], &res); err != nil {
				return nil, fmt.Errorf("container %d: cnitool add printed %q: %w", i, outs[i], err)
			}
			if len(res.IPs) != 1 {
				return nil, fmt.Errorf("container %d: cnitool add returned %d addresses, want one: %s", i, len(res.IPs), outs[i])
			}
			out[i] = concStripPrefix(res.IPs[0].Address)
		}
		return out, nil
	}
	v.detachAll = func(n, r int) error {
		return concAtOnce(n, func(i int) error { _, err := cnitool("del", i); return err })
	}
	return v
}

func concStripPrefix(a string) string {
	if p, err := netip.ParsePrefix(a); err == nil {
		return p.Addr().String()
	}
	return a
}
