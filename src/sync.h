/*
 * sync.h — what chan.c and sync.c share: the entry checks of the synchronisation calls.
 * Layer: beside io (calls core and waitq.h only); runtime thread only.
 */
#ifndef LRT_SYNC_H
#define LRT_SYNC_H

#include "waitq.h"

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

#endif
