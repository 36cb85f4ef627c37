#!/bin/bash
# t-cycles.sh - the wait-for graph on a live process: build/tests/deadlock_demo keeps two
# tasks deadlocked on two named mutexes and two more on two unnamed channels while a
# healthy task keeps the runtime running (so only the graph can tell).  Checks that
# `lrt-dump --stuck` leads with one sentence per cycle, that `lrt-dump --objects` lists the
# objects with owner, waiters and creation site, and that the agent's snapshot and the
# CUnit cycles suite's snapshots validate against docs/snapshot.schema.json.
# Environment: BUILD (default build), KEEP=1 keeps the temp dir.
set -u
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
PY=/usr/bin/python3
DUMP=$BUILD/tools/lrt-dump
DEMO=$BUILD/tests/deadlock_demo
fails=0
say() { echo "t-cycles: $*"; }
fail() { echo "t-cycles: FAIL: $*" >&2; fails=$((fails + 1)); }
for f in "$DUMP" "$DEMO" "$BUILD/tests/lrt-tests"; do
    [ -x "$f" ] || { echo "t-cycles: FAIL: $f not built" >&2; exit 1; }
done
tmp=$(mktemp -d /tmp/t-cycles.XXXXXX)
export LRT_DUMP_DIR=$tmp/sock
pid=
cleanup() {
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
    if [ "${KEEP:-0}" = 1 ] || [ $fails -ne 0 ]; then echo "t-cycles: kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

"$DEMO" >"$tmp/demo.out" 2>"$tmp/demo.err" &
pid=$!
for _ in $(seq 1 300); do grep -q ready "$tmp/demo.out" 2>/dev/null && break; sleep 0.1; done
grep -q ready "$tmp/demo.out" || { fail "deadlock_demo never got ready ($(cat "$tmp/demo.err"))"; exit 1; }

timeout --foreground -k 5 30 "$DUMP" --stuck=1ms "$pid" >"$tmp/stuck.out" 2>"$tmp/stuck.err" ||
    fail "lrt-dump --stuck: status $? ($(cat "$tmp/stuck.err"))"
want1="deadlock: task 2 'ledger' holds mutex 'accounts' and waits for mutex 'audit' held by task 3 'auditor', which waits for 'accounts'"
want2="deadlock: task 4 'ping' waits to receive from channel created at deadlock_demo.c:"
[ "$(sed -n 1p "$tmp/stuck.out")" = "$want1" ] || fail "--stuck does not lead with the mutex cycle: $(sed -n 1p "$tmp/stuck.out")"
case "$(sed -n 2p "$tmp/stuck.out")" in
"$want2"*", last sent to by task 5 'pong', which waits to receive from channel created at deadlock_demo.c:"*) ;;
*) fail "--stuck: second line is not the channel cycle: $(sed -n 2p "$tmp/stuck.out")" ;;
esac
say "--stuck leads with both cycles"

timeout --foreground -k 5 30 "$DUMP" --objects "$pid" >"$tmp/objects.out" 2>&1 || fail "lrt-dump --objects: status $?"
grep -Eq "^0x[0-9a-f]+ +mutex +accounts +2 +- +3 +deadlock_demo.c:[0-9]+$" "$tmp/objects.out" ||
    fail "--objects: no row for mutex accounts (owner 2, waiter 3): $(cat "$tmp/objects.out")"
grep -Eq "^0x[0-9a-f]+ +channel +- +- +0/inf +4 +deadlock_demo.c:[0-9]+$" "$tmp/objects.out" ||
    fail "--objects: no row for ping's channel: $(cat "$tmp/objects.out")"
[ "$(grep -c '^0x' "$tmp/objects.out")" = 4 ] || fail "--objects: expected 4 objects"
say "--objects lists the 4 objects"

mkdir -p "$tmp/snaps"
timeout --foreground -k 5 30 "$DUMP" --json "$pid" >"$tmp/snaps/demo.json" || fail "lrt-dump --json: status $?"
LRT_TEST_SNAPSHOT_DIR=$tmp/snaps timeout --foreground -k 5 120 "$BUILD/tests/lrt-tests" cycles >"$tmp/unit.out" 2>&1 ||
    fail "CUnit cycles suite ($(tail -5 "$tmp/unit.out"))"
$PY - "$tmp/snaps" docs/snapshot.schema.json <<'PYEOF' || fail "schema validation"
import glob, json, sys
import jsonschema
schema = json.load(open(sys.argv[2]))
v = jsonschema.Draft202012Validator(schema)
bad = n = 0
for f in sorted(glob.glob(sys.argv[1] + "/*.json")):
    d = json.load(open(f))
    n += 1
    for e in v.iter_errors(d):
        print("t-cycles: %s: %s at %s" % (f, e.message, "/".join(map(str, e.path))))
        bad += 1
    if f.endswith("/demo.json") and len(d.get("cycles", [])) != 2:
        print("t-cycles: the agent's snapshot has %d cycles, not 2" % len(d.get("cycles", [])))
        bad += 1
print("t-cycles: validated %d snapshots" % n)
sys.exit(1 if bad else 0)
PYEOF
kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
pid=
[ $fails = 0 ] && say "ok"
exit $((fails != 0))
