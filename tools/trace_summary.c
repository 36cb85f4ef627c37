/*
 * trace_summary.c - the summary of lrt-trace: statistics per process and per task,
 * built while streaming (histograms and a top-N heap: memory independent of the number
 * of events), then one JSON object that both outputs come from (--json prints it, the
 * text report is read from it).
 */
#include "trace_summary.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STALLS 100      /* listed per process; the rest are counted */
#define MAX_PARKING 64      /* runtime threads per process with a park in progress */

struct poll_rec {
    uint64_t dur;
    int64_t start;
    struct tm_task *t;
};

struct bin {
    uint64_t base, size;
    char *name;
};

struct io_op {
    uint64_t submits, completions, errors, bytes;
    struct tm_hist lat;
};

struct sum_proc {
    struct poll_rec *top;   /* min-heap on (dur, -start) of the longest polls */
    size_t n_top;
    struct tm_hist wake, timer_late, queue, run;
    uint64_t wakers[TM_MAX_LABEL];
    uint64_t jobs, max_threads, parks, park_ns, park_events;
    struct { int64_t vtid, ts; } parking[MAX_PARKING];
    size_t n_parking;
    struct io_op io[TM_MAX_LABEL];
    bool has_io;
    json_t *stalls;
    uint64_t stalls_total;
    uint64_t end_without_begin;
    struct bin *bins;
    size_t n_bins;
};

static struct sum_proc *sum_of(struct tm_proc *p)
{
    if (!p->summary) {
        struct sum_proc *s = calloc(1, sizeof(*s));
        if (!s)
            return NULL;
        tm_hist_init(&s->wake, 4);
        tm_hist_init(&s->timer_late, 4);
        tm_hist_init(&s->queue, 4);
        tm_hist_init(&s->run, 4);
        for (int i = 0; i < TM_MAX_LABEL; i++)
            tm_hist_init(&s->io[i].lat, 4);
        p->summary = s;
    }
    return p->summary;
}

/* heap order: the shortest (then the latest) poll at the root, replaced first */
static bool poll_less(const struct poll_rec *a, const struct poll_rec *b)
{
    return a->dur < b->dur || (a->dur == b->dur && a->start > b->start);
}

static void heap_swap(struct poll_rec *a, struct poll_rec *b)
{
    struct poll_rec x = *a;
    *a = *b;
    *b = x;
}

static void heap_down(struct poll_rec *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && poll_less(&h[l], &h[m]))
            m = l;
        if (r < n && poll_less(&h[r], &h[m]))
            m = r;
        if (m == i)
            return;
        heap_swap(&h[i], &h[m]);
        i = m;
    }
}

static int top_add(struct sum_proc *s, unsigned top, struct poll_rec rec)
{
    if (top == 0)
        return 0;
    if (!s->top && !(s->top = calloc(top, sizeof(*s->top))))
        return -ENOMEM;
    if (s->n_top < top) {
        size_t i = s->n_top++;
        s->top[i] = rec;
        while (i > 0 && poll_less(&s->top[i], &s->top[(i - 1) / 2])) {
            heap_swap(&s->top[i], &s->top[(i - 1) / 2]);
            i = (i - 1) / 2;
        }
    } else if (poll_less(&s->top[0], &rec)) {
        s->top[0] = rec;
        heap_down(s->top, s->n_top, 0);
    }
    return 0;
}

static void where(const struct sum_proc *s, uint64_t ip, char *buf, size_t len)
{
    for (size_t i = 0; i < s->n_bins; i++) {
        if (ip >= s->bins[i].base && ip < s->bins[i].base + s->bins[i].size) {
            snprintf(buf, len, "0x%" PRIx64 " (%s+0x%" PRIx64 ")", ip, s->bins[i].name,
                     ip - s->bins[i].base);
            return;
        }
    }
    snprintf(buf, len, "0x%" PRIx64, ip);
}

static void task_loc(const struct tm_task *t, char *buf, size_t len)
{
    snprintf(buf, len, "%s:%d (%s)", t->file ? t->file : "?", t->line, t->func ? t->func : "?");
}

