#!/usr/bin/env bash
# What profiling costs the orders (BENCHMARKS.md, "Cost of profiling on order latency"):
# `order-flow load` against trading-api in three interleaved modes per round, each on a fresh
# trading-api with the same seeded book:
#   none       no profiling;
#   goroutine  goroutine?debug=2 fetched once a second (each fetch a fresh dump: the cache
#              lasts 1 s) for the whole run;
#   cpu10      back-to-back 10 s CPU profiles (profile?seconds=10) for the whole run.
# Prints each round, then the medians of p50/p99 and their ratios to `none`.
# Usage: scripts/bench/profiling-cost.sh [ROUNDS] [SECONDS] [RATE]
# Needs: cargo build --release -p trading-api -p order-flow (BIN_DIR overrides the directory).
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-3} secs=${2:-12} rate=${3:-300}
bin=${BIN_DIR:-${CARGO_TARGET_DIR:-target}/release}
for b in trading-api order-flow; do
  [ -x "$bin/$b" ] || { echo "$bin/$b not found: cargo build --release -p trading-api -p order-flow" >&2; exit 1; }
done
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port"
work=$(mktemp -d)
pid="" poller=""
cleanup() {
  [ -z "$poller" ] || kill "$poller" 2>/dev/null || true
  [ -z "$pid" ] || { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
  rm -rf "$work"
}
trap cleanup EXIT
key() { python3 -c "import json;print(json.load(open('$work/keys.json'))['accounts'][$1]['api_key'])"; }

start_api() {
  rm -rf "$work/data" "$work/keys.json"
  "$bin/trading-api" --listen "127.0.0.1:$port" --data-dir "$work/data" --demo-accounts 12 \
    --demo-keys-file "$work/keys.json" >"$work/log" 2>&1 &
  pid=$!
  for _ in $(seq 300); do
    curl -fs "$url/ready" >/dev/null 2>&1 && [ -s "$work/keys.json" ] && break
    sleep 0.1
  done
  # The two-sided BTC-USD book services/order-flow/tests/common seeds.
  for level in 1 2 3 4 5; do
    for spec in "buy 0 $((60000 - 10 * level))" "sell 1 $((60000 + 10 * level))"; do
      set -- $spec
      curl -fs -o /dev/null -X POST -H 'Content-Type: application/json' -H "X-API-Key: $(key "$2")" \
        -d "{\"symbol\":\"BTC-USD\",\"side\":\"$1\",\"type\":\"limit\",\"price\":\"$3.00\",\"quantity\":\"8\",\"time_in_force\":\"gtc\"}" \
        "$url/api/v1/orders"
    done
  done
}
stop_api() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""; }

# Prints "p50 p99" (ms) of one load run in mode $1.
run() {
  start_api
  case $1 in
    goroutine) (while :; do curl -s -o /dev/null -m 10 "$url/debug/pprof/goroutine?debug=2"; sleep 1; done) & poller=$! ;;
    cpu10) (while :; do curl -s -o /dev/null -m 30 "$url/debug/pprof/profile?seconds=10"; done) & poller=$! ;;
  esac
  "$bin/order-flow" load --target "$url" --keys "$work/keys.json" --rate "$rate" \
    --duration "${secs}s" --connections 16 --symbols BTC-USD --json --quiet >"$work/load.json"
  [ -z "$poller" ] || { kill "$poller" 2>/dev/null || true; wait "$poller" 2>/dev/null || true; poller=""; }
  stop_api
  python3 -c "import json; l = json.load(open('$work/load.json'))['latency_ms']; print(l['p50'], l['p99'])"
}

median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2}'; }
declare -A p50 p99
modes="none goroutine cpu10"
for r in $(seq "$rounds"); do
  for m in $modes; do
    read -r a b <<<"$(run "$m")"
    p50[$m]="${p50[$m]:-} $a"; p99[$m]="${p99[$m]:-} $b"
    echo "round $r $m: p50 $a ms, p99 $b ms" >&2
  done
done
m50=$(median ${p50[none]}) m99=$(median ${p99[none]})
echo "| mode | p50 ms (median of $rounds) | p99 ms | p50 ratio | p99 ratio |"
echo "|---|---|---|---|---|"
for m in $modes; do
  a=$(median ${p50[$m]}) b=$(median ${p99[$m]})
  echo "| $m | $a | $b | $(awk -v x="$a" -v y="$m50" 'BEGIN{printf "%.2f", x/y}') | $(awk -v x="$b" -v y="$m99" 'BEGIN{printf "%.2f", x/y}') |"
done
