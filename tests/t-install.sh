#!/bin/sh
# `make install` as a new user meets it:
#  * into a scratch PREFIX: the layout is complete, lrt.pc names that PREFIX (not the one
#    of an earlier build), `man lrt_join` works for every public function, the files the
#    man pages name exist, and the README example links statically with
#    `pkg-config --static --libs lrt` and runs (tests/t-api-docs.sh: lrt.3 covers lrt.h);
#  * staged with DESTDIR: lrt.pc and the man pages name the final PREFIX;
#  * as root, into /usr/local: the README example built with pkg-config runs with no
#    LD_LIBRARY_PATH (install ran ldconfig), `man lrt_join` works with the default
#    MANPATH, and `make uninstall` removes every file the install created.
# Environment: BUILD (default build).
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
if [ -n "${SANITIZE:-}" ]; then
    echo "t-install: skipped under SANITIZE (the installed library is the plain build)"
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "t-install: FAIL: $*" >&2; exit 1; }
mk() { make --no-print-directory -s BUILD="$BUILD" "$@"; }

# ---- the README example, verbatim; its expected output --------------------------------
sed -n '/^```c$/,/^```$/p' README.md | sed '1d;$d' > "$tmp/app.c"
expected="worker 0 -> 0
worker 1 -> 2
worker 2 -> 4"
names=$(tools/api-names.sh include/lrt/lrt.h)
[ "$(echo "$names" | wc -l)" -gt 50 ] || fail "tools/api-names.sh found only: $names"

# ---- into a scratch PREFIX -----------------------------------------------------------
# A build configured for the default prefix first, as `make demo; make install PREFIX=`
# does: the installed lrt.pc must still name the PREFIX given to install.
p=$tmp/prefix
mk install PREFIX="$p" >/dev/null
for f in include/lrt/lrt.h lib/liblrt.so lib/liblrt.so.0 lib/liblrt.a lib/liblrt-tp.so \
         lib/pkgconfig/lrt.pc bin/lrt-dump bin/lrt-trace share/man/man1/lrt-dump.1 \
         share/man/man1/lrt-trace.1 share/man/man3/lrt.3 share/doc/lrt/guide.md \
         share/lrt/lrt-gdb.py bin/lrt-top share/man/man1/lrt-top.1 bin/lrt-trace-record; do
    [ -e "$p/$f" ] || fail "missing $f"
done
export PKG_CONFIG_PATH="$p/lib/pkgconfig"
[ "$(pkg-config --variable=prefix lrt)" = "$p" ] ||
    fail "lrt.pc says prefix=$(pkg-config --variable=prefix lrt), installed into $p"
pkg-config --cflags lrt | grep -q -- -fstack-clash-protection ||
    fail "pkg-config --cflags lrt lacks -fstack-clash-protection"
for n in $names; do
    MANPATH= man -M "$p/share/man" -w "$n" >/dev/null 2>&1 || fail "man $n: no page"
done
MANPATH= man -M "$p/share/man" lrt_join 2>/dev/null | grep -q 'lrt_join_timeout' ||
    fail "man lrt_join does not show lrt.3"
for m in 1/lrt-dump.1 1/lrt-trace.1 1/lrt-top.1 3/lrt.3; do
    # FILES and SEE ALSO name installed paths: each one must exist.
    for f in $(grep -o "$p/[A-Za-z0-9_./-]*" "$p/share/man/man$m" | sed 's/[,.)]*$//'); do
        [ -e "$f" ] || fail "man$m names $f, which is not installed"
    done
    grep -Eq '(^|[^/[:alnum:]_.-])(docs|include|src|tools|build)/' "$p/share/man/man$m" &&
        fail "man$m names a source-tree path"
    grep -q '/usr/local' "$p/share/man/man$m" && fail "man$m names /usr/local, not PREFIX"
