/*
 * notify.c - the runtime's cross-thread inbox: the eventfd notifier that wakes a parked
 * runtime, and one set of "pending" bits every cross-thread source posts into.
 *
 * A source (handle spawns, pool completions, dump requests; a fourth one touches only its
 * own file) keeps its own work list and its own ordering, and registers a drain callback
 * here.  Posting is: put the work on the source's list, set the source's bit (one atomic
 * RMW, which also says whether the bit was already set), then lrt__notifier_wake(), which
 * writes the eventfd only while the runtime is parked.  Before it sleeps the runtime sets
 * "parked" (seq_cst) and re-checks the one pending word, so a post either sees parked=1
 * and writes, or happened early enough for the re-check to see its bit: no lost wake-up.
 * lrt__inbox_drain() swaps the word to zero and calls the drain of each bit that was set,
 * in registration order; a post racing with it sets its bit again and is drained next time.
 *
 * Layer: bottom (calls libc only).  State: struct lrt__notifier (internal.h), refcounted
 * so that a pool thread outliving the runtime can still post; `pending`, `parked` and
 * `refs` are touched by any thread, the source table only by the runtime thread.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

int lrt__notify_init(struct lrt_runtime *rt)
{
    lrt__notifier *n = aligned_alloc(_Alignof(lrt__notifier), sizeof *n);
    if (!n)
        return -ENOMEM;
    memset(n, 0, sizeof *n);
    n->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (n->efd < 0) {
        int e = -errno;
        free(n);
        return e;
    }
    atomic_init(&n->refs, 1);
    atomic_init(&n->parked, 0);
    atomic_init(&n->pending, 0);
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

bool lrt__notifier_park(lrt__notifier *n)
{
    atomic_store(&n->parked, 1);
    return atomic_load(&n->pending) != 0;
}

void lrt__notifier_unpark(lrt__notifier *n) { atomic_store(&n->parked, 0); }

void lrt__notifier_clear(lrt__notifier *n)
{
    uint64_t v;
    while (read(n->efd, &v, sizeof v) < 0 && errno == EINTR) {
    }
}

int lrt__inbox_register(struct lrt_runtime *rt, lrt__inbox_drain_fn *drain, void *ctx)
{
    lrt__notifier *n = rt->notifier;
    for (int i = 0; i < LRT__INBOX_MAX; i++) {
        if (!n->src[i].drain) {
            n->src[i].drain = drain;
            n->src[i].ctx = ctx;
            return i;
        }
    }
    return -ENOSPC;
}

void lrt__inbox_unregister(struct lrt_runtime *rt, int id)
{
    lrt__notifier *n = rt->notifier;
    if (id < 0 || !n)
        return;
    atomic_fetch_and(&n->pending, ~(1u << id));
    n->src[id].drain = NULL;
    n->src[id].ctx = NULL;
}

size_t lrt__inbox_drain(struct lrt_runtime *rt)
{
    lrt__notifier *n = rt->notifier;
    /* a plain load first: the common case (nothing posted) costs no locked instruction */
    if (!atomic_load_explicit(&n->pending, memory_order_relaxed))
        return 0;
    unsigned bits = atomic_exchange(&n->pending, 0);
    size_t done = 0;
    while (bits) {
        int i = __builtin_ctz(bits);
        bits &= bits - 1;
        if (n->src[i].drain)
            done += n->src[i].drain(rt, n->src[i].ctx);
    }
    return done;
}
