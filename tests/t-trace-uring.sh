#!/bin/bash
# t-trace-uring.sh - the I/O backends' events in a real LTTng trace (issue 15).
#
# Records three CUnit tests of build/tests/lrt-tests with the provider preloaded: one on
# io_uring (uring/an_operation_in_flight_shows_in_the_dump_and_the_snapshot: a recv in
# flight, then completed with 2 bytes) and one on epoll (LRT_DRIVER=epoll, a reader
# waiting for a line), and checks with babeltrace2's text output: lrt:driver_select
# names each backend and why; on io_uring every lrt:io_submit has its lrt:io_complete
# (same task, op, fd), the recv of 2 bytes among them; on epoll no io_submit at all and
# io_ready events instead; a burst of connections on io_uring's multishot accept
# (uring_accept/a_burst...) gives accept submit/complete pairs with the new fds.  Lock, session daemon and LeakSanitizer list: tests/lttng-env.sh.
# Environment: BUILD (default build), SANITIZE (as given to make), KEEP=1 keeps the temp dir.
set -u

cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
SANITIZE=${SANITIZE:-}
RUNNER=$BUILD/tests/lrt-tests
TPSO=$BUILD/liblrt-tp.so

say() { echo "t-trace-uring: $*"; }
fail() {
    echo "t-trace-uring: FAIL: $*" >&2
    KEEP=1
    exit 1
}

for c in lttng lttng-sessiond babeltrace2; do
    command -v "$c" >/dev/null || fail "$c is not installed (make deps)"
done
[ -x "$RUNNER" ] || fail "$RUNNER is not built"
[ -e "$TPSO" ] || fail "$TPSO is not built"

. tests/lttng-env.sh
lttng_lock

tmp=$(mktemp -d /tmp/lrt-t-trace-uring.XXXXXX) || fail "mktemp"
KEEP=${KEEP:-0}
sessions=()
cleanup() {
    local s
    for s in "${sessions[@]}"; do
        lttng destroy "$s" >/dev/null 2>&1
    done
    lttng_sessiond_stop
    if [ "$KEEP" = 1 ]; then echo "t-trace-uring: files kept in $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

lttng_lsan
if [ -n "$SANITIZE" ]; then
    # the provider is preloaded ahead of the ASan runtime
    export ASAN_OPTIONS="verify_asan_link_order=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
fi

lttng_rundir
lttng_sessiond_start

# record NAME DRIVER TEST: the test's events into $tmp/NAME, babeltrace2's text in NAME.txt
record() {
    local name=$1 driver=$2 test=$3 sess=lrt-t-trace-uring-$$-$1
    sessions+=("$sess")
    {
        lttng create "$sess" --shm-path="$tmp/shm" --output="$tmp/$name" &&
            lttng enable-event -u 'lrt:*' &&
            lttng start
    } >>"$tmp/lttng.log" 2>&1 || fail "lttng session $sess: $(tail -3 "$tmp/lttng.log")"
    LD_PRELOAD=$TPSO LRT_DRIVER=$driver "$RUNNER" "$test" >"$tmp/$name.out" 2>&1 ||
        fail "$test on $driver failed: $(tail -5 "$tmp/$name.out")"
    lttng destroy "$sess" >>"$tmp/lttng.log" 2>&1 || fail "lttng destroy $sess"
    babeltrace2 "$tmp/$name" >"$tmp/$name.txt" 2>"$tmp/$name.bt.err" ||
        fail "babeltrace2 $name: $(tail -3 "$tmp/$name.bt.err")"
}

record uring uring uring/an_operation_in_flight_shows_in_the_dump_and_the_snapshot
record epoll epoll reader/a_task_waiting_for_a_line_shows_its_fd_in_the_dump
record accept uring uring_accept/a_burst_is_accepted_once_each_with_its_peer_address

# ---- io_uring ---------------------------------------------------------------------------
u=$tmp/uring.txt
grep -q 'lrt:driver_select:.*driver = "io_uring", reason = "[^"]*io_uring works here"' "$u" ||
    fail "no lrt:driver_select naming io_uring: $(grep driver_select "$u" | head -3)"
nsub=$(grep -c 'lrt:io_submit:' "$u")
ncomp=$(grep -c 'lrt:io_complete:' "$u")
[ "$nsub" -gt 0 ] || fail "no lrt:io_submit on io_uring"
[ "$nsub" = "$ncomp" ] || fail "$nsub lrt:io_submit but $ncomp lrt:io_complete"
grep -q 'lrt:io_complete:.*op = ( "recv" : container = [0-9]* ), fd = [0-9]*, result = 2, latency_ns = [0-9]*' "$u" ||
    fail "no completed recv of 2 bytes: $(grep io_complete "$u" | head -3)"
# paired FILE: each submit's (task, op, fd) completes later, in order per key
paired() {
    python3 - "$1" <<'EOF'
import re, sys
pending = {}
pat = re.compile(r'lrt:io_(submit|complete): .*task_id = (\d+), op = \( "(\w+)".*?fd = (-?\d+)')
for line in open(sys.argv[1]):
    m = pat.search(line)
    if not m:
        continue
    kind, key = m.group(1), m.group(2, 3, 4)
    if kind == "submit":
        pending[key] = pending.get(key, 0) + 1
    elif pending.get(key, 0) == 0:
        print("complete without submit:", line.strip())
        sys.exit(1)
    else:
        pending[key] -= 1
left = {k: v for k, v in pending.items() if v}
if left:
    print("submitted, never completed:", left)
    sys.exit(1)
EOF
}
paired "$u" || fail "an io_submit without its io_complete (see above)"
say "io_uring: driver_select, $nsub io_submit / $ncomp io_complete paired"

# the listener's multishot accept is traced as its acceptors' operations: an lrt_accept
# that waits is one submit and one complete with the new fd
a=$tmp/accept.txt
paired "$a" || fail "accept: an io_submit without its io_complete (see above)"
grep -q 'lrt:io_complete:.*op = ( "accept" : container = [0-9]* ), fd = [0-9]*, result = [0-9]*, latency_ns' "$a" ||
    fail "no completed accept with a new fd: $(grep -m3 'io_.*accept' "$a")"
say "io_uring accept: $(grep -c 'lrt:io_complete:.*"accept"' "$a") waiting accepts, submit and complete paired"

# ---- epoll ------------------------------------------------------------------------------
e=$tmp/epoll.txt
grep -q 'lrt:driver_select:.*driver = "epoll", reason = "LRT_DRIVER: epoll"' "$e" ||
    fail "no lrt:driver_select naming epoll: $(grep driver_select "$e" | head -3)"
! grep -q 'lrt:io_submit:' "$e" || fail "lrt:io_submit on epoll"
grep -q 'lrt:io_ready:' "$e" || fail "no lrt:io_ready on epoll"
say "epoll: driver_select, io_ready, no io_submit"
say ok
