#!/usr/bin/env bash
# WebSocket market-data fan-out (BENCHMARKS.md, block ws-fanout; issue 8 item 5): SUBSCRIBERS
# clients subscribed to trades:BTC-USD on trading-api, trades driven over REST at RATE per second
# (two demo accounts crossing at one price), latency = receipt − the trade message's ts_us (set
# when the server builds the message, right after matching). Two cases, interleaved per round, each
# on a fresh server: "plain" and "+ STALLED stalled" (that many more subscribers that never read).
# Prints a markdown block on stdout; medians over ROUNDS.
#
# Usage: scripts/bench/ws-fanout.sh
# Env: ROUNDS (3), SUBSCRIBERS (1000), STALLED (10), RATE (50 trades/s), SECONDS (20),
#      SERVER_CPUS (0), CLIENT_CPUS (1): taskset lists, "" for unpinned,
#      JOURNAL (write): trading-api's --journal-sync. Market data is released only once its
#      trade's journal record is durable (visibility.rs), so in `batch` the fsync (on a shared
#      disk, tens of ms at p99) is part of trade-to-client; `write` makes a record durable once
#      written to the OS and leaves the market-data path itself to measure.
#      WS_QUEUE: trading-api's --ws-queue if set (default: the server's, 4096). A stalled
#      subscriber is disconnected only once that queue fills, and it starts filling only after the
#      server's socket send buffer (autotuned, up to tcp_wmem's 4 MB) is full: on loopback that is
#      thousands of trades, more than a run drives, so the disconnect count is usually 0.
# Needs: cargo build --release -p trading-api -p ws-bench; curl, python3.
set -euo pipefail
secs=$SECONDS # bash's SECONDS counts up from the value it was given: read it before any work
[ "${secs:-0}" -ge 1 ] 2>/dev/null || secs=20
cd "$(dirname "$0")/../.."

rounds=${ROUNDS:-3}
subs=${SUBSCRIBERS:-1000}
stalled=${STALLED:-10}
rate=${RATE:-50}
ws_queue=${WS_QUEUE:-}
journal=${JOURNAL:-write}
queue_flag=(); [ -z "$ws_queue" ] || queue_flag=(--ws-queue "$ws_queue")
server_cpus=${SERVER_CPUS-0}
client_cpus=${CLIENT_CPUS-1}
bin=${CARGO_TARGET_DIR:-target}/release
for b in trading-api ws-fanout; do
  [ -x "$bin/$b" ] || { echo "$bin/$b not found: cargo build --release -p trading-api -p ws-bench" >&2; exit 1; }
done
# Each subscriber is a socket on both sides.
need=$((subs + stalled + 256))
[ "$(ulimit -n)" -ge "$need" ] || ulimit -n "$need" || { echo "ulimit -n $need refused" >&2; exit 1; }

work=$(mktemp -d)
pid=""
cleanup() { if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi; rm -rf "$work"; }
trap cleanup EXIT
# Commands as arrays, not a shell function: `fn &` would put a subshell between $! and the server,
# and killing $! would leave the server running.
server_pin=(); [ -z "$server_cpus" ] || server_pin=(taskset -c "$server_cpus")
client_pin=(); [ -z "$client_cpus" ] || client_pin=(taskset -c "$client_cpus")

