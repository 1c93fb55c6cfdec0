#!/usr/bin/env bash
# Compare two profiles: a differential flamegraph and the largest regressions and improvements.
#
# Usage: scripts/profile-diff.sh [BASE NEW]
#   Without arguments: the two newest CPU profiles of the service captured last, so a
#   trading-api profile is compared with the previous trading-api profile.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$SIMEX_ROOT"

if [[ $# -eq 2 ]]; then
    base="$1" new="$2"
elif [[ $# -eq 0 ]]; then
    new="$(latest_profile cpu)"
    [[ -n "$new" ]] || die "no CPU profiles in $PROFILE_DIR/: capture two with \`make profile-cpu\` (before and after a change)"
    service="$(service_of "$new")"
    base="$(latest_profile cpu "$service" 2)"
    [[ -n "$base" ]] || die "only one CPU profile of $service ($new): capture another with \`make profile-cpu SERVICE=$service\`, or give BASE=... NEW=..."
else
    die "give both BASE and NEW (make profile-diff BASE=old.pb.gz NEW=new.pb.gz), or neither for the newest two CPU profiles"
fi
find_simex
exec "$SIMEX" diff "$base" "$new"
