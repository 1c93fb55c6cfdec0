#!/usr/bin/env bash
# The lock-heavy order path against the default one (BENCHMARKS.md, block lock-design; issue 13
# item 5). One deployment (release binaries, journal `batch`); rounds alternate the default
# per-book design ("fine") and the coarse one (one venue lock across risk, journal append,
# matching, settlement and the journal sync, switched on with the lock-contention fault,
# `design: coarse`). Each round drives `order-flow load --rate RATE` for SECONDS; in the middle
# round of each design a 5 s mutex and CPU profile is taken into OUT/fine and OUT/coarse, ready for
# `simex diff`. Prints a markdown table of medians on stdout.
#
# Usage: scripts/bench/lock-design.sh
# Env: ROUNDS (3), RATE (20000: above either design's peak, so achieved = capacity),
#      SECONDS (10), BASE_PORT (22180), OUT (flamegraphs/lock-design).
# Needs: cargo build --release -p trading-api -p order-flow -p market-sim -p simex -p chaos;
#        curl, python3.
set -euo pipefail
secs=$SECONDS # bash's SECONDS counts up from the value it was given: read it before any work
[ "${secs:-0}" -ge 1 ] 2>/dev/null || secs=10
cd "$(dirname "$0")/../.."

rounds=${ROUNDS:-3}
rate=${RATE:-20000}
port=${BASE_PORT:-22180}
out=${OUT:-flamegraphs/lock-design}
bin=${CARGO_TARGET_DIR:-target}/release
for b in trading-api order-flow market-sim simex fault-proxy; do
  [ -x "$bin/$b" ] || { echo "error: $bin/$b is missing: cargo build --release -p trading-api -p order-flow -p market-sim -p simex -p chaos" >&2; exit 1; }
done
work=$(mktemp -d)
export SIMEX_STATE_DIR=$work/run SIMEX_LOG_DIR=$work/logs SIMEX_DATA_ROOT=$work/data SIMEX_BASE_PORT=$port
cleanup() { "$bin/simex" down >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
"$bin/simex" up --bin-dir "$bin" --timeout 120 >/dev/null
mkdir -p "$out/fine" "$out/coarse"
api=http://127.0.0.1:$port

clear_faults() {
  for id in $(curl -s "$api/admin/chaos" | grep -o 'chaos-[0-9]*' || true); do
    curl -s -X DELETE "$api/admin/chaos/$id" >/dev/null
  done
}

# run DESIGN ROUND PROFILE(yes/no)
run() {
  clear_faults
  if [ "$1" = coarse ]; then
    curl -sf -X POST -H 'content-type: application/json' \
      -d "{\"scenario\":\"lock-contention\",\"params\":{\"design\":\"coarse\"},\"duration_secs\":$((secs + 30))}" \
      "$api/admin/chaos" >/dev/null
  fi
  "$bin/order-flow" load --rate "$rate" --duration "${secs}s" --json --target "$api" \
    --keys "$work/data/trading-api/demo-keys.json" >"$work/$1-$2.json" 2>/dev/null &
  local load=$!
  if [ "$3" = yes ]; then
    sleep 2
    "$bin/simex" profile --type mutex --seconds 5 --service trading-api --base-port "$port" --out-dir "$out/$1" --no-progress >/dev/null 2>&1 &
    local mutex=$!
    "$bin/simex" profile --type cpu --seconds 5 --service trading-api --base-port "$port" --out-dir "$out/$1" --no-progress >/dev/null 2>&1 || true
    wait "$mutex" || true
  fi
  wait "$load"
  clear_faults
}

middle=$(( (rounds + 1) / 2 ))
for r in $(seq 1 "$rounds"); do
  for design in fine coarse; do
    run "$design" "$r" "$([ "$r" = "$middle" ] && echo yes || echo no)"
    echo "round $r $design done" >&2
  done
done

python3 - "$work" "$rounds" <<'EOF'
import json, statistics, sys
work, rounds = sys.argv[1], int(sys.argv[2])
def med(design, key):
    values = []
    for r in range(1, rounds + 1):
        d = json.load(open(f"{work}/{design}-{r}.json"))
        values.append(d["achieved_rate"] if key == "rate" else d["latency_ms"][key])
    return statistics.median(values), values
fine, fine_all = med("fine", "rate")
coarse, coarse_all = med("coarse", "rate")
print("| Order path | orders/s (median) | per round | p50 ms | p99 ms |")
print("|---|---:|---|---:|---:|")
for name, design, rate, runs in [("per-book (default)", "fine", fine, fine_all), ("coarse", "coarse", coarse, coarse_all)]:
    print(f"| {name} | {rate:,.0f} | {' '.join(f'{v:.0f}' for v in runs)} | {med(design, 'p50')[0]:.1f} | {med(design, 'p99')[0]:.1f} |")
print(f"\ncoarse / per-book throughput: {coarse / fine:.2f}")
EOF
echo "profiles: $out/fine and $out/coarse (simex diff <fine mutex> <coarse mutex>)" >&2
