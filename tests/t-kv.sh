#!/bin/bash
# t-kv.sh - examples/kv (a RESP key-value server) against the real redis-cli and
# redis-benchmark (Debian's redis-tools; no redis-server needed).
#
# Starts build/examples/kv on an ephemeral port with a short idle timeout and the dump
# agent, and checks: the answers of PING, ECHO (binary-safe), SET/GET, INCR, DEL, CONFIG GET
# and an unknown command; pipelined input (redis-cli --pipe, and several inline commands in
# one write); a short redis-benchmark run that completes with numbers and no CONFIG
# warning (no timing assert); the dump naming the tasks; hostile clients (garbage, huge
# lengths, random bytes, 2000 connections of mutated commands, half a command then gone,
# a length announced and never sent, an idle client, a client that never reads its
# replies, more clients than fds) never crash or stall the server;
# then SIGTERM with an idle and a half-sent client connected ends it with status 0 within
# a bounded time.  Every wait is bounded.
# Environment: BUILD (default build), KV_WRAP (a command prefix, e.g.
# "valgrind --leak-check=full --error-exitcode=99": the exit status then covers leaks;
# the benchmark is shortened, the RSS check skipped, and the dump agent left off: its
# libunwind warm-up probes memory through write(2), which valgrind reports).  Exit: 0 all passed, 1 a failure.
set -u
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
KV=$BUILD/examples/kv
DUMP=$BUILD/tools/lrt-dump
WRAP=${KV_WRAP:-}
fails=0
fail() {
    echo "t-kv: FAIL: $*" >&2
    fails=$((fails + 1))
}
[ -x "$KV" ] || { echo "t-kv: FAIL: $KV not built (make all)" >&2; exit 1; }
for t in redis-cli redis-benchmark; do
    command -v $t >/dev/null || { echo "t-kv: FAIL: $t missing (make deps installs redis-tools)" >&2; exit 1; }
done

