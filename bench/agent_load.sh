#!/bin/bash
# agent_load.sh - what a client looping on snapshots costs the runtime (issue 8, item 14).
#
# lrt-bench's echo server (8 connections of 64-byte messages from the anchors' closed-loop
# echo_client) with its dump agent on, measured three ways, alternating, ROUNDS times:
#   none  no dump client
#   nobt  `lrt-bench dump_loop` asking for snapshots without backtraces in a tight loop
#   bt    the same with backtraces
# Prints the median round trips/s of each and their ratio to `none`, and the server
# process's CPU time (all its threads, the agent's included) per round trip, which a busy
# machine disturbs much less than the throughput.  The contract (docs/diagnosis.md): a
# looping client costs at most 10 % of the throughput.
# The server runs on one CPU (its agent thread too: the agent's work competes with the
# runtime, the worst case), the load generator and the dump client on the other.
#
#   bench/agent_load.sh [ROUNDS (5)] [SECONDS per run (2)]      (run by `make bench`)
# Exit status 1 when a looping client's median costs more than 10 % both in throughput and
# in CPU per round trip (a busy machine moves the throughput by more than that from one
# run to the next; a real regression shows in both).  Without the anchors' echo client
# source it says so and exits 0.
set -u
cd "$(dirname "$0")/.." || exit 1
rounds=${1:-5}
dur=${2:-2}
BENCH=build/bench/lrt-bench           # the dump client
SERVER=${LRT_BENCH:-$BENCH}            # the echo server (LRT_BENCH: another build, e.g. older)
for b in "$BENCH" "$SERVER"; do
    [ -x "$b" ] || { echo "agent_load: $b missing: run 'make bench' first" >&2; exit 1; }
done
ANCHORS=${ANCHORS:-../shared/anchors}
CLIENT=${ECHO_CLIENT:-build/bench/echo_client}
if [ ! -x "$CLIENT" ]; then
    src=$ANCHORS/client/echo_client.c
    [ -f "$src" ] || { echo "agent_load: skipped: no $src (set ANCHORS or ECHO_CLIENT)"; exit 0; }
    ${CC:-cc} -O2 -Wall -Wextra -o "$CLIENT" "$src" || exit 1
fi
ncpu=$(nproc)
srv_cpu=$((ncpu - 1))
cli_cpu=0
tmp=$(mktemp -d /tmp/agent-load.XXXXXX)
srv=""
cleanup() {
    [ -n "$srv" ] && kill -TERM "$srv" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

# cpu_ticks PID : utime + stime of the whole process, in clock ticks
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# one MODE : prints "RPS SNAPSHOTS_PER_S CPU_US_PER_ROUND_TRIP"
one() {
    local mode=$1 port dl="" rps snaps=0 out c0 c1 reqs
    LRT_DUMP=1 LRT_DUMP_DIR=$tmp/sock taskset -c "$srv_cpu" "$SERVER" echo_server 0 >"$tmp/srv.out" 2>"$tmp/srv.err" &
    srv=$!
    for _ in $(seq 100); do grep -q '^port=' "$tmp/srv.out" && [ -S "$tmp/sock/$srv.sock" ] && break; sleep 0.05; done
    port=$(sed -n 's/^port=//p' "$tmp/srv.out")
    [ -n "$port" ] || { echo "agent_load: echo server did not start: $(cat "$tmp/srv.err")" >&2; exit 1; }
    if [ "$mode" != none ]; then
        # runs past the measurement (warm-up 0.5 s + dur) and is stopped with the server
        taskset -c "$cli_cpu" "$BENCH" dump_loop "$tmp/sock/$srv.sock" $((dur + 2)) \
            $([ "$mode" = bt ] && echo bt) >"$tmp/dl.out" 2>&1 &
        dl=$!
    fi
    # the server's CPU from the end of the client's warm-up to the end of its measurement
    (sleep 0.5; cpu_ticks "$srv" >"$tmp/c0") &
    out=$(taskset -c "$cli_cpu" "$CLIENT" 127.0.0.1 "$port" 8 "$dur" 64 0.5)
    c1=$(cpu_ticks "$srv")
    wait $!
    c0=$(cat "$tmp/c0")
    rps=$(echo "$out" | grep -o 'rps=[0-9.]*' | cut -d= -f2)
    reqs=$(echo "$out" | grep -o 'requests=[0-9]*' | cut -d= -f2)
    if [ -n "$dl" ]; then
        wait "$dl"
        snaps=$(grep -o 'per_s=[0-9.]*' "$tmp/dl.out" | cut -d= -f2)
    fi
    kill -TERM "$srv" 2>/dev/null
    wait "$srv" 2>/dev/null
    srv=""
    rm -rf "$tmp/sock"
    echo "${rps:-0} ${snaps:-0} $(awk -v c=$((c1 - c0)) -v n="${reqs:-0}" -v hz="$(getconf CLK_TCK)" \
        'BEGIN {print (n > 0 ? c * 1e6 / hz / n : 0)}')"
}
median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

echo "agent_load: $rounds alternating rounds of ${dur} s, echo 8 conns x 64 B, server on CPU $srv_cpu," \
    "clients on CPU $cli_cpu, commit $(git rev-parse --short HEAD 2>/dev/null)"
declare -A rps=() snaps=() cpu=()
for r in $(seq "$rounds"); do
    for m in none nobt bt; do
        read -r v s c < <(one $m)
        rps[$m]+="$v"$'\n'
        snaps[$m]+="$s"$'\n'
        cpu[$m]+="$c"$'\n'
        printf '  round %d %-4s %9.0f rt/s  %6.1f snapshots/s  %6.2f us CPU/rt\n' "$r" "$m" "$v" "$s" "$c"
    done
done
base=$(printf '%s' "${rps[none]}" | median)
cbase=$(printf '%s' "${cpu[none]}" | median)
bad=0
printf '%-5s %12s %12s %8s %12s %8s\n' mode "rt/s" "snapshots/s" "vs none" "us CPU/rt" "vs none"
for m in none nobt bt; do
    v=$(printf '%s' "${rps[$m]}" | median)
    s=$(printf '%s' "${snaps[$m]}" | median)
    c=$(printf '%s' "${cpu[$m]}" | median)
    printf '%-5s %12.0f %12.1f %+7.1f%% %12.2f %+7.1f%%\n' $m "$v" "$s" \
        "$(awk -v v="$v" -v b="$base" 'BEGIN {print (v - b) * 100 / b}')" "$c" \
        "$(awk -v v="$c" -v b="$cbase" 'BEGIN {print (b > 0 ? (v - b) * 100 / b : 0)}')"
    awk -v v="$v" -v b="$base" -v c="$c" -v cb="$cbase" 'BEGIN {exit !(v < 0.9 * b && c > 1.1 * cb)}' && bad=1
done
[ $bad = 0 ] || echo "agent_load: a looping snapshot client cost more than 10 % (contract: docs/diagnosis.md)" >&2
exit $bad
