#!/bin/bash
# drivers.sh - issue 15 item 6: the same workloads on both I/O backends, side by side.
#
#   bench/drivers.sh            (make bench runs it; needs build/bench/lrt-bench)
#
# File reads without the blocking pool (lrt-bench file_read: 64 tasks and 1 task reading
# 4 KiB blocks of a cached file), then the echo at 1, 64 and 1000 connections through
# bench/echo_cpu.sh (rps, p999, and the server's CPU per request; the anchors'
# echo_client, built here from ../shared/anchors/client/echo_client.c when the anchors
# are not built: without it the echo part is skipped with a message).  One run per
# point, backends interleaved; ratios are uring/epoll (file: epoll time / uring time).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=${LRT_BENCH:-$ROOT/build/bench/lrt-bench}
[ -x "$BENCH" ] || { echo "drivers: no $BENCH (make bench)" >&2; exit 1; }
export LRT_BENCH=$BENCH
AB=${ANCHORS_BUILD:-/tmp/anchors-build}
SRC=$ROOT/../shared/anchors/client/echo_client.c
if [ ! -x "$AB/echo_client" ] && [ -f "$SRC" ]; then
    mkdir -p "$AB" && gcc -O2 -o "$AB/echo_client" "$SRC"
fi
if [ "$(LRT_DRIVER=uring "$BENCH" file_read 1000 1 | sed -n 's/.*driver=\([^ ]*\).*/\1/p')" != io_uring ]; then
    echo "drivers: io_uring is not available here (lrt-bench file_read ran on another backend); nothing to compare"
    exit 0
fi
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }
echo "drivers: file_read, ns per 4 KiB pread (epoll: a blocking-pool job; io_uring: a submitted read)"
for args in "200000 64" "100000 1"; do
    e=$(LRT_DRIVER=epoll "$BENCH" file_read $args | field ns_per_read)
    u=$(LRT_DRIVER=uring "$BENCH" file_read $args | field ns_per_read)
    awk -v a="$args" -v e="$e" -v u="$u" 'BEGIN { split(a, x, " ");
        printf "  file_read %s reads, %s tasks: epoll %.0f ns, io_uring %.0f ns, %.2fx\n", x[1], x[2], e, u, e / u }'
done
if [ ! -x "$AB/echo_client" ]; then
    echo "drivers: no echo_client ($AB/echo_client; ../shared/anchors/run.sh --build-only builds it): echo skipped"
    exit 0
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
echo "drivers: echo (64-byte messages; server CPU 0, client CPU 1; SQUEEZE=${SQUEEZE:-} )"
for c in 1 64 1000; do
    e=$(LRT_DRIVER=epoll "$ROOT/bench/echo_cpu.sh" lrt "$c" 2) || exit 1
    u=$(LRT_DRIVER=uring "$ROOT/bench/echo_cpu.sh" lrt "$c" 2) || exit 1
    echo "  $e"
    echo "  $u"
    awk -v e="$(field rps <<<"$e")" -v u="$(field rps <<<"$u")" -v c="$c" \
        'BEGIN { printf "  c%s: io_uring/epoll rps %.2fx\n", c, u / e }'
done
