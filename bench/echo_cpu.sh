#!/bin/bash
# echo_cpu.sh PEER CONNS [SECONDS]: one echo point with the CPU each side used.
#
# PEER is lrt, tokio or libuv.  The server runs on CPU 0 and the anchors' echo_client on
# CPU 1 (as ../shared/anchors/run.sh does); prints rps, p999, each process's CPU share
# over the run and the server's CPU µs per request.  Why: on a 2-CPU machine the client
# saturates its CPU at about the rps every peer reaches, so rps alone cannot tell the
# servers apart; the CPU per request and a squeezed server can.
#
# Environment: SQUEEZE=1 runs a busy loop on CPU 0 beside the server, which then gets
# half a CPU and becomes the bottleneck (the rps ratio measures the servers).  WARM
# (default 0.5) is the client's warm-up in seconds.  LRT_BENCH (default
# build/bench/lrt-bench, built by `make bench`), LRT_DRIVER as for lrt-bench,
# ANCHORS_BUILD (default /tmp/anchors-build: run ../shared/anchors/run.sh --build-only).
set -u
peer=$1 conns=$2 dur=${3:-3}
B=${ANCHORS_BUILD:-/tmp/anchors-build}
case $peer in
tokio) CMD=(env TOKIO_BENCH_MODE=local "$B/tokio-target/release/tokio_bench") ;;
libuv) CMD=("$B/uv_bench") ;;
lrt) CMD=("${LRT_BENCH:-build/bench/lrt-bench}") ;;
*) echo "usage: $0 lrt|tokio|libuv CONNS [SECONDS]" >&2; exit 2 ;;
esac
[ -x "$B/echo_client" ] || { echo "$0: no $B/echo_client (run the anchors' run.sh --build-only)" >&2; exit 2; }
out=$(mktemp)
hog=
cleanup() { [ -n "$hog" ] && kill "$hog" 2>/dev/null; rm -f "$out"; }
trap cleanup EXIT
taskset -c 0 "${CMD[@]}" echo_server 0 >"$out" 2>&1 &
spid=$!
port=
for _ in $(seq 100); do
    port=$(sed -n 's/^port=\([0-9]*\).*/\1/p' "$out" | head -1)
    [ -n "$port" ] && break
    sleep 0.05
done
[ -n "$port" ] || { echo "$0: $peer printed no port" >&2; kill "$spid"; exit 1; }
if [ -n "${SQUEEZE:-}" ]; then
    taskset -c 0 sh -c 'while :; do :; done' &
    hog=$!
    sleep 0.2
fi
tick=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
s0=$(cpu "$spid") t0=$(date +%s.%N)
res=$({ /usr/bin/time -f "CLIENT_CPU %U %S" taskset -c 1 "$B/echo_client" 127.0.0.1 "$port" \
    "$conns" "$dur" 64 "${WARM:-0.5}"; } 2>&1)
s1=$(cpu "$spid") t1=$(date +%s.%N)
kill "$spid"
wait "$spid" 2>/dev/null
rps=$(sed -n 's/.*rps=\([0-9.]*\).*/\1/p' <<<"$res")
p999=$(sed -n 's/.*p999_us=\([0-9.]*\).*/\1/p' <<<"$res")
ccpu=$(awk '/CLIENT_CPU/ {print $2 + $3}' <<<"$res")
[ -n "$rps" ] || { echo "$0: the client failed: $res" >&2; exit 1; }
awk -v p="$peer" -v d="${LRT_DRIVER:-}" -v c="$conns" -v rps="$rps" -v p999="$p999" \
    -v s="$((s1 - s0))" -v tick="$tick" -v cc="$ccpu" -v t0="$t0" -v t1="$t1" 'BEGIN {
    wall = t1 - t0; scpu = s / tick
    printf "%s%s c%s rps=%.0f p999_us=%.0f server_cpu=%.0f%% client_cpu=%.0f%% server_us_per_req=%.2f\n",
        p, (p == "lrt" && d != "" ? "(" d ")" : ""), c, rps, p999, 100 * scpu / wall,
        100 * cc / wall, 1e6 * scpu / (rps * wall) }'