static int stall(struct sum_proc *s, struct tm_task *t, const struct tr_event *ev)
{
    s->stalls_total++;
    if (s->stalls_total > MAX_STALLS)
        return 0;
    if (!s->stalls && !(s->stalls = json_array()))
        return -ENOMEM;
    char loc[512], ipbuf[320];
    task_loc(t, loc, sizeof(loc));
    json_t *ips = json_array();
    for (unsigned i = 0; ips && i < ev->n_ips; i++) {
        where(s, ev->ips[i], ipbuf, sizeof(ipbuf));
        json_array_append_new(ips, json_string(ipbuf));
    }
    json_t *o = json_pack("{s:I,s:I,s:s,s:s,s:I,s:o*}", "ts", (json_int_t)ev->ts,
                          "task_id", (json_int_t)t->id, "name", t->name, "location", loc,
                          "duration_ns", (json_int_t)ev->v[1], "ips", ips);
    if (!o)
        return -ENOMEM;
    return json_array_append_new(s->stalls, o) ? -ENOMEM : 0;
}

int ts_event(struct tm_model *m, struct tm_proc *p, struct tm_task *t, const struct tr_event *ev,
             unsigned top)
{
    (void)m;
    struct sum_proc *s = sum_of(p);
    if (!s)
        return -ENOMEM;
    if (t)
        t->events++;
    int64_t v1 = ev->v[1];
    switch (ev->kind) {
    case TR_BIN_INFO: {
        struct bin *n = realloc(s->bins, (s->n_bins + 1) * sizeof(*n));
        if (!n)
            return -ENOMEM;
        s->bins = n;
        const char *path = ev->s[2] ? ev->s[2] : "?";
        const char *base = strrchr(path, '/');
        n[s->n_bins].base = (uint64_t)ev->v[0];
        n[s->n_bins].size = (uint64_t)v1;
        if (!(n[s->n_bins].name = strdup(base ? base + 1 : path)))
            return -ENOMEM;
        s->n_bins++;
        return 0;
    }
    case TR_TASK_WAKE:
        if (v1 >= 0 && v1 < TM_MAX_LABEL) {
            s->wakers[v1]++;
            t->wakers[v1]++;
        }
        if (t->pending_wake < 0)
            t->pending_wake = ev->ts;
        return 0;
    case TR_TASK_POLL_BEGIN:
        t->poll_start = ev->ts;
        if (t->pending_wake >= 0) {
            uint64_t lat = (uint64_t)(ev->ts - t->pending_wake);
            t->pending_wake = -1;
            if (tm_hist_add(&t->wake, lat) < 0 || tm_hist_add(&s->wake, lat) < 0)
                return -ENOMEM;
        }
        return 0;
    case TR_TASK_POLL_END: {
        if (v1 >= 0 && v1 < TM_MAX_LABEL)
            t->results[v1]++;
        if (t->poll_start < 0) {
            s->end_without_begin++;
            return 0;
        }
        uint64_t d = (uint64_t)(ev->ts - t->poll_start);
        t->polls++;
        t->busy += d;
        if (d > t->max_poll)
            t->max_poll = d;
        struct poll_rec rec = { d, t->poll_start, t };
        t->poll_start = -1;
        return top_add(s, top, rec);
    }
    case TR_TASK_TERMINATE:
        t->terminated = true;
        t->status = v1;
        /* a finished task gets no more wakes: keep its percentiles, not its buckets, so
         * a server with a task per connection costs ~0.4 KB per finished task */
        if (t->wake.b) {
            t->wake_p50 = tm_hist_pct(&t->wake, 50);
            t->wake_p99 = tm_hist_pct(&t->wake, 99);
            tm_hist_free(&t->wake);
        }
        return 0;
    case TR_DRIVER_PARK_BEGIN:
        for (size_t i = 0; i < s->n_parking; i++) {
            if (s->parking[i].vtid == ev->vtid) {
                s->parking[i].ts = ev->ts;
                return 0;
            }
        }
        if (s->n_parking < MAX_PARKING) {
            s->parking[s->n_parking].vtid = ev->vtid;
            s->parking[s->n_parking++].ts = ev->ts;
        }
        return 0;
    case TR_DRIVER_PARK_END:
        s->parks++;
        s->park_events += (uint64_t)v1;
        for (size_t i = 0; i < s->n_parking; i++) {
            if (s->parking[i].vtid == ev->vtid) {
                s->park_ns += (uint64_t)(ev->ts - s->parking[i].ts);
                s->parking[i] = s->parking[--s->n_parking];
                break;
            }
        }
        return 0;
    case TR_TIMER_FIRE:
        return tm_hist_add(&s->timer_late, (uint64_t)ev->v[2]);
    case TR_BLOCKING_BEGIN:
        return tm_hist_add(&s->queue, (uint64_t)v1);
    case TR_BLOCKING_END:
        s->jobs++;
        return tm_hist_add(&s->run, (uint64_t)v1);
    case TR_BLOCKING_THREAD_SPAWN:
        if ((uint64_t)ev->v[0] > s->max_threads)
            s->max_threads = (uint64_t)ev->v[0];
        return 0;
    case TR_IO_SUBMIT:
        if (v1 >= 0 && v1 < TM_MAX_LABEL) {
            s->io[v1].submits++;
            s->has_io = true;
        }
        return 0;
    case TR_IO_COMPLETE:
        if (v1 >= 0 && v1 < TM_MAX_LABEL) {
            struct io_op *o = &s->io[v1];
            s->has_io = true;
            o->completions++;
            if (ev->v[3] < 0)
                o->errors++;
            else
                o->bytes += (uint64_t)ev->v[3];
            return tm_hist_add(&o->lat, (uint64_t)ev->v[4]);
        }
        return 0;
    case TR_STALL:
        return stall(s, t, ev);
    default:
        return 0;
    }
}

