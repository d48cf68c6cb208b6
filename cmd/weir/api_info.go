package main

import (
	"context"
	"net/http"
	"sort"
	"time"

	"github.com/weirnet/weir/chain"
	"github.com/weirnet/weir/policy"
)

// The daemon's read-only views of what the operator wrote: networks,
// policies, and the networks' health.

func (s *api) getNetworks(w http.ResponseWriter, r *http.Request) {
	v, err := loadNetworksView(s.iso.ConfDir, s.iso.Runner.Path)
	if err != nil {
		s.fail(w, "", err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// policyView is one policy as GET /v1/policies shows it.
type policyView struct {
	Name     string   `json:"name"`
	Order    float64  `json:"order"`
	Selector string   `json:"selector"`
	Types    []string `json:"types,omitempty"`
	Ingress  int      `json:"ingress_rules"`
	Egress   int      `json:"egress_rules"`
	File     string   `json:"file"`
	Line     int      `json:"line,omitempty"`
}

type policyDirView struct {
	Dir      string       `json:"dir"`
	Policies []policyView `json:"policies"` // in evaluation order
	Errors   []string     `json:"errors"`
}

// getPolicies shows the policies of --policy-dir and of every directory an
// endpoint's network names, each file loaded on its own so that one bad
// file does not hide the others' policies; errors across files (a name
// used twice) come from loading the directory as a whole.
func (s *api) getPolicies(w http.ResponseWriter, r *http.Request) {
	dirs := map[string]bool{s.policyDir: true}
	if eps, err := s.engine.Endpoints(); err == nil {
		for _, ep := range eps {
			if ep.PolicyDir != "" {
				dirs[ep.PolicyDir] = true
			}
		}
	}
	names := make([]string, 0, len(dirs))
	for d := range dirs {
		names = append(names, d)
	}
	sort.Strings(names)
	out := []policyDirView{}
	for _, d := range names {
		out = append(out, loadPolicyDirView(d))
	}
	writeJSON(w, http.StatusOK, map[string]any{"dirs": out})
}

func loadPolicyDirView(dir string) policyDirView {
	v := policyDirView{Dir: dir, Policies: []policyView{}, Errors: []string{}}
	_, dirErr := policy.LoadDir(dir)
	v.Errors = errorStrings(dirErr)
	var all []*policy.Policy
	for _, f := range policyFiles(dir) {
		if set, err := policy.LoadFiles(f); err == nil {
			all = append(all, set.Policies...)
		}
	}
	for _, p := range policy.NewSet(all...).Policies {
		pv := policyView{Name: p.Name, Order: p.Order, Selector: "all()", Ingress: len(p.Ingress), Egress: len(p.Egress), File: p.File, Line: p.Line}
		if p.Selector != nil {
			pv.Selector = p.Selector.String()
		}
		for _, t := range p.Types {
			pv.Types = append(pv.Types, string(t))
		}
		v.Policies = append(v.Policies, pv)
	}
	return v
}

// healthz asks every network's plugins for CNI STATUS (networks before
// 1.1.0 count as ready): 200 when all are ready, 503 naming those that are
// not. Definition files that do not load are listed but do not make the
// daemon unhealthy.
func (s *api) healthz(w http.ResponseWriter, r *http.Request) {
	type netHealth struct {
		Name  string `json:"name"`
		Ready bool   `json:"ready"`
		Error string `json:"error,omitempty"`
	}
	set, err := chain.LoadDir(s.iso.ConfDir, s.iso.Runner.Path)
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"healthy": false, "error": err.Error()})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	healthy := true
	nets := []netHealth{}
	for _, d := range set.Definitions() {
		h := netHealth{Name: d.Name, Ready: true}
		list, err := d.ConfList()
		if err == nil {
			err = s.iso.Runner.Status(ctx, list)
			s.metrics.countPluginErrors(err)
		}
		if err != nil {
			h.Ready, h.Error, healthy = false, err.Error(), false
		}
		nets = append(nets, h)
	}
	code := http.StatusOK
	if !healthy {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, map[string]any{"healthy": healthy, "networks": nets, "errors": errorStrings(set.Err())})
}
