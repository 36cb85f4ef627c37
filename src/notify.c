/*
 * notify.c - the runtime's cross-thread inbox: the eventfd notifier that wakes a parked
 * runtime, and the registry of every cross-thread source.
 *
 * A source (handle spawns, pool completions, dump requests; a fourth one touches only its
 * own file) keeps its own work list under its own lock, so its own ordering, and its own
 * pending flag, which lives on its own cache line next to that lock: posting then costs
 * what it did before the inbox (one seq_cst store or exchange on a line the poster holds
 * anyway).  One word shared by all sources was measured slower: every completion moved
 * that line between the pool thread and the runtime twice more (docs/performance.md,
 * "issue 9: one inbox and the driver contract").  The source registers its flag and a
 * drain callback here.  Posting is: publish the work, set the flag (seq_cst), then
 * lrt__notifier_wake(), which writes the eventfd only while the runtime is parked.
 * Before it sleeps the runtime sets "parked" (seq_cst) and re-checks every registered
 * flag (lrt__notifier_park), so a post either sees parked=1 and writes, or happened early
 * enough for the re-check to see its flag: no lost wake-up.  lrt__inbox_drain() calls the
 * drain of each source whose flag is set, in registration order; each drain clears its
 * flag under its lock before it takes the work, so a racing post is drained next time.
 *
 * Layer: bottom (calls libc only).  State: struct lrt__notifier (internal.h), refcounted
 * so that a pool thread outliving the runtime can still post; `parked` and `refs` are
 * touched by any thread, the source table only by the runtime thread.
 */
#include "internal.h"

#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

int lrt__notify_init(struct lrt_runtime *rt)
{
    lrt__notifier *n = calloc(1, sizeof *n);
    if (!n)
        return -ENOMEM;
    n->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (n->efd < 0) {
        int e = -errno;
        free(n);
        return e;
    }
    atomic_init(&n->refs, 1);
    atomic_init(&n->parked, 0);
    rt->notifier = n;
    return 0;
}

void lrt__notify_fini(struct lrt_runtime *rt)
{
    lrt__notifier_put(rt->notifier);
    rt->notifier = NULL;
}

lrt__notifier *lrt__notifier_get(struct lrt_runtime *rt)
{
    lrt__notifier *n = rt->notifier;
    atomic_fetch_add(&n->refs, 1);
    return n;
}

void lrt__notifier_put(lrt__notifier *n)
{
    if (!n)
        return;
    if (atomic_fetch_sub(&n->refs, 1) == 1) {
        close(n->efd);
        free(n);
    }
}

void lrt__notifier_wake(lrt__notifier *n)
{
    /* pairs with the seq_cst store of parked + re-check in lrt__notifier_park */
    if (atomic_load(&n->parked)) {
        uint64_t one = 1;
        ssize_t k;
        do
            k = write(n->efd, &one, sizeof one);
        while (k < 0 && errno == EINTR);
        /* EAGAIN = counter saturated: the runtime is being woken anyway */
    }
}

/* Any flag set?  A handful of loads, each on its source's line: only at park and drain. */
bool lrt__inbox_pending(struct lrt_runtime *rt)
{
    lrt__notifier *n = rt->notifier;
    for (unsigned i = 0; i < n->nsrc; i++)
        if (n->src[i].pending && atomic_load(n->src[i].pending))
            return true;
    return false;
}

bool lrt__notifier_park(lrt__notifier *n)
{
    atomic_store(&n->parked, 1);
    for (unsigned i = 0; i < n->nsrc; i++)
        if (n->src[i].pending && atomic_load(n->src[i].pending))
            return true;
    return false;
}

void lrt__notifier_unpark(lrt__notifier *n) { atomic_store(&n->parked, 0); }

void lrt__notifier_clear(lrt__notifier *n)
{
    uint64_t v;
    while (read(n->efd, &v, sizeof v) < 0 && errno == EINTR) {
    }
}

int lrt__inbox_register(struct lrt_runtime *rt, atomic_int *pending, lrt__inbox_drain_fn *drain,
                        void *ctx)
{
    lrt__notifier *n = rt->notifier;
    unsigned i = 0;
    while (i < n->nsrc && n->src[i].drain)
        i++;
    if (i == LRT__INBOX_MAX)
        return -ENOSPC;
    n->src[i].pending = pending;
    n->src[i].drain = drain;
    n->src[i].ctx = ctx;
    if (i == n->nsrc)
        n->nsrc++;
    return (int)i;
}

void lrt__inbox_unregister(struct lrt_runtime *rt, int id)
{
    lrt__notifier *n = rt->notifier;
    if (id < 0 || !n)
        return;
    n->src[id].pending = NULL;
    n->src[id].drain = NULL;
    n->src[id].ctx = NULL;
}

size_t lrt__inbox_drain(struct lrt_runtime *rt)
{
    lrt__notifier *n = rt->notifier;
    size_t done = 0;
    for (unsigned i = 0; i < n->nsrc; i++)
        if (n->src[i].drain && atomic_load_explicit(n->src[i].pending, memory_order_relaxed))
            done += n->src[i].drain(rt, n->src[i].ctx);
    return done;
}