void ts_free(struct tm_model *m)
{
    for (size_t i = 0; i < m->n_procs; i++) {
        struct sum_proc *s = m->procs[i]->summary;
        if (!s)
            continue;
        free(s->top);
        tm_hist_free(&s->wake);
        tm_hist_free(&s->timer_late);
        tm_hist_free(&s->queue);
        tm_hist_free(&s->run);
        for (int j = 0; j < TM_MAX_LABEL; j++)
            tm_hist_free(&s->io[j].lat);
        json_decref(s->stalls);
        for (size_t j = 0; j < s->n_bins; j++)
            free(s->bins[j].name);
        free(s->bins);
        free(s);
        m->procs[i]->summary = NULL;
    }
}

/* ---- JSON ------------------------------------------------------------------------------- */

static json_t *dist_of(const struct tm_hist *h, uint64_t p50, uint64_t p99)
{
    if (!h->count)
        return json_pack("{s:i}", "count", 0);
    return json_pack("{s:I,s:I,s:I,s:I,s:I}", "count", (json_int_t)h->count,
                     "p50_ns", (json_int_t)p50, "p99_ns", (json_int_t)p99,
                     "max_ns", (json_int_t)h->max, "mean_ns", (json_int_t)(h->sum / h->count));
}

static json_t *dist(const struct tm_hist *h)
{
    return dist_of(h, tm_hist_pct(h, 50), tm_hist_pct(h, 99));
}

static json_t *label_counts(const struct tm_model *m, int which, const uint64_t *c64,
                            const uint32_t *c32)
{
    json_t *o = json_object();
    char buf[32];
    for (int i = 0; o && i < TM_MAX_LABEL; i++) {
        uint64_t n = c64 ? c64[i] : c32[i];
        if (n)
            json_object_set_new(o, tm_label(m, which, i, buf, sizeof(buf)), json_integer((json_int_t)n));
    }
    return o;
}

static int cmp_poll_desc(const void *a, const void *b)
{
    const struct poll_rec *x = a, *y = b;
    if (x->dur != y->dur)
        return x->dur < y->dur ? 1 : -1;
    return (x->start > y->start) - (x->start < y->start);
}

