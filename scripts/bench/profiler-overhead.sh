#!/usr/bin/env bash
# Profiler overhead on order entry (BENCHMARKS.md §3, "Profiler overhead"): trading-api plain vs
# with a 99 Hz CPU profile running vs heap sampling off, interleaved rounds. The measurement lives
# in e2e.sh (item `overhead`); this is its short form, printing just that table.
# Usage: scripts/bench/profiler-overhead.sh [ROUNDS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-5} SECONDS=${2:-8} ITEMS=overhead exec scripts/bench/e2e.sh
