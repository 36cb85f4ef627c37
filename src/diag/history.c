/*
 * history.c - a task's recent history (the ring of src/history.h) in words and as the
 * snapshot's "history" array: "spawned by task 1", "polled for 4.0 ms", "suspended on
 * chan_recv", "woken by task 5 (chan_recv) after 2.1 s".  Shared by the snapshot (and so
 * lrt-dump -e), the stall report and the deadlock report, so they word events alike.
 *
 * The ring keeps one entry per poll (history.h); it is shown as up to three events: the
 * wake that led to the poll (when the entry before was a suspension: the wait it left,
 * who woke it, at the poll's start), "polled" (its duration) and what ended it
 * ("suspended" with the wait kind, "yielded" or "finished").  Times come from the switch
 * clock (CLOCK_MONOTONIC_COARSE as the ticker stores it), so a duration shorter than its
 * tick (1-4 ms) reads 0: "polled briefly"; durations are kept in ms (history.h).
 *
 * Called between polls or with the runtime thread frozen (snapshot.c's top comment), or
 * by the stall watchdog while it holds the thread: no malloc, no locks.
 *
 * Layer: reads the task record and its ring; writes with json.c.  Called by stall.c and
 * snapshot.c.
 */
#include "diag/diag.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

void lrt__hist_read(const struct lrt_task *t, struct lrt__hist_copy *out)
{
    memset(out, 0, sizeof *out);
    out->state = t->state;
    out->last_waker = t->last_waker;
    out->last_waker_id = t->last_waker_id;
    out->state_since = t->state_since;
    if (!lrt__hist_valid(t)) {
        if (t->flags & LRT__TF_STARTED)
            return; /* finished: its ring went with its stack */
        /* never ran: all it did was being spawned */
        out->ev[0] = (struct lrt__hev){.at = t->state_since, .wait = LRT__HEV_SPAWNED, .waker = LRT__WAKER_SPAWN,
                                       .waker_id = (uint32_t)t->parent_id};
        out->n = 1;
        return;
    }
    const struct lrt__hist *h = t->hist;
    unsigned pos = t->hist_pos;
    unsigned first = (pos & LRT__HIST_LEN) ? pos & (LRT__HIST_LEN - 1) : 0;
    unsigned n = (pos & LRT__HIST_LEN) ? LRT__HIST_LEN : pos & (LRT__HIST_LEN - 1);
    for (unsigned i = 0; i < n; i++)
        out->ev[i] = h->ev[(first + i) & (LRT__HIST_LEN - 1)];
    out->n = (int)n;
    out->max_poll_ns = h->max_poll_ns;
}

uint64_t lrt__hist_max_poll(const struct lrt_task *t)
{
    return lrt__hist_valid(t) ? t->hist->max_poll_ns : 0;
}

void lrt__fmt_human_ns(uint64_t ns, char *buf, size_t n)
{
    if (ns < 1000)
        snprintf(buf, n, "%" PRIu64 " ns", ns);
    else if (ns < 1000000)
        snprintf(buf, n, "%" PRIu64 " \xc2\xb5s", ns / 1000);
    else if (ns < 1000000000)
        snprintf(buf, n, "%.1f ms", (double)ns / 1e6);
    else if (ns < 60000000000ull)
        snprintf(buf, n, "%.1f s", (double)ns / 1e9);
    else if (ns < 3600000000000ull)
        snprintf(buf, n, "%" PRIu64 "m%02" PRIu64 "s", (uint64_t)(ns / 60000000000ull), (uint64_t)(ns / 1000000000ull % 60));
    else
        snprintf(buf, n, "%" PRIu64 "h%02" PRIu64 "m", (uint64_t)(ns / 3600000000000ull), (uint64_t)(ns / 60000000000ull % 60));
}

static const char *wait_name(unsigned k)
{
    return k < LRT__WAIT__COUNT ? lrt__wait_names[k] : "?";
}

/* One event as shown. */
struct shown {
    uint64_t at;
    const char *event;
    char text[160];
    uint64_t duration_ns;
    bool has_duration;
    int wait;    /* wait kind, -1: none */
    int waker;   /* waker kind, -1: none */
    uint64_t by_task;
};

static bool is_suspension(const struct lrt__hev *e)
{
    return e->wait != LRT__HEV_SPAWNED && e->wait != LRT__WAIT_NONE && e->wait != LRT__WAIT_YIELD;
}

/* "woken by task 5 (chan_recv) after 2.1 ms" at @at, after a suspension on @wait that
 * began at @since. */
static void woken(struct shown *o, uint64_t at, unsigned waker, uint64_t id, unsigned wait, uint64_t since)
{
    char by[48], d[32];
    o->at = at;
    o->event = "woken";
    o->waker = (int)waker;
    o->wait = (int)wait;
    switch (waker) {
    case LRT__WAKER_TASK:
        o->by_task = id;
        snprintf(by, sizeof by, "task %" PRIu64, id);
        break;
    case LRT__WAKER_CANCEL:
        o->by_task = id;
        if (id)
            snprintf(by, sizeof by, "an abort (from task %" PRIu64 ")", id);
        else
            snprintf(by, sizeof by, "an abort");
        break;
    case LRT__WAKER_TIMER: snprintf(by, sizeof by, "its timer"); break;
    case LRT__WAKER_IO: snprintf(by, sizeof by, "fd readiness"); break;
    case LRT__WAKER_REMOTE: snprintf(by, sizeof by, "another thread"); break;
    case LRT__WAKER_BLOCKING: snprintf(by, sizeof by, "its blocking job"); break;
    case LRT__WAKER_SIGNAL: snprintf(by, sizeof by, "a signal"); break;
    case LRT__WAKER_PROCESS: snprintf(by, sizeof by, "a child process"); break;
    default: snprintf(by, sizeof by, "%s", waker < LRT__WAKER__COUNT ? lrt__waker_names[waker] : "?"); break;
    }
    o->has_duration = true;
    o->duration_ns = at > since ? at - since : 0;
    lrt__fmt_human_ns(o->duration_ns, d, sizeof d);
    snprintf(o->text, sizeof o->text, "woken by %s (%s) after %s", by, wait_name(wait), d);
}

