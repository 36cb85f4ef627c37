/*
 * stall.c - the stall detector (Seastar's reactor stall detector, for lrt).
 *
 * A watchdog thread samples rt->poll_seq (incremented by the scheduler at every poll
 * begin and end, so it is odd while a task runs) every threshold/2.  When the same odd
 * value is seen for at least the threshold, the running task has not given the thread
 * back: one report per stalled poll, with the task's id, name, spawn location, duration
 * and the backtrace of where it is now (lrt__live_capture: read from /proc when the thread
 * is blocked in a system call, else taken by freezing it for a moment in a signal
 * handler).  The report goes to stderr, to the lrt:stall tracepoint and to a ring of
 * recent stalls that snapshots show.  At most REPORTS_PER_MIN reports are printed per
 * minute; the next printed one says how many were suppressed.
 *
 * The poll path pays nothing for this: poll_seq is incremented anyway, and the watchdog
 * reads it (and rt->current, rt->poll_start) without synchronisation.  A torn or stale read
 * can only delay a report by one sample.
 *
 * A report also asks the flight recorder (flight.c) for a snapshot of the trace before
 * the stall, when `lrt-trace record --flight` set one up, and names where it went.
 *
 * Layer: calls live.c, unwind.c, history.c, flight.c and json.c (the snapshot calls lrt__stall_json, never the
 * other way).  State: struct lrt__stall, written by the watchdog thread; the ring is read
 * by snapshots under its mutex.
 */
#include "diag/diag.h"
#include "trace.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RING 8
#define REPORTS_PER_MIN 5
#define REC_FRAMES 32

struct stall_rec {
    uint64_t task_id;
    char name[64], file[160], func[64];
    int line;
    uint64_t start_ns; /* lrt__mono_ns */
    uint64_t duration_ns;
    int ongoing;
    int n;
    lrt__frame frames[REC_FRAMES];
    struct lrt__hist_copy hist; /* what the task did before this poll (history.c) */
};

struct lrt__stall {
    struct lrt_runtime *rt;
    pthread_t thread;
    pthread_mutex_t mu; /* guards everything below, never held across a capture */
    pthread_cond_t cv;
    int stop;
    uint64_t threshold_ns;
    struct stall_rec ring[RING];
    unsigned head, count; /* ring[head - 1] is the newest */
    uint64_t total, suppressed, suppressed_unreported;
    uint64_t window_start;
    unsigned window_reports;
};

static void copy_str(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src ? src : "?");
}

static void print_report(struct lrt__stall *st, const struct stall_rec *r, uint64_t suppressed,
                         const char *flight)
{
    char buf[8192];
    int len = snprintf(buf, sizeof buf,
                       "lrt: stall: task %" PRIu64 " '%s' (spawned at %s:%d in %s) has been running for %" PRIu64
                       " ms without giving the thread back (threshold %" PRIu64 " ms)",
                       r->task_id, r->name, r->file, r->line, r->func, r->duration_ns / 1000000,
                       st->threshold_ns / 1000000);
    if (suppressed && len > 0 && (size_t)len < sizeof buf)
        len += snprintf(buf + len, sizeof buf - (size_t)len, "; %" PRIu64 " stall report(s) suppressed", suppressed);
    if (len > 0 && (size_t)len < sizeof buf)
        len += snprintf(buf + len, sizeof buf - (size_t)len, "%s\n", r->n ? "; it is at:" : "; no backtrace");
    /* file:line from libdw when the system has it: the runtime thread runs again by now
     * (the capture is released), so this thread may load and allocate */
    struct lrt__srclines *sl = r->n ? lrt__srclines_new() : NULL;
    for (int i = 0; i < r->n && len > 0 && (size_t)len < sizeof buf; i++) {
        const lrt__frame *f = &r->frames[i];
        char where[300];
        if (!lrt__srcline(sl, f->module, f->mod_off, i == 0, where, sizeof where))
            where[0] = 0;
        len += snprintf(buf + len, sizeof buf - (size_t)len, "    #%-2d 0x%016" PRIx64 " %s+0x%" PRIx64 " (%s+0x%" PRIx64 ")%s%s\n",
                        i, f->ip, f->sym[0] ? f->sym : "??", f->sym_off, f->module ? f->module : "?", f->mod_off,
                        where[0] ? "  " : "", where);
    }
    lrt__srclines_free(sl);
    if (r->hist.n && len > 0 && (size_t)len < sizeof buf) {
        len += snprintf(buf + len, sizeof buf - (size_t)len, "  its history before this poll, oldest first:\n");
        if ((size_t)len < sizeof buf)
            len += (int)lrt__hist_text(&r->hist, lrt__coarse_ns(), NULL, "  ", buf + len, sizeof buf - (size_t)len);
    }
    if (flight[0] && len > 0 && (size_t)len < sizeof buf)
        len += snprintf(buf + len, sizeof buf - (size_t)len, "  %s\n", flight);
    if (len > (int)sizeof buf)
        len = (int)sizeof buf;
    fwrite(buf, 1, (size_t)len, stderr);
    fflush(stderr);
}

