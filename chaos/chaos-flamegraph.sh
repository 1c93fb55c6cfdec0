#!/usr/bin/env bash
# chaos-flamegraph.sh SCENARIO: one fault, four profiling phases, one report.
#
# Starts the services if they are not up, then profiles every type of every service in four
# phases: baseline (idle), load (order-flow load in the background), chaos (the same load with
# SCENARIO injected into CHAOS_SERVICE) and recovery (load, fault removed). CPU profiles get
# their analysis (simex profile writes it), differential flamegraphs compare baseline->chaos and
# chaos->recovery, and flamegraphs/chaos_<scenario>_<ts>_report.md tells the story with a
# verdict. The fault is removed on every exit path (trap), so none is left behind.
#
# Environment: SIMEX (simex binary), ORDER_FLOW_BIN, CHAOS_PROFILE_SECONDS (30),
# CHAOS_LOAD_RATE (300 orders/s), CHAOS_SERVICE (trading-api), CHAOS_PARAMS (JSON, {}),
# CHAOS_P99_MS (250), PROFILE_DIR (flamegraphs), SIMEX_BASE_PORT (8080), SIMEX_DATA_ROOT (data).
set -euo pipefail

scenario=${1:-cpu-burn}
simex=${SIMEX:-target/release/simex}
order_flow=${ORDER_FLOW_BIN:-$(dirname "$simex")/order-flow}
seconds=${CHAOS_PROFILE_SECONDS:-30}
rate=${CHAOS_LOAD_RATE:-300}
service=${CHAOS_SERVICE:-trading-api}
params=${CHAOS_PARAMS:-{\}}
budget=${CHAOS_P99_MS:-250}
out_root=${PROFILE_DIR:-flamegraphs}
base=${SIMEX_BASE_PORT:-8080}
keys=${SIMEX_DATA_ROOT:-data}/trading-api/demo-keys.json
case $service in
  trading-api) port=$base ;; market-sim) port=$((base + 1)) ;; order-flow) port=$((base + 2)) ;;
  *) echo "unknown CHAOS_SERVICE $service" >&2; exit 2 ;;
esac
api=http://127.0.0.1:$base
admin=http://127.0.0.1:$port/admin/chaos
ts=$(date -u +%Y%m%dT%H%M%SZ)
name=chaos_${scenario}_${ts}
dir=$out_root/$name
report=$out_root/${name}_report.md
mkdir -p "$dir"

"$simex" status >/dev/null 2>&1 || "$simex" up

