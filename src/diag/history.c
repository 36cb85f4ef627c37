/*
 * history.c - a task's recent history (the ring of src/history.h) in words and as the
 * snapshot's "history" array: "spawned by task 1", "polled for 4.0 ms", "suspended on
 * chan_recv", "woken by task 5 (chan_recv) after 2.1 s".  Shared by the snapshot (and so
 * lrt-dump -e), the stall report and the deadlock report, so they word events alike.
 *
 * A ring entry for a poll's end is shown as two events: "polled" (its duration) and what
 * ended it ("suspended" with the wait kind, "yielded" or "finished").  Times come from
 * the switch clock (CLOCK_MONOTONIC_COARSE as the ticker stores it), so a duration
 * shorter than its tick (1-4 ms) reads 0: "polled briefly".
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
    if (!lrt__hist_valid(t)) {
        /* never ran (or its stack is gone): all it did was being spawned */
        out->ev[0] = (struct lrt__hev){.at = t->state_since, .kind = LRT__HEV_SPAWNED, .arg = (uint32_t)t->parent_id};
        out->n = (t->flags & LRT__TF_STARTED) ? 0 : 1;
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

/* One event as shown: an entry of the ring, or the second half of a poll's end. */
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

/* Entry @i of @h as one or two shown events (into @out[0..1]); returns how many.
 * @cur_wait: the task's current wait in words when it is suspended, used for the last
 * "suspended" (the object may be gone for earlier ones: they say the kind only). */
static int show(const struct lrt__hist_copy *h, int i, const char *cur_wait, struct shown out[2])
{
    const struct lrt__hev *e = &h->ev[i];
    char d[32];
    memset(out, 0, 2 * sizeof *out);
    out[0].at = out[1].at = e->at;
    out[0].wait = out[1].wait = out[0].waker = out[1].waker = -1;
    switch (e->kind) {
    case LRT__HEV_SPAWNED:
        out[0].event = "spawned";
        out[0].by_task = e->arg;
        if (e->arg)
            snprintf(out[0].text, sizeof out[0].text, "spawned by task %" PRIu32, e->arg);
        else
            snprintf(out[0].text, sizeof out[0].text, "spawned");
        return 1;
    case LRT__HEV_POLLED:
        out[0].event = "polled";
        out[0].has_duration = true;
        out[0].duration_ns = (uint64_t)e->arg * 1000;
        if (e->arg) {
            lrt__fmt_human_ns(out[0].duration_ns, d, sizeof d);
            snprintf(out[0].text, sizeof out[0].text, "polled for %s", d);
        } else {
            snprintf(out[0].text, sizeof out[0].text, "polled briefly");
        }
        if (e->sub == LRT__WAIT_NONE) {
            out[1].event = "finished";
            snprintf(out[1].text, sizeof out[1].text, "finished");
        } else if (e->sub == LRT__WAIT_YIELD) {
            out[1].event = "yielded";
            snprintf(out[1].text, sizeof out[1].text, "yielded");
        } else {
            out[1].event = "suspended";
            out[1].wait = e->sub;
            snprintf(out[1].text, sizeof out[1].text, "suspended on %s",
                     cur_wait && i == h->n - 1 ? cur_wait : wait_name(e->sub));
        }
        return 2;
    case LRT__HEV_WOKEN: {
        out[0].event = "woken";
        out[0].waker = e->sub;
        out[0].wait = e->sub2;
        char by[48];
        switch (e->sub) {
        case LRT__WAKER_TASK:
            out[0].by_task = e->arg;
            snprintf(by, sizeof by, "task %" PRIu32, e->arg);
            break;
        case LRT__WAKER_CANCEL:
            out[0].by_task = e->arg;
            if (e->arg)
                snprintf(by, sizeof by, "an abort (from task %" PRIu32 ")", e->arg);
            else
                snprintf(by, sizeof by, "an abort");
            break;
        case LRT__WAKER_TIMER: snprintf(by, sizeof by, "its timer"); break;
        case LRT__WAKER_IO: snprintf(by, sizeof by, "fd readiness"); break;
        case LRT__WAKER_REMOTE: snprintf(by, sizeof by, "another thread"); break;
        case LRT__WAKER_BLOCKING: snprintf(by, sizeof by, "its blocking job"); break;
        case LRT__WAKER_SIGNAL: snprintf(by, sizeof by, "a signal"); break;
        case LRT__WAKER_PROCESS: snprintf(by, sizeof by, "a child process"); break;
        default: snprintf(by, sizeof by, "%s", e->sub < LRT__WAKER__COUNT ? lrt__waker_names[e->sub] : "?"); break;
        }
        /* how long it waited: since the poll that suspended it ended */
        if (i > 0 && h->ev[i - 1].kind == LRT__HEV_POLLED && e->at >= h->ev[i - 1].at) {
            out[0].has_duration = true;
            out[0].duration_ns = e->at - h->ev[i - 1].at;
            lrt__fmt_human_ns(out[0].duration_ns, d, sizeof d);
            snprintf(out[0].text, sizeof out[0].text, "woken by %s (%s) after %s", by, wait_name(e->sub2), d);
        } else {
            snprintf(out[0].text, sizeof out[0].text, "woken by %s (%s)", by, wait_name(e->sub2));
        }
        return 1;
    }
    default:
        return 0;
    }
}

void lrt__hist_json(lrt__jw *w, const struct lrt__hist_copy *h, uint64_t start_ns, const char *cur_wait)
{
    struct shown s[2];
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
    struct shown s[2];
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
