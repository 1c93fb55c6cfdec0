#!/usr/bin/env bash
# Open-model load against trading-api's order entry: a constant arrival rate, latency measured
# from each order's intended send time (coordinated omission corrected, as wrk2 and oha do), HDR
# percentiles, achieved rate, errors by status, a live progress line, optional JSON.
#
# Usage: scripts/load-generator.sh [--rate R] [--duration 30s] [--connections C] [--json]
#                                  [--target URL] [--keys FILE] [--symbols A,B] [--quiet]
# Defaults suit `make up`: target http://127.0.0.1:8080, 1000 orders/s, 32 connections, the demo
# keys trading-api writes to ./data/trading-api/demo-keys.json; runs until Ctrl-C unless
# --duration is given. Every flag is passed to `order-flow load` (see `order-flow load --help`).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

target="${SIMEX_EXCHANGE_URL:-http://127.0.0.1:8080}"
args=("$@")
help=false
for ((i = 0; i < ${#args[@]}; i++)); do
    case "${args[$i]}" in
        --target) target="${args[$((i + 1))]:-$target}" ;;
        --target=*) target="${args[$i]#--target=}" ;;
        -h|--help) help=true ;;
    esac
done

# --help needs neither a running exchange nor a build: this script's own usage, then the
# generator's full flag list when its binary is already there.
if $help; then
    sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
    for candidate in "${ORDER_FLOW_BIN:-}" "${CARGO_TARGET_DIR:-$root/target}/release/order-flow" \
        "${CARGO_TARGET_DIR:-$root/target}/debug/order-flow"; do
        if [[ -n "$candidate" && -x "$candidate" ]]; then
            echo
            exec "$candidate" load --help
        fi
    done
    echo
    echo "(build it with 'cargo build --release -p order-flow' to see every flag of 'order-flow load')"
    exit 0
fi

# Find (or build) the order-flow binary.
target_dir="${CARGO_TARGET_DIR:-$root/target}"
bin="${ORDER_FLOW_BIN:-}"
if [[ -z "$bin" ]]; then
    for candidate in "$target_dir/release/order-flow" "$target_dir/debug/order-flow"; do
        if [[ -x "$candidate" ]]; then bin="$candidate"; break; fi
    done
fi
if [[ -z "$bin" ]]; then
    echo "building order-flow (release)..." >&2
    cargo build --release -p order-flow --bin order-flow >&2
    bin="$target_dir/release/order-flow"
fi

# A clear message, not a stack of connection errors, when the exchange is not up.
if command -v curl >/dev/null 2>&1; then
    if ! curl -fsS -o /dev/null --max-time 3 "$target/health" 2>/dev/null; then
        echo "error: trading-api is not running at $target (start it with \`make up\`, or pass --target URL)" >&2
        exit 2
    fi
fi

defaults=()
has() { local f; for f in "${args[@]}"; do [[ "$f" == "$1" || "$f" == "$1="* ]] && return 0; done; return 1; }
has --rate || defaults+=(--rate 1000)
has --connections || defaults+=(--connections 32)
has --target || defaults+=(--target "$target")
exec "$bin" load "${defaults[@]}" "${args[@]}"
