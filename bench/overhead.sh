#!/bin/bash
# overhead.sh - what observability costs: lrt-bench as shipped vs the same code with the
# tracepoints compiled out (TRACE=0) and with per-task time bookkeeping compiled out
# (LRT_BOOKKEEPING=0) and with the per-task history ring compiled out (LRT_HISTORY=0).
# Runs the four builds alternately, ROUNDS times each (default 9),
# pinned to one CPU, and prints each workload's medians and the cost in percent.
# Usage: bench/overhead.sh [ROUNDS] [WORKLOAD...]   (after `make bench`)
set -u
cd "$(dirname "$0")/.." || exit 1
rounds=${1:-9}
shift 2>/dev/null
workloads=("$@")
[ ${#workloads[@]} -gt 0 ] || workloads=(ping_pong yield_t1 yield_t1000 chained_spawn spawn_many)
declare -A bin=([full]=build/bench/lrt-bench [notrace]=build/bench-nt/lrt-bench [nobook]=build/bench-nobook/lrt-bench
    [nohist]=build/bench-nohist/lrt-bench)
for b in "${bin[@]}"; do
    [ -x "$b" ] || { echo "overhead: $b missing: run 'make bench' first" >&2; exit 1; }
done
cpu=$(($(nproc) - 1))

# args WORKLOAD: lrt-bench arguments and the metric of its result line
args() {
    case $1 in
    yield_t1) echo "yield_many 1 1000000" ;;
    yield_t1000) echo "yield_many 1000 1000" ;;
    spawn_many) echo "spawn_many 1000000" ;;
    chained_spawn) echo "chained_spawn 1000000" ;;
    ping_pong) echo "ping_pong 500000" ;;
    *) echo "$1" ;;
    esac
}
median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

echo "overhead: $rounds alternating rounds per build, taskset -c $cpu, commit $(git rev-parse --short HEAD 2>/dev/null)"
printf '%-14s %10s %10s %10s %10s %9s %9s %9s\n' workload full notrace nobook nohist tracing bookkeep history
for w in "${workloads[@]}"; do
    declare -A vals=([full]="" [notrace]="" [nobook]="" [nohist]="")
    for _ in $(seq "$rounds"); do
        for k in full notrace nobook nohist; do
            # shellcheck disable=SC2046
            v=$(taskset -c "$cpu" "${bin[$k]}" $(args "$w") | grep -o '\(ns_per_[a-z_]*\|total_ms\)=[0-9.]*' | head -1 | cut -d= -f2)
            [ -n "$v" ] || { echo "overhead: ${bin[$k]} $w printed no result" >&2; exit 1; }
            vals[$k]+="$v"$'\n'
        done
    done
    f=$(printf '%s' "${vals[full]}" | median)
    n=$(printf '%s' "${vals[notrace]}" | median)
    b=$(printf '%s' "${vals[nobook]}" | median)
    h=$(printf '%s' "${vals[nohist]}" | median)
    awk -v w="$w" -v f="$f" -v n="$n" -v b="$b" -v h="$h" \
        'BEGIN { printf "%-14s %10.2f %10.2f %10.2f %10.2f %+8.1f%% %+8.1f%% %+8.1f%%\n", w, f, n, b, h, (f - n) * 100 / n, (f - b) * 100 / b, (f - h) * 100 / h }'
done
echo "tracing: full vs notrace (the tracepoints compiled in, no session); bookkeep: full vs nobook"
echo "(history included: LRT_BOOKKEEPING=0 implies LRT_HISTORY=0); history: full vs nohist (the ring alone)"