static json_t *task_json(const struct tm_model *m, const struct tm_task *t)
{
    json_t *o = json_pack("{s:I,s:s,s:I,s:{s:s,s:i,s:s},s:b,s:I,s:I,s:I,s:I}",
                          "id", (json_int_t)t->id, "name", t->name, "parent", (json_int_t)t->parent,
                          "spawned_at", "file", t->file ? t->file : "?", "line", t->line,
                          "func", t->func ? t->func : "?", "from_statedump", t->from_statedump,
                          "polls", (json_int_t)t->polls, "busy_ns", (json_int_t)t->busy,
                          "mean_poll_ns", (json_int_t)(t->polls ? t->busy / t->polls : 0),
                          "max_poll_ns", (json_int_t)t->max_poll);
    if (!o)
        return NULL;
    json_object_set_new(o, "pid", json_integer(t->vpid));
    if (t->state)
        json_object_set_new(o, "state_at_start", json_string(t->state));
    json_object_set_new(o, "poll_results", label_counts(m, TM_LABEL_RESULT, NULL, t->results));
    json_object_set_new(o, "wakers", label_counts(m, TM_LABEL_WAKER, NULL, t->wakers));
    json_object_set_new(o, "wake_to_poll", t->wake.b || !t->terminated ? dist(&t->wake)
                                           : dist_of(&t->wake, t->wake_p50, t->wake_p99));
    json_object_set_new(o, "terminated", json_boolean(t->terminated));
    json_object_set_new(o, "status", t->terminated ? json_integer(t->status) : json_null());
    return o;
}

static json_t *proc_json(const struct tm_model *m, struct tm_proc *p)
{
    struct sum_proc *s = sum_of(p);
    if (!s)
        return NULL;
    json_t *o = json_object();
    if (!o)
        return NULL;
    char buf[600];
    json_object_set_new(o, "pid", json_integer(p->vpid));
    json_object_set_new(o, "procname", p->procname ? json_string(p->procname) : json_null());
    json_object_set_new(o, "events", json_integer((json_int_t)p->events));
    json_t *counts = json_object();
    for (int k = 0; counts && k < TR_N_KINDS; k++)
        if (p->counts[k])
            json_object_set_new(counts, tr_kind_name(k), json_integer((json_int_t)p->counts[k]));
    json_object_set_new(o, "event_counts", counts);
    json_t *tasks = json_array();
    for (size_t i = 0; tasks && i < p->n_tasks; i++)
        if (p->tasks[i]->events && p->tasks[i]->matches)
            json_array_append_new(tasks, task_json(m, p->tasks[i]));
    json_object_set_new(o, "tasks", tasks);
    qsort(s->top, s->n_top, sizeof(*s->top), cmp_poll_desc);
    json_t *lp = json_array();
    for (size_t i = 0; lp && i < s->n_top; i++) {
        task_loc(s->top[i].t, buf, sizeof(buf));
        json_array_append_new(lp, json_pack("{s:I,s:I,s:s,s:s,s:I}", "duration_ns",
                                            (json_int_t)s->top[i].dur, "task_id",
                                            (json_int_t)s->top[i].t->id, "name", s->top[i].t->name,
                                            "location", buf, "at_ns",
                                            (json_int_t)(s->top[i].start - m->first_ts)));
    }
    /* the heap is sorted now: a later ts_event must not use it (ts_json is the end) */
    json_object_set_new(o, "longest_polls", lp);
    json_object_set_new(o, "wake_to_poll", dist(&s->wake));
    json_object_set_new(o, "wakers", label_counts(m, TM_LABEL_WAKER, s->wakers, NULL));
    json_object_set_new(o, "timer_lateness", dist(&s->timer_late));
    json_object_set_new(o, "blocking", json_pack("{s:I,s:I,s:o,s:o}", "jobs", (json_int_t)s->jobs,
                                                 "max_threads", (json_int_t)s->max_threads,
                                                 "queue_wait", dist(&s->queue), "run", dist(&s->run)));
    json_object_set_new(o, "driver", json_pack("{s:s?,s:s?,s:I,s:I,s:f}", "backend", p->driver,
                                               "reason", p->driver_reason, "parks", (json_int_t)s->parks,
                                               "park_ns", (json_int_t)s->park_ns, "events_per_park",
                                               s->parks ? (double)s->park_events / (double)s->parks : 0.0));
    json_t *io = json_object();
    for (int i = 0; io && s->has_io && i < TM_MAX_LABEL; i++) {
        struct io_op *op = &s->io[i];
        if (!op->submits && !op->completions)
            continue;
        json_object_set_new(io, tm_label(m, TM_LABEL_IO_OP, i, buf, sizeof(buf)),
                            json_pack("{s:I,s:I,s:I,s:I,s:o}", "submits", (json_int_t)op->submits,
                                      "completions", (json_int_t)op->completions,
                                      "errors", (json_int_t)op->errors, "bytes", (json_int_t)op->bytes,
                                      "latency", dist(&op->lat)));
    }
    json_object_set_new(o, "io", io);
    json_object_set(o, "stalls", s->stalls ? s->stalls : json_array());
    if (!s->stalls)
        json_decref(json_object_get(o, "stalls"));
    json_object_set_new(o, "stalls_total", json_integer((json_int_t)s->stalls_total));
    json_t *problems = json_array();
    if (problems && s->end_without_begin) {
        snprintf(buf, sizeof(buf), "%" PRIu64 " poll_end without its poll_begin (ignored; "
                 "expected at the start of a window or a recording, or after lost events)",
                 s->end_without_begin);
        json_array_append_new(problems, json_string(buf));
    }
    json_object_set_new(o, "problems", problems);
    return o;
}

