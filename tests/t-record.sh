#!/bin/bash
# t-record.sh - `lrt-trace record` (tools/lrt-trace-record.c), the statedump and the flight
# recorder, against a real lttng-sessiond.
#
#  1. record -- CMD with no session daemon running: it starts its own and stops it; only
#     the command is recorded (another lrt program traced meanwhile is not in the trace);
#     the summary is printed.
#  2. record -p PID --duration of a process started WITHOUT LRT_TRACE: the request file
#     makes it load the provider; the statedump names the tasks born before the session
#     (task_info with their spawn sites); the target keeps running.
#  3. record -p PID stopped by SIGTERM: a clean stop, the trace is there, no session left.
#  4. record --duration -- CMD: the command gets SIGTERM at the end and exits cleanly.
#  5. a second session started while another records gets its own statedump.
#  6. errors: no such pid, not an lrt process, a command that cannot run, bad arguments:
#     a clear one-line reason, exit status != 0, no session left behind.
#  7. flight recorder (-- CMD and -p): a task that stalls on purpose; the snapshot exists,
#     the stall report names it, and it holds the events that led to the stall; a flight
#     session that does not exist is one line in the report, not a crash.
# Takes the machine-wide lttng lock of t-trace.sh for its whole run.  Environment: BUILD
# (default build), SANITIZE, KEEP=1.  Every recording goes through `lrt-trace record` (which runs
# lrt-trace-record, its sibling), as a user types it.
set -u

cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
SANITIZE=${SANITIZE:-}
RECORD=("$BUILD/tools/lrt-trace" record)
SHOW=$BUILD/examples/showcase
DEMO=$BUILD/examples/trace_demo

say() { echo "t-record: $*"; }
fail() {
    echo "t-record: FAIL: $*" >&2
    KEEP=1
    exit 1
}

for c in lttng lttng-sessiond babeltrace2; do
    command -v "$c" >/dev/null || fail "$c is not installed (make deps)"
done
for f in "${RECORD[0]}" "$BUILD/tools/lrt-trace-record" "$SHOW" "$DEMO"; do [ -x "$f" ] || fail "$f is not built"; done

. tests/lttng-env.sh
lttng_lock

tmp=$(mktemp -d /tmp/lrt-t-record.XXXXXX) || fail "mktemp"
KEEP=${KEEP:-0}
pids=()

cleanup() {
    local p s
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    # sessions this test (or a failed recorder) left: only ours, by their names
    for s in $(lttng list 2>/dev/null | grep -oE "lrt-(record|flight|t-record)-[0-9-]+" | sort -u); do
        case "$s" in
        *-"$$"|*-"$$"-*) lttng destroy "$s" >/dev/null 2>&1 ;;
        esac
    done
    for p in "${pids[@]}"; do
        for s in "lrt-flight-$p" $(lttng list 2>/dev/null | grep -oE "lrt-record-$p-[0-9]+"); do
            lttng destroy "$s" >/dev/null 2>&1
        done
    done
    lttng_sessiond_stop
    if [ "$KEEP" = 1 ]; then echo "t-record: files kept in $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

lttng_lsan liblttng-ctl

lttng_rundir # not root: a private per-user sessiond, as the recorder finds it
export LRT_DUMP_DIR=$tmp/req # where the targets look for requests (and dump sockets)

TIMEOUT=$(command -v timeout)
rec() { "$TIMEOUT" -k 5 120 "${RECORD[@]}" "$@"; }
# events NAME DIR: the lines of event lrt:NAME in the trace under DIR
events() { babeltrace2 "$2" 2>/dev/null | grep "lrt:$1:"; }
no_session_left() {
    ! lttng list 2>/dev/null | grep -qE "lrt-(record|flight)-$1([^0-9]|$)" ||
        fail "$2: session of process $1 left behind: $(lttng list 2>&1 | grep -E "lrt-(record|flight)-$1")"
}
start_bg() { # start_bg OUT ERR CMD...: background, pid in $bg
    local out=$1 err=$2
    shift 2
    "$@" >"$out" 2>"$err" &
    bg=$!
    pids+=("$bg")
}
stop_bg() {
    kill -TERM "$1" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}

