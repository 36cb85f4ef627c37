#!/bin/bash
# t-attach.sh - lrt-dump PID on processes that never opted in (issue 12, items 1 and 5).
#
# Starts examples/showcase with a clean environment (env -i, --no-dump-agent: no agent,
# no LRT_DUMP, no XDG_RUNTIME_DIR) and checks: lrt-dump asks it for its agent and answers
# (time measured; asserted only against a generous 10 s), also when lrt-dump's own
# environment names another directory (it reads the target's from /proc/PID/environ);
# the same while the runtime thread is stuck in a busy loop and in a blocking system
# call; --json validates against docs/snapshot.schema.json; LRT_DUMP=0 in the target's
# environment is refused at once with a clear message, and so is a directory the process
# would refuse (writable by others); a process that does not use lrt
# ("sleep") is told apart, left running and untouched (no request file); another uid is
# refused (as root, with setpriv); a process with two runtimes answers with both,
# grouped by runtime.  Then the CUnit attach suite's snapshots are validated too.
# Environment: BUILD (default build), KEEP=1 keeps the temp dir.
set -u

cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
PY=/usr/bin/python3
DUMP=$(realpath "$BUILD/tools/lrt-dump")
SHOW=$(realpath "$BUILD/examples/showcase")
fails=0
say() { echo "t-attach: $*"; }
fail() {
    echo "t-attach: FAIL: $*" >&2
    fails=$((fails + 1))
}
need() { grep -q -- "$2" "$1" || fail "$3 (no '$2' in $(basename "$1"): $(head -c 300 "$1"))"; }

for f in "$DUMP" "$SHOW" "$BUILD/tests/lrt-tests"; do
    [ -x "$f" ] || { echo "t-attach: FAIL: $f not built" >&2; exit 1; }
done
$PY -c 'import jsonschema' 2>/dev/null || { echo "t-attach: FAIL: python3-jsonschema missing" >&2; exit 1; }

tmp=$(mktemp -d /tmp/t-attach.XXXXXX)
snaps=$tmp/snaps
mkdir -p "$snaps"
# Where a process with a clean environment puts its socket (src/diag/attach.c).
DIR=/tmp/lrt-$(id -u)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
    if [ "${KEEP:-0}" = 1 ] || [ $fails -ne 0 ]; then echo "t-attach: kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

# run CMD... : stdout -> $tmp/out, stderr -> $tmp/err, status -> $rc, time -> $ms; bounded
# (30 s, then KILL).  --foreground: see t-dump.sh (LeakSanitizer and SIGCONT).
run() {
    local t0
    t0=$(date +%s%N)
    timeout --foreground -k 5 30 "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    ms=$((($(date +%s%N) - t0) / 1000000))
    [ $rc != 124 ] && [ $rc != 137 ] || fail "timed out after 30 s: $*"
}
expect_rc() { [ "$rc" = "$1" ] || fail "$2: exit $rc, expected $1 ($(head -c 300 "$tmp/err"))"; }

die() {
    fail "$*"
    echo "t-attach: $fails failure(s)"
    exit 1
}

