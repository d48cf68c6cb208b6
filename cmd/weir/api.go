package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/weirnet/weir/chain"
	"github.com/weirnet/weir/isolator"
	"github.com/weirnet/weir/policy/enforce"
)

// maxBody bounds a request body: a ContainerConfig is a few kilobytes.
const maxBody = 1 << 20

// api is the daemon's HTTP/JSON interface. Every handler is a thin layer
// over the isolator, the chain runner and the policy loader.
type api struct {
	iso       *isolator.Isolator
	policyDir string
	engine    *enforce.Engine
	metrics   *metrics
	registry  *prometheus.Registry
	log       hclog.Logger
}

// containersPrefix is where container ids appear in paths.
const containersPrefix = "/v1/containers/"

func (s *api) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/containers/{id}", s.postContainer)
	mux.HandleFunc("GET /v1/containers/{id}", s.getContainer)
	mux.HandleFunc("DELETE /v1/containers/{id}", s.deleteContainer)
	mux.HandleFunc("GET /v1/containers", s.listContainers)
	mux.HandleFunc("GET /v1/networks", s.getNetworks)
	mux.HandleFunc("GET /v1/policies", s.getPolicies)
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}))
	return s.checkIDs(mux)
}

// checkIDs answers 400 for a path under /v1/containers/ whose id is not a
// valid container id, before the mux would clean the path ("../x" would
// become a redirect) or split it ("a%2Fb").
func (s *api) checkIDs(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id, ok := strings.CutPrefix(r.URL.Path, containersPrefix); ok {
			if err := chain.ValidateContainerID(id); err != nil {
				writeError(w, http.StatusBadRequest, err)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// attachRequest is the body of POST /v1/containers/{id}.
type attachRequest struct {
	ContainerConfig *isolator.ContainerConfig `json:"container_config"`
	PID             int                       `json:"pid"`
	NetNS           string                    `json:"netns"`
}

func (s *api) postContainer(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	req, err := decodeAttach(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	// The attach goes on when the client hangs up: the isolator undoes a
	// failed attach, and a half-done one would need recovery.
	ctx := context.WithoutCancel(r.Context())
	if _, err := s.iso.Prepare(id, req.ContainerConfig); err != nil {
		s.fail(w, "container_config.", err)
		return
	}
	start := time.Now()
	st, err := isolateOrUndo(ctx, s.iso, id, req.PID, req.NetNS)
	s.metrics.observeAttach(time.Since(start), err)
	if err != nil {
		s.fail(w, "container_config.", err)
		return
	}
	s.log.Info("attached", "container_id", id, "took", time.Since(start))
	writeJSON(w, http.StatusCreated, st)
}

// decodeAttach decodes and checks a POST body; every error names the
// field. Unknown top-level fields are errors; inside container_config the
// rest of a Mesos ContainerConfig is ignored.
func decodeAttach(body io.Reader) (*attachRequest, error) {
	data, err := io.ReadAll(body)
	if err != nil {
		return nil, fmt.Errorf("reading the request body: %w", err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, jsonError(err)
	}
	for k := range top {
		switch k {
		case "container_config", "pid", "netns":
		default:
			return nil, fmt.Errorf("unknown field %q: want container_config and pid or netns", k)
		}
	}
	req := &attachRequest{}
	if err := json.Unmarshal(data, req); err != nil {
		return nil, jsonError(err)
	}
	switch {
	case req.ContainerConfig == nil:
		return nil, errors.New("container_config is missing")
	case req.ContainerConfig.ContainerInfo == nil || len(req.ContainerConfig.ContainerInfo.NetworkInfos) == 0:
		return nil, errors.New("container_config.container_info.network_infos is empty: name at least one network")
	case req.PID < 0:
		return nil, fmt.Errorf("pid: %d is not a process id", req.PID)
	case (req.PID > 0) == (req.NetNS != ""):
		return nil, errors.New("give exactly one of pid (the container's first process) and netns (its namespace path)")
	}
	if err := checkNamespace(req.PID, req.NetNS); err != nil {
		field := "netns"
		if req.PID > 0 {
			field = "pid"
		}
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	return req, nil
}

// jsonError turns a decoding error into one naming the field or offset.
func jsonError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("malformed JSON at byte %d: %v", se.Offset, err)
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			return fmt.Errorf("malformed JSON: the body must be an object, not %s", te.Value)
		}
		return fmt.Errorf("%s: want %s, not %s", field, te.Type, te.Value)
	}
	return fmt.Errorf("malformed JSON: %w", err)
}

func (s *api) getContainer(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	withUsage := r.URL.Query().Get("usage")
	if withUsage != "1" && withUsage != "true" {
		// The status alone: with the daemon's cache, encoded once per
		// change of the container's records.
		body, err := s.iso.StatusJSON(id)
		if err != nil {
			s.fail(w, "", err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
		return
	}
	st, err := s.iso.Status(id)
	if err != nil {
		s.fail(w, "", err)
		return
	}
	v := containerView{ContainerStatus: st}
	if v.Usage, err = s.iso.Usage(id); err != nil {
		s.fail(w, "", err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *api) deleteContainer(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	start := time.Now()
	err := s.iso.Cleanup(context.WithoutCancel(r.Context()), id)
	s.metrics.observeDetach(time.Since(start), err)
	if err != nil {
		s.fail(w, "", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *api) listContainers(w http.ResponseWriter, r *http.Request) {
	all, err := s.iso.List()
	if err != nil {
		s.fail(w, "", err)
		return
	}
	writeJSON(w, http.StatusOK, all)
}

// fail answers with the status an error deserves: 400 for a bad request,
// 404 for an unknown container, 409 for one already prepared, 422 for a
// network that is not defined (or whose definition does not load), 500
// otherwise. prefix is put before the field a config error names.
func (s *api) fail(w http.ResponseWriter, prefix string, err error) {
	var unknownNet *chain.UnknownNetworkError
	var defErr *chain.DefError
	var cfgErr *isolator.ConfigError
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, isolator.ErrAlreadyPrepared):
		code = http.StatusConflict
	case errors.As(err, &unknownNet), errors.As(err, &defErr):
		code = http.StatusUnprocessableEntity
	case errors.As(err, &cfgErr):
		code = http.StatusBadRequest
	case errors.Is(err, isolator.ErrUnknownContainer):
		code = http.StatusNotFound
	}
	if _, ok := err.(*isolator.ConfigError); ok {
		err = fmt.Errorf("%s%w", prefix, err)
	}
	if code == http.StatusInternalServerError {
		s.log.Error("request failed", "error", err)
	}
	writeError(w, code, err)
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, map[string]string{"error": err.Error()})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		http.Error(w, `{"error": "encoding the response"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}
