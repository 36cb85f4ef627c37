#!/bin/bash
# t-trace.sh - record examples/trace_demo with LTTng and check the trace.
#
# Starts its own lttng-sessiond (or reuses one already running, which it then leaves
# alone), records the demo with LRT_TRACE=1 into a session whose shared memory lives in a
# private temp dir, and asserts: every lrt event kind present, spawn/terminate and poll
# begin/end balanced per task, every poll of a suspended task preceded by a wake, io_ready
# for the demo's fds, no lost events, babeltrace2 --debug-info resolves source lines; then
# the C `lrt-trace` on that trace: summary (text, --json), chrome (plain and gzip), every
# filter (--pid, --task ID|NAME, --from/--to, --top), hostile inputs (one error line, exit
# 1), a lossy trace (reported with its stream and time range, exit 0), a trace without
# the vpid context (warning), two lrt programs recorded at once (split by process, never
# merged), and `lrt-trace --live` through an lttng-relayd on 127.0.0.1.  The output
# checks are tests/t-trace-check.py (stdlib Python); the raw trace checks use bt2.
# Environment: BUILD (default build), SANITIZE (as given to make), KEEP=1 keeps the temp
# dir.  Needs root or membership of the "tracing" group only for the sessiond it starts.
set -u

cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
SANITIZE=${SANITIZE:-}
PY=/usr/bin/python3            # Debian's interpreter: the one with bt2
DEMO=$BUILD/examples/trace_demo
TPSO=$BUILD/liblrt-tp.so
TOOL=$BUILD/tools/lrt-trace

say() { echo "t-trace: $*"; }
fail() {
    echo "t-trace: FAIL: $*" >&2
    KEEP=1
    exit 1
}

# ---- prerequisites: CI provides them, so their absence is a failure, not a skip --------
for c in lttng lttng-sessiond lttng-relayd babeltrace2; do
    command -v "$c" >/dev/null || fail "$c is not installed (make deps)"
done
"$PY" -c 'import bt2' 2>/dev/null || fail "$PY cannot import bt2 (install python3-bt2)"
[ -x "$DEMO" ] || fail "$DEMO is not built"
[ -x "$TOOL" ] || fail "$TOOL is not built"
[ -e "$TPSO" ] || fail "$TPSO is not built"
if ldd "$BUILD/liblrt.so" | grep -q lttng; then
    fail "liblrt.so links liblttng-ust (must use dynamic linkage): $(ldd "$BUILD/liblrt.so" | grep lttng)"
fi

# ---- one run at a time (a shared root sessiond and fixed names) ---------------------
. tests/lttng-env.sh
lttng_lock

tmp=$(mktemp -d /tmp/lrt-t-trace.XXXXXX) || fail "mktemp"
KEEP=${KEEP:-0}
relayd_pid=
sessions=()

cleanup() {
    local s
    for s in "${sessions[@]}"; do
        lttng destroy "$s" >/dev/null 2>&1
    done
    if [ -n "$relayd_pid" ]; then
        kill "$relayd_pid" 2>/dev/null
        wait "$relayd_pid" 2>/dev/null
    fi
    lttng_sessiond_stop
    if [ "$KEEP" = 1 ]; then
        echo "t-trace: files kept in $tmp"
    else
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# ---- sanitizers -----------------------------------------------------------------------
# LTTng-UST is not instrumented but works under ASan/UBSan
lttng_lsan
if [ -n "$SANITIZE" ]; then
    case "$SANITIZE" in
    *thread*) export TSAN_OPTIONS="report_signal_unsafe=0${TSAN_OPTIONS:+:$TSAN_OPTIONS}" ;;
    esac
fi

# ---- session daemon ------------------------------------------------------------------
lttng_rundir
lttng_sessiond_start

