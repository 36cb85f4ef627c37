#!/bin/bash
# trace_gen.sh OUT_DIR [ROUNDS] - record a big lrt trace for the lrt-trace benchmark.
#
# Runs build/bench-trace/trace_cost ROUNDS (each round: 2 x 200k yields + 100k ping-pong
# round trips = 1.4M lrt events) inside an lttng session recording lrt:* and the
# statedump with the vpid/vtid/procname contexts that lrt-trace's recipe adds, into a
# channel big enough to lose nothing (16 MiB x 8 sub-buffers per CPU).  Takes the
# machine-wide lttng lock (tests/t-trace.sh) and starts its own lttng-sessiond when none
# runs, stopped by PID at the end.  Environment: BENCH_BUILD (default build/bench-trace).
set -u
cd "$(dirname "$0")/.." || exit 1
out=${1:?usage: trace_gen.sh OUT_DIR [ROUNDS]}
rounds=${2:-4}
B=${BENCH_BUILD:-build/bench-trace}
[ -x "$B/trace_cost" ] || { echo "trace_gen: $B/trace_cost is not built (make bench-trace)" >&2; exit 1; }
rm -rf "$out"

say() { echo "trace_gen: $*" >&2; }
fail() { echo "trace_gen: $*" >&2; exit 1; }
. tests/lttng-env.sh
lttng_lock
tmp=$(mktemp -d /tmp/lrt-trace-gen.XXXXXX) || exit 1
sess=lrt-trace-gen-$$
cleanup() {
    lttng destroy "$sess" >/dev/null 2>&1
    lttng_sessiond_stop
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
lttng_rundir
lttng_sessiond_start
{
    lttng create "$sess" --output="$out" --shm-path="$tmp/shm" &&
        lttng enable-channel -u --subbuf-size=16M --num-subbuf=8 ch &&
        lttng enable-event -u -c ch 'lrt:*' &&
        lttng enable-event -u -c ch 'lttng_ust_statedump:*' &&
        lttng add-context -u -c ch -t vpid -t vtid -t procname &&
        lttng start
} >"$tmp/lttng.log" 2>&1 || { echo "trace_gen: lttng: $(tail -3 "$tmp/lttng.log")" >&2; exit 1; }
LRT_TRACE=1 "$B/trace_cost" "$rounds" >&2 || exit 1
lttng destroy "$sess" >>"$tmp/lttng.log" 2>&1 || { echo "trace_gen: lttng destroy failed" >&2; exit 1; }
echo "trace_gen: $out ($(du -sh "$out" | cut -f1))" >&2