start_api() {
  # A fresh port per run: the last run's sockets may still hold the old one.
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  rm -rf "$work/data" "$work/keys.json"
  "${server_pin[@]}" "$bin/trading-api" --listen "127.0.0.1:$port" --data-dir "$work/data" \
    --demo-accounts 2 --demo-keys-file "$work/keys.json" --journal-sync "$journal" \
    "${queue_flag[@]}" >"$work/log" 2>&1 &
  pid=$!
  for _ in $(seq 300); do
    if curl -fs "http://127.0.0.1:$port/ready" >/dev/null 2>&1 && [ -s "$work/keys.json" ]; then return 0; fi
    kill -0 "$pid" 2>/dev/null || { echo "trading-api exited; log:" >&2; cat "$work/log" >&2; exit 1; }
    sleep 0.1
  done
  echo "trading-api not ready after 30 s" >&2; exit 1
}
stop() {
  echo "ws-fanout: trading-api CPU $(awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f user + %.2f sys s", $14/hz, $15/hz}' "/proc/$pid/stat")" >&2
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
}
run_case() { # $1 stalled count; appends the JSON line to $work/results
  start_api
  /usr/bin/time -f "ws-fanout: client CPU %U user + %S sys s, wall %e s" \
    "${client_pin[@]}" "$bin/ws-fanout" --addr "127.0.0.1:$port" --keys-file "$work/keys.json" \
    --subscribers "$subs" --stalled "$1" --rate "$rate" --seconds "$secs" >>"$work/results"
  stop
  echo "ws-fanout: $(tail -1 "$work/results")" >&2
}

: >"$work/results"
for r in $(seq "$rounds"); do
  run_case 0
  run_case "$stalled"
  echo "ws-fanout: round $r/$rounds done" >&2
done

python3 - "$work/results" "$rounds" "$subs" "$stalled" "$rate" "$secs" "${server_cpus:-any}" "${client_cpus:-any}" "$(nproc)" "${ws_queue:-4096 (default)}" <<'PY'
import json, statistics, sys
path, rounds, subs, stalled, rate, secs, scpu, ccpu, ncpu, queue = sys.argv[1:11]
runs = [json.loads(l) for l in open(path) if l.strip()]
cases = [("plain", [r for r in runs if r["stalled"] == 0]),
         (f"+ {stalled} stalled", [r for r in runs if r["stalled"] > 0])]
ms = lambda us: f"{us / 1000:.2f}"
med = lambda xs: statistics.median(xs) if xs else float("nan")
print(f"Rounds: {rounds}, cases interleaved, fresh trading-api per run; {subs} subscribers to "
      f"`trades:BTC-USD`, {rate} trades/s for {secs} s (REST, two demo accounts crossing at one price); "
      f"trading-api on CPU {scpu}, `ws-fanout` (subscribers and order driver) on CPU {ccpu}; "
      f"machine: {ncpu} shared CPUs; trading-api `--ws-queue {queue}`. Latency: receipt (client clock, "
      f"as the frame is read) − the trade message's `ts_us` (server clock, when the message is built "
      f"right after matching); same host, same clock.")
print()
print("| case | median p50 ms | median p99 ms | median p99.9 ms | worst max ms | p99 per round ms "
      "| trades/s achieved | every subscriber got every trade once, in order | slow-consumer disconnects |")
print("|---|---|---|---|---|---|---|---|---|")
p99 = {}
for name, rs in cases:
    if not rs:
        continue
    lat = [r["latency"] for r in rs]
    p99[name] = med([l["p99_us"] for l in lat])
    complete = all(r["complete_subscribers"] == r["subscribers"] for r in rs)
    recv = sum(r["messages_received"] for r in rs)
    want = sum(r["messages_expected"] for r in rs)
    disc = [r["slow_consumer_disconnects"] for r in rs]
    disc_txt = " ".join("?" if d is None else f"{d:.0f}" for d in disc)
    print(f"| {name} | {ms(med([l['p50_us'] for l in lat]))} | {ms(p99[name])} | "
          f"{ms(med([l['p999_us'] for l in lat]))} | {ms(max(l['max_us'] for l in lat))} | "
          f"{' '.join(ms(l['p99_us']) for l in lat)} | {med([r['achieved_rate'] for r in rs]):.0f} | "
          f"{'yes' if complete else 'NO'} ({recv}/{want} messages) | {disc_txt} of {stalled if 'stalled' in name else 0} |")
print()
if len(p99) == 2:
    a, b = (p99[n] for n, _ in cases)
    print(f"p99 with stalled subscribers ÷ without: **{b / a:.2f}** (1.00 = the stalled ones cost the others nothing); "
          f"goal p99 < 5 ms: **{'met' if max(a, b) < 5000 else 'missed'}** ({ms(a)} / {ms(b)} ms).")
PY