# create_session NAME OUTPUT [lttng create options...] - lrt:* + statedump + the
# contexts in CONTEXTS
CONTEXTS=(-t vpid -t vtid -t ip -t procname)
create_session() {
    local name=$1 out=$2
    shift 2
    sessions+=("$name")
    {
        lttng create "$name" --shm-path="$tmp/shm" "$@" &&
            lttng enable-channel -u "${CHANNEL_OPTS[@]}" ch &&
            lttng enable-event -u -c ch 'lrt:*' &&
            lttng enable-event -u -c ch 'lttng_ust_statedump:*' &&
            lttng add-context -u -c ch "${CONTEXTS[@]}" &&
            lttng start
    } >>"$tmp/lttng.log" 2>&1 || fail "lttng session $name: $(tail -3 "$tmp/lttng.log")"
    : "$out"
}
destroy_session() {
    lttng destroy "$1" >>"$tmp/lttng.log" 2>&1 || fail "lttng destroy $1"
    local s keep=()
    for s in "${sessions[@]}"; do [ "$s" = "$1" ] || keep+=("$s"); done
    sessions=("${keep[@]}")
}

# ---- 1. record the demo --------------------------------------------------------------
sess=lrt-t-trace-$$
CHANNEL_OPTS=(--subbuf-size=1M --num-subbuf=8)
create_session "$sess" "$tmp/trace" --output="$tmp/trace"
LRT_TRACE=1 "$DEMO" >"$tmp/demo.out" 2>"$tmp/demo.err" ||
    fail "trace_demo failed: $(tail -5 "$tmp/demo.err")"
destroy_session "$sess"
grep -q '^ok$' "$tmp/demo.out" || fail "trace_demo did not finish: $(cat "$tmp/demo.out")"
fds=$(sed -n 's/^fds: //p' "$tmp/demo.out")
[ -n "$fds" ] || fail "trace_demo printed no fds"

# The stall event is required once the stall detector is part of the library.
need_stall=0
if nm "$BUILD/liblrt.so" 2>/dev/null | grep -q 'lrt__stall_'; then need_stall=1; fi

# ---- 2. assertions on the trace ------------------------------------------------------
"$PY" - "$tmp/trace" "$fds" "$need_stall" >"$tmp/check.out" 2>&1 <<'EOF'
import sys
import bt2

trace, fds, need_stall = sys.argv[1], [int(x) for x in sys.argv[2].split()], sys.argv[3] == "1"
KINDS = ["runtime_new", "runtime_shutdown", "task_spawn", "task_poll_begin", "task_poll_end",
         "task_wake", "task_terminate", "io_register", "io_deregister", "io_ready",
         "driver_park_begin", "driver_park_end", "timer_fire", "blocking_submit",
         "blocking_begin", "blocking_end", "blocking_thread_spawn", "blocking_thread_exit",
         "remote_schedule"] + (["stall"] if need_stall else [])
errors = []
def err(msg):
    if len(errors) < 30:
        errors.append(msg)

lost = 0
events = []
statedump = 0
for msg in bt2.TraceCollectionMessageIterator(trace):
    t = type(msg)
    if t is bt2._EventMessageConst:
        name = msg.event.name
        if name.startswith("lttng_ust_statedump:"):
            statedump += 1
        if not name.startswith("lrt:"):
            continue
        ctx = msg.event.common_context_field
        p = {k: (int(v) if not isinstance(v, (bt2._StringFieldConst, bt2._ArrayFieldConst))
                 else str(v)) for k, v in msg.event.payload_field.items()}
        events.append((name[4:], msg.default_clock_snapshot.ns_from_origin,
                       int(ctx["vtid"]), p))
    elif t in (bt2._DiscardedEventsMessageConst, bt2._DiscardedPacketsMessageConst):
        lost += msg.count if msg.count is not None else 1

if lost:
    err("the tracer lost %d events/packets" % lost)
if not statedump:
    err("no lttng_ust_statedump events (needed by --debug-info)")
seen = {e[0] for e in events}
for k in KINDS:
    if k not in seen:
        err("no lrt:%s event" % k)

