#!/bin/bash
# t-dump.sh - lrt-dump against live processes, and schema validation of every snapshot.
#
# Runs examples/showcase with its dump agent in a private directory and checks: every
# lrt-dump mode (table, --tree, -b with file:line, --json, --watch, --stuck, --list,
# --socket) and its exit codes (usage 2; no such process, not an lrt process, permission
# denied 1); a client of another uid refused by the directory mode and, with the socket
# opened up on purpose, by SO_PEERCRED (setpriv); the stuck runtime thread (busy loop and
# blocking syscall) answered within a second with the live frame; the stall report; a
# clean stop with the socket removed.  Then validates every snapshot produced here and by
# the CUnit dump suite against docs/snapshot.schema.json with python3-jsonschema.
# Environment: BUILD (default build), SANITIZE (as given to make), KEEP=1 keeps the temp dir.
set -u

cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
PY=/usr/bin/python3
DUMP=$BUILD/tools/lrt-dump
SHOW=$BUILD/examples/showcase
fails=0
say() { echo "t-dump: $*"; }
fail() {
    echo "t-dump: FAIL: $*" >&2
    fails=$((fails + 1))
}
need() { grep -q -- "$2" "$1" || fail "$3 (no '$2' in $(basename "$1"))"; }

for f in "$DUMP" "$SHOW" "$BUILD/tests/lrt-tests"; do
    [ -x "$f" ] || { echo "t-dump: FAIL: $f not built" >&2; exit 1; }
done
$PY -c 'import jsonschema' 2>/dev/null || { echo "t-dump: FAIL: python3-jsonschema missing" >&2; exit 1; }
command -v setpriv >/dev/null || { echo "t-dump: FAIL: setpriv (util-linux) missing" >&2; exit 1; }

tmp=$(mktemp -d /tmp/t-dump.XXXXXX)
chmod 755 "$tmp"
export LRT_DUMP_DIR=$tmp/sock
snaps=$tmp/snaps
mkdir -p "$snaps"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
    if [ "${KEEP:-0}" = 1 ] || [ $fails -ne 0 ]; then echo "t-dump: kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

# run CMD... : stdout -> $tmp/out, stderr -> $tmp/err, status -> $rc.  Every command is
# bounded (30 s, then KILL): a hang fails this test with a message, never the whole CI.
# timeout always runs with --foreground here: without it, timeout signals its whole process
# group and then sends SIGCONT, and a SIGCONT landing while LeakSanitizer's exit-time
# tracer attaches (ASan builds) cancels the tracer's SIGSTOP: the process then hangs at
# exit forever (reproduced: 1 in 150 runs of a 5-line program under `timeout -s INT`).
run() {
    timeout --foreground -k 5 30 "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    [ $rc != 124 ] && [ $rc != 137 ] || fail "timed out after 30 s: $*"
}

