#!/usr/bin/env bash
# Analyze a profile and show the report's summary.
#
# Usage: scripts/profile-analyze.sh [PROFILE...]
#   Without arguments: the newest CPU profile in $PROFILE_DIR (flamegraphs/), else the newest of
#   any type. Writes {stem}_analysis.md beside each profile.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$SIMEX_ROOT"

profiles=("$@")
if [[ ${#profiles[@]} -eq 0 ]]; then
    latest="$(latest_profile cpu)"
    [[ -n "$latest" ]] || latest="$(latest_profile)"
    [[ -n "$latest" ]] || die "no profiles in $PROFILE_DIR/ yet: capture one with \`make profile-cpu\`"
    profiles=("$latest")
fi
find_simex
"$SIMEX" analyze "${profiles[@]}" | while read -r report; do
    echo "== $report"
    sed '/^## .*Recommendations/q' "$report" | head -45
    echo
done
