# simex: a simulated exchange with built-in, Go-compatible profiling.
# `make help` lists the targets.

SHELL := /bin/bash
CARGO ?= cargo
export CARGO_TARGET_DIR ?= $(CURDIR)/target

.DEFAULT_GOAL := help

##@ Development

.PHONY: deps
deps: ## Install what the build and the tests need (apt packages, Rust components)
	@scripts/install-deps.sh

.PHONY: build
build: ## Build every binary in release mode (with debug info for profiling)
	$(CARGO) build --workspace --release --bins

.PHONY: test
test: deps ## Run every test: fmt, clippy, unit, property and end-to-end tests
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) test --workspace --no-fail-fast

.PHONY: lint
lint: ## cargo fmt --check and clippy -D warnings
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

.PHONY: fmt
fmt: ## Format the code
	$(CARGO) fmt --all

.PHONY: bench
bench: ## The matching engine against two peer books (criterion, interleaved, threads): see BENCHMARKS.md
	$(CARGO) bench -p matching --bench books -- --warm-up-time 1 --measurement-time 3
	$(CARGO) bench -p matching --bench interleaved -- 30
	$(CARGO) bench -p matching --bench exchange_threads -- 9

.PHONY: bench-overhead
bench-overhead: ## Order-entry throughput with and without CPU profiling and heap sampling (wrk)
	$(CARGO) build --release -p trading-api -p order-flow -p e2e-bench
	scripts/bench/profiler-overhead.sh $(or $(ROUNDS),5) $(or $(SECONDS),8)

.PHONY: soak-pprof
soak-pprof: ## Profiling soak: every profile type under load, chaos and a restart, no hang (SOAK_SECS=300)
	SIMEX_SOAK_SECS=$(or $(SOAK_SECS),300) $(CARGO) test -p order-flow --test pprof_soak -- --nocapture

.PHONY: bench-e2e
bench-e2e: ## Order entry over HTTP end to end (wrk, order-flow load; ROUNDS=3 SECONDS=8) into BENCHMARKS.md
	$(CARGO) build --release -p trading-api -p order-flow -p e2e-bench
	ROUNDS=$(or $(ROUNDS),3) SECONDS=$(or $(SECONDS),8) scripts/bench/e2e.sh --write BENCHMARKS.md

##@ Run the exchange (natively, supervised; no Docker needed)

# The simex binary the targets below use: built on demand (a no-op when up to date), unless
# SIMEX_BIN names one (the scripts honour it too).
SIMEX_BIN ?=
export SIMEX_BIN
SIMEX := $(or $(SIMEX_BIN),$(CARGO_TARGET_DIR)/release/simex)
SERVICE_BINS := -p trading-api -p market-sim -p order-flow -p chaos -p simex
# BASE_PORT=18080 moves all three services (trading-api on it, the others on the next two).
ifdef BASE_PORT
export SIMEX_BASE_PORT := $(BASE_PORT)
endif
DEMO_DURATION ?= 45s
DEMO_RATE ?= 500
DEMO_PROFILE_SECONDS ?= 30
DEMO_LOAD_LOG ?= $(or $(SIMEX_LOG_DIR),logs)/load-generator.log

# With cargo on PATH the binaries are (re)built, a no-op when up to date. Without it (a cron job,
# a machine that only runs what was built) the targets use the binaries already in
# $(CARGO_TARGET_DIR)/release, and fail with a clear message only when one is missing.
RELEASE_DIR := $(CARGO_TARGET_DIR)/release
define built_or_build
	@if command -v $(CARGO) >/dev/null 2>&1; then $(CARGO) build --release --quiet $(1); \
	else missing=""; for b in $(2); do [ -x "$(RELEASE_DIR)/$$b" ] || missing="$$missing $$b"; done; \
	  if [ -n "$$missing" ]; then echo "error: cargo not found and not built in $(RELEASE_DIR):$$missing; install Rust from https://rustup.rs" >&2; exit 1; fi; fi
endef

.PHONY: simex-bin
ifeq ($(SIMEX_BIN),)
simex-bin:
	$(call built_or_build,-p simex,simex)
else
simex-bin:
	@test -x "$(SIMEX_BIN)" || { echo "error: SIMEX_BIN=$(SIMEX_BIN) is not an executable" >&2; exit 1; }
endif

.PHONY: service-bins
service-bins:
	$(call built_or_build,$(SERVICE_BINS),trading-api market-sim order-flow fault-proxy simex)