const char *ts_lost_uncertain(void)
{
    return "in those time ranges, counts (events, polls, wakes, jobs), busy time and "
           "wake->poll latencies are lower bounds, a poll whose begin or end was lost is "
           "missing from the longest polls (its end is ignored), and a task spawned there "
           "may stay unnamed";
}

json_t *ts_lost_json(const struct tm_model *m)
{
    json_t *streams = json_array();
    for (size_t i = 0; streams && i < m->n_lost; i++) {
        const struct tm_lost_stream *l = &m->lost[i];
        json_array_append_new(streams, json_pack("{s:s,s:I,s:I,s:I,s:I,s:I}", "stream", l->stream,
                                                 "events", (json_int_t)l->events, "unknown_batches",
                                                 (json_int_t)l->batches_unknown, "packets",
                                                 (json_int_t)l->packets, "from_ns",
                                                 (json_int_t)(l->begin_ns >= 0 && m->first_ts >= 0
                                                                  ? l->begin_ns - m->first_ts : -1),
                                                 "to_ns",
                                                 (json_int_t)(l->end_ns >= 0 && m->first_ts >= 0
                                                                  ? l->end_ns - m->first_ts : -1)));
    }
    return json_pack("{s:I,s:I,s:I,s:o,s:s}", "events", (json_int_t)m->lost_events,
                     "unknown_batches", (json_int_t)m->lost_unknown, "packets",
                     (json_int_t)m->lost_packets, "streams", streams, "uncertain",
                     m->n_lost ? ts_lost_uncertain() : "");
}

json_t *ts_json(struct tm_model *m, const char *source, json_t *warnings)
{
    tm_sort_procs(m);
    json_t *procs = json_array();
    for (size_t i = 0; procs && i < m->n_procs; i++) {
        if (!m->procs[i]->events)
            continue;
        json_t *pj = proc_json(m, m->procs[i]);
        if (!pj || json_array_append_new(procs, pj)) {
            json_decref(procs);
            return NULL;
        }
    }
    json_t *o = json_pack("{s:s,s:I,s:I,s:I,s:o,s:O,s:o}", "source", source, "events",
                          (json_int_t)m->events, "start_ns", (json_int_t)m->first_ts,
                          "duration_ns", (json_int_t)(m->pass_first >= 0 ? m->pass_last - m->pass_first : 0),
                          "lost", ts_lost_json(m), "warnings", warnings, "processes", procs);
    return o;
}

/* ---- text --------------------------------------------------------------------------------- */

static int64_t geti(json_t *o, const char *k)
{
    return (int64_t)json_integer_value(json_object_get(o, k));
}

