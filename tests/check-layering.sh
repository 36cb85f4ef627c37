#!/bin/sh
# check-layering.sh - fail on any cycle between liblrt's source files.
#
# The file-level graph comes from the built objects: file A depends on file B when A
# references (nm: U) a symbol that B defines.  Every strongly connected component of
# more than one file is a cycle; for each, the script prints the files and, per edge
# inside it, the symbols that make the edge, so the change that closed it is easy to
# find.  With -v it prints the whole graph, bottom layer first.
# It also keeps every source file (src/, *.c and *.h) at 700 lines or less: one job per
# file.
# Environment: BUILD (default build).  Exit: 0 no cycle, 1 cycle(s) or a file too long,
# 2 usage/setup.
set -eu
BUILD=${BUILD:-build}
verbose=0
[ "${1:-}" = "-v" ] && verbose=1
objdir=$BUILD/obj
[ -d "$objdir" ] || { echo "check-layering: $objdir not built (make all)" >&2; exit 2; }
# the objects of today's sources only (a stale object of a moved file must not count)
objs=
for src in $(cd src && find . -name '*.c' -o -name '*.S' | sed 's|^\./||' | sort); do
    o=$objdir/$src.o
    [ -f "$o" ] || { echo "check-layering: $o not built (make all)" >&2; exit 2; }
    objs="$objs $o"
done
[ -n "$objs" ] || { echo "check-layering: no sources under src/" >&2; exit 2; }
rc=0
# "object<TAB>kind<TAB>symbol" for every defined (D) and undefined (U) global symbol
for o in $objs; do
    name=${o#"$objdir"/}
    name=${name%.o}
    nm -g "$o" | awk -v f="$name" '
        $1 == "U" { print f "\tU\t" $2; next }
        NF == 3 && $2 ~ /^[TDBRVWGS]$/ { print f "\tD\t" $3 }'
done | /usr/bin/env python3 -c '
import sys
from collections import defaultdict
verbose = sys.argv[1] == "1"
defs, uses = {}, defaultdict(set)
for line in sys.stdin:
    f, kind, sym = line.rstrip("\n").split("\t")
    if kind == "D":
        defs.setdefault(sym, f)
    else:
        uses[f].add(sym)
files = sorted(set(defs.values()) | set(uses))
edges = defaultdict(lambda: defaultdict(set))  # a -> b -> symbols
for a in files:
    for s in uses[a]:
        b = defs.get(s)
        if b and b != a:
            edges[a][b].add(s)
# Tarjan SCC
index, low, on, stack, sccs, n = {}, {}, set(), [], [], [0]
def visit(v):
    index[v] = low[v] = n[0]; n[0] += 1; stack.append(v); on.add(v)
    for w in sorted(edges[v]):
        if w not in index:
            visit(w); low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop(); on.discard(w); comp.append(w)
            if w == v: break
        sccs.append(sorted(comp))
sys.setrecursionlimit(10000)
for v in files:
    if v not in index: visit(v)
cycles = [c for c in sccs if len(c) > 1]
if verbose:
    # Tarjan emits components callees first: that is the layer order, bottom up
    for c in sccs:
        for a in c:
            deps = sorted(edges[a])
            print("%-22s -> %s" % (a, " ".join(deps) if deps else "(nothing)"))
for c in cycles:
    print("check-layering: cycle between %d files: %s" % (len(c), " ".join(c)))
    for a in c:
        for b in sorted(edges[a]):
            if b in c:
                syms = sorted(edges[a][b])
                more = " ..." if len(syms) > 4 else ""
                print("  %s -> %s: %s%s" % (a, b, " ".join(syms[:4]), more))
if cycles:
    sys.exit(1)
print("check-layering: %d source files, %d dependencies, no cycle" % (len(files), sum(len(e) for e in edges.values())))
' "$verbose" || rc=1
long=$(find src -name '*.[ch]' -exec wc -l {} + | awk '$2 != "total" && $1 > 700 {print "  " $2 ": " $1 " lines"}')
if [ -n "$long" ]; then
    echo "check-layering: source files over 700 lines (split them by job):"
    echo "$long"
    rc=1
fi
exit $rc