.PHONY: up
up: service-bins ## Build and start trading-api, market-sim, order-flow; wait until ready (BASE_PORT moves them)
	@$(SIMEX) up

.PHONY: down
down: simex-bin ## Stop the services started by `make up` (graceful drain)
	@$(SIMEX) down

.PHONY: status
status: simex-bin ## Each service's pid, restarts and /health
	@$(SIMEX) status

.PHONY: logs
logs: simex-bin ## Show the services' logs (SERVICE=name for one, FOLLOW=1 to keep following)
	@$(SIMEX) logs $(SERVICE) $(if $(FOLLOW),--follow)

.PHONY: demo
demo: service-bins ## Services plus load: up, DEMO_DURATION of orders at DEMO_RATE/s, a CPU profile under load
	@$(SIMEX) status >/dev/null 2>&1 || $(SIMEX) up
	@if [ ! -x scripts/load-generator.sh ]; then echo "error: scripts/load-generator.sh is missing; the services are up, send load yourself" >&2; exit 1; fi
	@echo "sending $(DEMO_RATE) orders/s for $(DEMO_DURATION) while capturing a $(DEMO_PROFILE_SECONDS) s CPU profile of trading-api..."
	@mkdir -p $(dir $(DEMO_LOAD_LOG)); scripts/load-generator.sh --rate $(DEMO_RATE) --duration $(DEMO_DURATION) --quiet \
		--target http://127.0.0.1:$${SIMEX_BASE_PORT:-8080} --keys $(or $(SIMEX_DATA_ROOT),data)/trading-api/demo-keys.json \
		> $(DEMO_LOAD_LOG) 2>&1 & load=$$!; \
	sleep 3; \
	$(SIMEX) profile --type cpu --seconds $(DEMO_PROFILE_SECONDS) --service trading-api --out-dir $(PROFILE_DIR); profiled=$$?; \
	wait $$load; loaded=$$?; \
	echo "--- load report ($(DEMO_LOAD_LOG)) ---"; cat $(DEMO_LOAD_LOG); \
	[ $$profiled -eq 0 ] && [ $$loaded -eq 0 ] || exit 1; \
	echo; echo "next: make profile-view, make profile-serve (http://127.0.0.1:$(GALLERY_PORT)), make down"

##@ Profiling (flamegraphs/; PORT=8081 or SERVICE=market-sim picks the service, default trading-api)

PROFILE_SECONDS ?= 30
PROFILE_DIR ?= flamegraphs
export PROFILE_DIR
GALLERY_PORT ?= 8888
TARGET_ARGS = $(if $(SERVICE),--service $(SERVICE),$(if $(PORT),--port $(PORT))) --out-dir $(PROFILE_DIR)

.PHONY: profile-cpu
profile-cpu: simex-bin ## CPU profile over PROFILE_SECONDS (30) + flamegraph + top + analysis
	@$(SIMEX) profile --type cpu --seconds $(PROFILE_SECONDS) $(TARGET_ARGS)

.PHONY: profile-cpu-long
profile-cpu-long: simex-bin ## CPU profile over 60 s
	@$(SIMEX) profile --type cpu --seconds 60 $(TARGET_ARGS)

.PHONY: profile-heap
profile-heap: simex-bin ## Heap snapshot (live allocations, jemalloc) + flamegraph
	@$(SIMEX) profile --type heap $(TARGET_ARGS)

.PHONY: profile-goroutine
profile-goroutine: simex-bin ## Tokio tasks snapshot (Go's goroutine profile) + flamegraph
	@$(SIMEX) profile --type goroutine $(TARGET_ARGS)

.PHONY: profile-allocs
profile-allocs: simex-bin ## Allocations made during PROFILE_SECONDS (30) + flamegraph
	@$(SIMEX) profile --type allocs --seconds $(PROFILE_SECONDS) $(TARGET_ARGS)

.PHONY: profile-block
profile-block: simex-bin ## Time blocked waiting (since start) + flamegraph
	@$(SIMEX) profile --type block $(TARGET_ARGS)

.PHONY: profile-mutex
profile-mutex: simex-bin ## Lock contention (since start) + flamegraph
	@$(SIMEX) profile --type mutex $(TARGET_ARGS)

.PHONY: profile-all
profile-all: simex-bin ## Every profile type from every running service (cpu/allocs over PROFILE_SECONDS)
	@$(SIMEX) profile --all --seconds $(PROFILE_SECONDS) --out-dir $(PROFILE_DIR)

