#!/usr/bin/env bash
# Regenerates the real profiles in tests/data/real/ (see tests/data/real/README.md).
#
#   crates/profile-tools/tests/generators/generate.sh            # every case, Go and Rust
#   crates/profile-tools/tests/generators/generate.sh go         # only the Go cases
#   crates/profile-tools/tests/generators/generate.sh rust       # only the Rust cases
#
# Each case runs in its own process, one after another, so that profiles never overlap. The
# profiles are real captures, so they differ from run to run; the manifest states only what
# must hold for any run (the dominant cause), and the test checks it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/../data/real"
mkdir -p "$out"
which="${1:-all}"

GO_CASES=(
  cpu-sha256-writer cpu-sha1-md5-multi cpu-crc32 cpu-json-marshal cpu-json-decode cpu-gob-encode
  cpu-regexp-compile cpu-regexp-match cpu-sprintf cpu-strconv cpu-gc-pressure cpu-fsync
  cpu-small-io cpu-rwmutex cpu-map-hash cpu-idle
  heap-tiles allocs-tiles heap-map-index allocs-sprintf allocs-json
  block-chansend block-chanrecv block-select block-mutex block-cond mutex-book mutex-rwmutex
  goroutine-leak goroutine-sleep
)
RUST_CASES=(
  sha2-digest sha2-io-write serde-json-encode serde-json-value regex-compile regex-find
  format-heavy vec-growth string-clone parking-lot-contention rwlock-contention
  journal-fdatasync journal-bufwriter siphash-map crc32-checksum tokio-tiny-tasks
)

if [[ "$which" == all || "$which" == go ]]; then
  bin="$(mktemp -d)/realprofiles"
  (cd "$here/go" && go build -o "$bin" .)
  for c in "${GO_CASES[@]}"; do
    "$bin" -case "$c" -out "$out/go-$c.pb.gz"
    echo "go-$c.pb.gz"
  done
fi
if [[ "$which" == all || "$which" == rust ]]; then
  root="$(cd "$here/../../../.." && pwd)"
  (cd "$root" && cargo build -p profile-tools --example real_profiles)
  bin="${CARGO_TARGET_DIR:-$root/target}/debug/examples/real_profiles"
  for c in "${RUST_CASES[@]}"; do
    "$bin" "$c" "$out/rust-$c.pb.gz"
  done
fi
