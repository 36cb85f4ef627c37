#!/bin/bash
# t-top.sh - lrt-top in a real terminal: tmux on a socket of its own (-L), 160x48.
#
# 1. The showcase: the header (process, totals, blocking pool), task rows with names, N
#    sorts by name (the first row changes), / narrows the rows to a name, Enter shows the
#    picked task's backtrace with a function name, Esc goes back, a resize redraws, q
#    exits 0.
# 2. A showcase that blocks its runtime thread: the "polls for > 10 ms" lint in the
#    footer; then the showcase exits: lrt-top says so and exits 3.
# 3. An agent (a fake on a socket) that answers once, then is always busy: lrt-top keeps
#    the last view and says the agent is busy; one busy from the start: exit 1, with why.
# Every wait is bounded; the tmux server and every process started here are killed at the
# end.  Environment: BUILD (default build), KEEP=1 keeps the temp dir.
set -u

cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
TOP=$(realpath "$BUILD/tools/lrt-top")
DUMP=$BUILD/tools/lrt-dump
SHOW=$(realpath "$BUILD/examples/showcase")
PY=/usr/bin/python3
fails=0
say() { echo "t-top: $*"; }
fail() {
    echo "t-top: FAIL: $*" >&2
    fails=$((fails + 1))
}

for f in "$TOP" "$DUMP" "$SHOW"; do
    [ -x "$f" ] || { echo "t-top: FAIL: $f not built" >&2; exit 1; }
done
command -v tmux >/dev/null || { echo "t-top: FAIL: tmux missing (tools/setup-deps.sh check)" >&2; exit 1; }