static const char *d(json_t *dist_obj, const char *k, char *buf)
{
    json_t *v = json_object_get(dist_obj, k);
    return v ? tm_fmt_ns(json_integer_value(v), buf, 32) : "-";
}

static void print_counts(FILE *out, json_t *o)
{
    const char *k;
    json_t *v;
    int n = 0;
    json_object_foreach(o, k, v) fprintf(out, "%s%s %" JSON_INTEGER_FORMAT, n++ ? ", " : "", k,
                                        json_integer_value(v));
    if (!n)
        fprintf(out, "none");
}

static void print_proc(FILE *out, json_t *p)
{
    char a[32], b[32], c[32], e[32], f[32], g[32];
    json_t *procname = json_object_get(p, "procname");
    json_t *drv = json_object_get(p, "driver");
    fprintf(out, "\n=== process %" PRId64 " (%s): %" PRId64 " events, %zu task(s)",
            geti(p, "pid"), json_is_string(procname) ? json_string_value(procname) : "?",
            geti(p, "events"), json_array_size(json_object_get(p, "tasks")));
    json_t *backend = json_object_get(drv, "backend");
    if (json_is_string(backend))
        fprintf(out, ", I/O backend %s (%s)", json_string_value(backend),
                json_string_value(json_object_get(drv, "reason")));
    fprintf(out, "\n\n%-8s %-20s %8s %10s %10s %10s %10s %10s %10s  %s\n", "TASK", "NAME", "POLLS",
            "BUSY", "MEAN", "MAX", "WAKE p50", "WAKE p99", "WAKE max", "SPAWNED AT");
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(p, "tasks"), i, t) {
        json_t *wl = json_object_get(t, "wake_to_poll"), *loc = json_object_get(t, "spawned_at");
        fprintf(out, "%-8" PRId64 " %-20.20s %8" PRId64 " %10s %10s %10s %10s %10s %10s  %s:%" PRId64 "%s\n",
                geti(t, "id"), json_string_value(json_object_get(t, "name")), geti(t, "polls"),
                tm_fmt_ns(geti(t, "busy_ns"), a, 32), tm_fmt_ns(geti(t, "mean_poll_ns"), b, 32),
                tm_fmt_ns(geti(t, "max_poll_ns"), c, 32), d(wl, "p50_ns", e), d(wl, "p99_ns", f),
                d(wl, "max_ns", g), json_string_value(json_object_get(loc, "file")),
                geti(loc, "line"), json_is_true(json_object_get(t, "from_statedump")) ? " (statedump)" : "");
    }
    fprintf(out, "\nlongest polls:\n");
    json_array_foreach(json_object_get(p, "longest_polls"), i, t)
        fprintf(out, "  %10s  task %" PRId64 " %s at +%s, spawned at %s\n",
                tm_fmt_ns(geti(t, "duration_ns"), a, 32), geti(t, "task_id"),
                json_string_value(json_object_get(t, "name")), tm_fmt_ns(geti(t, "at_ns"), b, 32),
                json_string_value(json_object_get(t, "location")));
    json_t *wl = json_object_get(p, "wake_to_poll");
    fprintf(out, "\nwake -> poll latency (all tasks): n=%" PRId64 " p50 %s p99 %s max %s\n",
            geti(wl, "count"), d(wl, "p50_ns", a), d(wl, "p99_ns", b), d(wl, "max_ns", c));
    fprintf(out, "wakes by kind: ");
    print_counts(out, json_object_get(p, "wakers"));
    json_t *tl = json_object_get(p, "timer_lateness");
    fprintf(out, "\ntimer lateness: n=%" PRId64 " p50 %s p99 %s max %s\n", geti(tl, "count"),
            d(tl, "p50_ns", a), d(tl, "p99_ns", b), d(tl, "max_ns", c));
    json_t *bl = json_object_get(p, "blocking");
    json_t *q = json_object_get(bl, "queue_wait"), *r = json_object_get(bl, "run");
    fprintf(out, "blocking pool: %" PRId64 " job(s), up to %" PRId64 " thread(s); queue wait p50 %s "
            "p99 %s max %s; run p50 %s max %s\n", geti(bl, "jobs"), geti(bl, "max_threads"),
            d(q, "p50_ns", a), d(q, "p99_ns", b), d(q, "max_ns", c), d(r, "p50_ns", e), d(r, "max_ns", f));
    fprintf(out, "driver: %" PRId64 " park(s), parked %s, %.2f events per park\n", geti(drv, "parks"),
            tm_fmt_ns(geti(drv, "park_ns"), a, 32),
            json_real_value(json_object_get(drv, "events_per_park")));
    const char *op;
    json_t *ov;
    json_object_foreach(json_object_get(p, "io"), op, ov) {
        json_t *lat = json_object_get(ov, "latency");
        fprintf(out, "io %-10s %" PRId64 " submitted, %" PRId64 " completed, %" PRId64 " errors, "
                "latency p50 %s p99 %s max %s\n", op, geti(ov, "submits"), geti(ov, "completions"),
                geti(ov, "errors"), d(lat, "p50_ns", a), d(lat, "p99_ns", b), d(lat, "max_ns", c));
    }
    if (json_array_size(json_object_get(p, "stalls"))) {
        fprintf(out, "\nstalls (%" PRId64 "):\n", geti(p, "stalls_total"));
        json_array_foreach(json_object_get(p, "stalls"), i, t) {
            fprintf(out, "  %s in task %" PRId64 " %s (spawned at %s)\n",
                    tm_fmt_ns(geti(t, "duration_ns"), a, 32), geti(t, "task_id"),
                    json_string_value(json_object_get(t, "name")),
                    json_string_value(json_object_get(t, "location")));
            size_t j;
            json_t *ip;
            json_array_foreach(json_object_get(t, "ips"), j, ip)
                fprintf(out, "    #%-2zu %s\n", j, json_string_value(ip));
        }
    }
    if (json_array_size(json_object_get(p, "problems"))) {
        fprintf(out, "\ninconsistencies:\n");
        json_array_foreach(json_object_get(p, "problems"), i, t)
            fprintf(out, "  %s\n", json_string_value(t));
    }
}

