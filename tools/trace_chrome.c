/*
 * trace_chrome.c - Chrome/Perfetto trace-event JSON, streamed: every event is written
 * as soon as it is complete (a poll slice at its poll_end), so memory holds per-task
 * and per-thread state only, never the output.  pid = vpid; one track per task (tid
 * 100000000 + its order in the process: far above any real tid, pid_max <= 2^22),
 * named "task ID NAME"; runtime and blocking-pool threads keep their vtid.
 *
 * The hot events (poll slices, flows) are formatted with snprintf from numbers and a
 * task name escaped once by jansson: building a jansson object per event would cost
 * more than the decoding.  Everything with free text goes through jansson.
 */
#include "trace_chrome.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "trace_summary.h"

#define TASK_TRACK_BASE 100000000
#define MAX_FLOWS 4         /* pending wake arrows per task; more are dropped */
#define MAX_THREADS 256     /* named threads per process */
#define CACHE 1024          /* direct-mapped: blocking jobs, remote schedules, parks */

struct flow {
    uint64_t id;
    int64_t ts, pid, tid;
    int kind;
};

struct tc_task {
    char *jname;            /* the task name as a JSON string, quoted */
    bool emitted;           /* thread_name written */
    bool emitted_named;     /* ... with the task's real name (not "task") */
    struct flow flows[MAX_FLOWS];
    unsigned n_flows;
};

struct slot {
    int64_t vpid, key, ts, vtid;
    bool used;
};

struct tc_writer {
    FILE *f;
    gzFile gz;
    char buf[1 << 16];
    size_t n;
    int err;
    bool first;
    uint64_t flow_id;
    struct {
        int64_t vpid, vtid;
        bool runtime;
    } threads[MAX_THREADS * 8];
    size_t n_threads;
    struct slot jobs[CACHE], begins[CACHE], remotes[CACHE], parks[CACHE];
};

static void flush(struct tc_writer *w)
{
    if (!w->n || w->err)
        return;
    if (w->gz) {
        if (gzwrite(w->gz, w->buf, (unsigned)w->n) != (int)w->n)
            w->err = -EIO;
    } else if (fwrite(w->buf, 1, w->n, w->f) != w->n) {
        w->err = errno ? -errno : -EIO;
    }
    w->n = 0;
}

static void put(struct tc_writer *w, const char *s, size_t len)
{
    if (w->n + len > sizeof(w->buf))
        flush(w);
    if (len > sizeof(w->buf)) {
        while (len) {
            size_t k = len < sizeof(w->buf) ? len : sizeof(w->buf);
            memcpy(w->buf, s, k);
            w->n = k;
            flush(w);
            s += k;
            len -= k;
        }
        return;
    }
    memcpy(w->buf + w->n, s, len);
    w->n += len;
}

/* One trace event: the separator, then the formatted object. */
static void emit(struct tc_writer *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void emit(struct tc_writer *w, const char *fmt, ...)
{
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (len < 0)
        return;
    if ((size_t)len >= sizeof(line))
        len = (int)sizeof(line) - 1;   /* names are bounded by jname; never cut in practice */
    put(w, w->first ? "\n" : ",\n", w->first ? 1 : 2);
    w->first = false;
    put(w, line, (size_t)len);
}

/* A jansson-encoded JSON value, for free text (names, paths, stall backtraces). */
static void emit_json(struct tc_writer *w, json_t *o)
{
    if (!o) {
        w->err = -ENOMEM;
        return;
    }
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!s) {
        w->err = -ENOMEM;
        return;
    }
    put(w, w->first ? "\n" : ",\n", w->first ? 1 : 2);
    w->first = false;
    put(w, s, strlen(s));
    free(s);
}

struct tc_writer *tc_open(const char *path, bool gzip)
{
    struct tc_writer *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->first = true;
    if (strcmp(path, "-") == 0) {
        if (gzip) {
            /* level 1: the export is bound by its own speed; ratio measured in tracing.md */
            w->gz = gzdopen(dup(1), "wb1");
        } else {
            w->f = stdout;
        }
    } else if (gzip) {
        w->gz = gzopen(path, "wb1");
    } else {
        w->f = fopen(path, "w");
    }
    if (!w->f && !w->gz) {
        int e = errno ? errno : ENOMEM;
        free(w);
        errno = e;
        return NULL;
    }
    static const char head[] = "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[";
    put(w, head, sizeof(head) - 1);
    return w;
}