spawned, terminated = {}, {}
state = {}      # task -> "new" | "polling" | "runnable" | "suspended" | "woken" | "done"
current = {}    # vtid -> task in a poll
last_result = {}
polls = 0
for name, ts, vtid, p in events:
    tid = p.get("task_id")
    if name == "task_spawn":
        if tid in spawned:
            err("task %d spawned twice" % tid)
        spawned[tid] = p
        state[tid] = "new"
    elif name in ("task_poll_begin", "task_poll_end", "task_terminate", "task_wake"):
        if tid not in spawned:
            err("%s for task %d that was never spawned" % (name, tid))
            continue
        st = state[tid]
        if name == "task_wake":
            if st == "suspended":
                state[tid] = "woken"
        elif name == "task_poll_begin":
            polls += 1
            if vtid in current:
                err("poll of task %d begins inside the poll of task %d" % (tid, current[vtid]))
            current[vtid] = tid
            if st == "suspended":
                err("task %d polled after suspending without a wake" % tid)
            elif st in ("polling", "done"):
                err("task %d: poll_begin in state %s" % (tid, st))
            state[tid] = "polling"
        elif name == "task_poll_end":
            if st != "polling" or current.get(vtid) != tid:
                err("task %d: poll_end without its poll_begin" % tid)
            current.pop(vtid, None)
            r = p["result"]
            last_result[tid] = r
            state[tid] = {0: "runnable", 1: "suspended", 2: "ran"}.get(r, "?")
        elif name == "task_terminate":
            if tid in terminated:
                err("task %d terminated twice" % tid)
            terminated[tid] = p["status"]
            if st == "polling":
                err("task %d terminated inside its poll" % tid)
            if tid in last_result and last_result[tid] != 2:
                err("task %d terminated but its last poll ended %d, not finished"
                    % (tid, last_result[tid]))
            state[tid] = "done"
for tid in spawned:
    if tid not in terminated:
        err("task %d (%s) spawned but never terminated" % (tid, spawned[tid]["name"]))
names = {p["name"] for p in spawned.values()}
for n in ("main", "reader", "writer", "sleeper", "ponger", "yielder", "victim", "hog",
          "from_remote"):
    if n not in names and not (n == "from_remote" and "remote" in names):
        err("no task named %s was spawned (names: %s)" % (n, sorted(names)))
if not any(v != 0 for v in terminated.values()):
    err("no task terminated with a non-zero status (the aborted victim)")
ready_fds = {p["fd"] for n, _, _, p in events if n == "io_ready"}
# The reader waits for data on the pipe: readiness wakes it on either backend.  The
# writer's pipe never fills: epoll reports it writable when it is registered, io_uring
# arms a poll only for a task that waits (src/uring.c), so none comes there.
backends = {p["driver"] for n, _, _, p in events if n == "driver_select"}
if not backends:
    err("no driver_select event")
for fd in (fds if backends == {"epoll"} else fds[:1]):
    if fd not in ready_fds:
        err("no io_ready for fd %d (io_ready fds: %s)" % (fd, sorted(ready_fds)))
wakers = {p["waker"] for n, _, _, p in events if n == "task_wake"}
for w, wn in ((1, "io"), (2, "timer"), (3, "task"), (5, "blocking"), (8, "signal"), (9, "process")):
    if w not in wakers:
        err("no wake by %s" % wn)
if polls == 0:
    err("no polls")
print("%d lrt events, %d tasks, %d polls, %d statedump events, lost %d"
      % (len(events), len(spawned), polls, statedump, lost))
for e in errors:
    print("ERROR: " + e)
sys.exit(1 if errors else 0)
EOF
rc=$?
cat "$tmp/check.out"
[ $rc = 0 ] || fail "trace assertions failed"

