#!/usr/bin/env bash
# Profile rendering (BENCHMARKS.md, block render; issue 8 item 6): on one CPU profile of all three
# services under load, `simex flamegraph` (inferno, in-process) vs `go tool pprof -svg` (graphviz),
# and `simex analyze`'s wall time. Runs alternate tools (A B A B ...); medians of RUNS.
#
# Capture (unless PROFILE=path is given): `simex up` on BASE_PORT (18380) with its own state, log
# and data dirs; `order-flow load` at LOAD_RATE orders/s on top of market-sim's and order-flow's
# own traffic; 30 s CPU profiles of the three at once (/debug/pprof/profile); merged into one
# file with `go tool pprof -proto`; `simex down`. The captured file is kept only if KEEP=path.
#
# Usage: scripts/bench/render.sh            # markdown block on stdout
# A captured profile of this small exchange has a few thousand stacks at most, so the analyzer
# and the renderer are also timed on a synthetic CPU profile (written below, in Python: no
# encoder here) with SYNTH_STACKS unique stacks, 8-40 frames deep, from 5,000 functions.
#
# Env: RUNS (5), PROFILE (capture fresh), PROFILE_SECONDS (30), LOAD_RATE (2000), BASE_PORT (18380),
#      KEEP (where to copy the merged profile), SYNTH_STACKS (50000; 0 = skip).
# Needs: cargo build --release -p simex -p trading-api -p market-sim -p order-flow -p chaos (simex up
#        also runs fault-proxy); go, dot (graphviz), curl, python3.
set -euo pipefail
cd "$(dirname "$0")/../.."

runs=${RUNS:-5}
profile_secs=${PROFILE_SECONDS:-30}
load_rate=${LOAD_RATE:-2000}
synth_stacks=${SYNTH_STACKS:-50000}
base=${BASE_PORT:-18380}
bin=${CARGO_TARGET_DIR:-target}/release
simex=$bin/simex
for b in simex trading-api market-sim order-flow fault-proxy; do
  [ -x "$bin/$b" ] || { echo "$bin/$b not found: cargo build --release -p simex -p trading-api -p market-sim -p order-flow -p chaos" >&2; exit 1; }
done
command -v go >/dev/null || { echo "go not found (make deps)" >&2; exit 1; }
command -v dot >/dev/null || { echo "dot (graphviz) not found: go tool pprof -svg needs it" >&2; exit 1; }
log() { echo "render: $*" >&2; }