tmp=$(mktemp -d /tmp/t-top.XXXXXX)
export LRT_DUMP_DIR=$tmp/sock
mkdir -m 700 "$LRT_DUMP_DIR"
# servers of our own (-L): never the user's tmux, and no user config.  A new server per
# lrt-top run: a new session right after kill-server can meet the old server going away.
nserver=0
TMUX_SOCK=lrt-t-top-$$-0
tm() { tmux -L "$TMUX_SOCK" -f /dev/null "$@"; }
unset TMUX
pids=()
cleanup() {
    for i in $(seq 0 $nserver); do tmux -L "lrt-t-top-$$-$i" kill-server 2>/dev/null; done
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
    if [ "${KEEP:-0}" = 1 ] || [ $fails -ne 0 ]; then echo "t-top: kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

die() {
    fail "$*"
    if [ -f "$tmp/screen" ]; then
        echo "t-top: the screen was:" >&2
        sed 's/^/    | /' "$tmp/screen" >&2
    fi
    echo "t-top: $fails failure(s)"
    exit 1
}

# top ARGS... : lrt-top in a new tmux session (160x48); its exit status goes to $tmp/rc
# (PROG=lrt-dump: lrt-dump --top ARGS...)
top() {
    rm -f "$tmp/rc"
    tm kill-server 2>/dev/null
    nserver=$((nserver + 1))
    TMUX_SOCK=lrt-t-top-$$-$nserver
    tm new-session -d -x 160 -y 48 \
        "env LRT_DUMP_DIR='$LRT_DUMP_DIR' ${PROG:-'$TOP'} $* 2>'$tmp/top.err'; echo \$? >'$tmp/rc'; sleep 600" ||
        die "tmux new-session failed"
}
screen() { tm capture-pane -p >"$tmp/screen" 2>/dev/null; }
# see PATTERN SECONDS [WHAT] : wait (bounded) until the screen shows PATTERN (grep -E)
see() {
    local end=$((SECONDS + $2))
    while :; do
        screen
        grep -qE -- "$1" "$tmp/screen" && return 0
        [ $SECONDS -lt $end ] || die "${3:-screen}: no '$1' within $2 s"
        sleep 0.1
    done
}
# row N : the Nth task row (the lines after the column titles)
row() { awk '/ ID NAME /{f=1; next} f && NF {print; if (++n == '"$1"') exit}' "$tmp/screen" | tail -n 1; }
# exited SECONDS : wait until lrt-top has exited; its status in $rc
exited() {
    local end=$((SECONDS + $1))
    until [ -s "$tmp/rc" ]; do
        [ $SECONDS -lt $end ] || die "lrt-top did not exit within $1 s"
        sleep 0.1
    done
    rc=$(cat "$tmp/rc")
}
start_show() {
    "$SHOW" "$@" >"$tmp/show.out" 2>&1 &
    show=$!
    pids+=("$show")
    local end=$((SECONDS + 20))
    until grep -qs "task checksum" "$tmp/show.out" && [ -S "$LRT_DUMP_DIR/$show.sock" ]; do
        [ $SECONDS -lt $end ] || die "showcase did not start within 20 s"
        sleep 0.05
    done
}

# ---- 1. the showcase: header, rows, sort, filter, backtrace, resize, quit ---------------
say "the showcase"
start_show --block-after=600000
top "$show"
see "^lrt-top - process $show \(showcase\)" 15 "header"
see "^Tasks: 13 total" 5 "task totals"
see "^Blocking pool: 2 threads \(2 busy, 0 idle\), 2 queued" 5 "blocking pool"
for name in main http_server config_watcher ledger auditor fetch_page; do
    grep -qE "^ +[0-9]+ $name " "$tmp/screen" || die "no row for task $name"
done
# the rates need two snapshots: a number, not "-", once the second one is in
see "^ +2 http_server +suspended +[0-9.]+[a-z]+ +[0-9.]+ " 10 "polls/s of http_server"
[ "$(row 1 | awk '{print $2}')" = main ] || die "sorted by id, the first row is not main: $(row 1)"

tm send-keys N
see "sort NAME" 5 "sort key N"
[ "$(row 1 | awk '{print $2}')" = auditor ] || die "sorted by name, the first row is not auditor: $(row 1)"
say "N sorts by name: first row $(row 1 | awk '{print $1, $2}')"

tm send-keys / f e t c h Enter
see "filter: fetch" 5 "filter"
n=$(awk '/ ID NAME /{f=1; next} f && /^ +[0-9]+ /' "$tmp/screen" | wc -l)
bad=$(awk '/ ID NAME /{f=1; next} f && /^ +[0-9]+ / && $2 != "fetch_page"' "$tmp/screen" | wc -l)
[ "$n" = 3 ] && [ "$bad" = 0 ] || die "the filter 'fetch' shows $n rows, $bad of them not fetch_page"
say "/fetch narrows to $n rows"

tm send-keys j Enter
see "^Backtrace" 15 "task view"
grep -qE "^  #[0-9]+ +fetch_page\+[0-9]+ " "$tmp/screen" || die "no fetch_page frame in the backtrace"
grep -qE "^task 1[123] 'fetch_page'" "$tmp/screen" || die "the task view is not of a fetch_page task"
grep -q "^History" "$tmp/screen" || die "no History section"
say "Enter: $(grep -m1 -E '^  #1 ' "$tmp/screen" | sed 's/^ *//')"

tm send-keys Escape
see "^ +ID NAME" 5 "back to the list"
tm resize-window -x 100 -y 20 2>/dev/null || tm resize-window -t 0 -x 100 -y 20
see "^P B T N I S M sort" 5 "the key line after a resize to 100x20"
# a capture can land between the clear and the header's redraw (seen under load): wait
# for the header too, then check the size
see "^lrt-top - process $show" 5 "the header after the resize"
[ "$(wc -l <"$tmp/screen")" -le 20 ] || die "more than 20 lines after the resize"
say "resize to 100x20: redrawn"

tm send-keys q
exited 10
[ "$rc" = 0 ] || die "q: exit status $rc"
say "q exits 0"

PROG="'$(realpath "$DUMP")' --top" top "$show"
see "^lrt-top - process $show \(showcase\)" 15 "lrt-dump --top"
tm send-keys q
exited 10
[ "$rc" = 0 ] || die "lrt-dump --top, q: exit status $rc"
say "lrt-dump --top runs lrt-top"
kill -TERM "$show"
wait "$show" 2>/dev/null

# ---- 2. a stalled runtime thread: the long-poll lint; then the process exits -----------
say "a showcase whose checksum task blocks its runtime thread for 4 s"
start_show --block-after=300 --block-for=4000
top "$show"
see "task 10 'checksum' polls for > 10 ms" 20 "long-poll lint"
say "lint: $(grep -m1 -o "task 10 'checksum' polls.*" "$tmp/screen")"
kill -TERM "$show"
exited 20
[ "$rc" = 3 ] || die "the target exited: lrt-top exit status $rc, not 3"
grep -q "lrt-top: process $show (showcase) exited" "$tmp/top.err" || die "no 'exited' message: $(cat "$tmp/top.err")"
say "the target exits: '$(cat "$tmp/top.err")', status 3"
wait "$show" 2>/dev/null

# ---- 3. a busy agent ------------------------------------------------------------------
# fake_agent PATH ANSWERS : serves ANSWERS snapshots (a minimal one), then answers every
# request "too many clients" and closes, as an agent with all its slots taken does.
fake_agent() {
    "$PY" - "$1" "$2" <<'PYEOF' &
import socket, sys, time
path, answers = sys.argv[1], int(sys.argv[2])
snap = (b'{"version":1,"process":{"pid":1},"runtime":{"state":"running","now_ns":%d,"uptime_ns":1,'
        b'"polls":3,"parks":1},"tasks":[{"id":1,"name":"lonely","state":"suspended",'
        b'"wait":{"kind":"sleep","object":"sleep (1 ms left)"},"state_ns":5,"polls":3,"busy_ns":0}],'
        b'"io":[],"timers":[],"blocking":{"threads":0},"stalls":[]}\n')
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
srv.listen(8)
srv.settimeout(30)
n = 0
try:
    while True:
        c, _ = srv.accept()
        c.settimeout(5)
        try:
            while c.recv(4096):
                n += 1
                if n <= answers:
                    c.sendall(snap % time.monotonic_ns())
                else:
                    c.sendall(b'{"error":"too many clients"}\n')
                    break
        except OSError:
            pass
        c.close()
except socket.timeout:
    pass
PYEOF
    pids+=($!)
    disown $!
    local end=$((SECONDS + 10))
    until [ -S "$1" ]; do
        [ $SECONDS -lt $end ] || die "the fake agent did not start"
        sleep 0.05
    done
}
say "an agent that answers once, then is busy"
fake_agent "$tmp/busy1.sock" 1
top -d 0.2 -S "$tmp/busy1.sock"
see "agent is busy" 20 "busy status"
grep -qE "^ +1 lonely " "$tmp/screen" || die "the last view is gone while the agent is busy"
say "status: $(grep -o 'the dump agent is busy.*' "$tmp/screen")"
tm send-keys q
exited 10
[ "$rc" = 0 ] || die "q while busy: exit status $rc"

say "an agent busy from the start"
fake_agent "$tmp/busy0.sock" 0
top -S "$tmp/busy0.sock"
exited 20
[ "$rc" = 1 ] || die "busy from the start: exit status $rc, not 1"
grep -q "too many clients" "$tmp/top.err" || die "no reason given: $(cat "$tmp/top.err")"
say "busy from the start: '$(cat "$tmp/top.err")', status 1"

# ---- 4. the lints and the history, from made-up snapshots -----------------------------
# lint_agent PATH : answers every request with the next of a series of snapshots, one
# second apart on the runtime's clock: task 12 runnable for 3 s, task 9 with a 25 ms
# longest poll, task 4 on a closed channel, task 7 yielding 1000 times a second (with a
# history and a backtrace), task 3 quiet (no lint).
lint_agent() {
    "$PY" - "$1" <<'PYEOF' &
import json, socket, sys
path = sys.argv[1]
def snap(k):
    now = 10**12 + k * 10**9
    def task(i, name, state, kind, obj, **kw):
        t = {"id": i, "runtime": 0, "name": name, "state": state, "wait": {"kind": kind, "object": obj},
             "state_ns": 10**6, "polls": 1, "busy_ns": 0, "last_waker": {"kind": "none", "task": 0},
             "spawned_at": {"file": "made_up.c", "line": i, "func": "main"}, "root": False,
             "cancelled": False, "started": True, "max_poll_ns": 2000}
        t.update(kw)
        return t
    tasks = [
        task(3, "quiet", "suspended", "sleep", "sleep (900 ms left)"),
        task(4, "consumer", "suspended", "chan_recv", "channel 'jobs' 0x1234 (recv, closed)"),
        task(7, "spinner", "runnable", "yield", "yield", polls=1 + 1000 * k,
             history=[{"at_ns": 5 * 10**9 - 3000, "event": "polled", "duration_ns": 1500},
                      {"at_ns": 5 * 10**9 - 1000, "event": "yielded", "wait": "yield",
                       "text": "yielded after a 1 us poll"}],
             backtrace=[{"ip": "0x1", "symbol": "spin_forever", "offset": 12, "module": "/x/made_up"}]),
        task(9, "slowpoke", "suspended", "fd", "fd 5 (read)", max_poll_ns=25 * 10**6),
        task(12, "starved", "runnable", "yield", "yield", state_ns=3 * 10**9),
    ]
    rt = {"state": "running", "now_ns": now, "uptime_ns": 5 * 10**9, "polls": 1000 * k, "parks": k}
    return {"version": 1, "process": {"pid": 1}, "runtime": rt, "tasks": tasks, "io": [], "timers": [],
            "blocking": {"threads": 0}, "stalls": []}
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
srv.listen(8)
srv.settimeout(60)
k = 0
try:
    while True:
        c, _ = srv.accept()
        c.settimeout(10)
        try:
            while c.recv(4096):
                k += 1
                c.sendall(json.dumps(snap(k)).encode() + b"\n")
        except OSError:
            pass
        c.close()
except socket.timeout:
    pass
PYEOF
    pids+=($!)
    disown $!
    local end=$((SECONDS + 10))
    until [ -S "$1" ]; do
        [ $SECONDS -lt $end ] || die "the made-up agent did not start"
        sleep 0.05
    done
}
say "lints from made-up snapshots"
lint_agent "$tmp/lints.sock"
top -d 0.3 -S "$tmp/lints.sock"
see "wakes itself in a loop" 15 "self-wake lint"
for l in "task 12 'starved' has been runnable for 3.0s: the runtime is starved" \
         "task 9 'slowpoke' polls for > 10 ms \(longest 25ms\)" \
         "task 4 'consumer' waits on a closed channel" \
         "task 7 'spinner' wakes itself in a loop \(1000 polls/s"; do
    grep -qE "^  $l" "$tmp/screen" || die "no lint '$l'"
done
grep -q "'quiet'" "$tmp/screen" && die "a lint for the quiet task"
grep -qE "^ +9 slowpoke .* 25ms " "$tmp/screen" || die "no 25ms in slowpoke's MAX POLL"
say "four lints: $(grep -cE "^  task [0-9]+ '" "$tmp/screen") lines, none for the quiet task"
tm send-keys / s p i n Enter
see "filter: spin" 5 "filter spin"
tm send-keys Enter
see "^  #0 +spin_forever\+12 " 10 "made-up backtrace"
see "3us ago  polled +1us" 5 "history"
grep -qE "1us ago  yielded after a 1 us poll" "$tmp/screen" || die "no yielded event in the history"
say "Enter shows the history: $(grep -cE ' ago  ' "$tmp/screen") events"
tm send-keys q
exited 10
[ "$rc" = 0 ] || die "q in the task view: exit status $rc"

# usage errors: status 2, and a terminal is required
"$TOP" -d 0 1 >/dev/null 2>&1
[ $? = 2 ] || fail "-d 0: not a usage error"
"$TOP" 1 </dev/null >/dev/null 2>"$tmp/err"
[ $? = 1 ] && grep -q "needs a terminal" "$tmp/err" || fail "no terminal: $(cat "$tmp/err")"

[ $fails = 0 ] && say ok || say "$fails failure(s)"
[ $fails = 0 ]