# babeltrace2 --debug-info: source file:line of the call sites (needs vpid+ip+statedump, -g)
if readelf -S "$BUILD/liblrt.so" | grep -q '\.debug_info'; then
    babeltrace2 --debug-info "$tmp/trace" >"$tmp/bt.txt" 2>"$tmp/bt.err" ||
        fail "babeltrace2 --debug-info: $(tail -3 "$tmp/bt.err")"
    # io_register fires inline in io.c (hot events go through cold helpers in trace.h)
    grep 'lrt:io_register' "$tmp/bt.txt" | grep -Eq 'src = "[^"]+\.c:[0-9]+"' ||
        fail "babeltrace2 --debug-info shows no source line for lrt events: $(grep -m1 'lrt:io_register' "$tmp/bt.txt")"
    say "babeltrace2 --debug-info: $(grep -m1 'lrt:io_register' "$tmp/bt.txt" | grep -o 'debug_info = {[^}]*}')"
fi

# ---- 3. lrt-trace summary / chrome -----------------------------------------------------
CHECK=tests/t-trace-check.py
"$TOOL" summary "$tmp/trace" >"$tmp/summary.txt" 2>"$tmp/summary.err" ||
    fail "lrt-trace summary: $(cat "$tmp/summary.err")"
for w in main reader writer sleeper 'longest polls' 'timer lateness' 'blocking pool' driver \
    '=== process [0-9]* (trace_demo)'; do
    grep -q "$w" "$tmp/summary.txt" || fail "lrt-trace summary lacks '$w'"
done
[ ! -s "$tmp/summary.err" ] || fail "lrt-trace summary warned on a good trace: $(cat "$tmp/summary.err")"
"$TOOL" summary --json "$tmp/trace" >"$tmp/summary.json" || fail "lrt-trace summary --json"
"$TOOL" chrome "$tmp/trace" -o "$tmp/chrome.json" 2>"$tmp/chrome.err" ||
    fail "lrt-trace chrome: $(cat "$tmp/chrome.err")"
"$TOOL" chrome "$tmp/trace" -o "$tmp/chrome.json.gz" 2>"$tmp/chrome.err" ||
    fail "lrt-trace chrome -o .json.gz: $(cat "$tmp/chrome.err")"
gzip -t "$tmp/chrome.json.gz" || fail "lrt-trace chrome -o .json.gz: not gzip"
"$TOOL" chrome --gzip "$tmp/trace" >"$tmp/chrome-stdout.json.gz" || fail "lrt-trace chrome --gzip (stdout)"
gzip -t "$tmp/chrome-stdout.json.gz" || fail "lrt-trace chrome --gzip: standard output is not gzip"
python3 "$CHECK" demo "$tmp/summary.json" "$tmp/chrome.json" "$tmp/chrome.json.gz" \
    "$tmp/chrome-stdout.json.gz" || fail "lrt-trace output checks"
say "lrt-trace summary and chrome (plain, gzip file, gzip stdout) ok"

