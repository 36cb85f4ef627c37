/*
 * barrier.c — lrt_barrier_t: n tasks meet, then all go on; reusable.  Layer: beside io
 * (calls core and waitq.h only); runtime thread only, no atomics.
 *
 * The n-th arrival is the generation's leader (returns 1): it wakes the n-1 waiters with
 * 0 and starts the next generation at once, so a fast task may arrive for generation
 * k+1 before the waiters of generation k have run.  An aborted waiter (or one whose task
 * is shut down) that no completion reached leaves: it unlinks itself and the count drops
 * back, so the generation now waits for one more arrival and nobody is stranded on a
 * count that can no longer be reached.  One that a completion reached first had counted:
 * it returns -ECANCELED, the others go on (the first wake wins, see waitq.h).
 */
#include "sync.h"

struct lrt_barrier {
    struct lrt__sync_head name_; /* first (internal.h) */
    size_t n;
    size_t arrived;   /* in the current generation */
    uint64_t generation;
    unsigned handed;
    lrt__link q;
};

lrt_barrier_t *(lrt_barrier_new)(size_t n)
{
    if (n == 0) {
        errno = EINVAL;
        return NULL;
    }
    lrt_barrier_t *b = lrt__sync_obj_new(sizeof *b);
    if (b) {
        b->n = n;
        lrt__waitq_init(&b->q);
    }
    return b;
}

int lrt_barrier_wait(lrt_barrier_t *b)
{
    struct lrt_task *t;
    int err = lrt__sync_ctx(&t, LRT__WAIT_BARRIER, b);
    if (err)
        return err;
    if (b == NULL)
        return -EINVAL;
    if (++b->arrived == b->n) {
        /* waiters whose task was cancelled meanwhile are dropped: they counted */
        lrt__waiter *x;
        while ((x = lrt__waitq_first(&b->q)) != NULL) {
            b->handed++;
            lrt__waitq_hand(x, NULL, 0, LRT__WAKER_TASK);
        }
        b->arrived = 0;
        b->generation++;
        return 1;
    }
    lrt__waiter x;
    int r = lrt__waitq_suspend(&b->q, &x, t, LRT__WAIT_BARRIER, b, b->n - b->arrived, 0);
    if (r == 0) {
        b->handed--;
        return 0;
    }
    if (lrt__waitq_leave(&x, r))
        b->arrived--; /* no completion saw us: leave the generation */
    return r;
}

int lrt_barrier_free(lrt_barrier_t *b)
{
    int err = lrt__sync_alloc_check();
    if (err)
        return err;
    if (b == NULL)
        return 0;
    if (!lrt__waitq_empty(&b->q) || b->handed)
        return -EBUSY;
    free(b);
    return 0;
}