# ---- 1. record -- CMD, with its own session daemon ------------------------------------------
own_sessiond=0
sessiond_alive || own_sessiond=1
# another lrt program traced at the same time: it must not be in the recording
start_bg "$tmp/other.out" "$tmp/other.err" env LRT_TRACE=1 "$SHOW" --block-after=600000 --exit-after=60000
other=$bg
rec -o "$tmp/t1" -- "$DEMO" >"$tmp/r1.out" 2>"$tmp/r1.err" || fail "record -- trace_demo: $(tail -5 "$tmp/r1.err")"
grep -q '^ok$' "$tmp/r1.out" || fail "trace_demo did not finish under record: $(head -5 "$tmp/r1.out")"
child=$(sed -n 's/.*recording command \([0-9]*\) .*/\1/p' "$tmp/r1.err")
[ -n "$child" ] || fail "record did not say which pid it records: $(cat "$tmp/r1.err")"
grep -q "^trace: $tmp/t1\$" "$tmp/r1.out" || fail "record did not name its trace: $(cat "$tmp/r1.out")"
# the summary of lrt-trace follows: the task names of the demo are in it
grep -q "hog" "$tmp/r1.out" || fail "no summary printed: $(tail -5 "$tmp/r1.out")"
babeltrace2 "$tmp/t1" >"$tmp/t1.txt" 2>"$tmp/bt.err" || fail "babeltrace2 t1: $(tail -3 "$tmp/bt.err")"
n=$(grep -c 'lrt:task_poll_begin' "$tmp/t1.txt")
[ "$n" -gt 10 ] || fail "record -- CMD: only $n polls recorded"
grep -q "lrt:task_spawn:.*name = \"hog\"" "$tmp/t1.txt" || fail "record -- CMD: the demo's first tasks are missing"
vpids=$(grep -o 'vpid = [0-9]*' "$tmp/t1.txt" | sort -u | tr '\n' ' ')
[ "$vpids" = "vpid = $child " ] || fail "record -- CMD: processes in the trace: $vpids (want only $child; $other is another)"
grep -q 'procname = "trace_demo"' "$tmp/t1.txt" || fail "no procname context"
grep -q 'vtid = ' "$tmp/t1.txt" || fail "no vtid context"
if [ $own_sessiond = 1 ]; then
    grep -q "started lttng-sessiond" "$tmp/r1.err" || fail "record did not start a session daemon: $(cat "$tmp/r1.err")"
    ! sessiond_alive || fail "record left its lttng-sessiond running (pid $(cat "$pidfile"))"
    say "record -- CMD started and stopped its own lttng-sessiond"
else
    say "a session daemon runs already: record used it (its own start/stop is not checked)"
fi
no_session_left "$child" "record -- CMD"
stop_bg "$other"
say "record -- CMD: $n polls, only process $child ($(grep -c . "$tmp/t1.txt") events)"

# the rest shares one session daemon (ours when none runs)
lttng_sessiond_start

# ---- 2. record -p PID of a process started without LRT_TRACE: statedump -----------------------
start_bg "$tmp/s2.out" "$tmp/s2.err" env -u LRT_TRACE "$SHOW" --block-after=600000 --exit-after=120000
show=$bg
for _ in $(seq 100); do grep -q "checksum" "$tmp/s2.out" && break; sleep 0.05; done
! grep -q liblrt-tp "/proc/$show/maps" || fail "showcase loaded the provider without LRT_TRACE"
rec -o "$tmp/t2" --duration 1.5 -p "$show" >"$tmp/r2.out" 2>"$tmp/r2.err" ||
    fail "record -p (no LRT_TRACE): $(tail -5 "$tmp/r2.err")"
kill -0 "$show" 2>/dev/null || fail "record -p: the target did not survive: $(tail -3 "$tmp/s2.err")"
grep -q "tracing on, asked for by lrt-trace record" "$tmp/s2.err" || fail "the target did not say it loaded the provider"
grep -q liblrt-tp "/proc/$show/maps" || fail "the target has no liblrt-tp.so mapped"
events task_info "$tmp/t2" >"$tmp/t2.info" || fail "record -p: no task_info (statedump) in the trace"
for t in http_server config_watcher nightly_report crawler; do
    grep -q "name = \"$t\", file = \"examples/showcase.c\", line = [1-9]" "$tmp/t2.info" ||
        fail "statedump: no task_info for $t (born before the session) with its spawn site: $(head -3 "$tmp/t2.info")"
done
grep -q 'name = "nightly_report".*state = "suspended", wait = "sleep", wait_since_ns = [1-9]' "$tmp/t2.info" ||
    fail "statedump: nightly_report's state and wait: $(grep nightly_report "$tmp/t2.info")"
events driver_select "$tmp/t2" | grep -q 'driver = "[a-z_]*", reason = "statedump: [a-z]' ||
    fail "statedump: no driver_select"
[ "$(events task_poll_begin "$tmp/t2" | wc -l)" -gt 3 ] || fail "record -p: no polls after the provider loaded"
# the summary printed at the end names them too (lrt-trace reads task_info), not "task ?:0"
grep -Eq "http_server .*showcase\.c:[0-9]+" "$tmp/r2.out" ||
    fail "record -p: the summary does not name http_server with its spawn site: $(grep -m3 http_server "$tmp/r2.out")"
