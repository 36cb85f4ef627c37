#!/bin/sh
# echo_scale.sh - issue 5 item 5: lrt-bench's echo server holding CONNS (default 10000)
# concurrent connections from the anchors' echo_client, without errors.
#
#   bench/echo_scale.sh [CONNS] [DURATION_S]
#
# LRT_DRIVER=auto|epoll|uring in the environment picks lrt-bench's I/O backend.
# Needs build/bench/lrt-bench (make bench) and the anchors' echo_client
# ($ANCHORS_BUILD/echo_client, built by ../shared/anchors/run.sh --build-only).
# Each side needs CONNS + a few fds: the soft limit is raised to the hard limit here (the
# server and the client also raise their own).  Prints the client's line and the server's
# RSS with all connections open.
set -eu
CONNS=${1:-10000}
DUR=${2:-2}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=${LRT_BENCH:-$ROOT/build/bench/lrt-bench}
CLIENT=${ECHO_CLIENT:-${ANCHORS_BUILD:-/tmp/anchors-build}/echo_client}
[ -x "$BENCH" ] || { echo "echo_scale: no $BENCH (make bench)" >&2; exit 1; }
[ -x "$CLIENT" ] || { echo "echo_scale: no $CLIENT (../shared/anchors/run.sh --build-only)" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt $((CONNS + 64)) ]; then
    echo "echo_scale: hard fd limit $hard < $CONNS + 64" >&2
    exit 1
fi
out=$(mktemp)
"$BENCH" echo_server 0 >"$out" &
srv=$!
trap 'kill -TERM $srv 2>/dev/null || true; rm -f "$out"' EXIT
i=0
while ! grep -q '^port=' "$out"; do
    i=$((i + 1)); [ $i -gt 100 ] && { echo "echo_scale: no port=" >&2; exit 1; }
    sleep 0.1
done
port=$(sed -n 's/^port=//p' "$out" | head -1)
# sample the server's RSS and fd count while the client runs (after its warm-up)
( sleep $((DUR / 2 + 1)); printf 'server_rss_kb=%s server_fds=%s\n' \
    "$(awk '/^VmRSS:/{print $2}' /proc/$srv/status)" "$(ls /proc/$srv/fd | wc -l)" ) &
sampler=$!
"$CLIENT" 127.0.0.1 "$port" "$CONNS" "$DUR" 64 1
wait $sampler
kill -TERM $srv
wait $srv 2>/dev/null && echo "server_exit=0" || echo "server_exit=$?"