.PHONY: profile-view
profile-view: ## Open the newest flamegraph of each type in a browser (prints the paths if there is none)
	@scripts/profile-view.sh

.PHONY: profile-serve
profile-serve: ## Gallery of every profile, flamegraph, diff and report on GALLERY_PORT (8888; BIND=0.0.0.0 for remote)
	@scripts/serve-flamegraphs.sh $(GALLERY_PORT)

.PHONY: profile-analyze
profile-analyze: ## Analyze the newest CPU profile (or PROFILE=path) into {stem}_analysis.md
	@scripts/profile-analyze.sh $(PROFILE)

.PHONY: profile-diff
profile-diff: ## Differential flamegraph of BASE=... NEW=... (default: the newest two CPU profiles of one service)
	@scripts/profile-diff.sh $(BASE) $(NEW)

.PHONY: profile-clean
profile-clean: ## Delete captured profiles, flamegraphs, reports, diffs and chaos runs in PROFILE_DIR
	@if [ -d $(PROFILE_DIR) ]; then \
		n=$$(find $(PROFILE_DIR) -maxdepth 1 -type f \( -name '*.pb.gz' -o -name '*.pprof' -o -name '*.svg' -o -name '*_analysis.md' -o -name '*_top.txt' -o -name 'diff_*.txt' -o -name 'chaos_*_report.md' -o -name '.*.tmp' \) -print -delete | wc -l); \
		runs=$$(find $(PROFILE_DIR) -mindepth 1 -maxdepth 1 -type d -name 'chaos_*' | wc -l); \
		m=$$(find $(PROFILE_DIR) -mindepth 2 -path '$(PROFILE_DIR)/chaos_*' -type f | wc -l); \
		find $(PROFILE_DIR) -mindepth 1 -maxdepth 1 -type d -name 'chaos_*' -exec rm -rf {} +; \
		echo "removed $$n files and $$runs chaos runs ($$m files) from $(PROFILE_DIR)/"; \
	else echo "nothing to clean: no $(PROFILE_DIR)/"; fi

.PHONY: profile-help
profile-help: ## The profiling targets and their variables
	@awk 'BEGIN {FS = ":.*##"} /^(profile-[a-z-]+|demo):.*##/ {printf "  \033[36m%-20s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo
	@echo "Variables: PORT=8081 or SERVICE=market-sim (which service), PROFILE_SECONDS=30,"
	@echo "  PROFILE_DIR=flamegraphs, PROFILE=file (analyze), BASE=... NEW=... (diff),"
	@echo "  GALLERY_PORT=8888 and BIND=0.0.0.0 (serve), BASE_PORT=8080 (where the services run)."
	@echo "Scripts: scripts/generate-flamegraph.sh [type] [seconds] [port], scripts/serve-flamegraphs.sh [port]"
	@echo "Guide: docs/FLAMEGRAPH_GUIDE.md"

##@ Chaos (chaos/experiments/, Chaos Toolkit's format; reports in PROFILE_DIR)

SCENARIO ?= cpu-burn
CHAOS_PROFILE_SECONDS ?= 30
CHAOS_JOURNAL_DIR ?= $(or $(SIMEX_LOG_DIR),logs)/chaos
export CHAOS_PROFILE_SECONDS
# The experiments read the services' URLs and files from these (defaults: port 8080, data/), so
# they follow BASE_PORT and SIMEX_DATA_ROOT as `make up` does (fault proxy: base + 394 and 395).
CHAOS_PORT = $(or $(SIMEX_BASE_PORT),8080)
CHAOS_DATA = $(or $(SIMEX_DATA_ROOT),data)
CHAOS_ENV = PATH="$(abspath $(dir $(SIMEX))):$$PATH" \
	SIMEX_TRADING_API_URL="$${SIMEX_TRADING_API_URL:-http://127.0.0.1:$(CHAOS_PORT)}" \
	SIMEX_MARKET_SIM_URL="$${SIMEX_MARKET_SIM_URL:-http://127.0.0.1:$$(($(CHAOS_PORT) + 1))}" \
	SIMEX_ORDER_FLOW_URL="$${SIMEX_ORDER_FLOW_URL:-http://127.0.0.1:$$(($(CHAOS_PORT) + 2))}" \
	SIMEX_DEMO_KEYS_FILE="$${SIMEX_DEMO_KEYS_FILE:-$(CHAOS_DATA)/trading-api/demo-keys.json}" \
	SIMEX_ACKED_ORDERS_LOG="$${SIMEX_ACKED_ORDERS_LOG:-$(CHAOS_DATA)/order-flow/acked-orders.log}" \
	SIMEX_TRADING_API_ADDR="$${SIMEX_TRADING_API_ADDR:-127.0.0.1:$(CHAOS_PORT)}" \
	SIMEX_FAULT_PROXY_URL="$${SIMEX_FAULT_PROXY_URL:-http://127.0.0.1:$$(($(CHAOS_PORT) + 394))}" \
	SIMEX_TRADING_API_PROXY_LISTEN="$${SIMEX_TRADING_API_PROXY_LISTEN:-127.0.0.1:$$(($(CHAOS_PORT) + 395))}"