work=$(mktemp -d)
up=0
load=""
simex_up() { "$simex" "$1" --state-dir "$work/run" --log-dir "$work/logs" --data-dir "$work/data" --base-port "$base"; }
cleanup() {
  if [ -n "$load" ]; then kill "$load" 2>/dev/null || true; wait "$load" 2>/dev/null || true; fi
  if [ "$up" = 1 ]; then simex_up down >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

if [ -n "${PROFILE:-}" ]; then
  cp "$PROFILE" "$work/merged.pb.gz"
  source="given file \`$(basename "$PROFILE")\`"
else
  log "starting the services on ports $base-$((base + 2))"
  simex_up up >&2
  up=1
  "$bin/order-flow" load --target "http://127.0.0.1:$base" --keys "$work/data/trading-api/demo-keys.json" \
    --rate "$load_rate" --duration "$((profile_secs + 10))s" --quiet >"$work/load.log" 2>&1 &
  load=$!
  sleep 3
  log "capturing ${profile_secs} s CPU profiles of the three services at once"
  pids=()
  for i in 0 1 2; do
    curl -fsS -o "$work/cpu$i.pb.gz" "http://127.0.0.1:$((base + i))/debug/pprof/profile?seconds=$profile_secs" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
  kill "$load" 2>/dev/null || true; wait "$load" 2>/dev/null || true; load=""
  log "load generator's last words: $(tail -c 600 "$work/load.log" | tr '\n' ' ')"
  simex_up down >&2
  up=0
  go tool pprof -proto "$work/cpu0.pb.gz" "$work/cpu1.pb.gz" "$work/cpu2.pb.gz" >"$work/merged.pb.gz" 2>/dev/null
  source="fresh capture: ${profile_secs} s CPU profiles of trading-api, market-sim and order-flow taken at once under \`order-flow load --rate $load_rate\` plus the services' own traffic, merged with \`go tool pprof -proto\`"
  if [ -n "${KEEP:-}" ]; then cp "$work/merged.pb.gz" "$KEEP"; log "kept the merged profile as $KEEP"; fi
fi

# "KiB samples stacks locations" of a profile. pprof merges samples with identical stacks (and
# labels), so sample records = unique stacks.
describe() {
  local raw
  raw=$(go tool pprof -raw "$1" 2>/dev/null)
  echo "$(( $(stat -c %s "$1") / 1024 )) $(echo "$raw" | awk '/^Samples:/{s=1; getline; next} /^Locations/{s=0} s && /:/{n++; c+=$1} END{print c+0, n+0}') $(echo "$raw" | awk '/^Locations/{s=1; next} /^Mappings/{s=0} s && /^ +[0-9]+: /{n++} END{print n+0}')"
}
f=$work/merged.pb.gz
read -r size_kb samples stacks locations < <(describe "$f")
log "profile: $size_kb KiB, $samples samples, $stacks unique stacks, $locations locations"

# A pprof CPU profile with $2 unique stacks, written to $1 (gzip'd). Stacks are random walks
# through a call graph of 5,000 functions with at most 4 callees each, so they share prefixes
# the way real ones do; sample counts are skewed (most stacks rare, a few hot).
synthesize() {
  python3 - "$1" "$2" <<'PY'
import gzip, random, sys
out, want = sys.argv[1], int(sys.argv[2])
rng = random.Random(8)
def varint(n):
    b = bytearray()
    while True:
        low = n & 0x7F; n >>= 7
        if n: b.append(low | 0x80)
        else: b.append(low); return bytes(b)
def vi(f, n): return varint(f << 3) + varint(n)
def ld(f, payload): return varint(f << 3 | 2) + varint(len(payload)) + payload
def packed(f, xs): return ld(f, b"".join(varint(x) for x in xs))
strings = ["", "samples", "count", "cpu", "nanoseconds"]
def s(x):
    strings.append(x); return len(strings) - 1
NF, PERIOD = 5000, 10101010
crates = ["tokio", "hyper", "axum", "serde_json", "matching", "trading_api", "market_sim", "order_flow", "std", "alloc"]
funcs = [f"{crates[i % len(crates)]}::m{i % 97}::func_{i}" for i in range(NF)]
roots = ["std::rt::lang_start", "main", "tokio::runtime::scheduler::multi_thread::worker::run"]
names = roots + funcs
body = bytearray()
for i, name in enumerate(names, 1):  # function i and location i
    body += ld(5, vi(1, i) + vi(2, s(name)) + vi(3, strings.index(name)) + vi(4, s(f"src/f{i % 300}.rs")))
    body += ld(4, vi(1, i) + vi(2, 1) + vi(3, 0x1000 + 16 * i) + ld(4, vi(1, i) + vi(2, 10 + i % 500)))
seen, samples = set(), 0
while len(seen) < want:
    frame, stack = rng.randrange(NF), [1, 2, 3]
    for _ in range(rng.randint(5, 37)):
        stack.append(4 + frame)
        frame = (frame * 31 + rng.randrange(4) + 1) % NF
    t = tuple(stack)
    if t in seen:
        continue
    seen.add(t)
    n = 1 + int(rng.paretovariate(1.2)) % 200
    samples += n
    body += ld(2, packed(1, reversed(stack)) + packed(2, [n, n * PERIOD]))
body += ld(3, vi(1, 1) + vi(2, 0x1000) + vi(3, 0x1000 + 16 * (len(names) + 1)) + vi(5, s("synthetic")) + vi(7, 1) + vi(8, 1) + vi(9, 1))
head = ld(1, vi(1, 1) + vi(2, 2)) + ld(1, vi(1, 3) + vi(2, 4))
tail = ld(11, vi(1, 3) + vi(2, 4)) + vi(12, PERIOD) + vi(10, 30_000_000_000)
table = b"".join(ld(6, x.encode()) for x in strings)
with gzip.open(out, "wb") as f:
    f.write(head + bytes(body) + table + tail)
print(samples, file=sys.stderr)
PY
}

# Wall time of one command in milliseconds.
time_ms() {
  local t0 t1
  t0=$(date +%s%N)
  "$@" >/dev/null 2>&1 || { echo "render: failed: $*" >&2; return 1; }
  t1=$(date +%s%N)
  echo $(((t1 - t0) / 1000000))
}
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2}'; }