void ts_print(FILE *out, struct tm_model *m, json_t *warnings)
{
    json_t *s = ts_json(m, "", warnings);
    if (!s) {
        fprintf(out, "lrt-trace: out of memory\n");
        return;
    }
    char a[32], b[32];
    json_t *procs = json_object_get(s, "processes");
    fprintf(out, "lrt trace summary: %" PRId64 " events over %s, %zu process(es):", geti(s, "events"),
            tm_fmt_ns(geti(s, "duration_ns"), a, 32), json_array_size(procs));
    size_t i;
    json_t *p;
    json_array_foreach(procs, i, p) {
        json_t *pn = json_object_get(p, "procname");
        fprintf(out, "%s %" PRId64 " (%s)", i ? "," : "", geti(p, "pid"),
                json_is_string(pn) ? json_string_value(pn) : "?");
    }
    fprintf(out, "\n");
    json_array_foreach(warnings, i, p)
        fprintf(out, "warning: %s\n", json_string_value(p));
    json_t *lost = json_object_get(s, "lost");
    if (json_array_size(json_object_get(lost, "streams"))) {
        fprintf(out, "LOST EVENTS: %" PRId64 " event(s), %" PRId64 " batch(es) of unknown size, %" PRId64
                " packet(s):\n", geti(lost, "events"), geti(lost, "unknown_batches"), geti(lost, "packets"));
        json_array_foreach(json_object_get(lost, "streams"), i, p)
            fprintf(out, "  %s: %" PRId64 " event(s), %" PRId64 " packet(s) between +%s and +%s\n",
                    json_string_value(json_object_get(p, "stream")), geti(p, "events"),
                    geti(p, "packets"), tm_fmt_ns(geti(p, "from_ns"), a, 32),
                    tm_fmt_ns(geti(p, "to_ns"), b, 32));
        fprintf(out, "  uncertain: %s\n", ts_lost_uncertain());
    }
    json_array_foreach(procs, i, p)
        print_proc(out, p);
    json_decref(s);
}
