#!/bin/sh
# Every make entry point checks the Debian packages before compiling and names the exact
# apt-get line (never a raw "No such file" from the compiler), and `make install` does
# not ask for test-only packages.  A dpkg-query earlier in PATH hides the packages named
# in $MASK, so nothing is uninstalled.  Environment: BUILD (default build).
set -u
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
if [ -n "${SANITIZE:-}" ]; then
    echo "t-deps: skipped under SANITIZE (the dependency check does not depend on it)"
    exit 0
fi
command -v dpkg-query >/dev/null || { echo "t-deps: skipped: no dpkg-query (not Debian)"; exit 0; }
real=$(command -v dpkg-query)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/bin"
cat > "$tmp/bin/dpkg-query" <<EOF
#!/bin/sh
"$real" "\$@" | grep -v -E " (\$MASK)\\\$"
EOF
chmod +x "$tmp/bin/dpkg-query"
fail() { echo "t-deps: FAIL: $*" >&2; [ -f "$tmp/out" ] && sed 's/^/    /' "$tmp/out" >&2; exit 1; }

# hidden PKGS, then make ARGS...: must fail, print the apt-get line for exactly PKGS and
# compile nothing (a fresh build directory stays free of objects).
expect_stop() {
    pkgs=$1; shift
    rm -rf "$tmp/b"
    MASK=$(echo "$pkgs" | tr ' ' '|') PATH="$tmp/bin:$PATH" \
        make --no-print-directory -j2 BUILD="$tmp/b" "$@" >"$tmp/out" 2>&1 &&
        fail "make $* succeeded with $pkgs hidden"
    grep -qx "  apt-get update && apt-get install -y $pkgs" "$tmp/out" ||
        fail "make $*: no 'apt-get install -y $pkgs' line"
    grep -q 'No such file\|error:' "$tmp/out" && fail "make $*: a compiler error instead"
    [ -z "$(find "$tmp/b" -name '*.o' 2>/dev/null)" ] || fail "make $*: compiled before the check"
    echo "t-deps: make $* stops before compiling and names: $pkgs"
}

expect_stop "liblttng-ust-dev"                 # `make` of a fresh tree
expect_stop "libunwind-dev libcunit1-dev" all  # one line names every missing package
expect_stop "libdw-dev" install PREFIX="$tmp/p"
expect_stop "libncurses-dev" install PREFIX="$tmp/p"   # lrt-top
expect_stop "libbabeltrace2-dev zlib1g-dev" install PREFIX="$tmp/p"   # lrt-trace
expect_stop "libjansson-dev" bench
expect_stop "libcunit1-dev" check-unit

# `make install` needs neither CUnit nor anything that only the suite uses: it succeeds
# with them hidden, and it would not even build the test runner.
test_only="libcunit1-dev|lttng-tools|babeltrace2|python3-bt2|python3-jsonschema|valgrind|pkg-config|redis-tools|gdb|tmux"
MASK=$test_only PATH="$tmp/bin:$PATH" make --no-print-directory -s BUILD="$BUILD" install \
    PREFIX="$tmp/p" >"$tmp/out" 2>&1 || fail "make install asked for a test-only package"
[ -e "$tmp/p/lib/liblrt.so.0" ] || fail "make install installed no library"
make --no-print-directory -n BUILD="$tmp/fresh" install PREFIX="$tmp/p" >"$tmp/out" 2>&1 ||
    fail "make -n install failed"
grep -q 'lcunit\|tests/' "$tmp/out" && fail "make install would build the test runner"
echo "t-deps: make install works with the test-only packages hidden, builds no test"