/* The poll @seq of task @t has run for @dur_ns: capture and report it. */
static void report(struct lrt__stall *st, struct lrt_task *t, uint64_t seq, uint64_t start_ns, uint64_t now)
{
    struct lrt_runtime *rt = st->rt;
    struct stall_rec r;
    memset(&r, 0, sizeof r);
    lrt__live lv;
    int rc = lrt__live_capture(rt->tid, &lv, 200);
    /* still the same poll?  (else it ended while we looked: not worth a report) */
    if (__atomic_load_n(&rt->poll_seq, __ATOMIC_ACQUIRE) != seq ||
        __atomic_load_n(&rt->current, __ATOMIC_RELAXED) != t) {
        lrt__live_release(&lv);
        return;
    }
    r.task_id = t->id;
    copy_str(r.name, sizeof r.name, t->name);
    copy_str(r.file, sizeof r.file, t->file);
    copy_str(r.func, sizeof r.func, t->func);
    r.line = t->line;
    if (rc == 0)
        r.n = lrt__unwind_live(&lv, r.frames, REC_FRAMES);
    /* the running task's own ring is written only when its poll ends: steady meanwhile */
    lrt__hist_read(t, &r.hist);
    lrt__live_release(&lv);
    r.start_ns = start_ns;
    r.duration_ns = now - start_ns;
    r.ongoing = 1;

    if (LRT__TP_ENABLED(stall)) {
        uint64_t ips[REC_FRAMES];
        for (int i = 0; i < r.n; i++)
            ips[i] = r.frames[i].ip;
        LRT__TP_DO(stall, r.task_id, r.duration_ns, ips, (unsigned)r.n);
        (void)ips;
    }
    pthread_mutex_lock(&st->mu);
    st->ring[st->head] = r;
    st->head = (st->head + 1) % RING;
    if (st->count < RING)
        st->count++;
    st->total++;
    bool print = false;
    uint64_t suppressed = 0;
    if (now - st->window_start >= 60000000000ull) {
        st->window_start = now;
        st->window_reports = 0;
    }
    if (st->window_reports < REPORTS_PER_MIN) {
        st->window_reports++;
        print = true;
        suppressed = st->suppressed_unreported;
        st->suppressed_unreported = 0;
    } else {
        st->suppressed++;
        st->suppressed_unreported++;
    }
    /* counted once the record is in the ring, under the lock with the suppressed count: a
     * snapshot sees the three agree, and whoever sees the count grow finds the record */
    __atomic_fetch_add(&rt->m.stalls, 1, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&st->mu);
    if (print) {
        /* the flight recorder's snapshot (if asked for) before the report, so the report
         * names where it is: the stalled task emits nothing meanwhile, so the ring still
         * ends with what led to the stall */
        char flight[512];
        lrt__flight_snapshot(r.task_id, flight, sizeof flight);
        print_report(st, &r, suppressed, flight);
    }
}

/* The newest record, while its poll goes on or once it ended. */
static void update_newest(struct lrt__stall *st, uint64_t task_id, uint64_t dur, int ongoing)
{
    pthread_mutex_lock(&st->mu);
    if (st->count) {
        struct stall_rec *r = &st->ring[(st->head + RING - 1) % RING];
        if (r->task_id == task_id && r->ongoing) {
            r->duration_ns = dur;
            r->ongoing = ongoing;
        }
    }
    pthread_mutex_unlock(&st->mu);
}