no_session_left "$show" "record -p"
say "record -p of a process without LRT_TRACE: $(wc -l <"$tmp/t2.info") tasks named by the statedump"

# ---- 3. record -p stopped by SIGTERM ---------------------------------------------------------------
"${RECORD[@]}" -o "$tmp/t3" -p "$show" >"$tmp/r3.out" 2>"$tmp/r3.err" & # no timeout(1): it is our signal's target
recpid=$!
pids+=("$recpid")
for _ in $(seq 200); do grep -q "recording process" "$tmp/r3.err" && break; sleep 0.05; done
grep -q "recording process" "$tmp/r3.err" || fail "record -p (2nd): did not start: $(cat "$tmp/r3.err")"
sleep 0.5
kill -TERM "$recpid"
wait "$recpid" || fail "record -p stopped by SIGTERM: exit $?: $(tail -3 "$tmp/r3.err")"
grep -q "recording stopped (Terminated)" "$tmp/r3.err" || fail "record -p: no clean stop on SIGTERM: $(cat "$tmp/r3.err")"
kill -0 "$show" 2>/dev/null || fail "record -p: SIGTERM to the recorder reached the target"
# the provider is loaded already: a new session gets a new statedump
events task_info "$tmp/t3" | grep -q 'name = "http_server"' || fail "second record -p: no statedump"
no_session_left "$show" "record -p + SIGTERM"
say "record -p stops cleanly on SIGTERM; the target runs on"

# ---- 5. a second session while one records: its own statedump --------------------------------------
mk_session() { # name dir
    {
        lttng create "$1" -o "$2" && lttng enable-channel -u -s "$1" ch &&
            lttng enable-event -u -s "$1" -c ch 'lrt:*' && lttng track -u -s "$1" --vpid "$show" &&
            lttng start "$1"
    } >>"$tmp/lttng.log" 2>&1 || fail "lttng session $1: $(tail -3 "$tmp/lttng.log")"
}
mk_session "lrt-t-record-a-$$" "$tmp/t5a"
sleep 1
mk_session "lrt-t-record-b-$$" "$tmp/t5b"
sleep 1
lttng destroy "lrt-t-record-a-$$" >>"$tmp/lttng.log" 2>&1
lttng destroy "lrt-t-record-b-$$" >>"$tmp/lttng.log" 2>&1
events task_info "$tmp/t5a" | grep -q 'name = "http_server"' || fail "first session: no statedump"
events task_info "$tmp/t5b" | grep -q 'name = "http_server"' ||
    fail "a session started while another recorded got no statedump"
say "a second session gets its own statedump"
stop_bg "$show"

# ---- 4. record --duration -- CMD: the command is stopped at the end -------------------------------
rec -o "$tmp/t4" --duration 1 -- "$SHOW" --block-after=600000 >"$tmp/r4.out" 2>"$tmp/r4.err" ||
    fail "record --duration -- CMD: $(tail -5 "$tmp/r4.err")"
grep -q "recording stopped (the duration ended)" "$tmp/r4.err" || fail "record --duration: $(cat "$tmp/r4.err")"
grep -q "showcase exited with status 0" "$tmp/r4.err" || fail "record --duration: the command did not stop cleanly: $(tail -5 "$tmp/r4.err")"
[ "$(events task_poll_begin "$tmp/t4" | wc -l)" -gt 3 ] || fail "record --duration -- CMD: no polls"
say "record --duration -- CMD stops the command cleanly"

# ---- 6. errors: one clear line, no session left ----------------------------------------------------
check_err() { # check_err WHAT PATTERN ARGS...
    local what=$1 pat=$2
    shift 2
    rec "$@" >"$tmp/e.out" 2>"$tmp/e.err" && fail "$what: exit status 0"
    grep -q "$pat" "$tmp/e.err" || fail "$what: unclear message: $(cat "$tmp/e.err")"
    say "$what: $(grep -m1 "$pat" "$tmp/e.err")"
}
check_err "no such pid" "no process with pid 2147483646" -o "$tmp/e1" -p 2147483646
check_err "bad pid" "not a process id" -o "$tmp/e2" -p 12abc
check_err "zero pid" "not a process id" -o "$tmp/e2" -p 0
sleep 30 &
sl=$!
pids+=("$sl")
check_err "not an lrt process" "is not an lrt process" -o "$tmp/e3" -p "$sl"
kill "$sl"
check_err "a command that cannot run" "cannot run /nonexistent/prog" -o "$tmp/e4" -- /nonexistent/prog
check_err "negative duration" "expected seconds" --duration -1 -- "$SHOW"
check_err "no target" "either -p PID or -- CMD" -o "$tmp/e5"
check_err "existing trace" "already holds a trace" -o "$tmp/t1" -- "$SHOW"
lttng list 2>/dev/null | grep -qE "lrt-record-[0-9]+-" && fail "a failed record left a session: $(lttng list | grep lrt-record)"
env PATH=/nonexistent "${RECORD[@]}" -o "$tmp/e6" -- "$SHOW" >"$tmp/e.out" 2>"$tmp/e.err" && fail "lttng missing: exit 0"
grep -q "lttng is not installed" "$tmp/e.err" || fail "lttng missing: unclear message: $(cat "$tmp/e.err")"
say "lttng missing: $(cat "$tmp/e.err")"