# start_show OUT [env assignments...] -- [showcase options...]: a showcase with only the
# given environment; sets $show.  Waits (bounded) until it has spawned its tasks.
start_show() {
    local out=$1 envs=()
    shift
    while [ $# -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done
    shift
    env -i "${envs[@]}" "$SHOW" --no-dump-agent --block-after=600000 "$@" >"$out" 2>"$out.err" &
    show=$!
    pids+=($show)
    show_out=$out
    wait_for "$out" "task checksum" 20
}

# wait_for FILE PATTERN SECONDS
wait_for() {
    local end=$((SECONDS + $3))
    until grep -qs -- "$2" "$1"; do
        [ $SECONDS -lt $end ] || die "no '$2' in $(basename "$1") within $3 s"
        kill -0 "$show" 2>/dev/null || die "showcase died waiting for '$2'"
        sleep 0.05
    done
}

stop_show() {
    kill -TERM "$show"
    local end=$((SECONDS + 15))
    while kill -0 "$show" 2>/dev/null && [ "$(awk '{print $3}' /proc/"$show"/stat 2>/dev/null)" != Z ]; do
        [ $SECONDS -lt $end ] || die "showcase did not stop within 15 s of SIGTERM"
        sleep 0.05
    done
    wait "$show"
    src=$?
    [ $src = 0 ] || fail "showcase exit status $src"
    [ ! -e "$DIR/$show.sock" ] || fail "socket $DIR/$show.sock left behind"
    [ ! -e "$DIR/.lrt-attach-$show" ] || fail "request file left behind"
}

# attach_dump WHAT [lrt-dump options]: lrt-dump on the showcase that has no agent yet
attach_dump() {
    local what=$1
    shift
    [ ! -e "$DIR/$show.sock" ] || fail "$what: an agent socket before anyone asked"
    run env LRT_DUMP_DIR="$tmp/elsewhere" XDG_RUNTIME_DIR="$tmp" "$DUMP" "$@" "$show"
    expect_rc 0 "$what"
    [ $ms -lt 10000 ] || fail "$what: lrt-dump took $ms ms"
    say "$what: answered in $ms ms"
    need "$tmp/err" "asking it to start one" "$what: says it asks for the agent"
    need "$show_out.err" "dump agent started on request" "$what: the process says why its agent started"
}

# ---- a clean environment: the table, then --json from the agent now running ----------
say "showcase, env -i"
start_show "$tmp/show1" --
attach_dump "no opt-in"
cp "$tmp/out" "$tmp/table1"
need "$tmp/table1" "config_watcher .*fd [0-9]* (read)" "task table"
need "$tmp/table1" "nightly_report .*sleep (" "task table"
run "$DUMP" --json -b "$show"
expect_rc 0 "--json once the agent runs"
cp "$tmp/out" "$snaps/attach-json.json"
grep -q "asking" "$tmp/err" && fail "second lrt-dump asked again: $(cat "$tmp/err")"
[ "$(stat -c %a "$DIR/$show.sock")" = 600 ] || fail "socket mode $(stat -c %a "$DIR/$show.sock")"
[ "$(stat -c %a "$DIR")" = 700 ] || fail "directory mode $(stat -c %a "$DIR")"
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
    # a copy the other uid can run, wherever the checkout is (as t-dump.sh does)
    mkdir -p "$tmp/bin/tools"
    cp "$DUMP" "$tmp/bin/tools/" && cp -L "$BUILD/liblrt.so" "$tmp/bin/liblrt.so.0"
    chmod 755 "$tmp" && chmod -R a+rX "$tmp/bin"
    run setpriv --reuid=65534 --regid=65534 --clear-groups "$tmp/bin/tools/lrt-dump" "$show"
    expect_rc 1 "another uid"
    need "$tmp/err" "permission denied" "another uid refused"
else
    say "skipped the other-uid check (needs root and setpriv)"
fi
stop_show

# ---- the runtime thread stuck: busy loop, then a blocking system call -----------------
for mode in busy syscall; do
    say "showcase, env -i, runtime thread stuck ($mode)"
    opts=(--block-for=3000)
    [ $mode = syscall ] && opts+=(--blocking-syscall)
    start_show "$tmp/show-$mode" -- "${opts[@]}"
    kill -USR1 "$show"
    wait_for "$show_out" "now blocking" 20
    attach_dump "stuck ($mode)" -b
    need "$tmp/out" "runtime stuck" "stuck ($mode): answered during the block"
    if [ $mode = busy ]; then
        need "$tmp/out" "crunch_checksum" "stuck (busy): live frame"
    else
        need "$tmp/out" "read_disk_synchronously" "stuck (syscall): live frame"
    fi
    wait_for "$show_out" "runtime thread is free" 20
    stop_show
done

# ---- LRT_DUMP=0 forbids it ---------------------------------------------------------------
say "showcase, env -i LRT_DUMP=0"
start_show "$tmp/show-forbidden" LRT_DUMP=0 --
run "$DUMP" "$show"
expect_rc 1 "LRT_DUMP=0"
need "$tmp/err" "does not allow attaching: it runs with LRT_DUMP=0" "LRT_DUMP=0 explained"
[ $ms -lt 2000 ] || fail "LRT_DUMP=0: lrt-dump took $ms ms to refuse (it must not wait)"
[ ! -e "$DIR/.lrt-attach-$show" ] || fail "LRT_DUMP=0: a request file was left"
stop_show

# ---- a directory the process would refuse: said at once, no request left -----------------
say "showcase, env -i LRT_DUMP_DIR=<a directory writable by others>"
mkdir -p "$tmp/open"
chmod 777 "$tmp/open"
start_show "$tmp/show-open" LRT_DUMP_DIR="$tmp/open" --
run "$DUMP" "$show"
expect_rc 1 "shared directory"
need "$tmp/err" "is not a private directory of uid $(id -u): process $show (showcase) would refuse it" \
    "shared directory explained"
[ -z "$(ls -A "$tmp/open")" ] || fail "shared directory: lrt-dump left $(ls -A "$tmp/open")"
stop_show

# ---- not an lrt process: told apart, left alone ----------------------------------------
say "sleep 100 (not an lrt process)"
sleep 100 &
plain=$!
pids+=($plain)
run "$DUMP" "$plain"
expect_rc 1 "non-lrt process"
need "$tmp/err" "not an lrt process" "non-lrt process explained"
kill -0 "$plain" 2>/dev/null || fail "the non-lrt process died"
state=$(awk '{print $3}' /proc/"$plain"/stat)
[ "$state" = S ] || fail "the non-lrt process is in state $state, not sleeping"
sigs=$(awk '/^SigPnd|^ShdPnd/ {print $2}' /proc/"$plain"/status | sort -u | tr '\n' ' ')
[ "$sigs" = "0000000000000000 " ] || fail "signals pending in the non-lrt process: $sigs"
[ ! -e "$DIR/.lrt-attach-$plain" ] || fail "request file created for a non-lrt process"
kill "$plain"

# ---- two runtimes on two threads: one answer ----------------------------------------------
say "showcase --second-runtime, env -i"
start_show "$tmp/show-two" -- --second-runtime
attach_dump "two runtimes"
need "$tmp/out" "2 runtimes" "two runtimes: summary"
need "$tmp/out" "== runtime 0  thread showcase" "two runtimes: first section"
need "$tmp/out" "== runtime 1  thread metrics-rt" "two runtimes: second section"
need "$tmp/out" "metrics_flusher .*sleep" "two runtimes: the second runtime's task"
run "$DUMP" --json -b "$show"
expect_rc 0 "two runtimes, --json"
cp "$tmp/out" "$snaps/attach-two.json"
$PY - "$tmp/out" <<'EOF' || fail "two runtimes: tasks not labelled with their runtime"
import json, sys
s = json.load(open(sys.argv[1]))
idx = {r["thread"]: r["index"] for r in s["runtimes"]}
by = {t["name"]: t["runtime"] for t in s["tasks"]}
assert len(s["runtimes"]) == 2, s["runtimes"]
assert by["metrics_flusher"] == idx["metrics-rt"] and by["config_watcher"] == idx["showcase"], (by, idx)
EOF
stop_show

# ---- CUnit attach suite, then schema validation of everything --------------------------
LRT_TEST_SNAPSHOT_DIR=$snaps timeout --foreground -k 5 120 "$BUILD/tests/lrt-tests" attach >"$tmp/unit.out" 2>&1 ||
    fail "CUnit attach suite ($(grep -E -A4 "FAILED|^ +[0-9]+\. " "$tmp/unit.out" | head -20; tail -3 "$tmp/unit.out"))"
n=$(ls "$snaps" | wc -l)
$PY - "$snaps" docs/snapshot.schema.json <<'EOF' || fail "schema validation"
import glob, json, sys
import jsonschema
schema = json.load(open(sys.argv[2]))
v = jsonschema.Draft202012Validator(schema)
bad = 0
for f in sorted(glob.glob(sys.argv[1] + "/*.json")):
    for e in v.iter_errors(json.load(open(f))):
        print("t-attach: %s: %s at %s" % (f, e.message, "/".join(map(str, e.path))))
        bad += 1
sys.exit(1 if bad else 0)
EOF
say "validated $n snapshots against docs/snapshot.schema.json"

if [ $fails -ne 0 ]; then
    echo "t-attach: $fails failure(s)"
    exit 1
fi
say "ok"
