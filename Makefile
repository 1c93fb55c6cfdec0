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
build: ## Build every binary in release mode (with line tables for profiling)
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
bench: ## Criterion benchmarks of the matching engine against two peer order books
	$(CARGO) bench -p matching

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*##"} /^##@/ {printf "\n\033[1m%s\033[0m\n", substr($$0, 5)} /^[a-zA-Z0-9_-]+:.*##/ {printf "  \033[36m%-22s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)
