#!/bin/sh
# setup-deps.sh [--check] [TIER...] - the Debian packages lrt needs, by what is being done:
#   lib    build liblrt.so/.a and the LTTng provider liblrt-tp.so (and the examples)
#   tools  build lrt-dump (libdw), lrt-top (ncurses) and lrt-trace (libbabeltrace2, whose
#          runtime package brings the ctf/utils plugins it loads; zlib for gzip export)
#   tests  build the CUnit runner
#   check  run the whole suite (make test): LTTng, babeltrace2, python3-bt2 (t-trace.sh
#          checks raw traces with it), jsonschema, valgrind,
#          redis-tools (redis-cli and redis-benchmark drive examples/kv in t-kv.sh),
#          gdb (with gcore: tests/t-core.sh; lrt-dump --core needs it at run time),
#          tmux (tests/t-top.sh drives lrt-top in a real terminal)...
# No TIER = all of them.  As root, missing packages are installed (make demo, make test);
# with --check (every other make entry point), or when not root, the exact apt-get line
# is printed and the exit status is 1, before anything is compiled.
#
# One dpkg-query call (~12 ms): the Makefile runs this on every build, so a package
# removed since the last build is named instead of surfacing as a compiler error.
check_only=0
if [ "${1:-}" = --check ]; then check_only=1; shift; fi
[ $# -eq 0 ] && set -- lib tools tests check

PKGS=""
for tier in "$@"; do
    case $tier in
    lib)   PKGS="$PKGS gcc make libc6-dev liblttng-ust-dev libunwind-dev libjansson-dev liburing-dev" ;;
    tools) PKGS="$PKGS libdw-dev libncurses-dev libbabeltrace2-dev zlib1g-dev" ;;
    tests) PKGS="$PKGS libcunit1-dev" ;;
    check) PKGS="$PKGS pkg-config lttng-tools babeltrace2 python3-bt2 python3-jsonschema \
util-linux valgrind redis-tools gdb tmux" ;;
    *) echo "setup-deps.sh: unknown tier '$tier' (lib, tools, tests, check)" >&2; exit 2 ;;
    esac
done

if ! command -v dpkg-query >/dev/null 2>&1; then
    # Not Debian: nothing to ask, so say what the build needs and let the compiler judge.
    echo "lrt: cannot check packages (no dpkg-query); the build needs (Debian names):$PKGS" >&2
    exit 0
fi

# dpkg-query prints "ii  NAME" for each installed package it knows; unknown names only
# produce a message on stderr.
installed=" $(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' $PKGS 2>/dev/null |
             awk '$1 == "ii" { printf "%s ", $2 }')"
missing=""
for p in $PKGS; do
    case "$installed$missing " in *" $p "*) continue ;; esac
    missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ $check_only = 0 ] && [ "$(id -u)" = 0 ]; then
    echo "lrt: installing missing Debian packages:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null || { echo "lrt: apt-get update failed" >&2; exit 1; }
    apt-get install -y -q $missing >/dev/null || {
        echo "lrt: apt-get install failed for:$missing" >&2; exit 1; }
    exit 0
fi
echo "lrt: missing Debian packages. Run as root:" >&2
echo "  apt-get update && apt-get install -y$missing" >&2
exit 1
