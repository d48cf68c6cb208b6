package main

import (
	"errors"
	"regexp"
	"strconv"
	"time"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/weirnet/weir/isolator"
	"github.com/weirnet/weir/policy/enforce"
)

// metrics are the daemon's Prometheus metrics, registered in the registry
// the daemon owns (never the global default one):
//
//	weir_attach_duration_seconds{result}         POST /v1/containers/{id}: prepare + isolate
//	weir_detach_duration_seconds{result}         DELETE /v1/containers/{id}
//	weir_plugin_errors_total{plugin,command,code} plugin failures in the errors the runner returned
//	weir_containers{state}                        containers on record, by state (at scrape)
//	weir_ipam_addresses{network,state}            host-local addresses used and free (at scrape)
//	weir_policy_apply_duration_seconds            renders caused by policy file changes
//	weir_policy_apply_errors_total
//	weir_gc_runs_total{result}
//	weir_status_cache_lookups_total{result}       status queries answered from the cache (hit) or the records (miss)
//	weir_status_cache_entries                     containers whose status is cached (at scrape)
//
// result is "ok" or "error"; code is the CNI error code, or "none" for a
// failure that carried none (a plugin not found, say).
type metrics struct {
	attach       *prometheus.HistogramVec
	detach       *prometheus.HistogramVec
	pluginErrors *prometheus.CounterVec
	policyApply  prometheus.Histogram
	policyErrors prometheus.Counter
	gcRuns       *prometheus.CounterVec
}

func newMetrics(reg *prometheus.Registry, host *hostCollector) *metrics {
	buckets := []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	m := &metrics{
		attach: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "weir_attach_duration_seconds", Help: "Time to prepare and isolate a container (every network attached), by result.", Buckets: buckets,
		}, []string{"result"}),
		detach: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "weir_detach_duration_seconds", Help: "Time to clean up a container, by result.", Buckets: buckets,
		}, []string{"result"}),
		pluginErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_plugin_errors_total", Help: "CNI plugin failures, by plugin type, CNI command and CNI error code.",
		}, []string{"plugin", "command", "code"}),
		policyApply: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "weir_policy_apply_duration_seconds", Help: "Time to apply a change of the policy files to every endpoint.", Buckets: buckets,
		}),
		policyErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "weir_policy_apply_errors_total", Help: "Policy file changes that could not be applied.",
		}),
		gcRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_gc_runs_total", Help: "Periodic CNI GC runs, by result.",
		}, []string{"result"}),
	}
	reg.MustRegister(m.attach, m.detach, m.pluginErrors, m.policyApply, m.policyErrors, m.gcRuns, host,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func result(err error) string {
	if err != nil {
		return "error"
	}
	return "ok"
}

func (m *metrics) observeAttach(took time.Duration, err error) {
	m.attach.WithLabelValues(result(err)).Observe(took.Seconds())
	m.countPluginErrors(err)
}

func (m *metrics) observeDetach(took time.Duration, err error) {
	m.detach.WithLabelValues(result(err)).Observe(took.Seconds())
	m.countPluginErrors(err)
}

func (m *metrics) observeGC(err error) {
	m.gcRuns.WithLabelValues(result(err)).Inc()
	m.countPluginErrors(err)
}

// policyApplied is the policy Reconciler's Applied callback.
func (m *metrics) policyApplied(rep enforce.Report, err error) {
	m.policyApply.Observe(rep.Duration.Seconds())
	if err != nil {
		m.policyErrors.Inc()
	}
}

func (m *metrics) countPluginErrors(err error) {
	for _, f := range pluginFailures(err) {
		m.pluginErrors.WithLabelValues(f.plugin, f.command, f.code).Inc()
	}
}

// pluginFailure is one plugin's failure in an error the runner returned.
type pluginFailure struct{ plugin, command, code string }

// The runner's errors read "plugin TYPE failed (COMMAND): ..." and wrap the
// plugin's *types.Error (see chain.Runner.invoke).
var pluginFailed = regexp.MustCompile(`^plugin (\S+) failed \(([a-z]+)\): `)

// pluginFailures finds every plugin failure in err's tree (the runner joins
// the failures of parallel networks and of rollbacks).
func pluginFailures(err error) []pluginFailure {
	var out []pluginFailure
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		// A joined error's message starts with its first member's: look
		// into joins before matching.
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		if m := pluginFailed.FindStringSubmatch(e.Error()); m != nil {
			code := "none"
			var te *types.Error
			if errors.As(e, &te) {
				code = strconv.FormatUint(uint64(te.Code), 10)
			}
			out = append(out, pluginFailure{plugin: m[1], command: m[2], code: code})
			return
		}
		walk(errors.Unwrap(e))
	}
	walk(err)
	return out
}

// hostCollector reports, at each scrape, what is on record on the host:
// containers by state and host-local addresses per network.
type hostCollector struct {
	iso        *isolator.Isolator
	confDir    string
	pluginPath []string
	log        hclog.Logger

	containers   *prometheus.Desc
	addresses    *prometheus.Desc
	cacheLookups *prometheus.Desc
	cacheEntries *prometheus.Desc
}

func newHostCollector(iso *isolator.Isolator, confDir string, pluginPath []string, log hclog.Logger) *hostCollector {
	return &hostCollector{
		iso: iso, confDir: confDir, pluginPath: pluginPath, log: log,
		containers: prometheus.NewDesc("weir_containers", "Containers on record, by state.", []string{"state"}, nil),
		addresses: prometheus.NewDesc("weir_ipam_addresses",
			"Addresses of each network's host-local ranges: used (reservation files in its data dir) and free (range size minus used).",
			[]string{"network", "state"}, nil),
		cacheLookups: prometheus.NewDesc("weir_status_cache_lookups_total",
			"Container status queries answered from the daemon's status cache (hit) or read from the records (miss).", []string{"result"}, nil),
		cacheEntries: prometheus.NewDesc("weir_status_cache_entries", "Containers whose status the daemon has cached.", nil, nil),
	}
}

func (c *hostCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.containers
	ch <- c.addresses
	ch <- c.cacheLookups
	ch <- c.cacheEntries
}

func (c *hostCollector) Collect(ch chan<- prometheus.Metric) {
	counts := map[string]int{isolator.StateIsolated: 0, isolator.StatePreparing: 0, isolator.StatePartial: 0}
	if all, err := c.iso.List(); err != nil {
		c.log.Warn("metrics: listing containers", "error", err)
	} else {
		for _, st := range all {
			counts[st.State]++
		}
	}
	for state, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.containers, prometheus.GaugeValue, float64(n), state)
	}
	if cache := c.iso.Cache; cache != nil {
		hits, misses := cache.Lookups()
		ch <- prometheus.MustNewConstMetric(c.cacheLookups, prometheus.CounterValue, float64(hits), "hit")
		ch <- prometheus.MustNewConstMetric(c.cacheLookups, prometheus.CounterValue, float64(misses), "miss")
		ch <- prometheus.MustNewConstMetric(c.cacheEntries, prometheus.GaugeValue, float64(cache.Len()))
	}
	usage, err := addressUsage(c.confDir, c.pluginPath)
	if err != nil {
		c.log.Warn("metrics: counting addresses", "error", err)
	}
	for _, u := range usage {
		ch <- prometheus.MustNewConstMetric(c.addresses, prometheus.GaugeValue, u.Used, u.Network, "used")
		ch <- prometheus.MustNewConstMetric(c.addresses, prometheus.GaugeValue, u.Free, u.Network, "free")
	}
}