# ---- 3a. filters: --pid, --task ID|NAME, --from/--to, --top, for summary and chrome -----
read -r pid hog_id hog_at hog_dur start_ns < <(python3 -c '
import json, sys
s = json.load(open(sys.argv[1])); p = s["processes"][0]; lp = p["longest_polls"][0]
print(p["pid"], [t["id"] for t in p["tasks"] if t["name"] == "hog"][0], lp["at_ns"], lp["duration_ns"], s["start_ns"])
' "$tmp/summary.json")
[ -n "$start_ns" ] || fail "cannot read the hog's poll from the summary"
f() { # f NAME ARGS... : summary --json with filters into $tmp/f-NAME.json
    local n=$1
    shift
    "$TOOL" summary --json "$@" "$tmp/trace" >"$tmp/f-$n.json" 2>"$tmp/f-$n.err" ||
        fail "lrt-trace summary $*: $(cat "$tmp/f-$n.err")"
}
f pid --pid "$pid"
f otherpid --pid $((pid + 1))
f taskname --task hog
f taskid --task "$hog_id"
f before --to "$((hog_at - 1000))ns"
f window --from "$((hog_at - 1))ns" --to "$((hog_at + hog_dur + 1))ns"
f abs --from "$((start_ns + hog_at - 1))"
f top --top 1
grep -q 'no event matched' "$tmp/f-otherpid.err" || fail "--pid of another process: no warning"
"$TOOL" chrome --task hog "$tmp/trace" -o "$tmp/f-chrome-hog.json.gz" || fail "lrt-trace chrome --task hog"
"$TOOL" chrome --from "$((hog_at + hog_dur + 1))ns" "$tmp/trace" -o "$tmp/f-chrome-after.json" ||
    fail "lrt-trace chrome --from"
python3 "$CHECK" filters "$tmp" "$hog_id" || fail "filters"
for bad_arg in "--pid 0" "--pid -3" "--pid x" "--top -1" "--top 99999999999" "--from 3parsecs" \
    "--to -1s" "--from 2s --to 1s" "--task" "--frobnicate"; do
    # shellcheck disable=SC2086 # word splitting wanted
    "$TOOL" summary $bad_arg "$tmp/trace" >/dev/null 2>"$tmp/usage.err"
    rc=$?
    [ $rc = 2 ] || fail "lrt-trace summary $bad_arg: exit $rc, expected 2 (usage)"
done
say "filters ok (--pid, --task hog / $hog_id, --from/--to relative and absolute, --top; bad values refused)"

# ---- 3b. lrt-trace on inputs that are not a good trace: one-line error, exit 1 ----------
mkdir -p "$tmp/bad/empty" "$tmp/bad/garbage" "$tmp/bad/cut" "$tmp/bad/noctf" "$tmp/bad/cutmeta"
head -c 20000 /dev/urandom >"$tmp/bad/garbage/metadata"
head -c 20000 /dev/urandom >"$tmp/bad/garbage/chan_0"
echo "not a trace" >"$tmp/bad/file"
echo "hello" >"$tmp/bad/noctf/readme.txt"
cp -r "$tmp/trace/." "$tmp/bad/cutmeta/"
for f in $(find "$tmp/bad/cutmeta" -type f -name metadata); do
    truncate -s 300 "$f"   # metadata cut in the middle of a declaration
done
cp -r "$tmp/trace/." "$tmp/bad/cut/"
for f in $(find "$tmp/bad/cut" -type f ! -name metadata ! -path '*/index/*'); do
    truncate -s 100 "$f"   # every stream file cut inside its first packet
done
for b in "$tmp/bad/nonexistent" "$tmp/bad/file" "$tmp/bad/empty" "$tmp/bad/noctf" \
    "$tmp/bad/garbage" "$tmp/bad/cut" "$tmp/bad/cutmeta"; do
    timeout --foreground 60 "$TOOL" summary "$b" >"$tmp/bad.out" 2>"$tmp/bad.err"
    rc=$?
    [ $rc = 1 ] || fail "lrt-trace summary $(basename "$b"): exit $rc, expected 1 ($(tail -c 300 "$tmp/bad.err"))"
    grep -q '^lrt-trace: error: ' "$tmp/bad.err" || fail "lrt-trace summary $(basename "$b"): no error line"
    [ "$(wc -l <"$tmp/bad.err")" -le 1 ] || fail "lrt-trace summary $(basename "$b"): more than one line"
done
say "lrt-trace refuses bad inputs: $(cat "$tmp/bad.err")"

# `lrt-trace record ARGS` runs lrt-trace-record ARGS from lrt-trace's own directory
mkdir -p "$tmp/recbin"
cp "$TOOL" "$tmp/recbin/lrt-trace"
"$tmp/recbin/lrt-trace" record -p 1 >/dev/null 2>"$tmp/rec.err"
rc=$?
[ $rc = 1 ] && grep -q "cannot run $tmp/recbin/lrt-trace-record" "$tmp/rec.err" ||
    fail "lrt-trace record without lrt-trace-record: exit $rc, $(cat "$tmp/rec.err")"
printf '#!/bin/sh\necho "record: $0 $*"\n' >"$tmp/recbin/lrt-trace-record"
chmod +x "$tmp/recbin/lrt-trace-record"
out=$("$tmp/recbin/lrt-trace" record --duration 2 -- cmd 'a b')
[ "$out" = "record: $tmp/recbin/lrt-trace-record --duration 2 -- cmd a b" ] ||
    fail "lrt-trace record did not run its sibling with the arguments: '$out'"
"$TOOL" --help | grep -q 'record' || fail "lrt-trace --help does not mention record"
say "lrt-trace record runs lrt-trace-record"

# ---- 3c. a session started while the program runs: hot events begin within moments ----
# (spawn/poll/wake/terminate sit behind the runtime's gate, refreshed at every I/O check
# and park: the showcase's client task wakes every 200 ms, so 1.5 s must show its polls)
SHOW=$BUILD/examples/showcase
LRT_TRACE=1 LRT_DUMP_DIR="$tmp/dumpsock" "$SHOW" --block-after=600000 >"$tmp/show.out" 2>"$tmp/show.err" &
show_pid=$!
sleep 0.5
sess=lrt-t-trace-late-$$
CHANNEL_OPTS=(--subbuf-size=1M --num-subbuf=8)
create_session "$sess" "$tmp/late" --output="$tmp/late"
sleep 1.5
destroy_session "$sess"
kill -TERM "$show_pid"
for _ in $(seq 100); do kill -0 "$show_pid" 2>/dev/null || break; sleep 0.05; done
kill -KILL "$show_pid" 2>/dev/null
wait "$show_pid" 2>/dev/null
"$PY" - "$tmp/late" <<'EOF' || fail "events after a late session start"
import sys, bt2
n = {}
for m in bt2.TraceCollectionMessageIterator(sys.argv[1]):
    if type(m) is bt2._EventMessageConst and m.event.name.startswith("lrt:"):
        n[m.event.name] = n.get(m.event.name, 0) + 1
print("late session: %s" % sorted(n.items()))
sys.exit(0 if n.get("lrt:task_poll_begin", 0) >= 3 and n.get("lrt:task_wake", 0) >= 3 else 1)
EOF
say "a session started mid-run records the hot events"

# ---- 4. lost events are reported, never fatal ----------------------------------------
sess=lrt-t-trace-lost-$$
CHANNEL_OPTS=(--subbuf-size=4096 --num-subbuf=2 --switch-timer=0)
create_session "$sess" "$tmp/lost" --output="$tmp/lost"
LRT_TRACE=1 "$DEMO" --flood 20000 >/dev/null 2>"$tmp/flood.err" ||
    fail "trace_demo --flood failed: $(tail -3 "$tmp/flood.err")"
destroy_session "$sess"
"$TOOL" summary "$tmp/lost" >"$tmp/lost.txt" 2>"$tmp/lost.err" ||
    fail "lrt-trace summary refused a trace that lost events: $(cat "$tmp/lost.err")"
grep -q 'warning: the trace lost [0-9]* event' "$tmp/lost.err" ||
    fail "lrt-trace summary: no lost-events warning on stderr: $(cat "$tmp/lost.err")"
grep -q '^LOST EVENTS: [1-9]' "$tmp/lost.txt" || fail "lrt-trace summary: no LOST EVENTS in the report"
grep -q 'uncertain: ' "$tmp/lost.txt" || fail "lrt-trace summary: does not say what the loss makes uncertain"
"$TOOL" summary --json "$tmp/lost" >"$tmp/lost.json" 2>/dev/null || fail "lrt-trace summary --json on a lossy trace"
"$TOOL" chrome "$tmp/lost" -o "$tmp/lost-chrome.json" 2>/dev/null || fail "lrt-trace chrome on a lossy trace"
python3 "$CHECK" lost "$tmp/lost.json" "$tmp/lost-chrome.json" || fail "lost events in the report"
say "lost events reported, exit 0: $(head -c 160 "$tmp/lost.err")"

# ---- 4b. a trace without the vpid/procname contexts: analysed, with a warning -----------
sess=lrt-t-trace-novpid-$$
CHANNEL_OPTS=(--subbuf-size=1M --num-subbuf=8)
CONTEXTS=(-t vtid)
create_session "$sess" "$tmp/novpid" --output="$tmp/novpid"
CONTEXTS=(-t vpid -t vtid -t ip -t procname)
LRT_TRACE=1 "$DEMO" >/dev/null 2>"$tmp/demo-novpid.err" || fail "trace_demo (no vpid) failed"
destroy_session "$sess"
"$TOOL" summary --json "$tmp/novpid" >"$tmp/novpid.json" 2>"$tmp/novpid.err" ||
    fail "lrt-trace summary without vpid: $(cat "$tmp/novpid.err")"
grep -q 'warning: .*without the vpid context' "$tmp/novpid.err" ||
    fail "lrt-trace summary: no warning about the missing vpid context: $(cat "$tmp/novpid.err")"
python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
sys.exit(0 if any("vpid" in w for w in s["warnings"]) and s["processes"][0]["pid"] == -1 else 1)
' "$tmp/novpid.json" || fail "lrt-trace summary --json: no vpid warning in the report"
say "missing vpid context: $(head -c 120 "$tmp/novpid.err")"

# ---- 4c. two lrt programs recorded at once: one report per process, nothing merged -------
cp "$DEMO" "$tmp/other_demo"    # the same task ids, another procname
sess=lrt-t-trace-two-$$
create_session "$sess" "$tmp/two" --output="$tmp/two"
LRT_TRACE=1 "$DEMO" >"$tmp/two-a.out" 2>&1 &
a_pid=$!
LD_LIBRARY_PATH=$BUILD LRT_TRACE=1 "$tmp/other_demo" >"$tmp/two-b.out" 2>&1 ||
    fail "other_demo failed: $(tail -3 "$tmp/two-b.out")"
wait "$a_pid" || fail "trace_demo (two) failed: $(tail -3 "$tmp/two-a.out")"
destroy_session "$sess"
"$TOOL" summary --json "$tmp/two" >"$tmp/two.json" 2>"$tmp/two.err" ||
    fail "lrt-trace summary (two): $(cat "$tmp/two.err")"
"$TOOL" summary "$tmp/two" >"$tmp/two.txt" 2>/dev/null || fail "lrt-trace summary (two, text)"
"$TOOL" chrome "$tmp/two" -o "$tmp/two-chrome.json" 2>/dev/null || fail "lrt-trace chrome (two)"
python3 "$CHECK" two "$tmp/two.json" "$tmp/two-chrome.json" "$a_pid" || fail "two processes"
[ "$(grep -c '^=== process' "$tmp/two.txt")" = 2 ] || fail "lrt-trace summary (two): not two process sections"
say "two processes split: $(grep '^=== process' "$tmp/two.txt" | tr '\n' ';')"

# ---- 4d. statedump and io_uring events (emitted by hand until their emitters land) -------
# task_info names a task born before the recording; driver_select names the backend;
# io_submit/io_complete are summarised per op.
sess=lrt-t-trace-fake-$$
create_session "$sess" "$tmp/fake" --output="$tmp/fake"
preload=$TPSO
case "$SANITIZE" in   # ASan must come first in the initial library list
*address*) preload="$(${CC:-gcc} -print-file-name=libasan.so) $TPSO" ;;
esac
LD_PRELOAD=$preload "$BUILD/tests/trace_fake" >"$tmp/fake.out" 2>&1 || fail "trace_fake: $(cat "$tmp/fake.out")"
destroy_session "$sess"
"$TOOL" summary --json "$tmp/fake" >"$tmp/fake.json" 2>"$tmp/fake.err" || fail "lrt-trace summary (fake): $(cat "$tmp/fake.err")"
"$TOOL" summary "$tmp/fake" >"$tmp/fake.txt" 2>/dev/null || fail "lrt-trace summary (fake, text)"
python3 -c '
import json, sys
(p,) = json.load(open(sys.argv[1]))["processes"]
(t,) = p["tasks"]
io = p["io"]["read"]
ok = (t["id"] == 7 and t["name"] == "accept_loop" and t["from_statedump"] and t["polls"] == 1
      and t["spawned_at"] == {"file": "server.c", "line": 42, "func": "serve"}
      and t["state_at_start"] == "suspended"
      and p["driver"]["backend"] == "io_uring" and p["driver"]["reason"] == "test: fake"
      and io["submits"] == 2 and io["completions"] == 2 and io["errors"] == 1 and io["bytes"] == 100
      and io["latency"]["max_ns"] == 9000 and abs(io["latency"]["p50_ns"] - 5000) <= 5000 / 16)
