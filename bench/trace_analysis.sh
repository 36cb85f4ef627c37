#!/bin/bash
# trace_analysis.sh [ROUNDS] - how fast lrt-trace analyses a big trace (docs/tracing.md).
#
# Records ROUNDS x 1.4M lrt events (default 4: 5.6M) with bench/trace_gen.sh (own
# lttng-sessiond under the machine-wide lock), then times, each twice: babeltrace2 -o
# dummy (the floor: libbabeltrace2's CTF decoding alone), lrt-trace summary, and the
# gzip Chrome export; prints events/s and max RSS (GNU time).  Environment: BUILD
# (lrt-trace's build, default build), KEEP=1 keeps the trace.
set -u
cd "$(dirname "$0")/.." || exit 1
rounds=${1:-4}
BUILD=${BUILD:-build}
TOOL=$BUILD/tools/lrt-trace
[ -x "$TOOL" ] || { echo "trace_analysis: $TOOL is not built" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "trace_analysis: needs GNU time (/usr/bin/time)" >&2; exit 1; }
tmp=$(mktemp -d /tmp/lrt-trace-bench.XXXXXX) || exit 1
trap '[ "${KEEP:-0}" = 1 ] && echo "kept $tmp" || rm -rf "$tmp"' EXIT
bench/trace_gen.sh "$tmp/trace" "$rounds" || exit 1
events=$("$TOOL" summary --json --top 0 "$tmp/trace" |
         python3 -c 'import json,sys; print(json.load(sys.stdin)["events"])') || exit 1
echo "trace: $events lrt events, $(du -sh "$tmp/trace" | cut -f1) on disk"
run() { # run LABEL CMD...: wall, CPU and max RSS
    local label=$1
    shift
    /usr/bin/time -f "%e %U %S %M" -o "$tmp/time" "$@" >/dev/null 2>"$tmp/err" ||
        { echo "$label failed: $(tail -3 "$tmp/err")" >&2; exit 1; }
    read -r wall user sys rss <"$tmp/time"
    awk -v l="$label" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" -v n="$events" 'BEGIN {
        printf "%-28s %6.2f s wall (%5.2f s CPU)  %6.2f M events/s  max RSS %4d MB\n",
               l, w, u + s, n / w / 1e6, r / 1024 }'
}
for i in 1 2; do
    run "babeltrace2 -o dummy" babeltrace2 -o dummy "$tmp/trace"
    run "lrt-trace summary" "$TOOL" summary "$tmp/trace"
    run "lrt-trace chrome -o .json.gz" "$TOOL" chrome -o "$tmp/out.json.gz" "$tmp/trace"
done
gz=$(stat -c %s "$tmp/out.json.gz")
raw=$(gzip -dc "$tmp/out.json.gz" | wc -c)
awk -v g="$gz" -v r="$raw" -v n="$events" 'BEGIN {
    printf "chrome export: %.1f MB gzip (%.1f MB per million events), %.1f MB uncompressed (%.1f MB per million)\n",
           g / 1e6, g / 1e6 / (n / 1e6), r / 1e6, r / 1e6 / (n / 1e6) }'