# ---- 7. flight recorder ------------------------------------------------------------------------------
# -- CMD: showcase's checksum task blocks the runtime thread 1.2 s after its start
rec --flight -o "$tmp/f1" -- "$SHOW" --block-after=1200 --block-for=1500 --exit-after=3200 \
    >"$tmp/f1.out" 2>"$tmp/f1.err" || fail "record --flight -- CMD: $(tail -5 "$tmp/f1.err")"
child=$(sed -n 's/.*recording command \([0-9]*\) .*/\1/p' "$tmp/f1.err")
snap=$(sed -n 's/.*flight recorder: the trace before this stall is saved in \(.*\)$/\1/p' "$tmp/f1.err")
[ -n "$snap" ] || fail "the stall report names no flight snapshot: $(grep -v '^    #' "$tmp/f1.err")"
[ -d "$snap" ] || fail "flight snapshot $snap does not exist"
grep -q "^flight recorder: snapshot $snap\$" "$tmp/f1.out" || fail "record did not list the snapshot: $(cat "$tmp/f1.out")"
babeltrace2 "$snap" >"$tmp/f1.txt" 2>"$tmp/bt.err" || fail "babeltrace2 on the snapshot: $(tail -3 "$tmp/bt.err")"
stall_task=$(grep -m1 'lrt:stall:' "$tmp/f1.txt" | sed -n 's/.*{ task_id = \([0-9]*\),.*/\1/p')
[ -n "$stall_task" ] || fail "the snapshot holds no lrt:stall event"
# what led to the stall: the poll of that task began before the stall event, and the
# client kept polling before it
awk -v t="$stall_task" '/lrt:task_poll_begin:/ && $0 ~ "task_id = " t " }" { begin = NR }
     /lrt:stall:/ { stall = NR } END { exit !(begin && stall && begin < stall) }' "$tmp/f1.txt" ||
    fail "the snapshot lacks the stalled task's poll before the stall"
[ "$(grep -c 'lrt:task_poll_begin' "$tmp/f1.txt")" -gt 3 ] || fail "the snapshot holds too little before the stall"
grep -q "vpid = $child," "$tmp/f1.txt" || fail "the snapshot is not of process $child"
no_session_left "$child" "record --flight -- CMD"
say "flight recorder (-- CMD): $(grep -c . "$tmp/f1.txt") events before the stall in $snap"

# -p: a process started without LRT_TRACE, its stall detector on (showcase: 500 ms)
start_bg "$tmp/s7.out" "$tmp/s7.err" env -u LRT_TRACE "$SHOW" --block-after=4000 --block-for=1500 --exit-after=6500
show=$bg
rec --flight --no-summary -o "$tmp/f2" -p "$show" >"$tmp/f2.out" 2>"$tmp/f2.err" ||
    fail "record --flight -p: $(tail -5 "$tmp/f2.err")"
wait "$show"
snap=$(sed -n 's/.*flight recorder: the trace before this stall is saved in \(.*\)$/\1/p' "$tmp/s7.err")
[ -n "$snap" ] && [ -d "$snap" ] || fail "record --flight -p: no snapshot: $(grep -v '^    #' "$tmp/s7.err")"
events stall "$snap" | grep -q . || fail "record --flight -p: no stall event in the snapshot"
events task_info "$snap" | grep -q 'name = "http_server"' || fail "record --flight -p: no statedump in the snapshot"
say "flight recorder (-p, no LRT_TRACE at start): $snap"

# a flight session that does not exist: one line, no crash
LRT_FLIGHT_SESSION=lrt-flight-nonexistent-$$ "$SHOW" --block-after=300 --block-for=1500 --exit-after=2500 \
    >"$tmp/s8.out" 2>"$tmp/s8.err" || fail "showcase with a missing flight session: exit $?: $(tail -3 "$tmp/s8.err")"
grep -q "flight recorder: no snapshot: session 'lrt-flight-nonexistent-$$'" "$tmp/s8.err" ||
    fail "no clear line for a missing flight session: $(grep -v '^    #' "$tmp/s8.err")"
say "missing flight session: $(grep -m1 'flight recorder:' "$tmp/s8.err" | sed 's/^ *//')"

say "PASS"
