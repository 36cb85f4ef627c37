/*
 * rwlock.c — lrt_rwlock_t: many readers or one writer, owned by tasks.  Layer: beside io
 * (calls core and waitq.h only); runtime thread only, no atomics.
 *
 * One FIFO queue of readers and writers.  A task that finds anyone queued queues too, so
 * a waiting writer blocks new readers (writers are not starved) and a waiting reader is
 * not overtaken by later writers.  Releasing hands the lock over (waitq.h): to the head
 * writer alone, or to the run of readers at the head up to the first writer.
 *
 * The readers are remembered (an array of task pointers) so that an unlock by a task
 * that holds nothing is refused with -EPERM, and a holder locking again gets -EDEADLK
 * (a recursive read lock behind a waiting writer would deadlock).  The array never has
 * to grow inside a hand-over: cap >= readers + waiting readers is kept by whoever
 * starts holding or waiting, so only lrt_rwlock_rdlock can fail with -ENOMEM.
 */
#include "sync.h"

enum { RW_READ = 1, RW_WRITE = 2 }; /* in the waiter's want */

struct lrt_rwlock {
    struct lrt__sync_head name_; /* first (internal.h) */
    struct lrt_task *writer;
    struct lrt_task **readers;
    size_t nreaders, rd_waiting, cap;
    unsigned handed;
    lrt__link q;
};

lrt_rwlock_t *(lrt_rwlock_new)(void)
{
    lrt_rwlock_t *l = lrt__sync_obj_new(sizeof *l);
    if (l)
        lrt__waitq_init(&l->q);
    return l;
}

const struct lrt_task *lrt__rwlock_holders(const lrt_rwlock_t *l, struct lrt_task *const **readers, size_t *n)
{
    *readers = l->readers;
    *n = l->nreaders;
    return l->writer;
}

static ssize_t reader_index(const lrt_rwlock_t *l, const struct lrt_task *t)
{
    for (size_t i = 0; i < l->nreaders; i++)
        if (l->readers[i] == t)
            return (ssize_t)i;
    return -1;
}

/* room for one more reader or waiting reader */
static int reserve(lrt_rwlock_t *l)
{
    size_t need = l->nreaders + l->rd_waiting + 1;
    if (need <= l->cap)
        return 0;
    size_t cap = l->cap ? l->cap * 2 : 4;
    struct lrt_task **r = realloc(l->readers, cap * sizeof *r);
    if (!r)
        return -ENOMEM;
    l->readers = r;
    l->cap = cap;
    return 0;
}

/* Hand the lock to the head of the queue while it can be granted. */
static void dispatch(lrt_rwlock_t *l)
{
    lrt__waiter *w;
    while ((w = lrt__waitq_first(&l->q)) != NULL && l->writer == NULL) {
        if (w->want == RW_WRITE) {
            if (l->nreaders)
                return;
            l->writer = w->task;
            l->handed++;
            lrt__waitq_hand(w, NULL, 0, LRT__WAKER_TASK);
            return;
        }
        l->readers[l->nreaders++] = w->task;
        l->rd_waiting--;
        l->handed++;
        lrt__waitq_hand(w, NULL, 0, LRT__WAKER_TASK);
    }
}

static int lock(lrt_rwlock_t *l, int mode, int64_t timeout_ms)
{
    struct lrt_task *t;
    int kind = LRT__WAIT_RWLOCK;
    int err = lrt__sync_ctx(&t, kind, l);
    if (err)
        return err;
    if (l == NULL)
        return -EINVAL;
    if (l->writer == t || reader_index(l, t) >= 0)
        return -EDEADLK;
    bool queued = lrt__waitq_first(&l->q) != NULL;
    if (mode == RW_READ) {
        if ((err = reserve(l)) != 0)
            return err;
        if (l->writer == NULL && !queued) {
            l->readers[l->nreaders++] = t;
            return 0;
        }
    } else if (l->writer == NULL && l->nreaders == 0 && !queued) {
        l->writer = t;
        return 0;
    }
    bool expired;
    uint64_t deadline = lrt__sync_deadline(t, timeout_ms, &expired);
    if (expired)
        return -ETIMEDOUT;
    if (mode == RW_READ)
        l->rd_waiting++;
    lrt__waiter w = {.want = (uint64_t)mode};
    uint64_t aux = l->writer ? l->writer->id : 0; /* the dump: the writer, or 0 for readers */
    int r = lrt__waitq_suspend(&l->q, &w, t, kind, l, aux, deadline);
    if (r == 0) { /* granted (rd_waiting was moved to nreaders by the waker) */
        l->handed--;
        return 0;
    }
    /* Not granted.  Still linked: we may have been the writer at the head holding
     * readers back; let them in.  (Dropped as stale: the waker went on serving.) */
    if (mode == RW_READ)
        l->rd_waiting--;
    if (lrt__waitq_leave(&w, r))
        dispatch(l);
    return r;
}

int lrt_rwlock_rdlock(lrt_rwlock_t *l) { return lock(l, RW_READ, -1); }
int lrt_rwlock_wrlock(lrt_rwlock_t *l) { return lock(l, RW_WRITE, -1); }
int lrt_rwlock_rdlock_timeout(lrt_rwlock_t *l, int64_t timeout_ms) { return lock(l, RW_READ, timeout_ms); }
int lrt_rwlock_wrlock_timeout(lrt_rwlock_t *l, int64_t timeout_ms) { return lock(l, RW_WRITE, timeout_ms); }

int lrt_rwlock_unlock(lrt_rwlock_t *l)
{
    struct lrt_task *t = lrt__current();
    if (l == NULL)
        return -EINVAL;
    if (t == NULL)
        return -EPERM;
    if (l->writer == t) {
        l->writer = NULL;
    } else {
        ssize_t i = reader_index(l, t);
        if (i < 0)
            return -EPERM;
        l->readers[i] = l->readers[--l->nreaders];
    }
    dispatch(l);
    return 0;
}

int lrt_rwlock_free(lrt_rwlock_t *l)
{
    int err = lrt__sync_alloc_check();
    if (err)
        return err;
    if (l == NULL)
        return 0;
    if (!lrt__waitq_empty(&l->q) || l->handed || l->writer || l->nreaders)
        return -EBUSY;
    free(l->readers);
    free(l);
    return 0;
}
