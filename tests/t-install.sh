#!/bin/sh
# make install into a scratch DESTDIR, then build and run the README example against
# the installed headers, library and lrt.pc.
set -eu
BUILD=${BUILD:-build}
if [ -n "${SANITIZE:-}" ]; then
    echo "t-install: skipped under SANITIZE (the installed library is the plain build)"
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
make --no-print-directory -s install DESTDIR="$tmp" PREFIX=/usr/local BUILD="$BUILD" >/dev/null
root="$tmp/usr/local"
for f in include/lrt/lrt.h lib/liblrt.so lib/liblrt.so.0 lib/liblrt.a lib/liblrt-tp.so \
         lib/pkgconfig/lrt.pc share/man/man3/lrt.3; do
    [ -e "$root/$f" ] || { echo "t-install: missing $f" >&2; exit 1; }
done
# the README example, verbatim
sed -n '/^```c$/,/^```$/p' README.md | sed '1d;$d' > "$tmp/app.c"
cflags=$(PKG_CONFIG_SYSROOT_DIR="$tmp" PKG_CONFIG_LIBDIR="$root/lib/pkgconfig" pkg-config --cflags lrt)
libs=$(PKG_CONFIG_SYSROOT_DIR="$tmp" PKG_CONFIG_LIBDIR="$root/lib/pkgconfig" pkg-config --libs lrt)
cc -Wall -Wextra -Werror $cflags -o "$tmp/app" "$tmp/app.c" $libs
out=$(LD_LIBRARY_PATH="$root/lib" "$tmp/app")
expected="worker 0 -> 0
worker 1 -> 2
worker 2 -> 4"
[ "$out" = "$expected" ] || { echo "t-install: unexpected output: $out" >&2; exit 1; }
echo "t-install: installed layout complete; README example builds with pkg-config and runs"
