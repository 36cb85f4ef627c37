/*
 * blocking_thread.c - the code that runs on blocking-pool threads: take queued jobs
 * (alone or in batches), run them, post completions and wake the runtime; spin, then
 * sleep, then retire when idle.  Every pool field it touches is under the pool mutex,
 * except the atomics named in blocking.h.  A thread touches a job record only under the
 * mutex and never once the pool is orphaned.
 *
 * Layer: calls the inbox's notifier (notify.c) and the clocks; called only by blocking.c.
 *
 * Pool threads have every asynchronous signal blocked (process-directed signals go to the
 * application's threads, never into a job), keep the synchronous fault signals (so a crash
 * in a job reports normally), are detached, named "lrt-blocking", and get a 1 MiB stack:
 * small next to glibc's 8 MiB default when hundreds of threads exist, but enough for the
 * library calls jobs are made of (getaddrinfo, stdio, compression).  The stack is virtual
 * memory: only touched pages cost.
 */
#include "blocking.h"
#include "trace.h"

#include <signal.h>
#include <stdlib.h>

#define POOL_STACK_SIZE (1u << 20)
#define POOL_SPIN_NS 50000u /* a thread out of work watches the queue this long */

static void pool_free(struct lrt__pool *p)
{
    pthread_cond_destroy(&p->work_cv);
    pthread_cond_destroy(&p->done_cv);
    pthread_mutex_destroy(&p->mu);
    if (p->notifier)
        lrt__notifier_put(p->notifier);
    free(p);
}

/* Drop one reference; called with p->mu held, returns with it released. */
void lrt__pool_unref_unlock(struct lrt__pool *p)
{
    bool last = --p->refs == 0;
    pthread_mutex_unlock(&p->mu);
    if (last)
        pool_free(p);
}

/* ---- pool thread ------------------------------------------------------------------ */

/* Hand a finished job to the runtime; called with p->mu held.  Returns true when the
 * runtime must be woken: only the first completion after a drain does it (until the
 * runtime drains, `ready` stays true and a parking runtime sees it). */
static bool complete(struct lrt__pool *p, struct lrt__job *job, void *result)
{
    p->running--;
    if (p->shutdown_waiting)
        pthread_cond_broadcast(&p->done_cv);
    if (p->orphaned)
        return false; /* the record may be gone with the runtime: drop the result */
    job->j.result = result;
    job_push(&p->done_head, &p->done_tail, job);
    /* seq_cst, then the notifier's seq_cst load of "parked": pairs with the runtime
     * setting parked and re-checking the inbox's flags before it sleeps. */
    return !atomic_exchange(&p->ready, 1);
}

#define BATCH_MAX 16

/* Run queued jobs until the queue is empty; called and returns with p->mu held.
 * When the queue is long a thread takes a batch (up to BATCH_MAX, never more than its
 * share of the queue) and completes it in one critical section: with tiny jobs the
 * mutex, not the work, was the bottleneck (4 threads + the runtime on 2 CPUs).  A short
 * queue is served one job at a time, so a slow job never holds others back. */
static void run_jobs(struct lrt__pool *p, struct worker *w)
{
    bool wake = false;
    struct lrt__job *batch[BATCH_MAX];
    void *results[BATCH_MAX];
    while (!lrt__list_empty(&p->queue)) {
        size_t share = p->queued / (p->threads ? p->threads : 1);
        size_t n = share < 2 ? 1 : share < BATCH_MAX ? share : BATCH_MAX;
        for (size_t i = 0; i < n; i++) {
            lrt__link *head = p->queue.next;
            /* unlinked = started: an abort can't drop it any more (job_abort) */
            lrt__list_del(head);
            batch[i] = lrt__container_of(head, struct lrt__job, queue);
            /* p->queue.next must be read again after each unlink: a compiler that
             * keeps it in a register takes the same job for every slot */
            __asm__ volatile("" ::: "memory");
        }
        qset(p, p->queued - n);
        p->running += n;
        __atomic_add_fetch(&p->batched, n - 1, __ATOMIC_RELAXED);
        /* precise clock only for the trace; the dump's "running for" is coarse */
        bool traced = LRT__TP_ENABLED(blocking_begin) || LRT__TP_ENABLED(blocking_end);
        w->job = batch[0];
        w->batch = batch;
        w->job_id = batch[0]->j.id;
        w->begin_ns = traced ? lrt__mono_ns() : lrt__coarse_ns();
        /* fn/arg/id are read now: once unlocked, only results are written */
        lrt_fn fns[BATCH_MAX];
        void *args[BATCH_MAX];
        uint64_t *ids = w->batch_ids, enqs[BATCH_MAX];
        for (size_t i = 0; i < n; i++) {
            fns[i] = batch[i]->fn;
            args[i] = batch[i]->j.arg;
            ids[i] = batch[i]->j.id;
            enqs[i] = batch[i]->enqueue_ns;
        }
        w->batch_n = n;
        pthread_mutex_unlock(&p->mu);
        if (wake) {
            lrt__notifier_wake(p->notifier); /* alive: the pool holds a reference */
            wake = false;
        }
        for (size_t i = 0; i < n; i++) {
            if (i > 0) {
                /* published for the dump (read under the mutex: a torn read is benign) */
                __atomic_store_n(&w->job_id, ids[i], __ATOMIC_RELAXED);
                __atomic_sub_fetch(&p->batched, 1, __ATOMIC_RELAXED);
                if (traced)
                    w->begin_ns = lrt__mono_ns();
            }
            LRT__TP(blocking_begin, ids[i], w->begin_ns > enqs[i] ? w->begin_ns - enqs[i] : 0);
            results[i] = fns[i](args[i]);
            if (traced)
                LRT__TP(blocking_end, ids[i], lrt__mono_ns() - w->begin_ns);
        }
        (void)enqs;
        pthread_mutex_lock(&p->mu);
        w->job = NULL;
        for (size_t i = 0; i < n; i++)
            wake |= complete(p, batch[i], results[i]);
    }
    if (wake) {
        pthread_mutex_unlock(&p->mu);
        lrt__notifier_wake(p->notifier);
        pthread_mutex_lock(&p->mu);
    }
}

