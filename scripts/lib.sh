# Shared by the profiling scripts (source it, do not run it): where the project is, how to find
# or build the simex binary, and which profiles are the newest.
#
#   source "$(dirname "$0")/lib.sh"
#   find_simex            # sets $SIMEX, building it if needed
#   latest_profile cpu    # newest flamegraphs/cpu_profile_*.pb.gz
#
# Variables: SIMEX_BIN (use this binary), CARGO_TARGET_DIR, PROFILE_DIR (default flamegraphs).

SIMEX_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PROFILE_DIR="${PROFILE_DIR:-flamegraphs}"

die() {
    echo "error: $*" >&2
    exit 1
}

# Sets SIMEX to a runnable simex: $SIMEX_BIN, then the release and debug builds in the target
# directory, then PATH; builds the release binary when there is none (and cargo is there).
find_simex() {
    local target_dir="${CARGO_TARGET_DIR:-$SIMEX_ROOT/target}"
    local candidate
    for candidate in "${SIMEX_BIN:-}" "$target_dir/release/simex" "$target_dir/debug/simex" \
        "$(command -v simex 2>/dev/null || true)"; do
        if [[ -n "$candidate" && -x "$candidate" ]]; then
            SIMEX="$candidate"
            return 0
        fi
    done
    if ! command -v cargo >/dev/null 2>&1; then
        die "simex is not built (looked in \$SIMEX_BIN, $target_dir/{release,debug} and PATH) and cargo is missing: install Rust from https://rustup.rs, then run \`cargo build --release -p simex\`"
    fi
    echo "simex is not built yet: building it (cargo build --release -p simex, a few minutes the first time)..." >&2
    (cd "$SIMEX_ROOT" && CARGO_TARGET_DIR="$target_dir" cargo build --release -p simex) >&2 ||
        die "building simex failed (see above)"
    SIMEX="$target_dir/release/simex"
}

# The newest profile of a type (and service), by the timestamp in its name; empty if none.
# latest_profile [type] [service] [nth]: nth=2 gives the one before the newest.
latest_profile() {
    local type="${1:-*}" service="${2:-*}" nth="${3:-1}"
    # Names end in _YYYYMMDD_HHMMSS.pb.gz: sorting on that suffix sorts by capture time.
    find "$PROFILE_DIR" -maxdepth 1 -type f -name "${type}_profile_${service}_*.pb.gz" 2>/dev/null |
        awk '{ n = split($0, p, "_"); print p[n-1] "_" p[n] "\t" $0 }' |
        sort -r | cut -f2 | sed -n "${nth}p"
}

# The service part of a capture file name (cpu_profile_trading-api_2026..._....pb.gz).
service_of() {
    local name
    name="$(basename "$1")"
    name="${name#*_profile_}"
    echo "${name%%_*}"
}

# Prints the calling script's header comment (its usage), without the leading "# ".
script_usage() {
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
}
