/*
 * waitq.h — the one waiting protocol: how a task waits on an object (fd registration,
 * channel, oneshot, notify, mutex, semaphore) and how whoever satisfies the wait wakes
 * it.  Layer: core (calls only lrt__suspend/lrt__wake); runtime thread only, no atomics.
 *
 * Representation: a waiter on the waiting task's stack, not a link in the task record.
 *  - A sync wait carries data both ways: a channel sender offers its message, a receiver
 *    is handed one, a semaphore waiter says how many permits it wants.  On the stack these
 *    cost nothing for the tasks that never wait on them; in the task record every task
 *    would pay for every kind.  (An fd waiter's interest stays in t->wait_aux2, where
 *    dumps read it.)
 *  - A task waits on at most one queue at a time, and the waiter lives exactly as long as
 *    the wait (the frame of the waiting call, which stays valid while the task is
 *    suspended), so there is no lifetime to manage.
 *  - The link is the queue's alone: no other subsystem can reuse it (the task record's
 *    old wait-queue link was also the blocking pool's job queue link; it is gone, and the
 *    record with it shrank to 208 bytes).
 *
 * Join is the same protocol with a one-waiter queue: the joined record's `joiner` slot.
 * The finishing record clears the slot, then wakes the joiner (rule 2); a joiner woken by
 * cancellation or its deadline clears the slot itself if it still holds it (rule 3).  A
 * second joiner is refused (-EINVAL), so the slot never needs a list (and the join
 * header, embedded in every task record, stays one pointer smaller).
 *
 * The protocol:
 *  1. The waiter links itself at the tail (FIFO) and suspends.
 *  2. A waker takes waiters from the head, **unlinks** each one it wakes, writes what it
 *     hands over into the waiter (w->msg), then wakes the task: with 0 when the wait is
 *     satisfied (something handed over; for io: readiness, the task retries its syscall),
 *     with a negative errno otherwise (-EPIPE: closed, -EBADF: fd closed).
 *  3. Cancellation (lrt_abort, shutdown) and a deadline wake the task without unlinking
 *     it: the waiter is *stale* until its task runs.  On return the waiter unlinks itself
 *     if still linked; wake_one skips (and drops) stale waiters, so a hand-over only ever
 *     goes to a task that is still suspended.
 *
 * The rule for "a resource handed to a task that was cancelled at the same time", once:
 * **the first wake wins**.  lrt__wake is a no-op on a task that is not suspended, and
 * nothing else writes a task's wake result before it runs, so a task that was handed
 * something (woken with 0) returns 0 from its wait and owns it, even if lrt_abort() or its
 * deadline came right after: the cancellation is seen at its next suspension point.
 * Hence a wait returns 0 exactly when it was handed something, and no waiter ever has to
 * give anything back (sync.c used to carry give-back paths for this; they could not be
 * reached).  lrt__waitq_leave() asserts it on its cold path (a waiter still linked after a
 * wake with 0 would mean a waker broke the protocol); the test
 * sync/a_task_handed_a_resource_then_aborted_before_it_runs_keeps_it pins the rule.
 */
#ifndef LRT_WAITQ_H
#define LRT_WAITQ_H

#include "internal.h"

#include <assert.h>

typedef struct lrt__waiter {
    lrt__link link;
    struct lrt_task *task;
    void *msg;     /* handed over by the waker (channel receive, oneshot), or offered (send) */
    uint64_t want; /* what the waiter waits for (permits); notify: written by the waker;
                      fd: the interest */
    /* A select's winner slot (select.c), read only when the task waits in lrt_select: a
     * select links one waiter per case, and the wake that takes effect records which one
     * it handed something to.  The claim itself is the task's state: once a waker woke
     * it, its other waiters are stale (lrt__waitq_first skips them), so nothing is handed
     * to a select already satisfied.  Plain waiters never set it: the test is on the
     * task's wait kind, so their wait stores nothing more. */
    struct lrt__waiter **claim;
} lrt__waiter;