static double us(const struct tm_model *m, int64_t ts)
{
    return (double)(ts - m->first_ts) / 1000.0;
}

static struct slot *slot_of(struct slot *tab, int64_t vpid, int64_t key)
{
    uint64_t h = ((uint64_t)key * 0x9e3779b97f4a7c15ull) ^ (uint64_t)vpid;
    return &tab[(h >> 32) % CACHE];
}

static struct tc_task *tc_of(struct tc_writer *w, struct tm_task *t)
{
    struct tc_task *c = t->chrome;
    if (!c) {
        if (!(c = calloc(1, sizeof(*c)))) {
            w->err = -ENOMEM;
            return NULL;
        }
        t->chrome = c;
    }
    return c;
}

static int64_t track(const struct tm_task *t)
{
    return TASK_TRACK_BASE + (int64_t)t->serial;
}

static void name_process(struct tc_writer *w, struct tm_proc *p)
{
    if (p->chrome_named)
        return;
    p->chrome_named = true;
    char name[300];
    snprintf(name, sizeof(name), "%s (pid %" PRId64 ")", p->procname ? p->procname : "lrt", p->vpid);
    emit_json(w, json_pack("{s:s,s:s,s:I,s:i,s:{s:s}}", "ph", "M", "name", "process_name", "pid",
                           (json_int_t)p->vpid, "tid", 0, "args", "name", name));
}

/* Names the thread vtid of process vpid once: "runtime thread" when it polls tasks. */
static void name_thread(struct tc_writer *w, int64_t vpid, int64_t vtid, bool runtime)
{
    if (vtid < 0)
        return;
    for (size_t i = 0; i < w->n_threads; i++) {
        if (w->threads[i].vpid == vpid && w->threads[i].vtid == vtid) {
            if (!runtime || w->threads[i].runtime)
                return;
            w->threads[i].runtime = true;
            goto write;
        }
    }
    if (w->n_threads == sizeof(w->threads) / sizeof(w->threads[0]))
        return;
    w->threads[w->n_threads].vpid = vpid;
    w->threads[w->n_threads].vtid = vtid;
    w->threads[w->n_threads++].runtime = runtime;
write:
    emit(w, "{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":%" PRId64 ",\"tid\":%" PRId64
            ",\"args\":{\"name\":\"%s thread %" PRId64 "\"}}", vpid, vtid,
         runtime ? "runtime" : "blocking", vtid);
    if (runtime)
        emit(w, "{\"ph\":\"M\",\"name\":\"thread_sort_index\",\"pid\":%" PRId64 ",\"tid\":%" PRId64
                ",\"args\":{\"sort_index\":0}}", vpid, vtid);
}

static const char *jname(struct tc_writer *w, struct tm_task *t)
{
    struct tc_task *c = tc_of(w, t);
    if (!c)
        return "\"?\"";
    if (!c->emitted || (!c->emitted_named && t->named)) {
        json_t *s = json_string(t->name);
        free(c->jname);
        c->jname = s ? json_dumps(s, JSON_ENCODE_ANY) : NULL;
        json_decref(s);
        char label[300];
        snprintf(label, sizeof(label), "task %" PRIu64 " %s", t->id, t->name);
        emit_json(w, json_pack("{s:s,s:s,s:I,s:I,s:{s:s}}", "ph", "M", "name", "thread_name", "pid",
                               (json_int_t)t->vpid, "tid", (json_int_t)track(t), "args", "name", label));
        emit(w, "{\"ph\":\"M\",\"name\":\"thread_sort_index\",\"pid\":%" PRId64 ",\"tid\":%" PRId64
                ",\"args\":{\"sort_index\":%" PRIu64 "}}", t->vpid, track(t), 1000 + (uint64_t)t->serial);
        c->emitted = true;
        c->emitted_named = t->named;
    }
    return c->jname ? c->jname : "\"?\"";
}

