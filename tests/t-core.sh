#!/bin/bash
# t-core.sh - lrt-dump --core: the task table, --tree, -b and --json read from core files
# with gdb and tools/lrt-gdb.py (docs/diagnosis.md, "I have a core file").
#
# 1. gcore of the live showcase (plain `gcore PID`): every task with its wait and spawn
#    line; --json valid against docs/snapshot.schema.json with runtime.source "core".
#    Then `lrt gcore` (the gdb command, which also saves the task stacks that gcore cannot
#    read past MADV_GUARD_INSTALL guard pages): -b names each task's function.  gdb's
#    `lrt tasks` and `lrt bt ID` on `gdb EXE CORE`.
# 2. A crash: tests/core_victim crashes in a task (null write).  The kernel writes the core
#    when core_pattern is a plain file name; when it pipes cores to a handler, or writes
#    none (containers), the core is made by gdb at the fault (run, then
#    generate-core-file) and the test says so.  The crashing task is running with its
#    frames, the others suspended with theirs.
# Skipped under SANITIZE: ASan turns core dumps off (disable_coredump=1) and its shadow
# mappings would make gcore write terabytes.  Environment: BUILD (default build), KEEP=1 keeps the temp dir.
set -u

cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
PY=/usr/bin/python3
DUMP=$BUILD/tools/lrt-dump
SHOW=$BUILD/examples/showcase
VICTIM=$BUILD/tests/core_victim
GDBPY=tools/lrt-gdb.py
fails=0
say() { echo "t-core: $*"; }
fail() {
    echo "t-core: FAIL: $*" >&2
    fails=$((fails + 1))
}
need() { grep -q -- "$2" "$1" || fail "$3 (no '$2' in $(basename "$1"))"; }

if [ -n "${SANITIZE:-}" ]; then
    say "skipped under SANITIZE=$SANITIZE (ASan turns core dumps off, disable_coredump=1, and its shadow mappings would make gcore cores of terabytes)"
    exit 0
fi
for f in "$DUMP" "$SHOW" "$VICTIM"; do
    [ -x "$f" ] || { echo "t-core: FAIL: $f not built" >&2; exit 1; }
done
for c in gdb gcore; do
    command -v $c >/dev/null || { echo "t-core: FAIL: $c missing (Debian: apt-get install gdb)" >&2; exit 1; }
done
$PY -c 'import jsonschema' 2>/dev/null || { echo "t-core: FAIL: python3-jsonschema missing" >&2; exit 1; }

tmp=$(mktemp -d /tmp/t-core.XXXXXX)
export LRT_DUMP_DIR=$tmp/sock
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
    if [ "${KEEP:-0}" = 1 ] || [ $fails -ne 0 ]; then echo "t-core: kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

# run CMD... : stdout -> $tmp/out, stderr -> $tmp/err, status -> $rc; bounded (60 s).
run() {
    timeout --foreground -k 5 60 "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    [ $rc != 124 ] && [ $rc != 137 ] || fail "timed out after 60 s: $*"
}

# validate JSON... : each file is a schema-valid snapshot read from a core
validate() {
    $PY - "$@" <<'EOF' || fail "schema validation"
import json, sys, jsonschema
schema = json.load(open("docs/snapshot.schema.json"))
v = jsonschema.Draft202012Validator(schema)
bad = 0
for path in sys.argv[1:]:
    snap = json.load(open(path))
    errs = list(v.iter_errors(snap))
    for e in errs[:3]:
        print("t-core: %s: %s at %s" % (path, e.message[:200], list(e.absolute_path)), file=sys.stderr)
    if snap["runtime"]["source"] != "core" or not snap.get("core", {}).get("file"):
        print("t-core: %s: no core marker (runtime.source, core.file)" % path, file=sys.stderr)
        bad += 1
    bad += bool(errs)
sys.exit(1 if bad else 0)
EOF
}

# ---- 1. gcore of the live showcase --------------------------------------------------
say "gcore of the live showcase"
"$SHOW" --block-after=600000 >"$tmp/show.out" 2>"$tmp/show.err" &
show=$!
pids+=($show)
# the showcase's tasks reach their waits in their own time: ask it live until they have
end=$((SECONDS + 20))
until timeout --foreground -k 2 10 "$DUMP" $show >"$tmp/live" 2>&1 && grep -q "thumbnailer .*blocking job" "$tmp/live" &&
    grep -q "http_server .*fd" "$tmp/live" && grep -q "ledger .*mutex" "$tmp/live"; do
    [ $SECONDS -lt $end ] || { fail "showcase tasks not in their waits within 20 s"; cat "$tmp/live" >&2; exit 1; }
    sleep 0.2
