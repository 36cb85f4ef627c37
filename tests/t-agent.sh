#!/bin/bash
# t-agent.sh - lrt-dump against a dump agent under abuse (issue 8, item 15).
#
# 1. 200 connections each holding half a request to examples/showcase's agent: a real
#    `lrt-dump --json PID` still answers, within 2 s.
# 2. lrt-dump against a fake agent that says "too many clients" twice: it connects again
#    and gets its snapshot; against one that always says so it gives up after ~2 s with
#    exit 1 and the agent's reason.
# Environment: BUILD (default build), KEEP=1 keeps the temp dir.
set -u

cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
PY=/usr/bin/python3
DUMP=$BUILD/tools/lrt-dump
SHOW=$BUILD/examples/showcase
fails=0
say() { echo "t-agent: $*"; }
fail() {
    echo "t-agent: FAIL: $*" >&2
    fails=$((fails + 1))
}
for f in "$DUMP" "$SHOW"; do
    [ -x "$f" ] || { echo "t-agent: FAIL: $f not built" >&2; exit 1; }
done

tmp=$(mktemp -d /tmp/t-agent.XXXXXX)
export LRT_DUMP_DIR=$tmp/sock
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
    wait 2>/dev/null
    if [ "${KEEP:-0}" = 1 ] || [ $fails -ne 0 ]; then echo "t-agent: kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

# run CMD... : stdout -> $tmp/out, stderr -> $tmp/err, status -> $rc, time -> $ms (bounded:
# 30 s, then KILL; --foreground for the reason given in t-dump.sh).
run() {
    local t0
    t0=$(date +%s%N)
    timeout --foreground -k 5 30 "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    ms=$((($(date +%s%N) - t0) / 1000000))
    [ $rc != 124 ] && [ $rc != 137 ] || fail "timed out after 30 s: $*"
}

# wait_for FILE PATTERN SECONDS
wait_for() {
    local end=$((SECONDS + $3))
    until grep -q -- "$2" "$1" 2>/dev/null; do
        [ $SECONDS -lt $end ] || { fail "no '$2' in $(basename "$1") within $3 s"; return 1; }
        sleep 0.05
    done
}

# ---- 1. 200 half requests, then lrt-dump ----------------------------------------------
say "200 connections holding half a request"
"$SHOW" --block-after=600000 >"$tmp/show.out" 2>"$tmp/show.err" &
show=$!
pids+=($show)
for _ in $(seq 200); do
    [ -S "$LRT_DUMP_DIR/$show.sock" ] && break
    sleep 0.05
done
[ -S "$LRT_DUMP_DIR/$show.sock" ] || { fail "no agent socket for pid $show"; exit 1; }

# The holder keeps its 200 sockets open (and unread) until its stdin closes.
"$PY" - "$LRT_DUMP_DIR/$show.sock" >"$tmp/hold.out" 2>&1 <<'EOF' &
import socket, sys, time
held = []
for i in range(200):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(sys.argv[1])
        s.sendall(b'{"cmd":"snap')
    except OSError:
        pass  # an agent that hangs up on us: keep going
    held.append(s)
print("holding", len(held), flush=True)
time.sleep(30)
EOF
holder=$!
pids+=($holder)
if wait_for "$tmp/hold.out" "holding 200" 20; then
    run "$DUMP" --json "$show"
    [ "$rc" = 0 ] || fail "lrt-dump --json with 200 half requests held: exit $rc ($(head -c 300 "$tmp/err"))"
    grep -q '"tasks"' "$tmp/out" || fail "lrt-dump --json printed no snapshot"
    [ "$ms" -lt 2000 ] || fail "lrt-dump --json took $ms ms with 200 half requests held (limit 2000)"
    say "lrt-dump --json answered in $ms ms"
fi
kill -KILL "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
kill -TERM "$show" 2>/dev/null

# ---- 2. lrt-dump retries briefly on "too many clients" ---------------------------------
# fake_agent PATH BUSY_COUNT : answers the first BUSY_COUNT connections "too many clients"
# and closes them, then serves a minimal snapshot; writes "connections N" when done.
fake_agent() {
    "$PY" - "$1" "$2" <<'EOF' &
import os, socket, sys
path, busy = sys.argv[1], int(sys.argv[2])
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
srv.listen(8)
srv.settimeout(10)
n = 0
try:
    while True:
        c, _ = srv.accept()
        n += 1
        c.settimeout(5)
        c.recv(4096)
        if n <= busy:
            c.sendall(b'{"error":"too many clients"}\n')
        else:
            c.sendall(b'{"process":{"pid":1},"runtime":{"state":"running"},"tasks":[]}\n')
            c.close()
            break
        c.close()
except socket.timeout:
    pass
print("connections", n, flush=True)
EOF
}

say "lrt-dump against an agent busy twice"
fake_agent "$tmp/busy2.sock" 2 >"$tmp/fake.out"
fake=$!
pids+=($fake)
for _ in $(seq 100); do [ -S "$tmp/busy2.sock" ] && break; sleep 0.05; done
run "$DUMP" --json --socket "$tmp/busy2.sock"
[ "$rc" = 0 ] || fail "lrt-dump did not retry on 'too many clients': exit $rc ($(head -c 300 "$tmp/err"))"
grep -q '"tasks"' "$tmp/out" || fail "no snapshot after the retries"
wait "$fake"
grep -q "connections 3" "$tmp/fake.out" || fail "expected 3 connections, fake agent says: $(cat "$tmp/fake.out")"

say "lrt-dump against an agent always busy"
fake_agent "$tmp/busy.sock" 1000 >"$tmp/fake.out"
fake=$!
pids+=($fake)
for _ in $(seq 100); do [ -S "$tmp/busy.sock" ] && break; sleep 0.05; done
run "$DUMP" --json --socket "$tmp/busy.sock"
[ "$rc" = 1 ] || fail "lrt-dump against an always busy agent: exit $rc, expected 1"
grep -q "too many clients" "$tmp/err" || fail "lrt-dump did not say why: $(head -c 300 "$tmp/err")"
[ "$ms" -lt 5000 ] || fail "lrt-dump took $ms ms to give up (retries are ~2 s)"
say "gave up after $ms ms: $(head -n 1 "$tmp/err")"
kill -KILL "$fake" 2>/dev/null

[ $fails = 0 ] && say "ok" || echo "t-agent: $fails failure(s)"
[ $fails = 0 ]
