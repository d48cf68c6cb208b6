package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/weirnet/weir/chain"
	"github.com/weirnet/weir/isolator"
)

func (a *app) status(args []string) error {
	fs := newFlagSet("status", statusSynopsis, &a.opts)
	usage := fs.Bool("usage", false, "with ID: also print the interfaces' traffic counters")
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	iso := a.isolator()
	switch len(pos) {
	case 0:
		all, err := iso.List()
		if err != nil {
			return err
		}
		if a.opts.json {
			return printJSON(a, all)
		}
		tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSTATE\tNETWORKS\tADDRESSES")
		for _, st := range all {
			var nets, addrs []string
			for _, n := range st.NetworkInfos {
				nets = append(nets, n.Name)
				for _, ip := range n.IPAddresses {
					addrs = append(addrs, ip.IPAddress)
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", st.ContainerID, st.State, dash(strings.Join(nets, ",")), dash(strings.Join(addrs, ",")))
		}
		return tw.Flush()
	case 1:
		id := pos[0]
		if err := chain.ValidateContainerID(id); err != nil {
			return usageError{err.Error()}
		}
		st, err := iso.Status(id)
		if err != nil {
			return err
		}
		v := containerView{ContainerStatus: st}
		if *usage {
			if v.Usage, err = iso.Usage(id); err != nil {
				return err
			}
		}
		if a.opts.json {
			return printJSON(a, v)
		}
		printStatus(a.stdout, st)
		if *usage {
			printUsage(a.stdout, v.Usage)
		}
		return nil
	default:
		fs.Usage()
		return usageError{"want at most one container ID"}
	}
}

// containerView is a container's status with, when asked, its usage.
type containerView struct {
	*isolator.ContainerStatus
	Usage []isolator.InterfaceUsage `json:"usage,omitempty"`
}

// printStatus prints one container in detail for people.
func printStatus(w io.Writer, st *isolator.ContainerStatus) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "ID\t%s\n", st.ContainerID)
	fmt.Fprintf(tw, "STATE\t%s\n", st.State)
	fmt.Fprintf(tw, "NETNS\t%s\n", dash(st.NetNS))
	tw.Flush()
	if len(st.NetworkInfos) == 0 {
		return
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NETWORK\tIFACE\tADDRESSES\tLABELS\tPORTS")
	for _, n := range st.NetworkInfos {
		var addrs, labels, ports []string
		for _, ip := range n.IPAddresses {
			addrs = append(addrs, ip.IPAddress)
		}
		if n.Labels != nil {
			for _, l := range n.Labels.Labels {
				labels = append(labels, l.Key+"="+l.Value)
			}
		}
		for _, p := range n.PortMappings {
			proto := p.Protocol
			if proto == "" {
				proto = "tcp"
			}
			ports = append(ports, fmt.Sprintf("%d:%d/%s", p.HostPort, p.ContainerPort, strings.ToLower(proto)))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", n.Name, dash(st.Interfaces[n.Name]), dash(strings.Join(addrs, ",")), dash(strings.Join(labels, ",")), dash(strings.Join(ports, ",")))
	}
	tw.Flush()
}

func printUsage(w io.Writer, us []isolator.InterfaceUsage) {
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "NETWORK\tIFACE\tRX BYTES\tRX PACKETS\tTX BYTES\tTX PACKETS\tDROPPED\t")
	for _, u := range us {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t\n", u.Network, u.Interface, u.RxBytes, u.RxPackets, u.TxBytes, u.TxPackets, u.RxDropped+u.TxDropped)
	}
	tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (a *app) list(args []string) error {
	fs := newFlagSet("list", listSynopsis, &a.opts)
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageError{fmt.Sprintf("unexpected arguments %q", pos)}
	}
	all, err := a.isolator().List()
	if err != nil {
		return err
	}
	type entry struct {
		ID    string `json:"container_id"`
		State string `json:"state"`
	}
	out := make([]entry, 0, len(all))
	for _, st := range all {
		out = append(out, entry{st.ContainerID, st.State})
	}
	if a.opts.json {
		return printJSON(a, out)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE")
	for _, e := range out {
		fmt.Fprintf(tw, "%s\t%s\n", e.ID, e.State)
	}
	return tw.Flush()
}
