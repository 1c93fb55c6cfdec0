#!/usr/bin/env bash
# Profiler overhead on order entry: wrk against a release trading-api on loopback,
#   A) plain (jemalloc with heap sampling on, the default),
#   B) while a 99 Hz CPU profile runs for the whole wrk run,
#   C) heap sampling off (MALLOC_CONF=prof:false).
# Runs ROUNDS rounds of A, B, C interleaved (so they share the machine's background load) and
# prints medians and ratios. Usage: scripts/bench/profiler-overhead.sh [ROUNDS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-5}
secs=${2:-8}
conns=${CONNS:-16}
target=${CARGO_TARGET_DIR:-target}
bin="$target/release/trading-api"
command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk (or make deps)" >&2; exit 1; }
[ -x "$bin" ] || { echo "$bin not found: cargo build --release -p trading-api" >&2; exit 1; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

start() { # $1: extra env (e.g. MALLOC_CONF=prof:false)
  rm -rf "$work/data"
  env $1 "$bin" --listen "127.0.0.1:$port" --data-dir "$work/data" --demo-accounts 2 \
    --demo-keys-file "$work/keys.json" >"$work/log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -fs "127.0.0.1:$port/ready" >/dev/null 2>&1 && break; sleep 0.1; done
  export BUY_KEY SELL_KEY
  BUY_KEY=$(python3 -c "import json;print(json.load(open('$work/keys.json'))['accounts'][0]['api_key'])")
  SELL_KEY=$(python3 -c "import json;print(json.load(open('$work/keys.json'))['accounts'][1]['api_key'])")
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""; }
# Prints requests/s; refuses a run where more than 1% of answers were not 2xx (the figure would
# measure the error path, not order entry).
run_wrk() {
  wrk -t2 -c"$conns" -d"${secs}s" -s scripts/bench/orders.lua "http://127.0.0.1:$port" |
    awk '/^requests/{n=$2} /^non2xx/{bad=$2} /^socket_errors/{bad+=$2} /^rps/{rps=$2}
         END { if (n == 0 || bad > n / 100) { print "wrk: " bad " of " n " requests failed" > "/dev/stderr"; exit 1 } print rps }'
}

declare -a A B C
for r in $(seq "$rounds"); do
  start ""
  A+=("$(run_wrk)")
  curl -s -o /dev/null "127.0.0.1:$port/debug/pprof/profile?seconds=$((secs + 2))" &
  sleep 0.5
  B+=("$(run_wrk)")
  wait $! 2>/dev/null || true
  stop
  start "MALLOC_CONF=prof:false"
  C+=("$(run_wrk)")
  stop
  echo "round $r: plain ${A[-1]} rps, cpu-profiling ${B[-1]} rps, heap-sampling-off ${C[-1]} rps" >&2
done
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2}'; }
ma=$(median "${A[@]}"); mb=$(median "${B[@]}"); mc=$(median "${C[@]}")
echo "median rps: plain=$ma cpu_profile=$mb heap_sampling_off=$mc"
awk -v a="$ma" -v b="$mb" -v c="$mc" 'BEGIN {
  printf "cpu profile running: %.3f of plain (%.1f%% loss)\n", b/a, (1-b/a)*100;
  printf "jemalloc heap sampling on (plain) vs off: %.3f (%.1f%% loss)\n", a/c, (1-a/c)*100 }'
