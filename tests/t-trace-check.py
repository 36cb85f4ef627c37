#!/usr/bin/python3
"""t-trace-check.py - the checks tests/t-trace.sh runs on lrt-trace's output (stdlib only).

  t-trace-check.py demo SUMMARY.json [CHROME.json[.gz]...]   a trace_demo recording
  t-trace-check.py filters TMP HOG_ID                          the filter outputs in TMP
  t-trace-check.py lost SUMMARY.json CHROME.json               a lossy recording
  t-trace-check.py two SUMMARY.json CHROME.json PID            two programs at once
  t-trace-check.py live SUMMARY.json                           an lttng-live reading
Prints what it found; exit 1 with ERROR lines when a check fails.
"""
import gzip
import json
import sys


def load(path):
    op = gzip.open if path.endswith(".gz") else open
    with op(path, "rt") as f:
        return json.load(f)


def chrome_errors(c, s):
    """The checks of a Chrome export against the summary of the same trace."""
    bad = []
    ev = c["traceEvents"]
    (p,) = s["processes"]
    pid = p["pid"]
    if not all(e["pid"] == pid for e in ev):
        bad.append("chrome: events of another pid")
    pnames = [e["args"]["name"] for e in ev if e["ph"] == "M" and e["name"] == "process_name"]
    if pnames != ["trace_demo (pid %d)" % pid]:
        bad.append("chrome: process_name %s" % pnames)
    tracks = {e["args"]["name"] for e in ev if e["ph"] == "M" and e["name"] == "thread_name"}
    for n in ("main", "reader", "writer", "sleeper", "hog"):
        if not any(t.startswith("task ") and t.endswith(" " + n) for t in tracks):
            bad.append("chrome: no track for task %s (%s)" % (n, sorted(tracks)))
    if not any(t.startswith("blocking thread") for t in tracks):
        bad.append("chrome: no blocking thread track")
    if not any(t.startswith("runtime thread") for t in tracks):
        bad.append("chrome: no runtime thread track")
    polls = [e for e in ev if e["ph"] == "X" and e.get("cat") == "poll"]
    jobs = [e for e in ev if e["ph"] == "X" and e.get("cat") == "blocking"]
    parks = [e for e in ev if e["ph"] == "X" and e.get("cat") == "driver"]
    starts = [e["id"] for e in ev if e["ph"] == "s"]
    ends = [e["id"] for e in ev if e["ph"] == "f"]
    npolls = sum(t["polls"] for t in p["tasks"])
    if len(polls) != npolls:
        bad.append("chrome: %d poll slices for %d polls" % (len(polls), npolls))
    if not jobs or len(parks) != p["driver"]["parks"]:
        bad.append("chrome: %d job slices, %d park slices for %d parks"
                   % (len(jobs), len(parks), p["driver"]["parks"]))
    if not starts or sorted(starts) != sorted(ends) or len(set(starts)) != len(starts):
        bad.append("chrome: flow arrows unbalanced (%d starts, %d ends)" % (len(starts), len(ends)))
    if not any(e["ph"] == "s" and e["name"] == "wake:task" and e["tid"] >= 100000000 for e in ev):
        bad.append("chrome: no task->task flow arrow")
    if p["stalls"] and not any(e["ph"] == "i" and e["name"] == "stall" for e in ev):
        bad.append("chrome: no stall instant")
    if min(e["ts"] for e in ev if "ts" in e) < 0:
        bad.append("chrome: negative timestamp")
    if c["otherData"]["generator"] != "lrt-trace":
        bad.append("chrome: otherData %s" % c["otherData"])
    return bad, "%d events, %d poll slices, %d job slices, %d flows" % (
        len(ev), len(polls), len(jobs), len(starts))


