#!/usr/bin/env bash
# Serve the gallery of profiles, flamegraphs, diffs and reports over HTTP.
#
# Usage: scripts/serve-flamegraphs.sh [PORT] [BIND]
#   PORT  default 8888
#   BIND  default 127.0.0.1 (this machine only). The gallery has no login, so exposing it is a
#         choice: pass 0.0.0.0 (or set BIND=0.0.0.0) to let other machines open
#         http://<this-host>:PORT, or keep the default and use an SSH tunnel:
#         ssh -L 8888:127.0.0.1:8888 <this-host>
# Serves $PROFILE_DIR (default flamegraphs/, created if missing). Ctrl-C stops it.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$SIMEX_ROOT"

case "${1:-}" in -h | --help) script_usage; exit 0 ;; esac
port="${1:-8888}"
bind="${2:-${BIND:-127.0.0.1}}"
[[ "$port" =~ ^[0-9]+$ && "$port" -ge 1 && "$port" -le 65535 ]] || die "port '$port' is not a port number"

find_simex
mkdir -p "$PROFILE_DIR"
if [[ "$bind" == "0.0.0.0" || "$bind" == "::" ]]; then
    echo "gallery open to the network: http://$(hostname -f 2>/dev/null || hostname):$port" >&2
fi
echo "gallery: http://127.0.0.1:$port" >&2
exec "$SIMEX" serve --port "$port" --bind "$bind" --dir "$PROFILE_DIR"
