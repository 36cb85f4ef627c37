/*
 * sync.h — what chan.c and sync.c share: the entry checks of the synchronisation calls.
 * Layer: beside io (calls core and waitq.h only); runtime thread only.
 */
#ifndef LRT_SYNC_H
#define LRT_SYNC_H

#include "waitq.h"

#include <stdlib.h>

/* Slow half of lrt__sync_ctx (sync.c). */
int lrt__sync_ctx_slow(struct lrt_task **out, int kind, const void *obj);

/* The running task, or the error a suspension point must return: -EPERM off the runtime
 * thread or outside a task; a cancelled task goes through the scheduler once (like every
 * suspension point, so a loop that ignores -ECANCELED cannot monopolise the thread) and
 * gets -ECANCELED, even when the call would not have had to wait; so does a task past
 * its scope deadline, with -ETIMEDOUT.  The common case is
 * inline. */
static inline int lrt__sync_ctx(struct lrt_task **out, int kind, const void *obj)
{
    struct lrt_task *t = lrt__current();
    if (LRT__LIKELY(t != NULL && !(t->flags & LRT__TF_INTERRUPT))) {
        *out = t;
        return 0;
    }
    return lrt__sync_ctx_slow(out, kind, obj);
}

/* Non-suspending calls that may wake tasks: the runtime thread, a runtime current. */
static inline int lrt__sync_thread_check(void)
{
    int err = 0;
    if (LRT__UNLIKELY(lrt__rt_check(NULL, &err) == NULL))
        return -EPERM;
    return 0;
}

/* new/free touch no runtime state: allowed on any thread with no runtime current (before
 * lrt_block_on, after it returned), refused only on a thread whose runtime is not current
 * (which lrt_enter prevents) */
static inline int lrt__sync_alloc_check(void)
{
    return lrt__tls_rt == NULL ? 0 : lrt__sync_thread_check();
}

/* select.c's hooks (chan.c, sync.c): _poll completes the case now if it can (0 or a
 * negative errno: the case's result) or answers 1 (wait); _queue is where its waiter
 * links; _won settles the hand-over after the select's waiter won (woken with 0). */
int lrt__chan_sel_poll(lrt_chan_t *c, bool send, void **msg);
lrt__link *lrt__chan_sel_queue(lrt_chan_t *c, bool send);
void lrt__chan_sel_won(lrt_chan_t *c, bool send);
int lrt__oneshot_sel_poll(lrt_oneshot_t *o, void **value);
lrt__link *lrt__oneshot_sel_queue(lrt_oneshot_t *o);
void lrt__oneshot_sel_won(lrt_oneshot_t *o);
int lrt__notify_sel_poll(lrt_notify_t *n);
lrt__link *lrt__notify_sel_queue(lrt_notify_t *n, lrt__waiter *w);
void lrt__notify_sel_won(lrt_notify_t *n, const lrt__waiter *w);

/* new() of the sync objects outside sync.c (watch, rwlock, barrier, interval): zeroed,
 * NULL with errno (EPERM, ENOMEM). */
static inline void *lrt__sync_obj_new(size_t size)
{
    int err = lrt__sync_alloc_check();
    if (err) {
        errno = -err;
        return NULL;
    }
    void *o = calloc(1, size);
    if (!o)
        errno = ENOMEM;
    return o;
}

/* A wait's deadline from a timeout in ms (< 0: none); 0 with @now_expired set when the
 * timeout is 0 (don't suspend at all). */
static inline uint64_t lrt__sync_deadline(struct lrt_task *t, int64_t timeout_ms, bool *now_expired)
{
    *now_expired = timeout_ms == 0;
    return lrt__wait_deadline(t, timeout_ms);
}

/* What the dump reads of objects whose layout is private to their file (diag/waitgraph.c):
 * between polls or with the runtime thread frozen, so plain loads, no locks. */
struct lrt__chan_info {
    size_t len, cap;           /* cap SIZE_MAX: unbounded */
    bool closed;
    uint64_t last_sender, last_receiver; /* task ids, 0: none yet */
};
void lrt__chan_info(const lrt_chan_t *c, struct lrt__chan_info *out);   /* chan.c */
const struct lrt_task *lrt__mutex_owner(const lrt_mutex_t *m);          /* sync.c */
/* rwlock.c: the writer (NULL if none); @readers/@n: the read holders */
const struct lrt_task *lrt__rwlock_holders(const lrt_rwlock_t *l, struct lrt_task *const **readers, size_t *n);

#endif