def check_demo(args):
    s = load(args[0])
    bad = []
    if len(s["processes"]) != 1:
        return ["summary: %d processes" % len(s["processes"])]
    p = s["processes"][0]
    if p["procname"] != "trace_demo":
        bad.append("summary: procname %s" % p["procname"])
    names = {t["name"] for t in p["tasks"]}
    for n in ("main", "reader", "writer", "sleeper", "hog"):
        if n not in names:
            bad.append("summary: no task %s" % n)
    if not all(t["polls"] > 0 for t in p["tasks"] if t["name"] in ("main", "reader", "hog")):
        bad.append("summary: a task without polls")
    if p["blocking"]["jobs"] < 1 or p["timer_lateness"]["count"] < 1 or p["driver"]["parks"] < 1:
        bad.append("summary: blocking/timer/driver sections empty")
    known = {"none", "io", "timer", "task", "remote", "blocking", "cancel", "spawn", "signal",
             "process"}
    if not {"io", "timer", "task", "signal", "process"} <= set(p["wakers"]) \
            or not set(p["wakers"]) <= known:
        bad.append("summary: waker labels %s" % sorted(p["wakers"]))
    results = set().union(*(t["poll_results"] for t in p["tasks"]))
    if not {"suspended", "finished"} <= results \
            or not results <= {"yielded", "suspended", "finished"}:
        bad.append("summary: poll result labels %s" % sorted(results))
    if p["longest_polls"][0]["name"] != "hog" or len(p["longest_polls"]) != 10:
        bad.append("summary: the longest poll is not hog's, or not 10 listed: %s"
                   % p["longest_polls"][:1])
    wl = p["wake_to_poll"]
    if not (wl["count"] > 0 and 0 < wl["p50_ns"] <= wl["p99_ns"] <= wl["max_ns"]):
        bad.append("summary: wake_to_poll %s" % wl)
    if s["lost"]["events"] or s["warnings"]:
        bad.append("summary: lost %s warnings %s" % (s["lost"], s["warnings"]))
    if p["event_counts"]["task_poll_begin"] != sum(t["polls"] for t in p["tasks"]):
        bad.append("summary: poll_begin events != polls")
    for path in args[1:]:
        b, info = chrome_errors(load(path), s)
        bad += ["%s: %s" % (path, x) for x in b]
        print("chrome %s: %s" % (path.rsplit("/", 1)[-1], info))
    return bad


def check_filters(args):
    tmp, hog_id = args[0], int(args[1])

    def L(n):
        return load("%s/f-%s.json" % (tmp, n))

    def tasks(s):
        return [(t["id"], t["name"]) for p in s["processes"] for t in p["tasks"]]

    def polls(s):
        return [(lp["name"], lp["duration_ns"]) for p in s["processes"] for lp in p["longest_polls"]]

    full = load(tmp + "/summary.json")
    bad = []
    if L("pid")["processes"] != full["processes"]:
        bad.append("--pid PID changed the report of its process")
    o = L("otherpid")
    if o["processes"] or o["events"] or "no event matched the filters" not in o["warnings"]:
        bad.append("--pid other: %s" % o["processes"][:1])
    for n in ("taskname", "taskid"):
        s = L(n)
        if tasks(s) != [(hog_id, "hog")] or [x[0] for x in polls(s)] != ["hog"]:
            bad.append("--task (%s): tasks %s, polls %s" % (n, tasks(s), polls(s)))
        elif "task_wake" in s["processes"][0]["event_counts"]:
            bad.append("--task hog counted another task's wakes")
    b = L("before")
    if "hog" in [x[0] for x in polls(b)] or not b["events"] or b["events"] >= full["events"]:
        bad.append("--to before the hog's poll: %s (%d events)" % (polls(b)[:2], b["events"]))
    for n in ("window", "abs"):
        w = L(n)
        if polls(w)[:1] != polls(full)[:1] or w["events"] >= full["events"]:
            bad.append("%s: %s" % (n, polls(w)[:2]))
    if len(L("top")["processes"][0]["longest_polls"]) != 1:
        bad.append("--top 1")
    c = load(tmp + "/f-chrome-hog.json.gz")["traceEvents"]
    ps = [e for e in c if e["ph"] == "X" and e.get("cat") == "poll"]
    if not ps or any(e["name"] != "hog" for e in ps):
        bad.append("chrome --task hog: poll slices of %s" % sorted({e["name"] for e in ps}))
    c = load(tmp + "/f-chrome-after.json")["traceEvents"]
    if any(e["ph"] == "X" and e.get("name") == "hog" for e in c):
        bad.append("chrome --from after the hog's poll shows it")
    return bad


