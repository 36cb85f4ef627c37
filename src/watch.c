/*
 * watch.c — lrt_watch_t: the latest value and its version, many readers.  Layer: beside
 * io (calls core and waitq.h only); runtime thread only, no atomics.
 *
 * A setter does not hand a value to the waiters: it wakes all of them with 0 and each
 * reads the version and value when it runs, so a reader that missed several sets sees
 * the latest once.  `handed` counts woken readers that have not run yet (their wait still
 * refers to the object): free() answers -EBUSY meanwhile.
 */
#include "sync.h"

struct lrt_watch {
    struct lrt__sync_head name_; /* first (internal.h) */
    void *value;
    uint64_t version; /* 0 for the initial value, +1 per set */
    int closed;
    unsigned handed;
    lrt__link q;
};

lrt_watch_t *(lrt_watch_new)(void *initial)
{
    lrt_watch_t *w = lrt__sync_obj_new(sizeof *w);
    if (w) {
        w->value = initial;
        lrt__waitq_init(&w->q);
    }
    return w;
}

int lrt_watch_set(lrt_watch_t *w, void *value)
{
    int err = lrt__sync_thread_check();
    if (err)
        return err;
    if (w == NULL)
        return -EINVAL;
    if (w->closed)
        return -EPIPE;
    w->value = value;
    w->version++;
    lrt__waiter *x;
    while ((x = lrt__waitq_first(&w->q)) != NULL) {
        w->handed++;
        lrt__waitq_hand(x, NULL, 0, LRT__WAKER_TASK);
    }
    return 0;
}

void *lrt_watch_get(lrt_watch_t *w, uint64_t *version)
{
    if (w == NULL || lrt__sync_alloc_check() != 0) { /* reads only: new/free's rule */
        if (version)
            *version = 0;
        return NULL;
    }
    if (version)
        *version = w->version;
    return w->value;
}

int lrt_watch_changed(lrt_watch_t *w, uint64_t *seen, int64_t timeout_ms)
{
    struct lrt_task *t;
    int err = lrt__sync_ctx(&t, LRT__WAIT_WATCH, w);
    if (err)
        return err;
    if (w == NULL || seen == NULL)
        return -EINVAL;
    /* an unseen version is reported even after close: the last value is not lost */
    if (w->version != *seen) {
        *seen = w->version;
        return 0;
    }
    if (w->closed)
        return -EPIPE;
    bool expired;
    uint64_t deadline = lrt__sync_deadline(t, timeout_ms, &expired);
    if (expired)
        return -ETIMEDOUT;
    lrt__waiter x;
    int r = lrt__waitq_wait(&w->q, &x, t, LRT__WAIT_WATCH, w, w->version, deadline);
    if (r == 0) {
        w->handed--;
        *seen = w->version;
    }
    return r;
}

void lrt_watch_close(lrt_watch_t *w)
{
    if (w == NULL || lrt__sync_thread_check() != 0 || w->closed)
        return;
    w->closed = 1;
    lrt__waitq_wake_all(&w->q, -EPIPE, LRT__WAKER_TASK);
}

int lrt_watch_free(lrt_watch_t *w)
{
    int err = lrt__sync_alloc_check();
    if (err)
        return err;
    if (w == NULL)
        return 0;
    if (!lrt__waitq_empty(&w->q) || w->handed)
        return -EBUSY;
    free(w);
    return 0;
}