/* Whether @w's task waits in lrt_select now (a suspended task's linked waiters all
 * belong to its current wait). */
static inline bool lrt__waiter_in_select(const lrt__waiter *w)
{
    return w->task->wait_kind == LRT__WAIT_SELECT && w->task->state == LRT__SUSPENDED;
}

static inline void lrt__waitq_init(lrt__link *q) { lrt__list_init(q); }
static inline bool lrt__waitq_empty(const lrt__link *q) { return lrt__list_empty(q); }

static inline lrt__waiter *lrt__waitq_head(const lrt__link *q)
{
    return lrt__container_of(q->next, lrt__waiter, link);
}

/* Step 1: link @w (msg and want filled in as the queue needs) for the running task @t at
 * the tail of @q and suspend; the wake result.  @w may still be linked on return: call
 * lrt__waitq_leave(). */
static inline int lrt__waitq_suspend(lrt__link *q, lrt__waiter *w, struct lrt_task *t, int kind,
                                     const void *obj, uint64_t aux, uint64_t deadline)
{
    w->task = t;
    lrt__list_push(q, &w->link);
    return lrt__suspend(kind, obj, aux, deadline);
}

/* Step 3: after the wait returned @r, unlink @w if it is still linked (cancelled or timed
 * out: no waker saw it).  Returns whether it was. */
static inline bool lrt__waitq_leave(lrt__waiter *w, int r)
{
    (void)r;
    if (LRT__LIKELY(!lrt__linked(&w->link)))
        return false;
    assert(r != 0); /* woken with 0 = handed something = unlinked by the waker */
    lrt__list_del(&w->link);
    return true;
}

/* Steps 1 and 3: wait with @w on @q; the wake result, @w unlinked on return whatever woke
 * it. */
static inline int lrt__waitq_wait(lrt__link *q, lrt__waiter *w, struct lrt_task *t, int kind,
                                  const void *obj, uint64_t aux, uint64_t deadline)
{
    int r = lrt__waitq_suspend(q, w, t, kind, obj, aux, deadline);
    lrt__waitq_leave(w, r);
    return r;
}

/* The first waiter whose task still waits, left linked; stale waiters on the way are
 * dropped.  NULL when there is none. */
static inline lrt__waiter *lrt__waitq_first(lrt__link *q)
{
    while (!lrt__list_empty(q)) {
        lrt__waiter *w = lrt__waitq_head(q);
        if (LRT__LIKELY(w->task->state == LRT__SUSPENDED))
            return w;
        lrt__list_del(&w->link);
    }
    return NULL;
}

/* Step 2 for one waiter found by lrt__waitq_first: unlink it, hand it @msg, wake it with
 * @result (0 = handed over). */
static inline void lrt__waitq_hand(lrt__waiter *w, void *msg, int result, int waker_kind)
{
    lrt__list_del(&w->link);
    w->msg = msg;
    if (LRT__UNLIKELY(w->task->wait_kind == LRT__WAIT_SELECT)) /* live: suspended */
        *w->claim = w;
    lrt__wake(w->task, result, waker_kind);
}

/* Wake the first live waiter of @q with @msg and @result; false if none waits. */
static inline bool lrt__waitq_wake_one(lrt__link *q, void *msg, int result, int waker_kind)
{
    lrt__waiter *w = lrt__waitq_first(q);
    if (!w)
        return false;
    lrt__waitq_hand(w, msg, result, waker_kind);
    return true;
}

/* Wake every waiter of @q with @result (stale ones are only unlinked: waking them is a
 * no-op).  Only the tasks waiting now: waking never switches, so none re-queues meanwhile. */
static inline void lrt__waitq_wake_all(lrt__link *q, int result, int waker_kind)
{
    while (!lrt__list_empty(q)) {
        lrt__waiter *w = lrt__waitq_head(q);
        lrt__list_del(&w->link);
        if (LRT__UNLIKELY(lrt__waiter_in_select(w)))
            *w->claim = w;
        lrt__wake(w->task, result, waker_kind);
    }
}

#endif