static void *pool_thread(void *arg)
{
    struct lrt__pool *p = arg;
    struct worker w = { .job = NULL };

    pthread_setname_np(pthread_self(), "lrt-blocking");
    pthread_mutex_lock(&p->mu);
    lrt__list_push(&p->workers, &w.link);
    for (;;) {
        run_jobs(p, &w);
        if (p->stopping)
            break;
        /* Out of work: watch the queue for a while before sleeping.  A job submitted
         * meanwhile is taken without a futex wake-up each way (docs/performance.md,
         * blocking_pool_seq).  Submitters count spinning threads as available and
         * neither wake nor start another one for them. */
        p->spinning++;
        pthread_mutex_unlock(&p->mu);
        uint64_t until = lrt__mono_ns() + POOL_SPIN_NS;
        for (unsigned i = 1; !__atomic_load_n(&p->queued, __ATOMIC_RELAXED); i++) {
            lrt__cpu_relax();
            if ((i & 63) == 0 && (lrt__mono_ns() >= until || __atomic_load_n(&p->stopping, __ATOMIC_RELAXED)))
                break;
        }
        pthread_mutex_lock(&p->mu);
        p->spinning--;
        if (!lrt__list_empty(&p->queue))
            continue;
        if (p->stopping)
            break;
        /* Idle.  A submit claims us by moving one count from idle to notified, so two
         * quick submits never count the same idle thread twice.  The keep-alive is fixed
         * when we go idle: spurious wake-ups don't extend it. */
        p->idle++;
        uint64_t deadline = add_sat(lrt__mono_ns(), p->keep_alive_ns);
        struct timespec ts = abs_deadline(deadline);
        bool retire = false;
        for (;;) {
            int rc = pthread_cond_timedwait(&p->work_cv, &p->mu, &ts);
            if (p->notified > 0) {
                p->notified--;
                break;
            }
            if (p->stopping || rc == ETIMEDOUT || lrt__mono_ns() >= deadline) {
                p->idle--;
                /* Work nobody claimed us for (can't happen by construction, but never
                 * strand a job): take it rather than retire. */
                retire = p->stopping || lrt__list_empty(&p->queue);
                break;
            }
        }
        if (retire)
            break;
    }
    lrt__list_del(&w.link);
    p->threads--;
    unsigned left = p->threads;
    if (p->shutdown_waiting)
        pthread_cond_broadcast(&p->done_cv);
    LRT__TP(blocking_thread_exit, left);
    (void)left;
    lrt__pool_unref_unlock(p);
    return NULL;
}

/* Start one thread; called with p->mu held (the count is reserved by the caller).
 * Returns 0 or a positive errno. */
int lrt__pool_spawn_thread(struct lrt__pool *p)
{
    pthread_attr_t attr;
    sigset_t all, old;
    pthread_t tid;
    int err;

    if ((err = pthread_attr_init(&attr)) != 0)
        return err;
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, POOL_STACK_SIZE);
    /* The new thread inherits the mask: block before creating so there is no window in
     * which it could take a process signal. */
    sigfillset(&all);
    sigdelset(&all, SIGSEGV);
    sigdelset(&all, SIGBUS);
    sigdelset(&all, SIGFPE);
    sigdelset(&all, SIGILL);
    sigdelset(&all, SIGTRAP);
    sigdelset(&all, SIGSYS);
    sigdelset(&all, SIGABRT);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    err = pthread_create(&tid, &attr, pool_thread, p);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    return err;
}
