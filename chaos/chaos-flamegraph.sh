#!/usr/bin/env bash
# chaos-flamegraph.sh SCENARIO: one fault, four profiling phases, one report.
#
# `simex chaos flamegraph` does the work (crates/simex/src/chaos_flamegraph.rs runs the phases,
# chaos_report.rs writes the diagnosis); this script keeps the entry point and the environment it
# has always read:
#   SIMEX (simex binary), ORDER_FLOW_BIN, CHAOS_PROFILE_SECONDS (30), CHAOS_LOAD_RATE (300
#   orders/s), CHAOS_SERVICE (trading-api), CHAOS_PARAMS (JSON, {}), CHAOS_P99_MS (250),
#   PROFILE_DIR (flamegraphs), SIMEX_BASE_PORT (8080), SIMEX_DATA_ROOT (data), and
#   CHAOS_PROFILE_SERVICES, CHAOS_PROFILE_TYPES, CHAOS_SKIP_BASELINE, CHAOS_WARMUP_SECONDS.
# Output: flamegraphs/chaos_<scenario>_<time>/ and flamegraphs/chaos_<scenario>_<time>_report.md;
# one progress line per phase on stderr, one summary line on stdout. Exit 1 unless the steady
# state (p99 <= CHAOS_P99_MS, success >= 99%) held during and after the fault.
set -euo pipefail
exec "${SIMEX:-target/release/simex}" chaos flamegraph "${1:-cpu-burn}"
