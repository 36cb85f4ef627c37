#!/bin/sh
# t-examples.sh - every example with an examples/NAME.expected file runs and prints
# exactly that on stdout, exit status 0 (the others, showcase and trace_demo, run
# forever or need a trace session: they have no .expected file and are skipped).
# Environment: BUILD (default build).  Exit: 0 all matched, 1 a mismatch.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
tmp=$(mktemp -d /tmp/t-examples.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
rc=0 n=0
for exp in examples/*.expected; do
    [ -e "$exp" ] || continue
    name=$(basename "$exp" .expected)
    bin=$BUILD/examples/$name
    [ -x "$bin" ] || { echo "t-examples: FAIL: $bin not built (make all)" >&2; rc=1; continue; }
    n=$((n + 1))
    st=0
    timeout -k 5 60 "$bin" >"$tmp/$name.out" 2>"$tmp/$name.err" || st=$?
    if [ $st != 0 ]; then
        echo "t-examples: FAIL: $name exited with $st: $(tail -5 "$tmp/$name.err")" >&2
        rc=1
    elif ! diff -u "$exp" "$tmp/$name.out" >"$tmp/$name.diff"; then
        echo "t-examples: FAIL: $name printed something else:" >&2
        cat "$tmp/$name.diff" >&2
        rc=1
    fi
done
[ $rc = 0 ] && echo "t-examples: ok ($n examples)"
exit $rc