static void marker(struct tc_writer *w, struct tm_model *m, const char *name, int64_t ts,
                   int64_t pid, int64_t tid)
{
    name_thread(w, pid, tid, false);
    emit(w, "{\"ph\":\"X\",\"name\":\"%s\",\"cat\":\"lrt\",\"ts\":%.3f,\"dur\":0,\"pid\":%" PRId64
            ",\"tid\":%" PRId64 "}", name, us(m, ts), pid, tid);
}

static void wake(struct tc_writer *w, struct tm_model *m, struct tm_task *t, const struct tr_event *ev)
{
    char kbuf[16];
    const char *kind = tm_label(m, TM_LABEL_WAKER, ev->v[1], kbuf, sizeof(kbuf));
    int64_t src_ts = ev->ts, src_tid = -1;
    uint64_t wid = (uint64_t)ev->v[2];
    if ((!strcmp(kind, "task") || !strcmp(kind, "spawn")) && wid) {
        struct tm_task *wt = tm_task_find(m, ev->vpid, wid);
        if (wt && wt->poll_start >= 0)
            src_tid = track(wt);
    } else if (!strcmp(kind, "blocking")) {
        struct slot *s = slot_of(w->jobs, ev->vpid, (int64_t)wid);
        if (s->used && s->vpid == ev->vpid && s->key == (int64_t)wid) {
            src_ts = s->ts;
            src_tid = s->vtid;
            s->used = false;
        }
    } else if (!strcmp(kind, "remote")) {
        struct slot *s = slot_of(w->remotes, ev->vpid, (int64_t)t->id);
        if (s->used && s->vpid == ev->vpid && s->key == (int64_t)t->id) {
            src_ts = s->ts;
            src_tid = s->vtid;
            s->used = false;
        }
    }
    if (src_tid < 0) {
        char name[96];
        snprintf(name, sizeof(name), "wake #%" PRIu64 " (%s)", t->id, kind);
        marker(w, m, name, ev->ts, ev->vpid, ev->vtid);
        src_tid = ev->vtid;
    }
    struct tc_task *c = tc_of(w, t);
    if (!c || c->n_flows == MAX_FLOWS)
        return;
    c->flows[c->n_flows++] = (struct flow){ ++w->flow_id, src_ts, ev->vpid, src_tid, (int)ev->v[1] };
}

static void poll_begin(struct tc_writer *w, struct tm_model *m, struct tm_task *t, const struct tr_event *ev)
{
    struct tc_task *c = tc_of(w, t);
    name_thread(w, ev->vpid, ev->vtid, true);
    if (!c)
        return;
    char kbuf[16];
    for (unsigned i = 0; i < c->n_flows; i++) {
        struct flow *f = &c->flows[i];
        const char *kind = tm_label(m, TM_LABEL_WAKER, f->kind, kbuf, sizeof(kbuf));
        emit(w, "{\"ph\":\"s\",\"id\":%" PRIu64 ",\"name\":\"wake:%s\",\"cat\":\"wake\",\"ts\":%.3f,"
                "\"pid\":%" PRId64 ",\"tid\":%" PRId64 "}", f->id, kind, us(m, f->ts), f->pid, f->tid);
        emit(w, "{\"ph\":\"f\",\"bp\":\"e\",\"id\":%" PRIu64 ",\"name\":\"wake:%s\",\"cat\":\"wake\","
                "\"ts\":%.3f,\"pid\":%" PRId64 ",\"tid\":%" PRId64 "}", f->id, kind, us(m, ev->ts),
             ev->vpid, track(t));
    }
    c->n_flows = 0;
}

