#!/usr/bin/env bash
# End-to-end benchmarks of order entry over HTTP on loopback (BENCHMARKS.md §3), each comparison
# measured side by side in one run:
#   orders   trading-api (per-symbol locks, journal batch) vs minimal-order-endpoint (crates/e2e-bench:
#            same JSON in, same JSON shape out, nothing behind it), wrk, same connections.
#   latency  `order-flow load` (open model, coordinated-omission corrected) at LATENCY_SHARE (0.5)
#            of the trading-api peak just measured: p50/p99/p99.9.
#   locking  --locking global vs per-symbol, orders spread over 3 symbols (orders-multi.lua), and
#            the top of each run's /debug/pprof/mutex (go tool pprof -top).
#   overhead trading-api with a 99 Hz CPU profile running vs none; jemalloc heap sampling on vs
#            off (MALLOC_CONF=prof:false); which clock drove the profiler (pprof -comments).
# Rounds interleave the sides (A B A B ...) so both share the machine's background load; each side
# gets a fresh server; medians per side and ratios of medians.
#
# Usage: ROUNDS=3 SECONDS=8 scripts/bench/e2e.sh            # prints the markdown block on stdout
#        scripts/bench/e2e.sh --write BENCHMARKS.md            # also ws-fanout.sh, render.sh (if
#            present) and `make bench` (BENCH_MATCHING=1), each between <!-- bench-e2e:NAME begin/end -->
# Env: ROUNDS (3), SECONDS (8), ITEMS ("orders latency locking overhead"), CONNS (16),
#      WRK_THREADS (2), SERVER_CPUS / CLIENT_CPUS (taskset lists; default unpinned), LATENCY_SHARE,
#      LOCK_JOURNAL (journal mode of the locking comparison; default none).
# Needs: cargo build --release -p trading-api -p order-flow -p e2e-bench; wrk, curl, python3, go.
set -euo pipefail
secs=$SECONDS # bash's SECONDS counts up from the value it was given: read it before any work
[ "${secs:-0}" -ge 1 ] 2>/dev/null || secs=8
cd "$(dirname "$0")/../.."

if [ "${1:-}" = "--write" ]; then
  out=${2:?usage: e2e.sh --write BENCHMARKS.md}
  # Replaces the block between NAME's markers in $out (appends markers + block when missing).
  place() { # $1 name, $2 file holding the block
    python3 - "$out" "$1" "$2" <<'PY'
import sys, re
path, name, block_file = sys.argv[1:4]
text = open(path).read()
block = open(block_file).read().rstrip("\n") + "\n"
begin, end = f"<!-- bench-e2e:{name} begin -->", f"<!-- bench-e2e:{name} end -->"
if begin in text and end in text:
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    text = head + begin + "\n" + block + end + tail
else:
    text = text.rstrip("\n") + "\n\n" + begin + "\n" + block + end + "\n"
open(path, "w").write(text)
PY
    echo "e2e: wrote the $1 block into $out" >&2
  }
  stamp() { echo "_Measured $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg) at the end; reproduce: \`$1\`._"; }
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  SECONDS=$secs "$0" >"$tmp/http"
  { cat "$tmp/http"; echo; stamp "make bench-e2e ROUNDS=${ROUNDS:-3} SECONDS=$secs"; } >"$tmp/http.md"
  place http "$tmp/http.md"
  for name in ws-fanout render; do
    if [ -x "scripts/bench/$name.sh" ]; then
      if "scripts/bench/$name.sh" >"$tmp/$name"; then
        { cat "$tmp/$name"; echo; stamp "scripts/bench/$name.sh"; } >"$tmp/$name.md"
        place "$name" "$tmp/$name.md"
      else echo "e2e: scripts/bench/$name.sh failed; its block is left as it was" >&2; fi
    fi
  done
  if [ "${BENCH_MATCHING:-0}" = 1 ]; then
    if make --no-print-directory bench >"$tmp/matching" 2>&1; then
      { echo '```text'; grep -E '^(stream|  |[a-z_]+ +[0-9]|.*Mcmd)' "$tmp/matching" | head -80; echo '```'
        echo; stamp "make bench"; } >"$tmp/matching.md"
      place matching "$tmp/matching.md"
    else echo "e2e: make bench failed; see its output above" >&2; cat "$tmp/matching" >&2; fi
  fi
  exit 0
fi

rounds=${ROUNDS:-3}
items=${ITEMS:-orders latency locking overhead}
conns=${CONNS:-16}
wrk_threads=${WRK_THREADS:-2}
server_cpus=${SERVER_CPUS:-}
client_cpus=${CLIENT_CPUS:-}
share=${LATENCY_SHARE:-0.5}
# The locking comparison runs without fsync: waiting for the disk would hide the locks.
lock_journal=${LOCK_JOURNAL:-none}
bin=${CARGO_TARGET_DIR:-target}/release
has() { [[ " $items " == *" $1 "* ]]; }
for tool in wrk curl python3; do
  command -v $tool >/dev/null || { echo "$tool not found (make deps)" >&2; exit 1; }