static void *watchdog(void *arg)
{
    struct lrt__stall *st = arg;
    struct lrt_runtime *rt = st->rt;
    uint64_t interval = st->threshold_ns / 2;
    if (interval < 1000000)
        interval = 1000000;
    uint64_t last_seq = UINT64_MAX, reported_seq = UINT64_MAX, prev_sample = lrt__mono_ns();
    uint64_t start = 0, reported_task = 0;
    lrt__unwind_warm();
    pthread_mutex_lock(&st->mu);
    while (!st->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t until = lrt__timespec_ns(&ts) + interval;
        ts.tv_sec = (time_t)(until / 1000000000u);
        ts.tv_nsec = (long)(until % 1000000000u);
        pthread_cond_timedwait(&st->cv, &st->mu, &ts);
        if (st->stop)
            break;
        pthread_mutex_unlock(&st->mu);

        uint64_t now = lrt__mono_ns();
        uint64_t seq = __atomic_load_n(&rt->poll_seq, __ATOMIC_ACQUIRE);
        struct lrt_task *cur = __atomic_load_n(&rt->current, __ATOMIC_RELAXED);
        if ((seq & 1) && cur && seq == last_seq) {
            uint64_t dur = now - start;
            if (dur >= st->threshold_ns) {
                if (reported_seq != seq) {
                    reported_seq = seq;
                    reported_task = cur->id;
                    report(st, cur, seq, start, now);
                } else {
                    update_newest(st, reported_task, dur, 1);
                }
            }
        } else {
            if (reported_seq == last_seq && last_seq != UINT64_MAX)
                update_newest(st, reported_task, prev_sample - start, 0);
            last_seq = seq;
            /* the poll began after the previous sample; poll_start (coarse) may be later */
            uint64_t ps = __atomic_load_n(&rt->poll_start, __ATOMIC_RELAXED);
            start = ps > prev_sample && ps <= now ? ps : prev_sample;
        }
        prev_sample = now;
        pthread_mutex_lock(&st->mu);
    }
    pthread_mutex_unlock(&st->mu);
    lrt__unwind_thread_exit();
    return NULL;
}

int lrt__stall_start(struct lrt_runtime *rt)
{
    struct lrt__stall *st = calloc(1, sizeof *st);
    if (!st)
        return -ENOMEM;
    st->rt = rt;
    st->threshold_ns = (uint64_t)rt->opts.stall_threshold_ms * 1000000u;
    st->window_start = lrt__mono_ns();
    lrt__flight_init(); /* LRT_FLIGHT_SESSION, read on this thread (getenv) */
    pthread_mutex_init(&st->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&st->cv, &ca);
    pthread_condattr_destroy(&ca);
    lrt__unwind_warm(); /* on the runtime thread too: its first unwind may be in a handler */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* the watchdog takes no async signal */
    int err = pthread_create(&st->thread, NULL, watchdog, st);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err) {
        pthread_cond_destroy(&st->cv);
        pthread_mutex_destroy(&st->mu);
        free(st);
        return -err;
    }
    pthread_setname_np(st->thread, "lrt-stall");
    rt->stall = st;
    return 0;
}

void lrt__stall_stop(struct lrt_runtime *rt)
{
    struct lrt__stall *st = rt->stall;
    if (!st)
        return;
    pthread_mutex_lock(&st->mu);
    st->stop = 1;
    pthread_cond_signal(&st->cv);
    pthread_mutex_unlock(&st->mu);
    pthread_join(st->thread, NULL);
    rt->stall = NULL;
    pthread_cond_destroy(&st->cv);
    pthread_mutex_destroy(&st->mu);
    free(st);
}

void lrt__stall_json(struct lrt_runtime *rt, lrt__jw *w)
{
    struct lrt__stall *st = rt->stall;
    lrt__jw_arr(w, "stalls");
    if (st) {
        uint64_t now = lrt__mono_ns();
        pthread_mutex_lock(&st->mu);
        for (unsigned i = 0; i < st->count; i++) {
            const struct stall_rec *r = &st->ring[(st->head + RING - 1 - i) % RING];
            lrt__jw_obj(w, NULL);
            lrt__jw_u64(w, "task", r->task_id);
            lrt__jw_str(w, "name", r->name);
            lrt__jw_obj(w, "spawned_at");
            lrt__jw_str(w, "file", r->file);
            lrt__jw_i64(w, "line", r->line);
            lrt__jw_str(w, "func", r->func);
            lrt__jw_end(w, '}');
            lrt__jw_u64(w, "duration_ns", r->duration_ns);
            lrt__jw_u64(w, "age_ns", now > r->start_ns ? now - r->start_ns : 0);
            lrt__jw_bool(w, "ongoing", r->ongoing != 0);
            lrt__jw_frames(w, "backtrace", r->frames, r->n);
            lrt__jw_end(w, '}');
        }
        pthread_mutex_unlock(&st->mu);
    }
    lrt__jw_end(w, ']');
}

void lrt__stall_counts(struct lrt_runtime *rt, uint64_t *stalls, uint64_t *suppressed)
{
    struct lrt__stall *st = rt->stall;
    *suppressed = 0;
    if (st)
        pthread_mutex_lock(&st->mu);
    *stalls = __atomic_load_n(&rt->m.stalls, __ATOMIC_RELAXED);
    if (st) {
        *suppressed = st->suppressed;
        pthread_mutex_unlock(&st->mu);
    }
}
