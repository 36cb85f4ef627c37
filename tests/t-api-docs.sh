#!/bin/sh
# lrt.3 cannot go stale: every public function of include/lrt/lrt.h (tools/api-names.sh,
# the list `make install` makes `man NAME` link pages from) has a prototype in the
# SYNOPSIS and an entry in docs/lrt.3, and lrt.3 documents no function the header lacks.
# The header parse itself must see every symbol liblrt.so exports (a declaration split
# after LRT_EXPORT would hide it).  Environment: BUILD (default build).
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
fail() { echo "t-api-docs: FAIL: $*" >&2; exit 1; }
# in_list NAME LIST: NAME is a line of LIST
in_list() { printf '%s\n' "$2" | grep -qx "$1"; }
# not_in A B: the lines of A that are not lines of B
not_in() { printf '%s\n' "$1" | while read -r n; do in_list "$n" "$2" || echo "$n"; done; }

names=$(tools/api-names.sh include/lrt/lrt.h)
[ "$(printf '%s\n' "$names" | wc -l)" -gt 50 ] || fail "tools/api-names.sh found only: $names"
if [ -e "$BUILD/liblrt.so" ]; then
    exported=$(nm -D --defined-only "$BUILD/liblrt.so" | awk '{ sub(/@.*/, "", $3); print $3 }' |
               grep '^lrt_' | sort -u)
    hidden=$(not_in "$exported" "$names")
    [ -z "$hidden" ] || fail "exported by liblrt.so but not found in lrt.h by tools/api-names.sh" \
                             "(keep LRT_EXPORT and the name on one line):" $hidden
fi
# An entry is a tagged paragraph: ".TP" or ".TQ", then ".BR NAME ()".
entries=$(awk 'prev ~ /^\.T[PQ]/ && $1 == ".BR" && $3 == "()" { print $2 } { prev = $0 }' \
          docs/lrt.3 | sort -u)
synopsis=$(sed -n '/^\.SH SYNOPSIS/,/^\.SH /p' docs/lrt.3 | grep -o 'lrt_[A-Za-z0-9_]*(' |
           tr -d '(' | sort -u)
missing=$(not_in "$names" "$entries")
[ -z "$missing" ] || fail "docs/lrt.3 has no entry (.TP/.TQ then .BR NAME ()) for:" $missing
missing=$(not_in "$names" "$synopsis")
[ -z "$missing" ] || fail "the SYNOPSIS of docs/lrt.3 lacks:" $missing
stale=$(not_in "$(printf '%s\n%s\n' "$entries" "$synopsis" | sort -u)" "$names")
[ -z "$stale" ] || fail "docs/lrt.3 documents functions that lrt.h does not declare:" $stale
echo "t-api-docs: lrt.3 has a prototype and an entry for each of the" \
     "$(printf '%s\n' "$names" | wc -l) public functions of lrt.h"