tmp=$(mktemp -d /tmp/t-kv.XXXXXX)
chmod 700 "$tmp"
pid=""
bg=()
cleanup() {
    for p in "${bg[@]}"; do kill -KILL "$p" 2>/dev/null; done
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
    if [ $fails -ne 0 ]; then echo "t-kv: kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

slow=1 dump=1
[ -n "$WRAP" ] && slow=10 dump=0
LRT_DUMP=$dump LRT_DUMP_DIR=$tmp/sock $WRAP "$KV" --idle-timeout=1500 0 >"$tmp/out" 2>"$tmp/err" &
pid=$!
for _ in $(seq $((200 * slow))); do
    grep -q '^kv: listening on 127.0.0.1:[0-9]*$' "$tmp/out" 2>/dev/null && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.05
done
PORT=$(sed -n 's/^kv: listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$tmp/out")
[ -n "$PORT" ] && [ "$PORT" != 0 ] ||
    { fail "no 'kv: listening on 127.0.0.1:PORT' line: $(head -c 300 "$tmp/out" "$tmp/err")"; exit 1; }

cli() { timeout -k 2 $((10 * slow)) redis-cli -p "$PORT" "$@"; }
# expect WANT ARGS...: redis-cli ARGS prints WANT (its first line)
expect() {
    local want=$1 got
    shift
    got=$(cli "$@" 2>&1 | head -1)
    [ "$got" = "$want" ] || fail "redis-cli $*: got '$got', want '$want'"
}
# raw NAME SECONDS: send stdin on a fresh connection, then read until the server closes
# it, into $tmp/NAME; status 124 = the server did not close it within SECONDS.
raw() {
    timeout -k 2 "$2" bash -c 'exec 3<>/dev/tcp/127.0.0.1/'"$PORT"' || exit 3
        cat >&3; cat <&3' >"$tmp/$1" 2>/dev/null
}
alive() { [ "$(cli ping 2>&1)" = PONG ] || fail "server does not answer PING after $1"; }

# ---- commands ---------------------------------------------------------------------
expect PONG ping
expect hello ping hello
expect OK set greeting hello
expect hello get greeting
expect OK set counter 41
expect 42 incr counter
expect 43 INCR counter
expect 1 incr fresh
expect "ERR value is not an integer or out of range" incr greeting
expect OK set big 9223372036854775807
expect "ERR increment or decrement would overflow" incr big
expect OK set a 1
expect OK set b 2
expect 3 del a b greeting nosuch
expect "" get a
expect 0 del a
expect "ERR unknown command 'nosuchcmd'" nosuchcmd x
expect "ERR wrong number of arguments for 'get' command" get
expect "ERR syntax error" set k v bogus
expect OK set ttl v px 100000
expect "ERR invalid expire time in 'set' command" set k v ex 99999999999
expect "ERR value is not an integer or out of range" set k v ex 1x
expect "" set ttl w nx
expect v get ttl
printf 'bin\0ary\r\n\377 \n*1\r\n' >"$tmp/bin"
size=$(stat -c %s "$tmp/bin")
cli -x echo <"$tmp/bin" >"$tmp/echo"
[ "$(head -c "$size" "$tmp/echo" | cmp - "$tmp/bin" 2>&1)" = "" ] &&
    [ "$(stat -c %s "$tmp/echo")" = $((size + 1)) ] || fail "ECHO of binary data: $(od -c "$tmp/echo" | head -3)"
expect OK -x set binkey <"$tmp/bin"
cli get binkey >"$tmp/get"
[ "$(head -c "$size" "$tmp/get" | cmp - "$tmp/bin" 2>&1)" = "" ] || fail "GET of binary data: $(od -c "$tmp/get" | head -3)"
# a 3 MB value: read across many reads into a grown buffer, written back from the store
head -c 3000000 /dev/urandom >"$tmp/big"
expect OK -x set bigval <"$tmp/big"
cli get bigval >"$tmp/big.get"
[ "$(head -c 3000000 "$tmp/big.get" | cmp - "$tmp/big" 2>&1)" = "" ] || fail "GET of a 3 MB value differs"
expect 1 del bigval
expect OK set short v px 200
sleep 0.5
expect "" get short
cli config get save >"$tmp/cfg"
cli config get appendonly >>"$tmp/cfg"
[ "$(tr '\n' ' ' <"$tmp/cfg")" = "save  appendonly no " ] || fail "CONFIG GET: $(tr '\n' ' ' <"$tmp/cfg")"

# ---- pipelining -------------------------------------------------------------------
for i in $(seq 1000); do printf 'SET key:%d %d\r\nINCR n\r\n' "$i" "$i"; done >"$tmp/pipe"
timeout -k 2 $((30 * slow)) redis-cli -p "$PORT" --pipe <"$tmp/pipe" >"$tmp/pipe.out" 2>&1
grep -q 'errors: 0, replies: 2000' "$tmp/pipe.out" || fail "redis-cli --pipe: $(tail -2 "$tmp/pipe.out")"
expect 1000 get n
expect 777 get key:777
# one DEL of 500 keys, then the other 500 are all still there (the table closes its gaps)
expect 500 del $(seq -f 'key:%g' 1 2 1000)
{ for i in $(seq 1 1000); do printf 'GET key:%d\r\n' "$i"; done; printf 'QUIT\r\n'; } | raw gets 10
for i in $(seq 1 1000); do
    if [ $((i % 2)) = 1 ]; then printf '$-1\r\n'; else printf '$%d\r\n%d\r\n' ${#i} "$i"; fi
done >"$tmp/gets.want"
printf '+OK\r\n' >>"$tmp/gets.want"
cmp -s "$tmp/gets" "$tmp/gets.want" || fail "GET of 1000 keys after deleting 500: $(cmp "$tmp/gets" "$tmp/gets.want")"
printf 'PING\r\nECHO two\r\n\r\n*2\r\n$4\r\nECHO\r\n$5\r\nthree\r\nQUIT\r\n' | raw inline 10
[ "$(tr '\r\n' '|/' <"$tmp/inline")" = '+PONG|/$3|/two|/$5|/three|/+OK|/' ] ||
    fail "pipelined inline and RESP commands: $(od -c "$tmp/inline" | head -4)"

# ---- redis-benchmark: completes, with numbers, without a CONFIG warning -----------------
n=$((20000 / slow))
timeout -k 5 $((120 * slow)) redis-benchmark -p "$PORT" -n $n -c 20 -t set,get,incr,ping -q \
    >"$tmp/bench" 2>&1
rc=$?
tr '\r' '\n' <"$tmp/bench" | grep 'requests per second' >"$tmp/bench.rps"
[ $rc = 0 ] && [ "$(grep -cE '^(PING_INLINE|PING_MBULK|SET|GET|INCR): [0-9.]+ requests per second' \
    "$tmp/bench.rps")" = 5 ] || fail "redis-benchmark (status $rc): $(tail -c 400 "$tmp/bench")"
grep -qi 'warn\|config' "$tmp/bench" && fail "redis-benchmark warned: $(grep -i 'warn\|config' "$tmp/bench")"
timeout -k 5 $((120 * slow)) redis-benchmark -p "$PORT" -n $n -c 4 -P 16 -t set,get -q >"$tmp/benchp" 2>&1 &&
    [ "$(tr '\r' '\n' <"$tmp/benchp" | grep -cE '^(SET|GET): [0-9.]+ requests per second')" = 2 ] ||
    fail "redis-benchmark -P 16: $(tail -c 400 "$tmp/benchp")"
sed 's/^/t-kv: /' "$tmp/bench.rps"

# ---- the dump shows what each task is -------------------------------------------------
exec 5<>/dev/tcp/127.0.0.1/"$PORT"
sleep 0.2
[ $dump = 1 ] && {
LRT_DUMP_DIR=$tmp/sock timeout -k 2 $((10 * slow)) "$DUMP" $pid >"$tmp/dump" 2>&1 ||
    fail "lrt-dump: $(head -c 300 "$tmp/dump")"
for w in "accept 127.0.0.1:$PORT" "conn 127.0.0.1:" "signal SIGINT,SIGTERM" "expire keys"; do
    grep -qF "$w" "$tmp/dump" || fail "lrt-dump shows no '$w': $(cat "$tmp/dump")"
done
LRT_DUMP_DIR=$tmp/sock timeout -k 2 $((10 * slow)) "$DUMP" --json $pid >"$tmp/dump.json" 2>&1 ||
    fail "lrt-dump --json: $(head -c 300 "$tmp/dump.json")"
grep -qF '"connections"' "$tmp/dump.json" || fail "the dump shows no group 'connections'"
}
exec 5<&-

# ---- hostile clients ------------------------------------------------------------------
# garbage, huge lengths: "-ERR Protocol error" and the connection closed
for attack in '*abc\r\n' '*1\r\n$99999999999\r\n' '*99999999999\r\n' '*1\r\nxy\r\n' \
    '*1\r\n$-5\r\n' '*1\r\n$3\r\nabcd\r\n' '*100000000000000000000000000000\r\n' \
    '*1\r\n$3\n' '*-\r\n' '*2\r\n$3\r\nGET\r\n$03\r\nabc\r\n' '*1\r\n$3 \r\n'; do
    # shellcheck disable=SC2059
    printf "$attack" | raw attack $((10 * slow))
    rc=$?
    [ $rc = 0 ] && grep -q '^-ERR Protocol error' "$tmp/attack" ||
        fail "attack '$attack': status $rc, reply '$(head -c 100 "$tmp/attack")'"
done
# 2000 connections of valid and mutated commands, sent in random pieces, most half-closed
# after sending: each must be answered and closed (python3 comes with the check tier)
timeout -k 2 $((120 * slow)) /usr/bin/python3 - "$PORT" 2000 1 <<'PY' >"$tmp/fuzz" 2>&1 ||
import random, socket, sys
port, n, seed = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(seed)
cmds = [b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n", b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n",
        b"PING\r\n", b"*2\r\n$4\r\nINCR\r\n$1\r\nn\r\n", b"*3\r\n$3\r\nDEL\r\n$1\r\nk\r\n$1\r\nn\r\n",
        b"*5\r\n$3\r\nSET\r\n$1\r\nt\r\n$1\r\nv\r\n$2\r\nPX\r\n$1\r\n5\r\n", b"ECHO hi\r\n",
        b"*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$4\r\nsave\r\n", b"*1\r\n$4\r\nPING\r\n"]
def mutate(b):
    b = bytearray(b)
    for _ in range(rnd.randint(1, 3)):
        op, i = rnd.randrange(4), rnd.randrange(len(b) + 1)
        if op == 0 and b:
            del b[min(i, len(b) - 1)]
        elif op == 1:
            b[i:i] = bytes([rnd.randrange(256)])
        elif op == 2 and b:
            b[min(i, len(b) - 1)] = rnd.choice(b"*$\r\n-0123456789 ")
        else:
            b[i:i] = rnd.choice(cmds)
    return bytes(b)
stalls = 0
for case in range(n):
    data = b"".join(rnd.choice(cmds) if rnd.random() < 0.5 else mutate(rnd.choice(cmds))
                    for _ in range(rnd.randint(1, 8)))
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        i = 0
        while i < len(data):
            j = i + rnd.randint(1, len(data) - i)
            s.sendall(data[i:j])
            i = j
        if rnd.random() < 0.7:  # half-close, then the server must answer and close
            s.shutdown(socket.SHUT_WR)
            while s.recv(65536):
                pass
    except socket.timeout:
        stalls += 1
        print("fuzz: case %d: no close within 10 s: %r" % (case, data[:200]))
    except OSError:
        pass  # reset: the server refused the input
    s.close()
sys.exit(1 if stalls else 0)
PY
    fail "fuzz: $(tail -c 600 "$tmp/fuzz")"
head -c 65536 /dev/zero | tr '\0' x | raw longinline $((10 * slow))
grep -q '^-ERR Protocol error' "$tmp/longinline" || fail "an endless inline line is not refused"
head -c 200000 /dev/urandom | raw random $((10 * slow))
[ $? = 124 ] && fail "random bytes: the connection was not closed"
alive "garbage"
# half a command, then gone
printf '*3\r\n$3\r\nSET\r\n$3\r\nke' | timeout 5 bash -c "cat >/dev/tcp/127.0.0.1/$PORT"
alive "half a command"
# a 500 MB value announced, a few bytes sent: nothing allocated for it
exec 6<>/dev/tcp/127.0.0.1/"$PORT"
printf '*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$500000000\r\nabc' >&6
sleep 0.3
alive "a huge length announced"
if [ -z "$WRAP" ]; then
    rss=$(awk '/^VmRSS/ {print $2}' /proc/$pid/status)
    [ "${rss:-0}" -lt 100000 ] || fail "a 500 MB announcement made the server grow to $rss kB"
fi
# idle connections are closed after the idle timeout (1.5 s): one idle, one half-sent
exec 7<>/dev/tcp/127.0.0.1/"$PORT"
t0=$SECONDS
timeout 20 cat <&7 >/dev/null
[ $? = 124 ] && fail "an idle connection was not closed within 20 s (idle timeout 1.5 s)"
timeout 5 cat <&6 >/dev/null
[ $? = 124 ] && fail "a half-sent command was not dropped after the idle timeout"
exec 6<&- 7<&-
# a client that never reads its replies: the server blocks only that connection, and
# drops it once its writes make no progress for the idle timeout
(yes PING | timeout -k 2 60 bash -c "cat >/dev/tcp/127.0.0.1/$PORT" 2>/dev/null; echo $? >"$tmp/noread.rc") &
bg+=($!)
sleep 0.5
alive "a client that does not read"
expect OK set during noread
for _ in $(seq $((600 * slow))); do [ -s "$tmp/noread.rc" ] && break; sleep 0.05; done
[ "$(cat "$tmp/noread.rc" 2>/dev/null)" = "" ] && fail "a client that never reads was not dropped within 30 s"
[ "$(cat "$tmp/noread.rc" 2>/dev/null)" = 124 ] && fail "a client that never reads was not dropped within 60 s"
alive "dropping a client that does not read"

# ---- out of fds: the accept loop sheds clients, serves the ones it has, and serves
# again once fds are free (a second server with RLIMIT_NOFILE 64)
(ulimit -n 64 && exec $WRAP "$KV" 0) >"$tmp/out2" 2>"$tmp/err2" &
pid2=$!
bg+=($pid2)
for _ in $(seq $((200 * slow))); do
    grep -q '^kv: listening' "$tmp/out2" 2>/dev/null && break
    sleep 0.05
done
PORT2=$(sed -n 's/^kv: listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$tmp/out2")
if [ -z "$PORT2" ]; then
    fail "the server with 64 fds did not start: $(head -c 300 "$tmp/err2")"
else
    fds=()
    for _ in $(seq 80); do exec {fd}<>/dev/tcp/127.0.0.1/"$PORT2" && fds+=($fd); done
    printf 'PING\r\n' >&"${fds[0]}"
    reply=$(timeout $((10 * slow)) head -c 7 <&"${fds[0]}" | tr -d '\r\n')
    [ "$reply" = +PONG ] || fail "out of fds: an accepted client got '$reply'"
    for fd in "${fds[@]}"; do exec {fd}<&-; done
    ok=0
    for _ in $(seq $((100 * slow))); do
        [ "$(timeout 5 redis-cli -p "$PORT2" ping 2>/dev/null)" = PONG ] && { ok=1; break; }
        sleep 0.1
    done
    [ $ok = 1 ] || fail "out of fds: no PONG within $((10 * slow)) s after the clients left"
    kill -TERM $pid2
    st=124
    for _ in $(seq $((300 * slow))); do kill -0 $pid2 2>/dev/null || { wait $pid2; st=$?; break; }; sleep 0.05; done
    [ $st = 0 ] || fail "the server with 64 fds: status $st after SIGTERM: $(tail -c 300 "$tmp/err2")"
fi

# ---- graceful shutdown: SIGTERM with an idle and a half-sent client connected ----------
exec 8<>/dev/tcp/127.0.0.1/"$PORT"
exec 9<>/dev/tcp/127.0.0.1/"$PORT"
printf '*2\r\n$3\r\nGET\r\n' >&9
sleep 0.2
kill -TERM $pid
end=$((SECONDS + 15 * slow))
while kill -0 $pid 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.05; done
if kill -0 $pid 2>/dev/null; then
    fail "still running $((15 * slow)) s after SIGTERM"
else
    wait $pid
    st=$?
    pid=""
    [ $st = 0 ] || fail "exit status $st after SIGTERM: $(tail -c 1500 "$tmp/err")"
    grep -q 'stopping' "$tmp/err" || fail "no 'stopping' on stderr: $(head -c 300 "$tmp/err")"
fi
exec 8<&- 9<&-

[ $fails = 0 ] && echo "t-kv: ok" && exit 0
echo "t-kv: $fails failures" >&2
exit 1
