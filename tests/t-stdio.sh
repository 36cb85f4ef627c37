#!/bin/sh
# t-stdio.sh - lrt in real shell pipelines: a program that reads stdin and writes stdout
# through lrt (build/tests/stdio_echo, tests/stdio_echo.c) must leave the file
# descriptions it shares with the other commands as it found them: blocking.  The
# symptom of a leaked O_NONBLOCK is the next command failing with EAGAIN ("cat: -:
# Resource temporarily unavailable") when it finds the pipe empty or full; each case
# also checks the flag itself (stdio_echo --check FD) on the shared description, after
# the lrt program ended by lrt_runtime_free, by exit() without it, by abort() and by
# SIGKILL.
# Environment: BUILD (default build).  Exit: 0 all passed, 1 a failure.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
P=$BUILD/tests/stdio_echo
[ -x "$P" ] || { echo "t-stdio: FAIL: $P not built (make all)" >&2; exit 1; }
tmp=$(mktemp -d /tmp/t-stdio.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
ulimit -c 0 # abort() must not leave core files behind
rc=0 n=0

fail() { echo "t-stdio: FAIL: $*" >&2; rc=1; }

# expect NAME FILE TEXT: FILE holds exactly TEXT (printf format)
expect() {
    printf "$3" >"$tmp/want"
    if ! cmp -s "$tmp/want" "$2"; then
        fail "$1: got '$(od -c "$2" | head -3)', want '$(od -c "$tmp/want" | head -3)'"
        sed 's/^/    /' "$tmp/err" >&2 2>/dev/null || true
    fi
    n=$((n + 1))
}

# The program ends each way; a run ended other than by lrt_runtime_free leaks on
# purpose (no leak report from a sanitizer build).  It runs as the shell's user, and
# (as root, with setpriv) as nobody: after a privilege drop such as `sudo -u` the pipes
# belong to another uid and lrt cannot reopen them through /proc (io_reg.c).
drops=self
asnobody="setpriv --reuid=65534 --regid=65534 --clear-groups"
if [ "$(id -u)" != 0 ] || ! command -v setpriv >/dev/null 2>&1; then
    echo "t-stdio: privilege-drop pipelines skipped (need root and setpriv)"
elif ! $asnobody "$P" --check 0 </dev/null 2>/dev/null; then
    echo "t-stdio: privilege-drop pipelines skipped (nobody cannot run $P: a 0700 directory?)"
else
    drops="self nobody"
fi
for who in $drops; do
for end in free exit abort kill; do
    if [ $end = free ]; then env=; else env=ASAN_OPTIONS=detect_leaks=0; fi
    drop=
    [ $who = nobody ] && drop=$asnobody
    end="$end" # the case names below say "prog ends by $end as $who as $who"

    # 1. stdin shared with the next command, which finds the pipe empty at first:
    #    `producer | { prog; cat; }`.  prog takes exactly "abc"; cat must wait (not get
    #    EAGAIN) for "def", which comes 300 ms later.
    : >"$tmp/err"
    { printf 'abc'; sleep 0.3; printf 'def\n'; } |
        { $drop env $env "$P" --exact 3 --end $end 2>>"$tmp/err"
          "$P" --check 0 2>>"$tmp/err" || echo "stdin left O_NONBLOCK" >>"$tmp/err"
          cat 2>>"$tmp/err" || echo "cat failed" >>"$tmp/err"; } >"$tmp/out1" 2>>"$tmp/err" || true
    expect "shared stdin, prog ends by $end as $who" "$tmp/out1" 'abcdef\n'
    if grep -q "O_NONBLOCK\|failed\|unavailable" "$tmp/err"; then fail "shared stdin, prog ends by $end as $who: $(cat "$tmp/err")"; fi

    # 2. stdout shared with the next command of the group, and a slow reader:
    #    `{ prog; head -c 300000 /dev/zero; } | slow`.  head fills the pipe: on a
    #    non-blocking description its write would fail with EAGAIN.
    : >"$tmp/err"
    { printf 'x\n' | $drop env $env "$P" --end $end 2>>"$tmp/err"
      "$P" --check 1 2>>"$tmp/err" || echo "stdout left O_NONBLOCK" >>"$tmp/err"
      head -c 300000 /dev/zero 2>>"$tmp/err" || echo "head failed" >>"$tmp/err"; } 2>>"$tmp/err" |
        { sleep 0.3; wc -c; } >"$tmp/out2" 2>>"$tmp/err" || true
    expect "shared stdout, prog ends by $end as $who" "$tmp/out2" '300002\n'
    if grep -q "O_NONBLOCK\|failed\|unavailable" "$tmp/err"; then fail "shared stdout, prog ends by $end as $who: $(cat "$tmp/err")"; fi
done
done

# 3. killed while suspended in lrt_read on an empty stdin: the pipe stays blocking for
#    cat, which gets what comes later.  (An asynchronous command's stdin would be
#    /dev/null without the explicit redirection from fd 3.)
: >"$tmp/err"
{ sleep 0.5; printf 'late\n'; } |
    { "$P" --exact 100 0<&3 3<&- >/dev/null 2>>"$tmp/err" &
      pid=$!
      sleep 0.2
      kill -9 $pid 2>/dev/null || echo "prog ended before the kill" >>"$tmp/err"
      wait $pid 2>/dev/null || true
      "$P" --check 0 2>>"$tmp/err" || echo "stdin left O_NONBLOCK" >>"$tmp/err"
      cat 2>>"$tmp/err" || echo "cat failed" >>"$tmp/err"; } 3<&0 >"$tmp/out3" || true
expect "killed while waiting for stdin" "$tmp/out3" 'late\n'
if grep -q "O_NONBLOCK\|failed\|unavailable\|ended" "$tmp/err"; then fail "killed while waiting for stdin: $(cat "$tmp/err")"; fi

# 4. a plain `printf | prog | cat`, lines through an lrt_reader_t on stdin (CRLF and
#    empty lines kept, a last line without '\n' gets one)
printf 'a\r\nb\n\nlast' | "$P" --lines 2>"$tmp/err" | cat >"$tmp/out4"
expect "printf | prog --lines | cat" "$tmp/out4" 'a\r\nb\n\nlast\n'

# 5. a megabyte through pipes on both sides, and from a regular file
head -c 1048576 /dev/urandom >"$tmp/big"
cat "$tmp/big" | "$P" 2>"$tmp/err" | cat >"$tmp/out5"
cmp -s "$tmp/big" "$tmp/out5" || fail "a megabyte through cat | prog | cat came out different"
"$P" <"$tmp/big" 2>"$tmp/err" >"$tmp/out6"
cmp -s "$tmp/big" "$tmp/out6" || fail "a megabyte from a file to a file came out different"
n=$((n + 2))

[ $rc = 0 ] && echo "t-stdio: ok ($n pipelines)"
exit $rc