done
"$p/bin/lrt-dump" --version >/dev/null || fail "the installed lrt-dump does not run"
# --core runs gdb with the installed lrt-gdb.py (a file that is no core: gdb fails after)
"$p/bin/lrt-dump" --core /dev/null >/dev/null 2>"$tmp/core.err" && fail "lrt-dump --core /dev/null succeeded"
grep -q 'lrt-gdb.py not found' "$tmp/core.err" && fail "the installed lrt-dump does not find lrt-gdb.py"
"$p/bin/lrt-top" --version >/dev/null || fail "the installed lrt-top does not run"
# static: every library liblrt.a needs must be on the --static line (libunwind's -llzma)
cc -Wall -Wextra -Werror -static $(pkg-config --cflags lrt) -o "$tmp/app-static" "$tmp/app.c" \
    $(pkg-config --static --libs lrt) 2>"$tmp/ld.err" ||
    { cat "$tmp/ld.err" >&2; fail "static link with pkg-config --static --libs lrt failed"; }
[ "$(env -u LD_LIBRARY_PATH "$tmp/app-static")" = "$expected" ] ||
    fail "statically linked README example: unexpected output"
echo "t-install: PREFIX install complete, lrt.pc follows PREFIX, man works for every" \
     "function, static link with pkg-config runs"
mk uninstall PREFIX="$p" >/dev/null
left=$(find "$p" ! -type d)
[ -z "$left" ] || fail "make uninstall left: $left"
unset PKG_CONFIG_PATH

# ---- staged with DESTDIR -------------------------------------------------------------
mk install DESTDIR="$tmp/stage" PREFIX=/opt/lrt >/dev/null
grep -qx 'prefix=/opt/lrt' "$tmp/stage/opt/lrt/lib/pkgconfig/lrt.pc" || fail "DESTDIR: lrt.pc"
grep -q '/opt/lrt/share/doc/lrt/guide.md' "$tmp/stage/opt/lrt/share/man/man3/lrt.3" ||
    fail "DESTDIR: lrt.3 does not name /opt/lrt/share/doc/lrt/guide.md"
echo "t-install: DESTDIR install names the final PREFIX"

# ---- into /usr/local as root: what a user does after `make install` ------------------
if [ "$(id -u)" != 0 ]; then
    echo "t-install: system install skipped: not root (CI runs it as root)"
    exit 0
fi
# One system install at a time, and never over an lrt that someone installed for real.
exec 9>/tmp/lrt-t-install.lock
flock -w 120 9 || fail "another t-install.sh holds /tmp/lrt-t-install.lock"
if [ -e /usr/local/include/lrt ] || [ -e /usr/local/lib/liblrt.so.0 ]; then
    echo "t-install: system install skipped: /usr/local already has an lrt installed"
    exit 0
fi
touch "$tmp/stamp"
sleep 1   # mtime granularity: what install writes must be newer than the stamp
trap 'make --no-print-directory -s BUILD="$BUILD" uninstall >/dev/null 2>&1; rm -rf "$tmp"' EXIT
mk install >"$tmp/install.out" 2>&1 || { cat "$tmp/install.out" >&2; fail "make install"; }
find /usr/local -newer "$tmp/stamp" ! -type d | sort > "$tmp/installed"
cd "$tmp"
# shellcheck disable=SC2046
cc -Wall -Wextra -Werror -o app app.c $(pkg-config --cflags --libs lrt) ||
    fail "README example: cc app.c \$(pkg-config --cflags --libs lrt) failed"
out=$(env -u LD_LIBRARY_PATH ./app 2>&1) || fail "README example after make install: $out"
[ "$out" = "$expected" ] || fail "README example: unexpected output: $out"
env -u MANPATH man -w lrt_spawn_blocking >/dev/null 2>&1 || fail "man lrt_spawn_blocking"
env -u MANPATH man -w lrt-trace >/dev/null 2>&1 || fail "man lrt-trace"
cd - >/dev/null
mk uninstall >/dev/null
trap 'rm -rf "$tmp"' EXIT
while read -r f; do
    [ -e "$f" ] || [ -L "$f" ] && fail "make uninstall left $f"
done < "$tmp/installed"
ldconfig -p | grep -q 'liblrt\.so' && fail "ld.so.cache still names liblrt after uninstall"
echo "t-install: /usr/local: README example builds with pkg-config and runs without" \
     "LD_LIBRARY_PATH; uninstall removed all $(wc -l < "$tmp/installed") files"