fault_id=""
load_pid=""
cleanup() {
  [ -n "$load_pid" ] && kill "$load_pid" 2>/dev/null || true
  [ -n "$fault_id" ] && curl -s -XDELETE "$admin/$fault_id" >/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Background load for one phase: its JSON report goes to $dir/<phase>_load.json.
start_load() {
  "$order_flow" load --rate "$rate" --duration "$(( seconds * 2 + 30 ))s" --json \
    --target "$api" --keys "$keys" > "$dir/$1_load.json" 2> "$dir/$1_load.log" &
  load_pid=$!
  sleep 2
}
stop_load() {
  # SIGINT: the generator stops and still prints its report.
  kill -INT "$load_pid" 2>/dev/null || true
  wait "$load_pid" 2>/dev/null || true
  load_pid=""
}
profile_phase() {
  echo "== $1: profiling every type of every service for ${seconds}s"
  "$simex" profile --all --seconds "$seconds" --no-progress --out-dir "$dir/$1"
}

profile_phase baseline
start_load load; profile_phase load; stop_load
start_load chaos
answer=$(curl -s -XPOST "$admin" -H 'content-type: application/json' \
  -d "{\"scenario\":\"$scenario\",\"params\":$params,\"duration_secs\":$(( seconds * 4 + 120 ))}")
fault_id=$(printf '%s' "$answer" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
[ -n "$fault_id" ] || { echo "injecting $scenario failed: $answer" >&2; exit 1; }
echo "== injected $scenario into $service: $fault_id"
sleep 2
profile_phase chaos
fault_state=$(curl -s "$admin/$fault_id")
curl -s -XDELETE "$admin/$fault_id" >/dev/null; fault_id=""
stop_load
start_load recovery; sleep 3; profile_phase recovery; stop_load
left=$(curl -s "$admin")

# Differential flamegraphs of each service's CPU profile.
cpu_of() { ls "$dir/$1"/cpu_profile_"$2"_*.pb.gz 2>/dev/null | head -1; }
diffs=""
for svc in trading-api market-sim order-flow; do
  for pair in baseline:chaos chaos:recovery; do
    from=${pair%%:*}; to=${pair##*:}
    a=$(cpu_of "$from" "$svc"); b=$(cpu_of "$to" "$svc")
    [ -n "$a" ] && [ -n "$b" ] || continue
    svg=$dir/diff_${svc}_${from}_to_${to}.svg
    "$simex" diff "$a" "$b" -o "$svg" >/dev/null && diffs+="$svc $from $to $svg"$'\n'
  done
done

stat() { # phase field -> value from the load JSON
  python3 -c "import json,sys;d=json.load(open(sys.argv[1]));print(eval('d'+sys.argv[2]))" \
    "$dir/$1_load.json" "$2" 2>/dev/null || echo "n/a"
}
rec_p99=$(stat recovery "['latency_ms']['p99']"); rec_ok=$(stat recovery "['success_ratio']")
verdict=deviated
if python3 -c "import sys;sys.exit(0 if float('$rec_p99')<=$budget and float('$rec_ok')>=0.99 else 1)" 2>/dev/null \
   && [ "$left" = '{"faults":[]}' ]; then verdict=completed; fi

{
  echo "# Chaos flamegraphs: $scenario in $service ($ts)"
  echo
  echo "**Verdict: $verdict** — after the fault was removed, p99 order latency was $rec_p99 ms"
  echo "(budget $budget ms) and the success ratio $rec_ok (at least 0.99); faults left: \`$left\`."
  echo
  echo "Fault: \`$scenario\` with params \`$params\` on $service; its state when removed:"
  echo
  echo '```json'; echo "$fault_state"; echo '```'
  echo
  echo "## Phases (${seconds} s profiles of every type of every service; load $rate orders/s)"
  echo
  echo "| phase | load achieved/s | success ratio | p50 ms | p99 ms | profiles |"
  echo "|---|---|---|---|---|---|"
  for phase in baseline load chaos recovery; do
    if [ -f "$dir/${phase}_load.json" ]; then
      echo "| $phase | $(stat $phase "['achieved_rate']") | $(stat $phase "['success_ratio']") | $(stat $phase "['latency_ms']['p50']") | $(stat $phase "['latency_ms']['p99']") | [$phase/]($name/$phase/) |"
    else
      echo "| $phase | idle | - | - | - | [$phase/]($name/$phase/) |"
    fi
  done
  echo
  echo "## CPU flamegraphs and analyses"
  echo
  for phase in baseline load chaos recovery; do
    for f in "$dir/$phase"/cpu_profile_*.svg; do
      [ -f "$f" ] || continue
      rel=${f#"$out_root"/}
      echo "- $phase: [$(basename "$f")]($rel) — [analysis](${rel%.svg}_analysis.md)"
    done
  done
  echo
  echo "## What changed (differential flamegraphs)"
  echo
  while read -r svc from to svg; do
    [ -n "$svc" ] || continue
    echo "### $svc: $from → $to"
    echo
    echo "[$(basename "$svg")](${svg#"$out_root"/})"
    echo
    if [ -f "${svg%.svg}.txt" ]; then echo '```'; head -30 "${svg%.svg}.txt"; echo '```'; fi
    echo
  done <<< "$diffs"
} > "$report"
echo "report: $report (verdict: $verdict)"
[ "$verdict" = completed ]
