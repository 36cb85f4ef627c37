#!/bin/sh
# Install the Debian packages lrt needs (as root), or print the exact command (otherwise).
PKGS="gcc make libc6-dev pkg-config liblttng-ust-dev lttng-tools babeltrace2 python3-bt2 \
libunwind-dev libjansson-dev libcunit1-dev libdw-dev python3-jsonschema util-linux valgrind"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
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