# The steady state is checked before, during and after the method (docs/CHAOS_RUNNER.md): a check
# takes the 5 s load probe, so a new one starts 1 s after the last ends. CHAOS_FAIL_FAST=1 stops the
# method at the first check that deviates.
CHAOS_HYPOTHESIS_STRATEGY ?= continuously
CHAOS_HYPOTHESIS_FREQUENCY ?= 1
CHAOS_RUN_FLAGS = --hypothesis-strategy $(CHAOS_HYPOTHESIS_STRATEGY) \
	--hypothesis-frequency $(CHAOS_HYPOTHESIS_FREQUENCY) $(if $(CHAOS_FAIL_FAST),--fail-fast)

.PHONY: chaos-list
chaos-list: simex-bin ## The chaos experiments
	@$(SIMEX) chaos list chaos/experiments

.PHONY: chaos-run
chaos-run: service-bins ## Run one experiment (EXPERIMENT=kill-trading-api, default SCENARIO); journal + report
	@$(SIMEX) status >/dev/null 2>&1 || $(SIMEX) up
	@mkdir -p $(CHAOS_JOURNAL_DIR) $(PROFILE_DIR)
	$(CHAOS_ENV) $(SIMEX) chaos run chaos/experiments/$(or $(EXPERIMENT),$(SCENARIO)).json $(CHAOS_RUN_FLAGS) \
		--journal $(CHAOS_JOURNAL_DIR)/$(or $(EXPERIMENT),$(SCENARIO))-journal.json \
		--report $(PROFILE_DIR)/chaos_experiment_$(or $(EXPERIMENT),$(SCENARIO))_report.md

.PHONY: chaos-all
chaos-all: service-bins ## Run every experiment in chaos/experiments (journals in CHAOS_JOURNAL_DIR)
	@$(SIMEX) status >/dev/null 2>&1 || $(SIMEX) up
	@mkdir -p $(CHAOS_JOURNAL_DIR) $(PROFILE_DIR)
	@failed=0; for f in chaos/experiments/*.json; do n=$$(basename $$f .json); \
		rm -f $(PROFILE_DIR)/chaos_experiment_$${n}_report.md; \
		$(CHAOS_ENV) $(SIMEX) chaos run $$f $(CHAOS_RUN_FLAGS) --journal $(CHAOS_JOURNAL_DIR)/$$n-journal.json \
			--report $(PROFILE_DIR)/chaos_experiment_$${n}_report.md || failed=$$((failed + 1)); \
	done; for f in chaos/experiments/*.json; do n=$$(basename $$f .json); \
		printf '%-18s %s\n' "$$n" "$$(grep -o '^\*\*Verdict: .*' $(PROFILE_DIR)/chaos_experiment_$${n}_report.md 2>/dev/null || echo 'no report')"; \
	done; echo "chaos-all: $$failed experiment(s) not completed"; [ $$failed -eq 0 ]

.PHONY: chaos-flamegraph
chaos-flamegraph: service-bins ## SCENARIO (cpu-burn) profiled in baseline, load, fault, recovery; a report that names what grew
	@SIMEX=$(SIMEX) ORDER_FLOW_BIN=$(dir $(SIMEX))order-flow PROFILE_DIR=$(PROFILE_DIR) \
		chaos/chaos-flamegraph.sh $(SCENARIO)

##@ Help

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*##"} /^##@/ {printf "\n\033[1m%s\033[0m\n", substr($$0, 5)} /^[a-zA-Z0-9_-]+:.*##/ {printf "  \033[36m%-22s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)