done

timeout --foreground -k 2 10 "$DUMP" --json $show >"$tmp/live.json" 2>&1 || fail "live --json"
run gcore -o "$tmp/show" $show
core=$tmp/show.$show
[ -s "$core" ] || { fail "gcore wrote no core: $(tail -n 3 "$tmp/err")"; exit 1; }
run "$DUMP" --core "$core"
[ $rc = 0 ] || fail "lrt-dump --core exit $rc: $(tail -n 3 "$tmp/err")"
cp "$tmp/out" "$tmp/table"
for want in "^core file .*show\.$show" "ID *NAME *STATE *WAITING ON *FOR" "config_watcher .*fd [0-9]* (read)" \
    "nightly_report .*sleep (" "ledger .*mutex 'audit'" "thumbnailer .*blocking job" \
    "crawler .*group [0-9]* 'fetchers'" "http_server .*fd" "showcase.c:[0-9]*#[0-9]* (service_main)" \
    "fetch_page .*showcase.c:[0-9]*#[0-9] (crawler)" "^pid $show showcase"; do
    need "$tmp/table" "$want" "--core table"
done
# the same tasks as the live table (ids and names)
awk '$1 ~ /^[0-9]+$/ {print $1, $2}' "$tmp/live" | sort >"$tmp/live.ids"
awk '$1 ~ /^[0-9]+$/ {print $1, $2}' "$tmp/table" | sort >"$tmp/core.ids"
cmp -s "$tmp/live.ids" "$tmp/core.ids" || fail "--core lists other tasks than the live dump: $(diff "$tmp/live.ids" "$tmp/core.ids" | tr '\n' ' ')"

run "$DUMP" --core "$core" "$SHOW" --json
[ $rc = 0 ] || fail "--core --json (with EXE) exit $rc"
cp "$tmp/out" "$tmp/show.json"
# the wait words are wait_text.c's: the same wait live and from the core for every task
# that was not polled in between (a sleep's "ms left" and remaining_ns move on meanwhile)
$PY - "$tmp/live.json" "$tmp/show.json" <<'EOF' || fail "wait words differ between live and core"
import json, sys
live = {t["id"]: t for t in json.load(open(sys.argv[1]))["tasks"]}
core = json.load(open(sys.argv[2]))["tasks"]
bad = same = 0
for t in core:
    l = live.get(t["id"])
    if not l or l["polls"] != t["polls"] or t["wait"]["kind"] == "sleep":
        continue
    l["wait"].pop("remaining_ns", None)
    t["wait"].pop("remaining_ns", None)
    if l["wait"] != t["wait"] or l["spawned_at"] != t["spawned_at"] or l["name"] != t["name"]:
        print("t-core: task %d live %s core %s" % (t["id"], l["wait"], t["wait"]), file=sys.stderr)
        bad += 1
    same += 1
if same < 6:
    print("t-core: only %d tasks to compare" % same, file=sys.stderr)
    bad += 1
sys.exit(1 if bad else 0)
EOF
run "$DUMP" --core "$core" --tree
[ $rc = 0 ] || fail "--core --tree exit $rc"
need "$tmp/out" "|-fetch_page\|\`-fetch_page" "--core --tree nests the crawler's fetchers"

say "lrt gcore (task stacks included) and -b"
run gdb -p $show -batch -nx -ex "source $GDBPY" -ex "lrt gcore $tmp/show2.core"
need "$tmp/out" "lrt gcore: .*task stacks written" "lrt gcore"
# the same through lrt-dump --gcore (one command, no gdb line to remember)
run "$DUMP" --gcore "$tmp/show3.core" $show
[ $rc = 0 ] && [ -s "$tmp/show3.core" ] || fail "lrt-dump --gcore exit $rc: $(tail -3 "$tmp/err")"
run "$DUMP" -b --core "$tmp/show3.core"
need "$tmp/out" "#[0-9]  *config_watcher+0x[0-9a-f]* (showcase)  examples/showcase.c:[0-9]" "--gcore's core has the task stacks"
run "$DUMP" --gcore "$tmp/x.core"
[ $rc = 2 ] || fail "--gcore without a PID: exit $rc, not 2"
run "$DUMP" -b --core "$tmp/show2.core"
[ $rc = 0 ] || fail "--core -b exit $rc"
cp "$tmp/out" "$tmp/table-b"
for want in "#[0-9]  *lrt_read.*io.c:[0-9]" "#[0-9]  *config_watcher+0x[0-9a-f]* (showcase)  examples/showcase.c:[0-9]" \
    "#[0-9]  *http_client+" "#[0-9]  *lrt_group_join_next+" "#[0-9]  *crawler+" "#[0-9]  *ledger+"; do
    need "$tmp/table-b" "$want" "--core -b frames"
