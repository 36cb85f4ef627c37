/*
 * remote.c - the thread-safe runtime handle.
 *
 * Any thread may inject work into the runtime through an lrt_handle_t: lrt_handle_spawn()
 * pushes a malloc'd {fn, arg} node on a short mutex-protected list and posts to the
 * runtime's inbox (notify.c: our pending flag, then the eventfd, written only while the
 * runtime is parked).  The inbox drain (lrt__remote_drain) pops the whole list and spawns
 * each node as a detached task named "remote", in the order they were pushed.
 *
 * Two refcounted objects, so that a handle can outlive the runtime:
 *  - struct lrt_handle (one per runtime) counts the runtime's internal reference plus every
 *    reference given out by lrt_runtime_handle()/lrt_handle_clone(); it holds one
 *    reference on the shared state.  "Live handles" = references besides the runtime's.
 *  - struct lrt__remote (the injection queue, the shutdown flag, a notifier reference) is
 *    referenced by the runtime and by the handle object; the last one frees it.
 * After lrt__remote_shutdown() a spawn fails with -ESHUTDOWN; releasing a handle is safe
 * from any thread at any time, before or after the runtime is freed.
 *
 * Layer: calls the inbox (notify.c) and task.c's spawn.  State: struct lrt__remote, the
 * list under its mutex, the rest as commented.
 */
#include "internal.h"
#include "trace.h"

#include <stdio.h>
#include <stdlib.h>

struct node {
    struct node *next;
    lrt_fn fn;
    void *arg;
};

struct lrt__remote {
    atomic_uint refs;          /* runtime + handle object */
    atomic_int pending;        /* list not empty: our flag in the inbox (notify.c) */
    int inbox_id;
    lrt__notifier *notifier;   /* reference owned by this object */
    struct lrt_handle *handle; /* valid while the runtime holds its internal reference */
    pthread_mutex_t mu;        /* guards the fields below */
    struct node *head, *tail;
    bool shutdown;
};

struct lrt_handle {
    atomic_uint refs;          /* runtime's internal reference + user references */
    struct lrt__remote *r;
};

static void free_nodes(struct node *n)
{
    while (n) {
        struct node *next = n->next;
        free(n);
        n = next;
    }
}

static size_t remote_drain_cb(struct lrt_runtime *rt, void *ctx)
{
    (void)ctx;
    return lrt__remote_drain(rt);
}

static void remote_put(struct lrt__remote *r)
{
    if (atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) != 1)
        return;
    free_nodes(r->head);
    pthread_mutex_destroy(&r->mu);
    lrt__notifier_put(r->notifier);
    free(r);
}

int lrt__remote_init(struct lrt_runtime *rt)
{
    struct lrt__remote *r = calloc(1, sizeof(*r));
    struct lrt_handle *h = calloc(1, sizeof(*h));
    int err;

    if (!r || !h) {
        err = ENOMEM;
        goto err_free;
    }
    if ((err = pthread_mutex_init(&r->mu, NULL)) != 0)
        goto err_free;
    r->notifier = lrt__notifier_get(rt);
    if (!r->notifier) {
        err = ENOMEM;
        goto err_mutex;
    }
    atomic_init(&r->pending, 0);
    r->inbox_id = lrt__inbox_register(rt, &r->pending, remote_drain_cb, NULL);
    if (r->inbox_id < 0) {
        lrt__notifier_put(r->notifier);
        err = -r->inbox_id;
        goto err_mutex;
    }
    atomic_init(&r->refs, 2);
    atomic_init(&h->refs, 1);
    h->r = r;
    r->handle = h;
    rt->remote = r;
    return 0;

err_mutex:
    pthread_mutex_destroy(&r->mu);
err_free:
    free(h);
    free(r);
    return -err;
}

lrt_handle_t *lrt_runtime_handle(lrt_runtime_t *rt)
{
    int err = 0;

    if (!rt) {
        errno = EINVAL;
        return NULL;
    }
    if (!lrt__rt_check(rt, &err)) {
        errno = err < 0 ? -err : (err ? err : EPERM);
        return NULL;
    }
    if (!rt->remote) {
        errno = ESHUTDOWN;
        return NULL;
    }
    return lrt_handle_clone(rt->remote->handle);
}