# diagnose PID : what a hung showcase was doing (its output, each thread's state, a dump).
diagnose() {
    local p=$1 t
    echo "t-dump: --- diagnostics for pid $p ---" >&2
    for f in "$tmp"/show*.out "$tmp"/show*.err; do
        [ -s "$f" ] && { echo "t-dump: tail of $(basename "$f"):" >&2; tail -n 15 "$f" | sed 's/^/    /' >&2; }
    done
    for t in /proc/"$p"/task/*; do
        [ -d "$t" ] || continue
        echo "    thread $(basename "$t") $(cat "$t/comm" 2>/dev/null) state=$(awk '{print $3}' "$t/stat" 2>/dev/null)" \
            "wchan=$(cat "$t/wchan" 2>/dev/null) syscall=$(cut -d' ' -f1 "$t/syscall" 2>/dev/null)" >&2
    done
    timeout --foreground -k 2 10 "$DUMP" -b "$p" 2>&1 | head -n 60 | sed 's/^/    /' >&2
}

# die MESSAGE : a step that later steps depend on failed; diagnose the showcase and stop.
die() {
    fail "$*"
    [ -n "${show:-}" ] && diagnose "$show"
    echo "t-dump: $fails failure(s)"
    exit 1
}

# wait_for FILE PATTERN SECONDS : until PATTERN appears in FILE, at most SECONDS.
wait_for() {
    local end=$((SECONDS + $3))
    until grep -q -- "$2" "$1"; do
        [ $SECONDS -lt $end ] || die "no '$2' in $(basename "$1") within $3 s"
        kill -0 "$show" 2>/dev/null || die "showcase died waiting for '$2' ($(tail -n 3 "$1" | tr '\n' ' '))"
        sleep 0.05
    done
}

# stop_show : SIGTERM the showcase and reap it within 15 s; sets $src to its exit status.
stop_show() {
    kill -TERM "$show"
    local end=$((SECONDS + 15))
    while kill -0 "$show" 2>/dev/null && [ "$(awk '{print $3}' /proc/"$show"/stat 2>/dev/null)" != Z ]; do
        [ $SECONDS -lt $end ] || die "showcase did not stop within 15 s of SIGTERM"
        sleep 0.05
    done
    wait "$show"
    src=$?
}
expect_rc() { [ "$rc" = "$1" ] || fail "$2: exit $rc, expected $1 ($(head -c 300 "$tmp/err"))"; }

wait_socket() {
    for _ in $(seq 100); do
        [ -S "$LRT_DUMP_DIR/$1.sock" ] && return 0
        sleep 0.05
    done
    die "no agent socket for pid $1"
}

# stuck_dump WHAT OUT [lrt-dump options]: kick the showcase's blocker (SIGUSR1); once it
# blocks the runtime thread (it says so in $show_out), dump it.  "runtime stuck" in the
# answer proves it was answered during the block; the time is printed, not asserted (no
# test asserts a timing: under ASan with both CPUs busy it went past a second), only a
# hang guard of 10 s (issue 4's target of one second is measured in docs/diagnosis.md).  Output: $tmp/out and
# $tmp/OUT.
stuck_dump() {
    local what=$1 out=$2 t0 ms
    shift 2
    kill -USR1 "$show"
    wait_for "$show_out" "now blocking" 20
    sleep 0.3
    t0=$(date +%s%N)
    run "$DUMP" "$@" "$show"
    ms=$((($(date +%s%N) - t0) / 1000000))
    cp "$tmp/out" "$tmp/$out"
    expect_rc 0 "$what dump"
    [ $ms -lt 10000 ] || fail "$what dump took $ms ms (hung?)"
    say "$what: stuck runtime thread answered in $ms ms"
    need "$tmp/out" "runtime stuck" "stuck state in the summary ($what)"
}

# ---- usage and errors without a target ------------------------------------------------
run "$DUMP" --help
expect_rc 0 "--help"
need "$tmp/out" "usage: lrt-dump" "--help prints usage on stdout"
run "$DUMP"
expect_rc 2 "no PID"
run "$DUMP" --frobnicate 1
expect_rc 2 "unknown option"
run "$DUMP" --stuck=soon 1
expect_rc 2 "bad duration"
need "$tmp/err" "not a duration" "bad --stuck explained"
run "$DUMP" notapid
expect_rc 2 "bad pid"
run "$DUMP" --json --tree 1
expect_rc 2 "--json with --tree"
sleep 0.01 &
dead=$!
wait $dead
run "$DUMP" "$dead"
expect_rc 1 "dead pid"
need "$tmp/err" "no process with pid $dead" "dead pid explained"
sleep 30 &
plain=$!
pids+=($plain)
run "$DUMP" "$plain"
expect_rc 1 "non-lrt process"
need "$tmp/err" "not an lrt process" "non-lrt process explained"
kill $plain 2>/dev/null
run "$DUMP" --socket "$tmp/nope.sock"
expect_rc 1 "missing socket"

# ---- lrt-dump against a hostile agent: every reply it cannot use is a one-line error ------
cat >"$tmp/fake_agent.py" <<'EOF'
import socket, sys, time
mode, path = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX)
s.bind(path)
s.listen(1)
c, _ = s.accept()
c.recv(4096)
try:
    if mode == "garbage":
        c.sendall(b"\x00\xffnot json at all\n")
    elif mode == "deep":
        c.sendall(b"[" * 100000 + b"\n")
    elif mode == "notsnapshot":
        c.sendall(b'{"tasks": "nope", "runtime": 5}\n')
    elif mode == "error":
        c.sendall(b'{"error": "out of cheese"}\n')
    elif mode == "huge":
        for _ in range(600):
            c.sendall(b"x" * (1 << 20))
    elif mode == "drip":
        for _ in range(200):
            c.sendall(b"x")
            time.sleep(0.05)
    elif mode == "silent":
        time.sleep(10)
except (BrokenPipeError, ConnectionResetError):
    pass
c.close()
EOF
# hostile MODE RC MESSAGE [lrt-dump options]: one fake agent, one lrt-dump against it
hostile() {
    local mode=$1 want_rc=$2 msg=$3 sock=$tmp/fake-$1.sock
    shift 3
    rm -f "$sock"
    $PY "$tmp/fake_agent.py" "$mode" "$sock" &
    local fake=$!
    for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.02; done
    run "$DUMP" "$@" --socket "$sock"
    expect_rc "$want_rc" "hostile agent ($mode)"
    need "$tmp/err" "$msg" "hostile agent ($mode) explained"
    [ "$(wc -l <"$tmp/err")" -le 1 ] || fail "hostile agent ($mode): more than a one-line error"
    kill "$fake" 2>/dev/null
    wait "$fake" 2>/dev/null
}
hostile garbage 1 "sent a reply that is not JSON"
hostile deep 1 "sent a reply that is not JSON"
hostile notsnapshot 1 "is not an lrt snapshot"
hostile notsnapshot 1 "is not an lrt snapshot" --json
hostile error 1 "the agent at .*: out of cheese"
hostile huge 1 "sent a reply larger than 512 MiB"
hostile drip 1 "took more than 3.6s to send its reply" --timeout=300ms
hostile silent 1 "did not answer within 300ms" --timeout=300ms
run "$DUMP" --timeout=soon 1
expect_rc 2 "bad --timeout"

# ---- the showcase, busy-looping blocker -----------------------------------------------
say "showcase (busy loop)"
# The checksum task blocks the thread when the test says so (SIGUSR1), not after a fixed
# time: on a loaded machine the checks before it can take longer than any fixed delay.
"$SHOW" --block-after=600000 --block-for=2500 >"$tmp/show.out" 2>"$tmp/show.err" &
show=$!
pids+=($show)
wait_socket $show
sock=$LRT_DUMP_DIR/$show.sock
[ "$(stat -c %a "$LRT_DUMP_DIR")" = 700 ] || fail "socket dir mode $(stat -c %a "$LRT_DUMP_DIR")"
[ "$(stat -c %a "$sock")" = 600 ] || fail "socket mode $(stat -c %a "$sock")"

# The showcase's tasks reach their waits in their own time on a loaded machine: ask until
# the table shows every one (at most 20 s), then check it.
table=("ID *NAME *STATE *WAITING ON *FOR *POLLS *BUSY *SPAWNED AT" "config_watcher .*fd [0-9]* (read)"
    "nightly_report .*sleep (" "ledger .*mutex 'audit'" "thumbnailer .*blocking job"
    "http_server .*fd" "showcase.c:[0-9]*#[0-9]* (service_main)" "blocking pool 2 busy" "job [0-9]* *queued" \
    "job [0-9]* .*resize_image  from task [0-9]* 'thumbnailer'")
end=$((SECONDS + 20))
while :; do
    run "$DUMP" $show
    missing=0
    for w in "${table[@]}"; do grep -q -- "$w" "$tmp/out" || missing=1; done
    [ $missing = 1 ] && [ $SECONDS -lt $end ] || break
    sleep 0.1
done
expect_rc 0 "table"
for w in "${table[@]}"; do
    need "$tmp/out" "$w" "table shows '$w'"
done
if grep -q $'\033' "$tmp/out"; then fail "colour escapes when stdout is not a tty"; fi
run "$DUMP" --color=always $show
grep -q $'\033\[1m' "$tmp/out" || fail "--color=always has no escapes"

run "$DUMP" --tree $show
expect_rc 0 "--tree"
need "$tmp/out" '[`|]-checksum' "tree shows children under main"
need "$tmp/out" '[`|]-\[group fetchers\] *group  *group [0-9]*, 3 tasks' "tree shows a group line under its creator"
grep -A3 -- '-\[group fetchers\]' "$tmp/out" | grep -q '  [`|]-fetch_page ' || fail "tree shows the group's tasks under its line"

run "$DUMP" -b $show
expect_rc 0 "-b"
need "$tmp/out" "wait_for_config_change" "backtrace of config_watcher"
need "$tmp/out" "examples/showcase.c:[0-9]" "file:line from debug info"
need "$tmp/out" "lrt_mutex_lock" "one lrt frame on top"
if grep -q " schedule\b\| pick_next" "$tmp/out"; then fail "scheduler frames in backtraces"; fi

run "$DUMP" --json $show
expect_rc 0 "--json"
cp "$tmp/out" "$snaps/show-plain.json"
run "$DUMP" --json -b $show
cp "$tmp/out" "$snaps/show-bt.json"
# -e ID: one task's history (issue 13 item 3), with the JSON asked for it validated below
run "$DUMP" -e 1 $show
expect_rc 0 "-e 1"
need "$tmp/out" "task 1 'main'" "-e names the task"
need "$tmp/out" " ago  spawned" "-e starts with the spawn"
need "$tmp/out" " ago  polled" "-e shows polls"
run "$DUMP" --json -e 1 $show
cp "$tmp/out" "$snaps/show-history.json"
$PY -c 'import json,sys; d=json.load(open(sys.argv[1])); assert all("history" in t and "max_poll_ns" in t for t in d["tasks"])' \
    "$snaps/show-history.json" || fail "--json -e has every task's history"
run "$DUMP" -e 999999 $show
expect_rc 1 "-e of a task that does not exist"
need "$tmp/err" "has no task 999999" "-e of a missing task says so"
run "$DUMP" -e x $show
expect_rc 2 "-e x"
$PY -c 'import json,sys; d=json.load(open(sys.argv[1])); assert any("backtrace" in t for t in d["tasks"])' \
    "$snaps/show-bt.json" || fail "--json -b has backtraces"
# liblrt.so here (the CUnit runner covers liblrt.a): frame 0 is the public call made
$PY - "$snaps/show-bt.json" <<'EOF' || fail "first frame of a suspended task is not the public call"
import json, sys
d = json.load(open(sys.argv[1]))
first = {t["name"]: t["backtrace"][0]["symbol"] for t in d["tasks"] if t.get("backtrace")}
for name, call in (("config_watcher", "lrt_read"), ("nightly_report", "lrt_sleep_ms"), ("ledger", "lrt_mutex_lock")):
    if first.get(name) != call:
        print("t-dump: %s: frame 0 is %s, expected %s" % (name, first.get(name), call))
        sys.exit(1)
EOF

run "$DUMP" --socket "$sock"
expect_rc 0 "--socket"
need "$tmp/out" "config_watcher" "--socket table"

run "$DUMP" --list
expect_rc 0 "--list"
need "$tmp/out" "^$show " "--list shows the showcase"

# --watch: interrupted once it has refreshed (a count of screens in a fixed time would
# depend on the machine's load)
# depend on the machine's load).  SIGINT only after the first screen: lrt-dump catches it
# from then on (a background job of a script starts with SIGINT ignored).
: >"$tmp/watch.out"
"$DUMP" --watch=1 $show >"$tmp/watch.out" 2>"$tmp/watch.err" &
watch=$!
pids+=($watch)
screens() { grep -c '^ID ' "$tmp/watch.out"; }
end=$((SECONDS + 20))
while [ "$(screens)" -lt 2 ] && [ $SECONDS -lt $end ] && kill -0 $watch 2>/dev/null; do
    sleep 0.1
done
[ "$(screens)" -ge 2 ] || fail "--watch did not refresh within 20 s"
kill -INT $watch 2>/dev/null
end=$((SECONDS + 10))
while kill -0 $watch 2>/dev/null && [ "$(awk '{print $3}' /proc/$watch/stat 2>/dev/null)" != Z ] && [ $SECONDS -lt $end ]; do
    sleep 0.05
done
kill -0 $watch 2>/dev/null && [ "$(awk '{print $3}' /proc/$watch/stat 2>/dev/null)" != Z ] && {
    fail "--watch still running 10 s after SIGINT"
    kill -KILL $watch
}
rc=0
wait $watch || rc=$?
expect_rc 0 "--watch (interrupted)"

run "$DUMP" --stuck=1h $show
expect_rc 0 "--stuck=1h"
if grep -q "config_watcher" "$tmp/out"; then fail "--stuck=1h still lists short waits"; fi

# the showcase's ledger and auditor take 'accounts' and 'audit' in opposite orders: the
# cycle leads --stuck in one sentence, and --objects shows who holds which
run "$DUMP" --stuck=1ms $show
need "$tmp/out" "^deadlock: task [0-9]* 'ledger' holds mutex 'accounts' and waits for mutex 'audit' held by task [0-9]* 'auditor', which waits for 'accounts'" "the showcase's deadlock in one sentence"
run "$DUMP" --objects $show
need "$tmp/out" "mutex  *accounts  *[0-9]" "--objects: 'accounts' with its owner"
need "$tmp/out" "mutex  *audit  *[0-9]" "--objects: 'audit' with its owner"

# another uid: refused by the 0700 directory, then (socket opened on purpose) by SO_PEERCRED
mkdir -p "$tmp/bin/tools"
cp "$DUMP" "$tmp/bin/tools/" && cp -L "$BUILD/liblrt.so" "$tmp/bin/liblrt.so.0" && cp -L "$BUILD/liblrt.so" "$tmp/bin/liblrt.so"
chmod -R a+rX "$tmp/bin"
NOBODY="setpriv --reuid=65534 --regid=65534 --clear-groups"
run $NOBODY env LRT_DUMP_DIR="$LRT_DUMP_DIR" "$tmp/bin/tools/lrt-dump" $show
expect_rc 1 "other uid, private dir"
need "$tmp/err" "permission denied" "other uid refused by the directory"
chmod 711 "$LRT_DUMP_DIR"
chmod 666 "$sock"
run $NOBODY "$tmp/bin/tools/lrt-dump" --socket "$sock"
expect_rc 1 "other uid, open socket"
need "$tmp/err" "permission denied: uid 65534" "other uid refused by SO_PEERCRED"
chmod 600 "$sock"
chmod 700 "$LRT_DUMP_DIR"

# stuck: the checksum task busy-loops for 2.5 s from SIGUSR1
show_out=$tmp/show.out
stuck_dump "busy loop" stuck-busy.out -b --stuck=200ms
need "$tmp/out" "checksum  *running" "the blocking task is running"
need "$tmp/out" "crunch_checksum" "live backtrace of the blocking task"
need "$tmp/out" "nightly_report" "others shown meanwhile"
run "$DUMP" --json -b $show
cp "$tmp/out" "$snaps/show-stuck.json"

# the stall report (threshold 500 ms), then a clean stop
wait_for "$tmp/show.out" "runtime thread is free" 20
need "$tmp/show.err" "lrt: stall: task [0-9]* 'checksum' (spawned at examples/showcase.c:" "stall report"
need "$tmp/show.err" "crunch_checksum.*showcase.c:[0-9]" "stall backtrace with file:line"
# the stall in one sentence: who, how long, where in the program's code, when
run "$DUMP" $show
# ("has been holding ... since" until the watchdog's next sample sees the poll end)
need "$tmp/out" "task [0-9]* 'checksum' (spawned at showcase.c:[0-9]*) h[a-z ]* the runtime thread [a-z ]*[0-9.]*[a-z]*[ a-z]*,\{0,1\} in crunch_checksum[.a-z0-9]* (showcase.c:[0-9]*)" "stall sentence"
run "$DUMP" --json -b $show
cp "$tmp/out" "$snaps/show-after.json"
stop_show
[ $src = 0 ] || fail "showcase exit status $src"
need "$tmp/show.out" "runtime shut down cleanly" "clean shutdown"
[ ! -e "$sock" ] || fail "socket left behind"

# ---- the showcase, blocked in a system call -------------------------------------------
say "showcase (blocking syscall)"
"$SHOW" --block-after=600000 --block-for=3000 --blocking-syscall >"$tmp/show2.out" 2>"$tmp/show2.err" &
show=$!
pids+=($show)
wait_socket $show
show_out=$tmp/show2.out
stuck_dump "blocking syscall" stuck-syscall.out -b
need "$tmp/out" "read_disk_synchronously" "live backtrace in a syscall"
run "$DUMP" --json -b $show
cp "$tmp/out" "$snaps/show2-stuck.json"
stop_show
[ $src = 0 ] || fail "showcase (syscall) exit status $src"

# ---- CUnit snapshots, then schema validation of everything -----------------------------
LRT_TEST_SNAPSHOT_DIR=$snaps timeout --foreground -k 5 120 "$BUILD/tests/lrt-tests" dump/snapshot_shows_each_wait_reason_with_its_object_and_backtrace \
    dump/snapshot_backtrace_starts_with_the_public_call_each_task_waits_in \
    dump/snapshot_backtrace_trims_lrt_frames_of_a_static_build_with_a_tracepoint_enabled \
    dump/agent_answers_ping_and_snapshots_on_a_private_socket_removed_at_shutdown \
    dump/agent_answers_within_a_second_when_the_thread_is_stuck_in_a_busy_loop \
    dump/agent_answers_within_a_second_when_the_thread_is_stuck_in_a_blocking_read \
    dump/stall_detector_reports_long_polls_with_backtrace_and_rate_limit \
    group/snapshot_shows_each_members_group_and_the_task_waiting_on_it \
    process/a_task_waiting_on_a_child_shows_process_pid_argv0_in_the_dump \
    signal/abort_and_close_end_a_wait_and_the_dump_names_the_signals \
    net/an_aborted_lookup_returns_at_once_and_its_answer_is_freed_later \
    file/the_dump_shows_a_file_wait_with_its_path \
    history >"$tmp/unit.out" 2>&1 ||
    fail "CUnit dump snapshots ($(tail -5 "$tmp/unit.out"))"
n=$(ls "$snaps" | wc -l)
# the OS waits (issue 11) are among them, each with its own wait kind
for k in signal process dns file; do
    grep -lqE "\"wait\": *\\{ *\"kind\": *\"$k\"" "$snaps"/*.json || fail "no saved snapshot has a task waiting with kind $k"
done
$PY - "$snaps" docs/snapshot.schema.json <<'EOF' || fail "schema validation"
import glob, json, sys
import jsonschema
schema = json.load(open(sys.argv[2]))
jsonschema.Draft202012Validator.check_schema(schema)
v = jsonschema.Draft202012Validator(schema)
bad = 0
for f in sorted(glob.glob(sys.argv[1] + "/*.json")):
    for e in v.iter_errors(json.load(open(f))):
        print("t-dump: %s: %s at %s" % (f, e.message, "/".join(map(str, e.path))))
        bad += 1
sys.exit(1 if bad else 0)
EOF
say "validated $n snapshots against docs/snapshot.schema.json"

if [ $fails -ne 0 ]; then
    echo "t-dump: $fails failure(s)"
    exit 1
fi
say "ok"