declare -a F=() G=() A=()
for r in $(seq "$runs"); do
  F+=("$(time_ms "$simex" flamegraph "$f" -o "$work/simex.svg")")
  G+=("$(time_ms sh -c "go tool pprof -svg '$f' > '$work/go.svg'")")
  A+=("$(time_ms "$simex" analyze "$f")")
  log "run $r/$runs: simex flamegraph ${F[-1]} ms, go tool pprof -svg ${G[-1]} ms, simex analyze ${A[-1]} ms"
done
mf=$(median "${F[@]}"); mg=$(median "${G[@]}"); ma=$(median "${A[@]}")
speedup=$(awk -v a="$mg" -v b="$mf" 'BEGIN{printf "%.1f", a / b}')

echo "Profile: $source; $size_kb KiB gzip'd, $samples samples, $stacks unique stacks, $locations locations. $runs runs per tool, alternating; wall time including process start; unpinned; machine: $(nproc) shared CPUs."
echo
echo "| command | median ms | runs ms | output |"
echo "|---|---|---|---|"
echo "| \`simex flamegraph merged.pb.gz\` (inferno flamegraph) | $mf | ${F[*]} | $(( $(stat -c %s "$work/simex.svg") / 1024 )) KiB SVG |"
echo "| \`go tool pprof -svg merged.pb.gz\` (call graph via graphviz dot) | $mg | ${G[*]} | $(( $(stat -c %s "$work/go.svg") / 1024 )) KiB SVG |"
echo "| \`simex analyze merged.pb.gz\` (Markdown report) | $ma | ${A[*]} | $(( $(stat -c %s "$work/merged_analysis.md") / 1024 )) KiB |"
echo
echo "go tool pprof -svg ÷ simex flamegraph: **${speedup}x** (goal ≥ 5x: **$(awk -v s="$speedup" 'BEGIN{print (s >= 5) ? "met" : "missed"}')**); simex analyze: **$ma ms** (goal < 1 s: **$(awk -v a="$ma" 'BEGIN{print (a < 1000) ? "met" : "missed"}')**)."

[ "$synth_stacks" -gt 0 ] || exit 0
synth=$work/synthetic.pb.gz
synthesize "$synth" "$synth_stacks" 2>/dev/null
read -r ssize ssamples sstacks slocations < <(describe "$synth")
log "synthetic profile: $ssize KiB, $ssamples samples, $sstacks unique stacks, $slocations locations"
declare -a SF=() SG=() SA=()
for r in $(seq "$runs"); do
  SF+=("$(time_ms "$simex" flamegraph "$synth" -o "$work/synthetic.svg")")
  SG+=("$(time_ms sh -c "go tool pprof -svg '$synth' > '$work/synthetic-go.svg'")")
  SA+=("$(time_ms "$simex" analyze "$synth")")
  log "synthetic run $r/$runs: simex flamegraph ${SF[-1]} ms, go tool pprof -svg ${SG[-1]} ms, simex analyze ${SA[-1]} ms"
done
msf=$(median "${SF[@]}"); msg=$(median "${SG[@]}"); msa=$(median "${SA[@]}")
echo
echo "Large profile (synthetic, generated by this script: $sstacks unique stacks 8-40 frames deep over 5,000 functions, $ssamples samples, $ssize KiB gzip'd):"
echo
echo "| command | median ms | runs ms | output |"
echo "|---|---|---|---|"
echo "| \`simex flamegraph synthetic.pb.gz\` | $msf | ${SF[*]} | $(( $(stat -c %s "$work/synthetic.svg") / 1024 )) KiB SVG |"
echo "| \`go tool pprof -svg synthetic.pb.gz\` | $msg | ${SG[*]} | $(( $(stat -c %s "$work/synthetic-go.svg") / 1024 )) KiB SVG |"
echo "| \`simex analyze synthetic.pb.gz\` | $msa | ${SA[*]} | $(( $(stat -c %s "$work/synthetic_analysis.md") / 1024 )) KiB |"
echo
echo "go tool pprof -svg ÷ simex flamegraph: **$(awk -v a="$msg" -v b="$msf" 'BEGIN{printf "%.1f", a / b}')x**; simex analyze: **$msa ms** (goal < 1 s: **$(awk -v a="$msa" 'BEGIN{print (a < 1000) ? "met" : "missed"}')**)."
