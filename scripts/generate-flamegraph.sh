#!/usr/bin/env bash
# Capture a profile from a running service and turn it into a flamegraph, in one step.
#
# Usage: scripts/generate-flamegraph.sh [type] [duration] [port]
#   type      cpu (default), heap, allocs, goroutine (tokio tasks), block, mutex
#   duration  seconds to capture; 0 = a snapshot. Default: 30 for cpu and allocs, 0 otherwise.
#             (A CPU profile always runs for at least 1 s.)
#   port      8080 trading-api (default), 8081 market-sim, 8082 order-flow
#
# Examples:
#   scripts/generate-flamegraph.sh cpu 30 8080
#   scripts/generate-flamegraph.sh heap 0 8081
#   scripts/generate-flamegraph.sh goroutine 0 8080
#
# Writes flamegraphs/{type}_profile_{service}_{timestamp}.pb.gz, .svg and _top.txt, plus
# _analysis.md for CPU profiles (PROFILE_DIR changes the folder). This is `simex profile`;
# see `simex profile --help` for more options.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$SIMEX_ROOT"

usage() { script_usage; }
case "${1:-}" in -h | --help) usage; exit 0 ;; esac
[[ $# -le 3 ]] || { usage >&2; exit 2; }

type="${1:-cpu}"
duration="${2:-}"
port="${3:-8080}"
case "$type" in
    cpu | heap | allocs | goroutine | block | mutex) ;;
    *) die "unknown profile type '$type': use cpu, heap, allocs, goroutine, block or mutex" ;;
esac
if [[ -n "$duration" && ! "$duration" =~ ^[0-9]+$ ]]; then
    die "duration '$duration' is not a whole number of seconds (0 = snapshot)"
fi
[[ "$port" =~ ^[0-9]+$ && "$port" -ge 1 && "$port" -le 65535 ]] ||
    die "port '$port' is not a port number (8080 trading-api, 8081 market-sim, 8082 order-flow)"

find_simex
args=(profile --type "$type" --port "$port" --out-dir "$PROFILE_DIR")
[[ -n "$duration" ]] && args+=(--seconds "$duration")
exec "$SIMEX" "${args[@]}"