print("statedump/io: task %s, driver %s, read %s" % ((t["id"], t["name"], t["from_statedump"]), p["driver"]["backend"], io))
sys.exit(0 if ok else 1)
' "$tmp/fake.json" || fail "task_info / driver_select / io_submit / io_complete"
grep -q 'server.c:42 (statedump)' "$tmp/fake.txt" || fail "summary text: no (statedump) task"
grep -q 'I/O backend io_uring (test: fake)' "$tmp/fake.txt" || fail "summary text: no I/O backend"
grep -q '^io read .*2 submitted, 2 completed, 1 errors' "$tmp/fake.txt" || fail "summary text: no io read line"
say "statedump names tasks, driver_select and io ops summarised"

# ---- 5. live: lttng-relayd on 127.0.0.1, lrt-trace --live --------------------------
port() { echo $((20000 + (RANDOM % 20000))); }
for attempt in 1 2 3; do
    cport=$(port) dport=$(port) lport=$(port)
    lttng-relayd -o "$tmp/relay" -C "tcp://127.0.0.1:$cport" -D "tcp://127.0.0.1:$dport" \
        -L "tcp://127.0.0.1:$lport" >"$tmp/relayd.log" 2>&1 &
    relayd_pid=$!
    for _ in $(seq 50); do
        (exec 3<>"/dev/tcp/127.0.0.1/$lport") 2>/dev/null && break
        kill -0 "$relayd_pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$relayd_pid" 2>/dev/null && break
    wait "$relayd_pid" 2>/dev/null
    relayd_pid=
