# lttng-env.sh - sourced by every script that talks to LTTng (tests/t-trace.sh,
# t-record.sh, t-trace-uring.sh, bench/trace_gen.sh): one lock, one session daemon
# policy, one LeakSanitizer list.
#
# The caller defines fail MESSAGE (exits) and say MESSAGE, and sets tmp (its temp dir)
# before lttng_rundir.  As root every script shares /var/run/lttng's daemon and session
# names are global, hence the machine-wide lock around a whole run; a daemon already
# running is used and left alone, one started here is stopped by PID.

# lttng_lock: wait up to 10 minutes for the machine-wide lttng lock (fd 9, held until exit).
lttng_lock() {
    exec 9>"/tmp/lrt-t-trace.$(id -u).lock"
    flock -w 600 9 || fail "another lttng test holds /tmp/lrt-t-trace.$(id -u).lock for 10 minutes"
}

# lttng_rundir: sets pidfile (and, when not root, a private LTTNG_HOME under $tmp).
lttng_rundir() {
    if [ "$(id -u)" = 0 ]; then
        pidfile=/var/run/lttng/lttng-sessiond.pid
    else
        export LTTNG_HOME=$tmp/home # a private per-user sessiond
        mkdir -p "$LTTNG_HOME"
        pidfile=$LTTNG_HOME/.lttng/lttng-sessiond.pid
    fi
    # Apps wait for the sessiond at start-up: long enough to never miss the first
    # events, and never the 3 s default when something is wrong.
    export LTTNG_UST_REGISTER_TIMEOUT=10000
}

sessiond_alive() { [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

# lttng_sessiond_start: use the running daemon, or start one (sessiond_pid: ours).
sessiond_pid=
lttng_sessiond_start() {
    if sessiond_alive; then
        say "using the running lttng-sessiond (pid $(cat "$pidfile"))"
        return 0
    fi
    lttng-sessiond --daemonize --no-kernel >"$tmp/sessiond.log" 2>&1 ||
        fail "lttng-sessiond did not start: $(tail -3 "$tmp/sessiond.log")"
    [ -s "$pidfile" ] || fail "lttng-sessiond started but wrote no $pidfile"
    sessiond_pid=$(cat "$pidfile")
    say "started lttng-sessiond (pid $sessiond_pid)"
}

# lttng_sessiond_stop: stop the daemon this script started, if any (for the EXIT trap).
lttng_sessiond_stop() {
    [ -n "$sessiond_pid" ] || return 0
    kill "$sessiond_pid" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$sessiond_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$sessiond_pid" 2>/dev/null
    sessiond_pid=
}

# lttng_lsan [PATTERN...]: under SANITIZE, LTTng-UST's threads keep a few allocations
# until exit, which LeakSanitizer would report as leaks of the traced program.
lttng_lsan() {
    [ -n "${SANITIZE:-}" ] || return 0
    printf 'leak:%s\n' liblttng-ust liblttng-ust-common liblttng-ust-tracepoint _dl_ "$@" \
        >"$tmp/lsan.supp"
    export LSAN_OPTIONS="suppressions=$tmp/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
}
