#!/usr/bin/env bash
# Open flamegraphs in a browser, or print their paths when there is no browser or no display.
#
# Usage: scripts/profile-view.sh [SVG...]
#   Without arguments: the newest flamegraph of each profile type in $PROFILE_DIR (flamegraphs/).
# BROWSER overrides the browser command.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$SIMEX_ROOT"

files=("$@")
if [[ ${#files[@]} -eq 0 ]]; then
    for type in cpu heap allocs goroutine block mutex; do
        profile="$(latest_profile "$type")"
        [[ -n "$profile" && -f "${profile%.pb.gz}.svg" ]] && files+=("${profile%.pb.gz}.svg")
    done
fi
if [[ ${#files[@]} -eq 0 ]]; then
    die "no flamegraphs in $PROFILE_DIR/ yet: capture one with \`make profile-cpu\` (services must be up: \`make up\`)"
fi
for f in "${files[@]}"; do [[ -f "$f" ]] || die "$f does not exist"; done

browser="${BROWSER:-}"
if [[ -z "$browser" && ( -n "${DISPLAY:-}" || -n "${WAYLAND_DISPLAY:-}" || "$(uname)" == Darwin ) ]]; then
    for candidate in xdg-open open firefox chromium google-chrome; do
        if command -v "$candidate" >/dev/null 2>&1; then browser="$candidate"; break; fi
    done
fi
if [[ -z "$browser" ]]; then
    echo "no browser or display here; the flamegraphs are:"
    printf '  %s\n' "${files[@]}"
    echo "open them on a machine with a browser, or run \`make profile-serve\` and open http://127.0.0.1:8888"
    exit 0
fi
for f in "${files[@]}"; do
    echo "opening $f with $browser"
    "$browser" "$f" >/dev/null 2>&1 &
done
