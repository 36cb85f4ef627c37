/*
 * interval.c — lrt_interval_t: ticks on a fixed grid, start + k * period.  Layer: beside
 * io (calls core and timer.c's sleep); runtime thread only.
 *
 * A tick is a sleep until the next boundary (the wait shows as "sleep" in the dump: it is
 * one, with the boundary as its deadline), so there is no drift: every boundary is
 * computed from the start, never from "now".  After missed boundaries the next tick
 * returns at once with how many passed, and the one after waits for the next boundary
 * again: one late return, never a burst.
 */
#include "sync.h"

struct lrt_interval {
    uint64_t period_ns;
    uint64_t start;   /* rt time of boundary 0; 0 until known */
    uint64_t last;    /* index of the last boundary a tick returned for */
    int started;
    int ticking;      /* a task waits in tick: free is -EBUSY, a second ticker too */
};

lrt_interval_t *lrt_interval_new(uint64_t period_ms)
{
    if (period_ms == 0 || period_ms > LRT__DEADLINE_MAX / 1000000u) {
        errno = EINVAL;
        return NULL;
    }
    lrt_interval_t *iv = lrt__sync_obj_new(sizeof *iv);
    if (!iv)
        return NULL;
    iv->period_ns = period_ms * 1000000u;
    struct lrt_runtime *rt = lrt__tls_rt;
    if (rt) { /* else the first tick starts the grid */
        iv->start = lrt__rt_now(rt);
        iv->started = 1;
    }
    return iv;
}

int lrt_interval_tick(lrt_interval_t *iv)
{
    struct lrt_task *t;
    int err = lrt__sync_ctx(&t, LRT__WAIT_SLEEP, iv);
    if (err)
        return err;
    if (iv == NULL)
        return -EINVAL;
    if (iv->ticking)
        return -EBUSY;
    uint64_t now = lrt__rt_now(t->rt);
    if (!iv->started) {
        iv->start = now;
        iv->started = 1;
    }
    uint64_t k = (now - iv->start) / iv->period_ns;
    if (k <= iv->last) {
        uint64_t next = iv->start + (iv->last + 1) * iv->period_ns;
        iv->ticking = 1;
        err = lrt_sleep_until(next);
        iv->ticking = 0;
        if (err)
            return err;
        now = lrt__rt_now(t->rt);
        k = (now - iv->start) / iv->period_ns;
        if (k <= iv->last) /* the timer's grain rounds up, never down: defensive */
            k = iv->last + 1;
    }
    uint64_t n = k - iv->last;
    iv->last = k;
    return n > INT32_MAX ? INT32_MAX : (int)n;
}

int lrt_interval_free(lrt_interval_t *iv)
{
    int err = lrt__sync_alloc_check();
    if (err)
        return err;
    if (iv == NULL)
        return 0;
    if (iv->ticking)
        return -EBUSY;
    free(iv);
    return 0;
}
