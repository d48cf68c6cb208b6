package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/weirnet/weir/chain"
)

const networksSynopsis = `weir networks [validate [DIR] | show NAME] [--conf-dir DIR] [--plugin-dir DIRS] [--json]`

// networkView is one definition as `weir networks` shows it.
type networkView struct {
	Name       string   `json:"name"`
	File       string   `json:"file"`
	CNIVersion string   `json:"cniVersion"`
	Plugins    []string `json:"plugins"`
}

type networksView struct {
	Dir      string        `json:"dir"`
	Networks []networkView `json:"networks"`
	Errors   []string      `json:"errors"`
}

func (a *app) networks(args []string) error {
	fs := newFlagSet("networks", networksSynopsis, &a.opts)
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	verb := "list"
	if len(pos) > 0 {
		verb, pos = pos[0], pos[1:]
	}
	switch verb {
	case "list":
		return a.listNetworks(a.opts.confDir, false)
	case "validate":
		dir := a.opts.confDir
		if len(pos) == 1 {
			dir = pos[0]
		} else if len(pos) > 1 {
			return usageError{"validate takes at most one directory"}
		}
		return a.listNetworks(dir, true)
	case "show":
		if len(pos) != 1 {
			return usageError{"show takes one network name"}
		}
		set, err := chain.LoadDir(a.opts.confDir, a.opts.pluginPath())
		if err != nil {
			return err
		}
		def, err := set.Get(pos[0])
		if err != nil {
			return err
		}
		out, err := def.MarshalJSONIndent("", "    ")
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "%s\n", out)
		return nil
	default:
		return usageError{fmt.Sprintf("unknown networks command %q: want validate or show", verb)}
	}
}

// loadNetworksView reads the definitions of dir and their problems.
func loadNetworksView(dir string, pluginPath []string) (networksView, error) {
	set, err := chain.LoadDir(dir, pluginPath)
	if err != nil {
		return networksView{}, err
	}
	v := networksView{Dir: dir, Networks: []networkView{}, Errors: []string{}}
	for _, d := range set.Definitions() {
		nv := networkView{Name: d.Name, File: filepath.Base(d.File), CNIVersion: d.CNIVersion}
		for _, p := range d.Plugins {
			nv.Plugins = append(nv.Plugins, p.Type)
		}
		v.Networks = append(v.Networks, nv)
	}
	for _, e := range set.Errors {
		v.Errors = append(v.Errors, e.Error())
	}
	return v, nil
}

// listNetworks prints the definitions of dir and their problems; with
// strict, any problem is a failure (exit 1), for config repositories' CI.
func (a *app) listNetworks(dir string, strict bool) error {
	v, err := loadNetworksView(dir, a.opts.pluginPath())
	if err != nil {
		return err
	}
	if a.opts.json {
		if err := printJSON(a, v); err != nil {
			return err
		}
	} else {
		tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tFILE\tCNI\tCHAIN")
		for _, n := range v.Networks {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", n.Name, n.File, n.CNIVersion, strings.Join(n.Plugins, " → "))
		}
		tw.Flush()
		for _, e := range v.Errors {
			fmt.Fprintf(a.stdout, "error: %s\n", e)
		}
		if strict && len(v.Errors) == 0 {
			fmt.Fprintf(a.stdout, "%d networks, no errors\n", len(v.Networks))
		}
	}
	if strict && len(v.Errors) > 0 {
		return exitError{1}
	}
	return nil
}