/* Entry @i of @h as up to four shown events (into @out); returns how many.  A poll's
 * entry: the wake that led to it (when the entry before was a suspension), the poll,
 * what ended it; after the last entry, a wake the task has had since (it is runnable or
 * running).  @cur_wait: the task's current wait in words when it is suspended, used for
 * the last "suspended" (the object may be gone for earlier ones: they say the kind). */
static int show(const struct lrt__hist_copy *h, int i, const char *cur_wait, struct shown out[4])
{
    const struct lrt__hev *e = &h->ev[i];
    const struct lrt__hev *prev = i > 0 ? &h->ev[i - 1] : NULL;
    char d[32];
    int k = 0;
    memset(out, 0, 4 * sizeof *out);
    for (int j = 0; j < 4; j++)
        out[j].wait = out[j].waker = -1;
    if (e->wait == LRT__HEV_SPAWNED) {
        out[k].at = e->at;
        out[k].event = "spawned";
        out[k].by_task = e->waker_id;
        if (e->waker_id)
            snprintf(out[k].text, sizeof out[k].text, "spawned by task %" PRIu32, e->waker_id);
        else
            snprintf(out[k].text, sizeof out[k].text, "spawned");
        k++;
    } else {
        uint64_t dur = lrt__hist_dur_ns(e->dur);
        uint64_t start = e->at > dur ? e->at - dur : 0;
        if (prev && is_suspension(prev))
            woken(&out[k++], start, e->waker, e->waker_id, prev->wait, prev->at);
        out[k].at = e->at;
        out[k].event = "polled";
        out[k].has_duration = true;
        out[k].duration_ns = dur;
        if (dur) {
            lrt__fmt_human_ns(dur, d, sizeof d);
            snprintf(out[k].text, sizeof out[k].text, "polled for %s", d);
        } else {
            snprintf(out[k].text, sizeof out[k].text, "polled briefly");
        }
        k++;
        out[k].at = e->at;
        if (e->wait == LRT__WAIT_NONE) {
            out[k].event = "finished";
            snprintf(out[k].text, sizeof out[k].text, "finished");
        } else if (e->wait == LRT__WAIT_YIELD) {
            out[k].event = "yielded";
            snprintf(out[k].text, sizeof out[k].text, "yielded");
        } else {
            out[k].event = "suspended";
            out[k].wait = e->wait;
            snprintf(out[k].text, sizeof out[k].text, "suspended on %s",
                     cur_wait && i == h->n - 1 ? cur_wait : wait_name(e->wait));
        }
        k++;
    }
    /* woken since its last entry: runnable (state_since = the wake) or running now
     * (state_since = its poll's start) */
    if (i == h->n - 1 && is_suspension(e) && (h->state == LRT__RUNNABLE || h->state == LRT__RUNNING))
        woken(&out[k++], h->state_since, h->last_waker, h->last_waker_id, e->wait, e->at);
    return k;
}

void lrt__hist_json(lrt__jw *w, const struct lrt__hist_copy *h, uint64_t start_ns, const char *cur_wait)
{
    struct shown s[4];
    lrt__jw_arr(w, "history");
    for (int i = 0; i < h->n; i++) {
        int k = show(h, i, cur_wait, s);
        for (int j = 0; j < k; j++) {
            lrt__jw_obj(w, NULL);
            lrt__jw_u64(w, "at_ns", s[j].at > start_ns ? s[j].at - start_ns : 0);
            lrt__jw_str(w, "event", s[j].event);
            if (s[j].has_duration)
                lrt__jw_u64(w, "duration_ns", s[j].duration_ns);
            if (s[j].wait >= 0)
                lrt__jw_str(w, "wait", wait_name((unsigned)s[j].wait));
            if (s[j].waker >= 0)
                lrt__jw_str(w, "waker", (unsigned)s[j].waker < LRT__WAKER__COUNT ? lrt__waker_names[s[j].waker] : "?");
            if (s[j].by_task)
                lrt__jw_u64(w, "by_task", s[j].by_task);
            lrt__jw_str(w, "text", s[j].text);
            lrt__jw_end(w, '}');
        }
    }
    lrt__jw_end(w, ']');
}

size_t lrt__hist_text(const struct lrt__hist_copy *h, uint64_t now, const char *cur_wait, const char *indent,
                      char *buf, size_t n)
{
    struct shown s[4];
    size_t len = 0;
    if (n)
        buf[0] = 0;
    for (int i = 0; i < h->n; i++) {
        int k = show(h, i, cur_wait, s);
        for (int j = 0; j < k && len < n; j++) {
            char ago[32];
            lrt__fmt_human_ns(now > s[j].at ? now - s[j].at : 0, ago, sizeof ago);
            int r = snprintf(buf + len, n - len, "%s%10s ago  %s\n", indent, ago, s[j].text);
            if (r < 0)
                return len;
            len = (size_t)r < n - len ? len + (size_t)r : n - 1;
        }
    }
    return len;
}