done
grep -q "lrt__task_main\|lrt__ctx_entry\|ctx_switch\|schedule" "$tmp/table-b" &&
    fail "--core -b shows lrt's own frames (not trimmed)"
run "$DUMP" -b --json --core "$tmp/show2.core"
cp "$tmp/out" "$tmp/show-b.json"

run gdb -batch -nx -ex "source $GDBPY" -ex "lrt tasks" -ex "lrt bt 4" "$SHOW" "$tmp/show2.core"
need "$tmp/out" "config_watcher .*fd [0-9]* (read)" "gdb: lrt tasks"
need "$tmp/out" "in config_watcher () at examples/showcase.c:[0-9]" "gdb: lrt bt 4"
kill -TERM $show
wait $show 2>/dev/null

# ---- 2. a crash in a task -----------------------------------------------------------
say "a crash in a task"
mkdir -p "$tmp/crash"
pattern=$(cat /proc/sys/kernel/core_pattern 2>/dev/null)
crash_core=
[ "${T_CORE_GDB:-0}" = 1 ] && pattern="|forced by T_CORE_GDB=1"
case "$pattern" in
'|'*) say "core_pattern pipes cores to a handler ($pattern): the core is made with gdb" ;;
*)
    (cd "$tmp/crash" && ulimit -c unlimited && timeout -k 5 60 "$OLDPWD/$VICTIM" crash >victim.out 2>victim.err)
    vrc=$?
    [ $vrc = 139 ] || fail "core_victim crash exit $vrc, expected 139 (SIGSEGV)"
    crash_core=$(find "$tmp/crash" -maxdepth 1 -name 'core*' -type f | head -n 1)
    need "$tmp/crash/victim.err" "fatal signal SIGSEGV .* in task 4 'crasher'" "crash traceback on stderr"
    [ -n "$crash_core" ] && say "the kernel wrote $(basename "$crash_core")" ||
        say "the kernel wrote no core (core_pattern '$pattern'): the core is made with gdb"
    ;;
esac
if [ -z "$crash_core" ]; then
    crash_core=$tmp/crash/gdb.core
    # gdb stops at the fault; lrt gcore saves the task stacks that generate-core-file would
    # lose at lrt's guard pages
    run gdb -batch -nx -ex run -ex "source $GDBPY" -ex "lrt gcore $crash_core" --args "$VICTIM" crash
    [ -s "$crash_core" ] || { fail "gdb made no core: $(tail -n 3 "$tmp/err")"; exit 1; }
fi
run "$DUMP" -b --core "$crash_core" "$VICTIM"
[ $rc = 0 ] || fail "--core (crash) exit $rc: $(tail -n 3 "$tmp/err")"
cp "$tmp/out" "$tmp/crash-table"
for want in "crasher .*running" "#0  *null_write" "#[0-9]  *crasher+0x[0-9a-f]* (core_victim)  tests/core_victim.c:[0-9]" \
    "chan_waiter .*suspended .*channel .*(recv, empty)" "#[0-9]  *chan_waiter+" "sleeper .*sleep (" \
    "#[0-9]  *sleeper+" "main .*join of task 4 'crasher'" "core_victim.c:[0-9]* (victim_main)" \
    "== runtime 1 " "other_runtime_task .*suspended .*sleep (" "#[0-9]  *other_runtime_task+"; do
    need "$tmp/crash-table" "$want" "--core of a crash"
done
run "$DUMP" --json -b --core "$crash_core"
cp "$tmp/out" "$tmp/crash.json"

validate "$tmp/show.json" "$tmp/show-b.json" "$tmp/crash.json"

# ---- usage and errors ---------------------------------------------------------------
run "$DUMP" --core "$crash_core" --watch
[ $rc = 2 ] || fail "--core --watch: exit $rc, expected 2"
run "$DUMP" --core "$tmp/no-such-core"
[ $rc = 1 ] || fail "--core of a missing file: exit $rc, expected 1"
need "$tmp/err" "cannot read the core file" "--core of a missing file says why"
run "$DUMP" --core "$tmp/show.json"
[ $rc = 1 ] || fail "--core of a file that is no core: exit $rc, expected 1"

if [ $fails -ne 0 ]; then
    echo "t-core: $fails failure(s)"
    exit 1
fi
say "ok"