def check_lost(args):
    s, c = load(args[0]), load(args[1])
    lost = s["lost"]
    bad = []
    if lost["events"] <= 0 or not lost["streams"] or not lost["uncertain"]:
        bad.append("lost: %s" % lost)
    for st in lost["streams"]:
        if not st["stream"] or st["events"] + st["packets"] + st["unknown_batches"] <= 0:
            bad.append("stream entry %s" % st)
        if not 0 <= st["from_ns"] <= st["to_ns"]:
            bad.append("stream time range %s" % st)
    if sum(st["events"] for st in lost["streams"]) != lost["events"]:
        bad.append("per-stream counts do not add up")
    if not s["processes"] or s["processes"][0]["procname"] != "trace_demo":
        bad.append("no analysis of the lossy trace")
    if c["otherData"]["lost"]["events"] != lost["events"]:
        bad.append("chrome: otherData.lost %s" % c["otherData"]["lost"])
    print("lost: %d events in %s" % (lost["events"], ", ".join(
        "%s +%d..%d ns" % (x["stream"], x["from_ns"], x["to_ns"]) for x in lost["streams"])))
    return bad


def check_two(args):
    s, c, a_pid = load(args[0]), load(args[1])["traceEvents"], int(args[2])
    bad = []
    procs = {p["procname"]: p for p in s["processes"]}
    if sorted(procs) != ["other_demo", "trace_demo"]:
        return ["processes %s" % [(p["pid"], p["procname"]) for p in s["processes"]]]
    if procs["trace_demo"]["pid"] != a_pid:
        bad.append("trace_demo's pid %d, expected %d" % (procs["trace_demo"]["pid"], a_pid))
    for name, p in procs.items():
        ids = [t["id"] for t in p["tasks"]]
        names = sorted(t["name"] for t in p["tasks"])
        if len(ids) != len(set(ids)) or names.count("hog") != 1 or names.count("main") != 1:
            bad.append("%s: tasks merged or duplicated: %s" % (name, sorted(zip(ids, names))))
        if any(t["polls"] != sum(t["poll_results"].values()) for t in p["tasks"]):
            bad.append("%s: a task's polls do not match its poll ends (merged?)" % name)
        # (which poll is longest depends on the scheduling of two programs on the machine)
        own = {(t["id"], t["name"]) for t in p["tasks"]}
        if any((lp["task_id"], lp["name"]) not in own for lp in p["longest_polls"]) \
                or p["event_counts"]["task_spawn"] != len(p["tasks"]):
            bad.append("%s: longest polls of other tasks %s, %d spawns for %d tasks" % (
                name, p["longest_polls"][:2], p["event_counts"]["task_spawn"], len(p["tasks"])))
    if sum(p["events"] for p in s["processes"]) != s["events"]:
        bad.append("per-process events do not add up")
    pn = {e["pid"]: e["args"]["name"] for e in c if e["ph"] == "M" and e["name"] == "process_name"}
    if sorted(n.split(" ")[0] for n in pn.values()) != ["other_demo", "trace_demo"]:
        bad.append("chrome process names %s" % pn)
    print("two processes: %s" % [(p["pid"], p["procname"], len(p["tasks"]))
                                 for p in s["processes"]])
    return bad


def check_live(args):
    s = load(args[0])
    names = {t["name"] for p in s["processes"] for t in p["tasks"]}
    print("live: %d events, tasks %s" % (s["events"], sorted(names)))
    if {"main", "reader", "hog"} <= names and s["events"] > 50:
        return []
    return ["live: tasks %s" % sorted(names)]


if __name__ == "__main__":
    what = {"demo": check_demo, "filters": check_filters, "lost": check_lost, "two": check_two,
            "live": check_live}[sys.argv[1]]
    errors = what(sys.argv[2:])
    for e in errors:
        print("ERROR: " + e)
    sys.exit(1 if errors else 0)