int tc_event(struct tc_writer *w, struct tm_model *m, struct tm_proc *p, struct tm_task *t,
             const struct tr_event *ev)
{
    char kbuf[16];
    if (ev->kind == TR_BIN_INFO)
        return w->err;
    name_process(w, p);
    switch (ev->kind) {
    case TR_TASK_WAKE:
        wake(w, m, t, ev);
        break;
    case TR_TASK_POLL_BEGIN:
        poll_begin(w, m, t, ev);
        break;
    case TR_TASK_POLL_END:
        if (t->poll_start >= 0) {
            const char *name = jname(w, t);
            emit(w, "{\"ph\":\"X\",\"name\":%s,\"cat\":\"poll\",\"ts\":%.3f,\"dur\":%.3f,\"pid\":%" PRId64
                    ",\"tid\":%" PRId64 ",\"args\":{\"task_id\":%" PRIu64 ",\"poll\":%" PRIu64
                    ",\"result\":\"%s\"}}", name, us(m, t->poll_start),
                 (double)(ev->ts - t->poll_start) / 1000.0, ev->vpid, track(t), t->id, t->polls + 1,
                 tm_label(m, TM_LABEL_RESULT, ev->v[1], kbuf, sizeof(kbuf)));
        }
        break;
    case TR_TASK_TERMINATE:
        jname(w, t);
        emit(w, "{\"ph\":\"i\",\"s\":\"t\",\"name\":\"terminate\",\"cat\":\"task\",\"ts\":%.3f,\"pid\":%" PRId64
                ",\"tid\":%" PRId64 ",\"args\":{\"status\":%" PRId64 "}}", us(m, ev->ts), ev->vpid,
             track(t), ev->v[1]);
        break;
    case TR_REMOTE_SCHEDULE: {
        struct slot *s = slot_of(w->remotes, ev->vpid, ev->v[0]);
        *s = (struct slot){ ev->vpid, ev->v[0], ev->ts, ev->vtid, true };
        char name[64];
        snprintf(name, sizeof(name), "remote_schedule #%" PRId64, ev->v[0]);
        marker(w, m, name, ev->ts, ev->vpid, ev->vtid);
        break;
    }
    case TR_DRIVER_PARK_BEGIN: {
        struct slot *s = slot_of(w->parks, ev->vpid, ev->vtid);
        *s = (struct slot){ ev->vpid, ev->vtid, ev->ts, ev->vtid, true };
        break;
    }
    case TR_DRIVER_PARK_END: {
        struct slot *s = slot_of(w->parks, ev->vpid, ev->vtid);
        if (s->used && s->vpid == ev->vpid && s->key == ev->vtid) {
            name_thread(w, ev->vpid, ev->vtid, true);
            emit(w, "{\"ph\":\"X\",\"name\":\"park\",\"cat\":\"driver\",\"ts\":%.3f,\"dur\":%.3f,\"pid\":%" PRId64
                    ",\"tid\":%" PRId64 ",\"args\":{\"timeout_ns\":%" PRId64 ",\"n_events\":%" PRId64 "}}",
                 us(m, s->ts), (double)(ev->ts - s->ts) / 1000.0, ev->vpid, ev->vtid, ev->v[0], ev->v[1]);
            s->used = false;
        }
        break;
    }
    case TR_IO_READY:
        emit(w, "{\"ph\":\"i\",\"s\":\"t\",\"name\":\"io_ready fd %" PRId64 "\",\"cat\":\"io\",\"ts\":%.3f,"
                "\"pid\":%" PRId64 ",\"tid\":%" PRId64 ",\"args\":{\"fd\":%" PRId64 ",\"events\":\"0x%" PRIx64
                "\"}}", ev->v[0], us(m, ev->ts), ev->vpid, ev->vtid, ev->v[0], (uint64_t)ev->v[1]);
        break;
    case TR_BLOCKING_BEGIN: {
        struct slot *s = slot_of(w->begins, ev->vpid, ev->v[0]);
        *s = (struct slot){ ev->vpid, ev->v[0], ev->ts, ev->vtid, true };
        break;
    }
    case TR_BLOCKING_END: {
        struct slot *s = slot_of(w->begins, ev->vpid, ev->v[0]);
        int64_t begin = ev->ts - ev->v[1];
        if (s->used && s->vpid == ev->vpid && s->key == ev->v[0]) {
            begin = s->ts;
            s->used = false;
        }
        name_thread(w, ev->vpid, ev->vtid, false);
        emit(w, "{\"ph\":\"X\",\"name\":\"blocking job %" PRId64 "\",\"cat\":\"blocking\",\"ts\":%.3f,"
                "\"dur\":%.3f,\"pid\":%" PRId64 ",\"tid\":%" PRId64 ",\"args\":{\"job_id\":%" PRId64
                ",\"run_ns\":%" PRId64 "}}", ev->v[0], us(m, begin), (double)(ev->ts - begin) / 1000.0,
             ev->vpid, ev->vtid, ev->v[0], ev->v[1]);
        /* the wake by this job starts its arrow at the job's end (1 ns before, inside it) */
        struct slot *j = slot_of(w->jobs, ev->vpid, ev->v[0]);
        *j = (struct slot){ ev->vpid, ev->v[0], ev->ts > begin ? ev->ts - 1 : ev->ts, ev->vtid, true };
        break;
    }
    case TR_IO_COMPLETE:
        jname(w, t);
        emit(w, "{\"ph\":\"i\",\"s\":\"t\",\"name\":\"io %s\",\"cat\":\"io\",\"ts\":%.3f,\"pid\":%" PRId64
                ",\"tid\":%" PRId64 ",\"args\":{\"fd\":%" PRId64 ",\"result\":%" PRId64 ",\"latency_ns\":%" PRId64
                "}}", tm_label(m, TM_LABEL_IO_OP, ev->v[1], kbuf, sizeof(kbuf)), us(m, ev->ts), ev->vpid,
             track(t), ev->v[2], ev->v[3], ev->v[4]);
        break;
    case TR_DRIVER_SELECT:
        emit_json(w, json_pack("{s:s,s:s,s:s,s:s,s:f,s:I,s:I,s:{s:s?,s:s?}}", "ph", "i", "s", "p", "name",
                               "driver_select", "cat", "io", "ts", us(m, ev->ts), "pid", (json_int_t)ev->vpid,
                               "tid", (json_int_t)ev->vtid, "args", "driver", ev->s[0], "reason", ev->s[1]));
        break;
    case TR_STALL: {
        json_t *ips = json_array();
        for (unsigned i = 0; ips && i < ev->n_ips; i++) {
            char a[32];
            snprintf(a, sizeof(a), "0x%" PRIx64, ev->ips[i]);
            json_array_append_new(ips, json_string(a));
        }
        emit_json(w, json_pack("{s:s,s:s,s:s,s:s,s:f,s:I,s:I,s:{s:I,s:s,s:I,s:o*}}", "ph", "i", "s", "p",
                               "name", "stall", "cat", "stall", "ts", us(m, ev->ts), "pid", (json_int_t)ev->vpid,
                               "tid", (json_int_t)ev->vtid, "args", "task_id", (json_int_t)t->id, "name",
                               t->name, "duration_ns", (json_int_t)ev->v[1], "ips", ips));
        break;
    }
    default:
        break;
    }
    return w->err;
}