lrt_handle_t *lrt_handle_clone(lrt_handle_t *h)
{
    if (!h) {
        errno = EINVAL;
        return NULL;
    }
    /* The caller holds a reference, so the count can't reach zero meanwhile. */
    atomic_fetch_add_explicit(&h->refs, 1, memory_order_relaxed);
    return h;
}

void lrt_handle_release(lrt_handle_t *h)
{
    if (!h)
        return;
    if (atomic_fetch_sub_explicit(&h->refs, 1, memory_order_acq_rel) != 1)
        return;
    struct lrt__remote *r = h->r;
    free(h);
    remote_put(r);
}

int lrt_handle_spawn(lrt_handle_t *h, lrt_fn fn, void *arg)
{
    struct lrt__remote *r;
    struct node *n;

    if (!h || !fn)
        return -EINVAL;
    r = h->r;
    n = malloc(sizeof(*n));
    if (!n)
        return -ENOMEM;
    n->next = NULL;
    n->fn = fn;
    n->arg = arg;

    pthread_mutex_lock(&r->mu);
    if (r->shutdown) {
        pthread_mutex_unlock(&r->mu);
        free(n);
        return -ESHUTDOWN;
    }
    if (r->tail)
        r->tail->next = n;
    else
        r->head = n;
    r->tail = n;
    /* seq_cst store, then the notifier's seq_cst load of "parked": pairs with the runtime
     * setting parked and re-checking the inbox's flags before it sleeps. */
    atomic_store(&r->pending, 1);
    pthread_mutex_unlock(&r->mu);
    lrt__notifier_wake(r->notifier); /* alive: r holds a reference, our handle holds r */
    return 0;
}

bool lrt__remote_live_handles(struct lrt_runtime *rt)
{
    struct lrt__remote *r = rt->remote;
    return r && atomic_load(&r->handle->refs) > 1;
}

size_t lrt__remote_drain(struct lrt_runtime *rt)
{
    struct lrt__remote *r = rt->remote;
    struct node *n;
    size_t count = 0;

    if (!r || !atomic_load(&r->pending))
        return 0;
    pthread_mutex_lock(&r->mu);
    n = r->head;
    r->head = r->tail = NULL;
    atomic_store(&r->pending, 0);
    pthread_mutex_unlock(&r->mu);

    /* Spawning never switches, so the whole batch is queued before any of it runs. */
    while (n) {
        struct node *next = n->next;
        lrt_task_t *h = lrt_spawn_at(rt, "remote", n->fn, n->arg, "<handle>", 0,
                                     "lrt_handle_spawn");
        if (h) {
            struct lrt_task *t = lrt__task_of(h);
            t->last_waker = LRT__WAKER_REMOTE;
            LRT__TP(remote_schedule, t->id);
            rt->m.remote_schedules++;
            lrt_task_detach(h);
            count++;
        } else {
            /* The caller was told 0 already: the best left is to say it on stderr. */
            int err = errno;
            fprintf(stderr, "lrt: task from lrt_handle_spawn dropped: %s\n", lrt_strerror(err));
        }
        free(n);
        n = next;
    }
    return count;
}

/* Later spawns fail with -ESHUTDOWN; nodes still pending are freed without running (their
 * fn is never called: the runtime is going away, and the caller's arg is the caller's). */
void lrt__remote_shutdown(struct lrt_runtime *rt)
{
    struct lrt__remote *r = rt->remote;
    struct node *n;

    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    r->shutdown = true;
    n = r->head;
    r->head = r->tail = NULL;
    atomic_store(&r->pending, 0);
    pthread_mutex_unlock(&r->mu);
    free_nodes(n);
}

void lrt__remote_fini(struct lrt_runtime *rt)
{
    struct lrt__remote *r = rt->remote;

    if (!r)
        return;
    if (!r->shutdown) /* fini without shutdown: still refuse later spawns */
        lrt__remote_shutdown(rt);
    lrt__inbox_unregister(rt, r->inbox_id);
    rt->remote = NULL;
    lrt_handle_release(r->handle); /* the runtime's internal reference */
    remote_put(r);
}
