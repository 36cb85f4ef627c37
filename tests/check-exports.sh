#!/bin/sh
# liblrt.so must export only lrt_* symbols (and must not depend on liblttng-ust).
set -eu
so="${BUILD:-build}/liblrt.so"
bad=$(nm -D --defined-only "$so" | awk '{print $3}' | grep -v '^lrt_[a-z0-9]' | grep -v '^LRT_[0-9.]*$' || true)
if [ -n "$bad" ]; then
    echo "check-exports: $so exports non-lrt_ symbols:" >&2
    echo "$bad" >&2
    exit 1
fi
n=$(nm -D --defined-only "$so" | awk '{print $3}' | grep -c '^lrt_')
if ldd "$so" | grep -q lttng-ust; then
    echo "check-exports: $so links liblttng-ust (must use dynamic linkage)" >&2
    exit 1
fi
echo "check-exports: $n symbols, all lrt_*; no liblttng-ust dependency"
