# weir — run `make help` for the targets.

GO        ?= go
BIN       := $(CURDIR)/bin
REF       := $(CURDIR)/.cache/ref
SANDBOX   := $(CURDIR)/scripts/sandbox
PLUGINS   := bridge flannel host-local loopback macvlan policy portmap
REF_PLUGINS_VERSION := v1.10.0
CNITOOL_VERSION     := v1.3.0
# What the integration tests and benchmarks are told about the binaries.
TEST_ENV  := WEIR_BIN_DIR=$(BIN) WEIR_REF_DIR=$(REF)

.PHONY: help deps build ref vet test test-unit test-sandbox bench bench-quick demo clean chaos

help: ## show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

deps: ## install missing host tools (iproute2, iptables, ipset, ping; needs root)
	@scripts/install-deps

build: ## build bin/weir, the plugin links bin/<type>, and bin/weir-demo
	$(GO) build -o $(BIN)/weir ./cmd/weir
	$(GO) build -o $(BIN)/weir-demo ./cmd/weir-demo
	@for p in $(PLUGINS); do ln -sf weir $(BIN)/$$p; done

demo: deps build ## the main job, in a sandbox: two networks, four containers, policy, a published port, teardown
	@WEIR_REPO=$(CURDIR) $(SANDBOX) $(BIN)/weir-demo

ref: ## go install the reference CNI plugins and cnitool into .cache/ref (for interop tests and benchmarks)
	@if [ ! -x $(REF)/cnitool ] || [ ! -x $(REF)/firewall ]; then \
	  echo "installing reference plugins $(REF_PLUGINS_VERSION) and cnitool $(CNITOOL_VERSION) into $(REF)"; \
	  GOBIN=$(REF) $(GO) install \
	    github.com/containernetworking/plugins/plugins/main/bridge@$(REF_PLUGINS_VERSION) \
	    github.com/containernetworking/plugins/plugins/main/macvlan@$(REF_PLUGINS_VERSION) \
	    github.com/containernetworking/plugins/plugins/main/loopback@$(REF_PLUGINS_VERSION) \
	    github.com/containernetworking/plugins/plugins/ipam/host-local@$(REF_PLUGINS_VERSION) \
	    github.com/containernetworking/plugins/plugins/meta/firewall@$(REF_PLUGINS_VERSION) \
	    github.com/containernetworking/plugins/plugins/meta/portmap@$(REF_PLUGINS_VERSION) && \
	  GOBIN=$(REF) $(GO) install github.com/containernetworking/cni/cnitool@$(CNITOOL_VERSION); \
	fi

vet: ## go vet and gofmt
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

test: deps vet build ref test-unit test-sandbox ## everything CI runs: deps, vet, unit tests, privileged tests in the sandbox

test-unit: ## unprivileged tests (privileged ones skip outside the sandbox)
	$(TEST_ENV) $(GO) test -count=1 ./...

# The reliability suite (chaos/) runs in its short form with the other
# packages in test-sandbox (about a minute and a half; its summary line is
# printed at the end, from CHAOS_SUMMARY). `make chaos` runs its long form,
# then the fuzzers.
CHAOS_SUMMARY := $(BIN)/chaos-summary.txt

test-sandbox: build ref ## all tests, each package's binary inside its own sandbox (fresh netns + mount ns), the chaos suite's short form included
	@rm -f $(CHAOS_SUMMARY)
	status=0; \
	$(TEST_ENV) WEIR_CHAOS_SUMMARY=$(CHAOS_SUMMARY) $(GO) test -count=1 -exec $(SANDBOX) ./... || status=1; \
	cat $(CHAOS_SUMMARY) 2>/dev/null || echo "chaos: no summary (the suite did not run)"; exit $$status

CHAOS_FUZZTIME ?= 30s
CHAOS_FUZZ := chain:FuzzLoadTOML chain:FuzzLoadJSON chain:FuzzParseCNIArgs chain:FuzzParsePortMapping \
  chain:FuzzParseLabel chain:FuzzValidateContainerID policy/selector:FuzzParse policy:FuzzLoad policy/compile:FuzzCompile

chaos: deps build ## reliability suite, long form (120 crashes, churn for up to 25 min, plugin faults, bad input; ~30 min), then each fuzzer for CHAOS_FUZZTIME
	status=0; \
	$(TEST_ENV) WEIR_CHAOS=long $(GO) test -count=1 -v -timeout 90m -exec $(SANDBOX) ./chaos/ || status=1; \
	for t in $(CHAOS_FUZZ); do \
	  echo "fuzz $${t#*:} (./$${t%%:*}) for $(CHAOS_FUZZTIME)"; \
	  $(GO) test -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(CHAOS_FUZZTIME) ./$${t%%:*}/ || status=1; \
	done; exit $$status

bench: deps build ref ## weir vs the reference, in the sandbox: one table, bench-results/ (JSON, SVG plot); ~7 min
	$(TEST_ENV) GO=$(GO) scripts/bench

bench-quick: deps build ref ## a smaller `make bench`: fewer iterations, slowest sub-benchmarks left out; ~1.5 min
	$(TEST_ENV) GO=$(GO) WEIR_BENCH_QUICK=1 scripts/bench

clean: ## remove build outputs
	rm -rf $(BIN)