int tc_close(struct tc_writer *w, struct tm_model *m, const char *source, json_t *warnings)
{
    json_t *other = json_pack("{s:s,s:s,s:o,s:O}", "generator", "lrt-trace", "trace", source,
                              "lost", ts_lost_json(m), "warnings", warnings);
    char *s = other ? json_dumps(other, JSON_COMPACT) : NULL;
    json_decref(other);
    static const char mid[] = "\n],\"otherData\":";
    put(w, mid, sizeof(mid) - 1);
    if (s)
        put(w, s, strlen(s));
    else
        put(w, "{}", 2);
    free(s);
    put(w, "}\n", 2);
    flush(w);
    int rc = w->err;
    if (w->gz) {
        if (gzclose(w->gz) != Z_OK && !rc)
            rc = -EIO;
    } else if (w->f != stdout) {
        if (fclose(w->f) != 0 && !rc)
            rc = -errno;
    } else if (fflush(stdout) != 0 && !rc) {
        rc = -errno;
    }
    for (size_t i = 0; i < m->n_procs; i++) {
        struct tm_proc *p = m->procs[i];
        for (size_t j = 0; j < p->n_tasks; j++) {
            struct tc_task *c = p->tasks[j]->chrome;
            if (c)
                free(c->jname);
            free(c);
            p->tasks[j]->chrome = NULL;
        }
    }
    free(w);
    return rc;
}