done
for b in trading-api order-flow minimal-order-endpoint; do
  [ -x "$bin/$b" ] || { echo "$bin/$b not found: cargo build --release -p trading-api -p order-flow -p e2e-bench" >&2; exit 1; }
done
gotool=$(command -v go || true)

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port"
work=$(mktemp -d)
pid=""
cleanup() { if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi; rm -rf "$work"; }
trap cleanup EXIT
log() { echo "e2e: $*" >&2; }
pin() { local cpus=$1; shift; if [ -n "$cpus" ]; then taskset -c "$cpus" "$@"; else "$@"; fi; }
# The server's command prefix: a plain array (not `pin`), so `$!` is the server's own pid.
server_pin=(); [ -z "$server_cpus" ] || server_pin=(taskset -c "$server_cpus")
wait_ready() {
  for _ in $(seq 300); do
    if curl -fs "$url/ready" >/dev/null 2>&1 && { [ -z "${1:-}" ] || [ -s "$1" ]; }; then return 0; fi
    kill -0 "$pid" 2>/dev/null || { echo "server exited; log:" >&2; cat "$work/log" >&2; exit 1; }
    sleep 0.1
  done
  echo "server not ready after 30 s; log:" >&2; cat "$work/log" >&2; exit 1
}
# trading-api with 12 funded demo accounts (wrk uses 0 and 1; order-flow load starts at 6).
# $1: environment assignments ("" for none); the rest: extra flags.
start_api() {
  local envs=$1; shift
  rm -rf "$work/data" "$work/keys.json"
  "${server_pin[@]}" env $envs "$bin/trading-api" --listen "127.0.0.1:$port" \
    --data-dir "$work/data" --demo-accounts 12 --demo-keys-file "$work/keys.json" "$@" \
    >"$work/log" 2>&1 &
  pid=$!
  wait_ready "$work/keys.json"
  export BUY_KEY SELL_KEY
  BUY_KEY=$(python3 -c "import json;print(json.load(open('$work/keys.json'))['accounts'][0]['api_key'])")
  SELL_KEY=$(python3 -c "import json;print(json.load(open('$work/keys.json'))['accounts'][1]['api_key'])")
}
start_minimal() {
  "${server_pin[@]}" "$bin/minimal-order-endpoint" --listen "127.0.0.1:$port" >"$work/log" 2>&1 &
  pid=$!
  wait_ready ""
  export BUY_KEY=bench-buyer SELL_KEY=bench-seller
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""; }
# Prints "rps p50_ms p99_ms"; refuses a run where more than 1% of answers were not 2xx (the
# figure would measure the error path, not order entry).
run_wrk() { # $1: lua script
  pin "$client_cpus" wrk -t"$wrk_threads" -c"$conns" -d"${secs}s" -s "scripts/bench/$1" "$url" |
    awk '/^requests/{n=$2} /^non2xx/{bad=$2} /^socket_errors/{bad+=$2} /^rps/{rps=$2} /^p50_ms/{p50=$2} /^p99_ms/{p99=$2}
         END { if (n == 0 || bad > n / 100) { print "wrk: " bad " of " n " requests failed" > "/dev/stderr"; exit 1 } print rps, p50, p99 }'
}
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {if (NR==0) print "nan"; else print (NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2}'; }
col() { local i=$1; shift; for line in "$@"; do echo "$line" | cut -d' ' -f"$i"; done; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
int() { printf '%.0f' "$1"; }
# "fsyncs mean_fsync_ms orders_per_fsync" from trading-api's journal metrics.
journal_stats() {
  curl -fs "$url/metrics" | awk '/^simex_journal_fsync_seconds_sum/{s=$2} /^simex_journal_fsync_seconds_count/{n=$2}
    /^simex_journal_append_seconds_count/{a=$2} END { if (n > 0) printf "%d %.3f %.1f\n", n, s / n * 1000, a / n; else print "0 0 0" }'
}
# The top of a Go mutex/CPU profile, as markdown-safe text.
pprof_top() { # $1 profile, $2 lines
  if [ -n "$gotool" ]; then "$gotool" tool pprof -top "$1" 2>/dev/null | sed -n "1,$2p"; else echo "(go not installed)"; fi
}

declare -a M=() N=() A=() B=() C=() G=() P=() F=()
last() { [ $# -gt 0 ] && echo "${@: -1}" || true; }
cpu_clock="?"
for r in $(seq "$rounds"); do
  if has orders || has overhead; then
    if has orders; then start_minimal; M+=("$(run_wrk orders.lua)"); stop; fi
    # The exchange without waiting for fsync: the CPU cost of order entry, and the base of the
    # profiler comparison (a 2% effect is invisible under the disk's noise).
    start_api "" --journal-sync none
    N+=("$(run_wrk orders.lua)")
    if has overhead; then
      curl -fs -o "$work/cpu.pb.gz" "$url/debug/pprof/profile?seconds=$((secs + 2))" &
      prof=$!
      sleep 0.5
      B+=("$(run_wrk orders.lua)")
      wait $prof || log "CPU profile request failed"
      stop
      start_api "MALLOC_CONF=prof:false" --journal-sync none
      C+=("$(run_wrk orders.lua)")
    fi
    stop
    if has orders; then
      start_api ""
      A+=("$(run_wrk orders.lua)")
      F+=("$(journal_stats)")
      stop
    fi
  fi
  if has locking; then
    start_api "" --locking global --journal-sync "$lock_journal"
    G+=("$(run_wrk orders-multi.lua)")
    curl -fs -o "$work/mutex-global.pb.gz" "$url/debug/pprof/mutex" || true
    stop
    start_api "" --journal-sync "$lock_journal"
    P+=("$(run_wrk orders-multi.lua)")
    curl -fs -o "$work/mutex-per-symbol.pb.gz" "$url/debug/pprof/mutex" || true
    stop
  fi
  log "round $r/$rounds: minimal=[$(last "${M[@]}")] api-batch=[$(last "${A[@]}")] api-none=[$(last "${N[@]}")] cpu-prof=[$(last "${B[@]}")] heap-off=[$(last "${C[@]}")] global=[$(last "${G[@]}")] per-symbol=[$(last "${P[@]}")] (rps p50 p99)"
done

echo "Rounds: $rounds × ${secs} s per side, interleaved; wrk -t$wrk_threads -c$conns; server CPUs: ${server_cpus:-any}, client CPUs: ${client_cpus:-any}; machine: $(nproc) CPUs."
echo
peak=""
if has orders; then
  mm=$(median $(col 1 "${M[@]}")); ma=$(median $(col 1 "${A[@]}")); peak=$ma
  echo "**Order entry vs the minimal endpoint** (\`scripts/bench/orders.lua\`: buyer and seller alternate at one price, every second order trades)"
  echo
  echo "| side | median orders/s | rounds | median p50 ms | median p99 ms |"
  echo "|---|---|---|---|---|"
  echo "| minimal-order-endpoint | $(int "$mm") | $(col 1 "${M[@]}" | xargs printf '%.0f ' ) | $(median $(col 2 "${M[@]}")) | $(median $(col 3 "${M[@]}")) |"
  echo "| trading-api (journal batch: answer after the group fsync) | $(int "$ma") | $(col 1 "${A[@]}" | xargs printf '%.0f ') | $(median $(col 2 "${A[@]}")) | $(median $(col 3 "${A[@]}")) |"
  mn=$(median $(col 1 "${N[@]}"))
  echo "| trading-api --journal-sync none (reference) | $(int "$mn") | $(col 1 "${N[@]}" | xargs printf '%.0f ') | $(median $(col 2 "${N[@]}")) | $(median $(col 3 "${N[@]}")) |"
  echo
  echo "trading-api ÷ minimal: **$(ratio "$ma" "$mm")** (goal ≥ 0.7); without fsync: $(ratio "$mn" "$mm")."
  echo "Journal in the batch runs (median per round): $(median $(col 2 "${F[@]}")) ms per fsync, $(median $(col 3 "${F[@]}")) orders per fsync."
  echo
fi
if has overhead; then
  mn=$(median $(col 1 "${N[@]}")); mb=$(median $(col 1 "${B[@]}")); mc=$(median $(col 1 "${C[@]}"))
  [ -n "$gotool" ] && [ -s "$work/cpu.pb.gz" ] &&
    cpu_clock=$("$gotool" tool pprof -comments "$work/cpu.pb.gz" 2>/dev/null | tr '\n' ' ' | sed 's/ *$//')
  echo "**Profiler overhead** (same script, \`--journal-sync none\` so the server is CPU-bound; the CPU profile covers the whole wrk run)"
  echo
  echo "| side | median orders/s | rounds | ratio to plain |"
  echo "|---|---|---|---|"
  echo "| plain (heap sampling on, the default) | $(int "$mn") | $(col 1 "${N[@]}" | xargs printf '%.0f ') | 1 |"
  echo "| 99 Hz CPU profile running | $(int "$mb") | $(col 1 "${B[@]}" | xargs printf '%.0f ') | $(ratio "$mb" "$mn") |"
  echo "| heap sampling off (MALLOC_CONF=prof:false) | $(int "$mc") | $(col 1 "${C[@]}" | xargs printf '%.0f ') | $(ratio "$mc" "$mn") |"
  echo
  echo "CPU profile's clock (\`go tool pprof -comments\`, last round): ${cpu_clock:-none recorded}."
  echo
fi
if has locking; then
  mg=$(median $(col 1 "${G[@]}")); mp=$(median $(col 1 "${P[@]}"))
  echo "**Global lock vs per-symbol locks** (\`scripts/bench/orders-multi.lua\`: pairs cycle over BTC-USD, ETH-USD, SOL-USD; \`--journal-sync $lock_journal\` in both, so the disk does not hide the locks)"
  echo
  echo "| --locking | median orders/s | rounds | median p99 ms |"
  echo "|---|---|---|---|"
  echo "| per-symbol | $(int "$mp") | $(col 1 "${P[@]}" | xargs printf '%.0f ') | $(median $(col 3 "${P[@]}")) |"
  echo "| global | $(int "$mg") | $(col 1 "${G[@]}" | xargs printf '%.0f ') | $(median $(col 3 "${G[@]}")) |"
  echo
  echo "global ÷ per-symbol: **$(ratio "$mg" "$mp")**. Mutex profile of the last round (\`go tool pprof -top\`, delay since start):"
  for mode in global per-symbol; do
    echo
    echo "\`--locking $mode\`:"
    echo '```text'
    if [ -s "$work/mutex-$mode.pb.gz" ]; then pprof_top "$work/mutex-$mode.pb.gz" 9 | sed -n '4,9p'; else echo "(no profile)"; fi
    echo '```'
  done
  echo
fi
if has latency; then
  if [ -z "$peak" ]; then
    start_api ""; peak=$(col 1 "$(run_wrk orders.lua)"); stop
  fi
  rate=$(awk -v p="$peak" -v s="$share" 'BEGIN { printf "%.0f", p * s }')
  # One order-flow load run against a fresh trading-api; $@: its extra flags. Prints
  # "p50 p99 p99.9 achieved ok_ratio max".
  load_run() {
    start_api "" "$@"
    # A two-sided BTC-USD book from accounts 0 and 1, as services/order-flow/tests/common seeds it.
    for level in 1 2 3 4 5; do
      for spec in "buy 0 $((60000 - 10 * level))" "sell 1 $((60000 + 10 * level))"; do
        set -- $spec
        key=$(python3 -c "import json;print(json.load(open('$work/keys.json'))['accounts'][$2]['api_key'])")
        curl -fs -o /dev/null -X POST -H 'Content-Type: application/json' -H "X-API-Key: $key" \
          -d "{\"symbol\":\"BTC-USD\",\"side\":\"$1\",\"type\":\"limit\",\"price\":\"$3.00\",\"quantity\":\"8\",\"time_in_force\":\"gtc\"}" \
          "$url/api/v1/orders"
      done
    done
    pin "$client_cpus" "$bin/order-flow" load --target "$url" --keys "$work/keys.json" --rate "$rate" \
      --duration "${secs}s" --symbols BTC-USD --json --quiet >"$work/load.json"
    stop
    python3 -c "
import json; r = json.load(open('$work/load.json')); l = r['latency_ms']
print(l['p50'], l['p99'], l['p99_9'], r['achieved_rate'], r['success_ratio'], l['max'])"
  }
  declare -a L=() LN=()
  for r in $(seq "$rounds"); do
    L+=("$(load_run)")
    LN+=("$(load_run --journal-sync none)")
    log "latency round $r/$rounds at $rate/s: batch [$(last "${L[@]}")] none [$(last "${LN[@]}")] (p50 p99 p99.9 ms, achieved/s, ok ratio, max ms)"
  done
  echo "**Latency at a fixed rate** (\`order-flow load --rate $rate\`: $share of the journal-batch peak above, open model, coordinated-omission corrected; BTC-USD book seeded with 5 levels a side; rounds alternate journal batch and none)"
  echo
  echo "| journal | round | p50 ms | p99 ms | p99.9 ms | max ms | achieved orders/s | ok ratio |"
  echo "|---|---|---|---|---|---|---|---|"
  for side in batch none; do
    if [ $side = batch ]; then set -- "${L[@]}"; else set -- "${LN[@]}"; fi
    rows=("$@")
    i=0
    for line in "${rows[@]}"; do
      i=$((i + 1)); set -- $line
      echo "| $side | $i | $1 | $2 | $3 | $6 | $(int "$4") | $5 |"
    done
    echo "| **$side median** | | **$(median $(col 1 "${rows[@]}"))** | **$(median $(col 2 "${rows[@]}"))** | **$(median $(col 3 "${rows[@]}"))** | $(median $(col 6 "${rows[@]}")) | $(int "$(median $(col 4 "${rows[@]}"))") | |"
  done
  echo
  echo "Goal p99 < 2 ms."
fi