done
[ -n "$relayd_pid" ] || fail "lttng-relayd did not start: $(tail -3 "$tmp/relayd.log")"
sess=lrt-t-trace-live-$$
CHANNEL_OPTS=(--subbuf-size=1M --num-subbuf=8)
create_session "$sess" "" --live=100000 --set-url="net://127.0.0.1:$cport:$dport"
url="net://127.0.0.1:$lport/host/$(uname -n)/$sess"
"$TOOL" summary --json --live "$url" >"$tmp/live.json" 2>"$tmp/live.err" &
live_pid=$!
sleep 0.5   # the reader attaches to the session before the data flows
LRT_TRACE=1 "$DEMO" >"$tmp/demo-live.out" 2>"$tmp/demo-live.err" ||
    fail "trace_demo (live) failed: $(tail -3 "$tmp/demo-live.err")"
destroy_session "$sess"
for _ in $(seq 300); do kill -0 "$live_pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$live_pid" 2>/dev/null; then
    kill "$live_pid"
    fail "lrt-trace --live did not end 30 s after the session was destroyed"
fi
wait "$live_pid" || fail "lrt-trace --live: $(cat "$tmp/live.err")"
python3 "$CHECK" live "$tmp/live.json" || fail "lrt-trace --live output"
say "lttng-live ok"

say "PASS"
