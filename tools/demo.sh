#!/bin/bash
# demo.sh - `make demo`: run examples/showcase and diagnose it live with lrt-dump.
#
# The showcase is a small service with trouble built in (see examples/showcase.c): an echo
# server and its client, a task waiting on a pipe that never gets data, a long sleeper,
# two tasks that take two named mutexes in opposite orders (a deadlock), a blocking pool
# of 2 threads with 4 jobs, and a task that blocks the runtime thread for 4 s.  The demo
# prints what the showcase says it does, then: `lrt-dump PID` (the table), `lrt-dump
# --objects PID` (who holds which mutex), `lrt-dump -e ID PID` (what the ledger did last),
# `lrt-dump -b --stuck=1s PID` while the runtime thread is blocked (the agent answers
# anyway; the deadlock leads in one sentence), a capture of `lrt-top PID` (when tmux is
# installed: `make test` installs it), the stall detector's report, and stops everything
# with SIGTERM.  About 10 s.  Environment: BUILD (default build).
set -u
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
DUMP=$BUILD/tools/lrt-dump
SHOW=$BUILD/examples/showcase
for f in "$DUMP" "$SHOW"; do
    [ -x "$f" ] || { echo "demo: $f is not built (make all)" >&2; exit 1; }
done

tmp=$(mktemp -d)
export LRT_DUMP_DIR=$tmp/sock
show=
cleanup() {
    [ -n "$show" ] && kill -KILL "$show" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

banner() { if [ -t 1 ]; then printf '\n\033[1m== %s\033[0m\n' "$*"; else printf '\n== %s\n' "$*"; fi; }
# ms since the showcase started
since() { echo $((($(date +%s%N) - start) / 1000000)); }
sleep_until_ms() {
    local left=$(($1 - $(since)))
    [ $left -gt 0 ] && sleep "$(printf '%d.%03d' $((left / 1000)) $((left % 1000)))"
}

# wait_line PATTERN : until the showcase prints PATTERN (20 s at most, else the demo fails)
wait_line() {
    local end=$((SECONDS + 20))
    until grep -q -- "$1" "$tmp/out"; do
        if [ $SECONDS -ge $end ] || ! kill -0 "$show" 2>/dev/null; then
            echo "demo: the showcase never printed '$1'; its output:" >&2
            cat "$tmp/out" "$tmp/err" >&2
            exit 1
        fi
        sleep 0.05
    done
}

banner "starting $SHOW (dump agent on, stall threshold 500 ms)"
start=$(date +%s%N)
"$SHOW" --block-after=2500 --block-for=4000 >"$tmp/out" 2>"$tmp/err" &
show=$!
for _ in $(seq 100); do [ -S "$LRT_DUMP_DIR/$show.sock" ] && break; sleep 0.05; done
sleep 0.2
cat "$tmp/out"

sleep_until_ms 1500
banner "lrt-dump $show          (t = $(since) ms)"
"$DUMP" "$show" >"$tmp/table" || exit 1
cat "$tmp/table"

banner "lrt-dump --objects $show   (the sync objects tasks wait on: who holds them, who waits)"
"$DUMP" --objects "$show" || exit 1

ledger=$(awk '$2 == "ledger" { print $1; exit }' "$tmp/table")
banner "lrt-dump -e $ledger $show   (what task $ledger 'ledger' did last: its history)"
"$DUMP" -e "$ledger" "$show" || exit 1

wait_line "now blocking"
sed -n '/now blocking/p' "$tmp/out"
sleep_until_ms 3300
banner "lrt-dump -b --stuck=1s $show   (t = $(since) ms: the runtime thread is blocked, the agent answers anyway)"
t0=$(date +%s%N)
"$DUMP" -b --stuck=1s "$show" || exit 1
echo "(answered in $((($(date +%s%N) - t0) / 1000000)) ms)"

TOP=$BUILD/tools/lrt-top
if command -v tmux >/dev/null && [ -x "$TOP" ]; then
    banner "lrt-top $show   (a capture of the live view, 2.5 s in, while the thread is still blocked)"
    sock=lrt-demo-$$
    tmux -L "$sock" -f /dev/null new-session -d -x 132 -y 24 "$TOP $show" 2>/dev/null
    sleep 2.5
    tmux -L "$sock" capture-pane -p 2>/dev/null | sed -e 's/ *$//' | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}'
    tmux -L "$sock" send-keys q 2>/dev/null
    sleep 0.2
    tmux -L "$sock" kill-server 2>/dev/null
else
    banner "lrt-top $show   (skipped: needs tmux to show a capture here; run it yourself in a terminal)"
fi

wait_line "runtime thread is free"
banner "the stall detector's report (the showcase's stderr)"
cat "$tmp/err"

banner "stopping the showcase (SIGTERM)"
kill -TERM "$show"
for _ in $(seq 200); do kill -0 "$show" 2>/dev/null && [ "$(awk '{print $3}' /proc/"$show"/stat 2>/dev/null)" != Z ] || break; sleep 0.05; done
if kill -0 "$show" 2>/dev/null && [ "$(awk '{print $3}' /proc/"$show"/stat 2>/dev/null)" != Z ]; then
    echo "demo: the showcase did not stop within 10 s of SIGTERM" >&2
    exit 1
fi
wait "$show"
rc=$?
show=
sed -n '/stopping/,$p' "$tmp/out"
if [ $rc -ne 0 ]; then
    echo "demo: the showcase exited with status $rc" >&2
    exit 1
fi
echo "demo: done, everything stopped cleanly"
