package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/weirnet/weir/policy"
	"github.com/weirnet/weir/policy/enforce"
)

const policySynopsis = `weir policy check [FILES|DIR] | apply | explain --from k=v,... --to k=v,... [--port PORT/PROTO] [--from-ip IP] [--to-ip IP] [--default allow|deny]`

func (a *app) policy(args []string) error {
	fs := newFlagSet("policy", policySynopsis, &a.opts)
	from := fs.String("from", "", "labels of the connecting container, k=v,k2=v2 (empty with --from-ip: an address outside weir)")
	to := fs.String("to", "", "labels of the receiving container, k=v,...")
	fromIP := fs.String("from-ip", "", "address of the connecting side, for CIDR rules")
	toIP := fs.String("to-ip", "", "address of the receiving side, for CIDR rules")
	port := fs.String("port", "", "destination PORT/PROTO (tcp, udp), or icmp; default: any protocol, no port")
	def := fs.String("default", "allow", "the network's default action for unselected traffic: allow or deny")
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		fs.Usage()
		return usageError{"want check, apply or explain"}
	}
	switch pos[0] {
	case "check":
		return a.policyCheck(pos[1:])
	case "apply":
		rep, err := enforce.New(a.opts.stateDir, a.log).Render(context.Background())
		if err != nil {
			return err
		}
		if a.opts.json {
			return printJSON(a, map[string]any{"endpoints": rep.Endpoints, "writes": rep.Writes(), "durationMs": rep.Duration.Milliseconds()})
		}
		fmt.Fprintf(a.stdout, "applied policy to %d endpoints: %d kernel objects written in %s\n", rep.Endpoints, rep.Writes(), rep.Duration.Round(1e5))
		return nil
	case "explain":
		return a.policyExplain(*from, *to, *fromIP, *toIP, *port, *def)
	default:
		return usageError{fmt.Sprintf("unknown policy command %q: want check, apply or explain", pos[0])}
	}
}

func (a *app) policyCheck(paths []string) error {
	var set *policy.Set
	var err error
	switch {
	case len(paths) == 0:
		set, err = policy.LoadDir(a.opts.policyDir)
	case len(paths) == 1 && isDir(paths[0]):
		set, err = policy.LoadDir(paths[0])
	default:
		set, err = policy.LoadFiles(paths...)
	}
	if err != nil {
		if a.opts.json {
			_ = printJSON(a, map[string]any{"valid": false, "errors": strings.Split(err.Error(), "\n")})
		} else {
			fmt.Fprintln(a.stdout, err)
		}
		return exitError{1}
	}
	if a.opts.json {
		return printJSON(a, map[string]any{"valid": true, "policies": set.Len()})
	}
	fmt.Fprintf(a.stdout, "%d policies, no errors\n", set.Len())
	return nil
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

func (a *app) policyExplain(from, to, fromIP, toIP, port, def string) error {
	set, err := policy.LoadDir(a.opts.policyDir)
	if err != nil {
		return err
	}
	src, err := endpointArg("--from", from, fromIP)
	if err != nil {
		return err
	}
	dst, err := endpointArg("--to", to, toIP)
	if err != nil {
		return err
	}
	pkt, err := packetArg(port)
	if err != nil {
		return err
	}
	action, err := policy.ParseAction(def)
	if err != nil || action == policy.Log {
		return usageError{fmt.Sprintf("--default %q: want allow or deny", def)}
	}
	exp := set.Explain(src, dst, pkt, action)
	if a.opts.json {
		return printJSON(a, map[string]any{"allowed": exp.Allowed, "egress": exp.Egress, "ingress": exp.Ingress, "explanation": exp.String()})
	}
	fmt.Fprintln(a.stdout, exp.String())
	return nil
}

// endpointArg builds an explain endpoint from "k=v,k2=v2" and an address;
// no labels and no address is an error, an address alone is a peer outside
// weir.
func endpointArg(flag, labels, ip string) (policy.Endpoint, error) {
	var ep policy.Endpoint
	if ip != "" {
		a, err := netip.ParseAddr(ip)
		if err != nil {
			return ep, usageError{fmt.Sprintf("%s-ip %q is not an address", flag, ip)}
		}
		ep.IPs = []netip.Addr{a}
	}
	if labels == "" {
		if ip == "" {
			return ep, usageError{fmt.Sprintf("%s needs labels (k=v,...) or %s-ip", flag, flag)}
		}
		return ep, nil
	}
	ep.ID, ep.Labels = "explain"+flag, map[string]string{}
	for _, kv := range strings.Split(labels, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || k == "" {
			return ep, usageError{fmt.Sprintf("%s %q: want k=v,k2=v2", flag, labels)}
		}
		ep.Labels[k] = v
	}
	return ep, nil
}

// packetArg parses PORT/PROTO, PORT (tcp), icmp, or nothing (any).
func packetArg(s string) (policy.Packet, error) {
	if s == "" {
		return policy.Packet{Protocol: policy.Any}, nil
	}
	if strings.EqualFold(s, "icmp") {
		return policy.Packet{Protocol: policy.ICMP}, nil
	}
	p, proto, _ := strings.Cut(s, "/")
	if proto == "" {
		proto = "tcp"
	}
	pr, err := policy.ParseProtocol(strings.ToLower(proto))
	if err != nil || !pr.HasPorts() {
		return policy.Packet{}, usageError{fmt.Sprintf("--port %q: protocol must be tcp or udp", s)}
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		return policy.Packet{}, usageError{fmt.Sprintf("--port %q: %q is not a port", s, p)}
	}
	return policy.Packet{Protocol: pr, Port: n}, nil
}

// policyFiles lists the policy files of dir as policy.LoadDir reads them:
// *.toml, not hidden, in name order.
func policyFiles(dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		if name := e.Name(); !e.IsDir() && !strings.HasPrefix(name, ".") && strings.HasSuffix(name, ".toml") {
			out = append(out, filepath.Join(dir, name))
		}
	}
	return out
}
