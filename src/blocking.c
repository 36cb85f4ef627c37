/*
 * blocking.c - the blocking thread pool, runtime thread's half: job records, submit,
 * delivery of completions, abort, shutdown, and the views the dump reads.  The code that
 * runs on pool threads is in blocking_thread.c; blocking.h holds what both share.
 *
 * A job is a struct lrt__job: the join header it shares with tasks (a job id, a join
 * handle, a runtime reference), its function and its queue links; no stack, fn(arg) runs
 * on a pool thread.  Job records come from lrt__records_alloc chunks and a free list
 * (kept mapped while the runtime lives: stale handles may still read them).
 *
 * Layer: calls the inbox (notify.c), the clocks and task.c's generic join-header helpers (and
 * registers its join ops there); nothing calls into it but the runtime, the scheduler
 * (flush, drain) and the dump (stats, foreach).
 *
 * Threads are created on demand, up to opts.max_blocking_threads, only when no idle
 * thread can take the job; an idle thread retires after opts.blocking_keep_alive_ms.
 * Jobs are served FIFO.  A finished job is pushed on the completion list and the runtime
 * is woken through the inbox (notify.c: our `ready` flag, then the eventfd, written only
 * while the runtime is parked); the inbox drain (lrt__pool_drain) then delivers the
 * completions on the runtime thread, in completion order.
 *
 * Threads and ownership: said per field of struct lrt__job and struct lrt__pool below.
 * Whether a thread has taken a job is known from its queue link, under the mutex.
 *
 * Lifetime.  The pool object is refcounted: one reference for the runtime and one per
 * thread.  When lrt__pool_shutdown() gives up on running jobs it marks the pool orphaned
 * and drops the runtime's reference; from then on a thread never touches a job record
 * again (its record stays with the runtime's records), never touches rt, and the last
 * thread out frees the pool and its notifier reference.
 */
#include "blocking.h"
#include "trace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POOL_DEFAULT_MAX 512u
#define POOL_DEFAULT_KEEP_ALIVE_MS 10000u

/* ---- owned jobs ------------------------------------------------------------------- */

/*
 * lrt_spawn_blocking_owned() wraps the caller's fn/arg/drop in a small allocation and
 * submits owned_run() on it, so the pool needs no new field: a job whose fn is owned_run
 * is owned.  The job ends in exactly one of two ways, each of which drops @arg once:
 * owned_run() returns (drop on the pool thread, right after fn, even when the runtime has
 * gone meanwhile), or the job never starts (owned_discard() on the runtime thread: aborted
 * while queued, dropped at shutdown, no thread could be started).
 */
struct owned {
    lrt_fn fn;
    void *arg;
    void (*drop)(void *arg);
};

static void *owned_run(void *arg)
{
    struct owned *o = arg;
    void *res = o->fn(o->arg);
    o->drop(o->arg);
    free(o);
    return res;
}

/* A job that will never run: drop what an owned one owns; its result is NULL. */
static void job_discard(struct lrt__job *job)
{
    if (job->fn == owned_run && job->j.arg) {
        struct owned *o = job->j.arg;
        o->drop(o->arg);
        free(o);
    }
    job->j.result = NULL;
}

/* ---- runtime side ----------------------------------------------------------------- */

#define JOBS_PER_CHUNK 256

static struct lrt__job *job_alloc(struct lrt_runtime *rt, struct lrt__pool *p)
{
    struct lrt__job *job = p->job_free;
    if (job) {
        p->job_free = job->next;
        return job;
    }
    if (p->job_bump == p->job_bump_end) {
        struct lrt__job *c = lrt__records_alloc(rt, JOBS_PER_CHUNK * sizeof *c);
        if (!c)
            return NULL;
        p->job_bump = c;
        p->job_bump_end = c + JOBS_PER_CHUNK;
    }
    job = p->job_bump++;
    job->j.gen = 0; /* first use: every other field is written at submit */
    return job;
}

/* The last reference is gone (join ops).  After shutdown (no pool) the record is not
 * reused: it goes with the runtime's records. */
static void job_free(struct lrt__join *j)
{
    struct lrt__pool *p = j->rt->pool;
    struct lrt__job *job = job_of(j);
    if (p) {
        job->next = p->job_free;
        p->job_free = job;
    }
}

static void job_abort(struct lrt__join *j);
static size_t pool_drain_cb(struct lrt_runtime *rt, void *ctx)
{
    (void)ctx;
    return lrt__pool_drain(rt);
}
static const struct lrt__join_ops job_ops = {.abort = job_abort, .free = job_free};

int lrt__pool_init(struct lrt_runtime *rt)
{
    struct lrt__pool *p = calloc(1, sizeof(*p));
    pthread_condattr_t ca;
    int err;

    if (!p)
        return -ENOMEM;
    p->max_threads = rt->opts.max_blocking_threads ? rt->opts.max_blocking_threads
                                                   : POOL_DEFAULT_MAX;
    p->keep_alive_ns = (uint64_t)(rt->opts.blocking_keep_alive_ms
                                      ? rt->opts.blocking_keep_alive_ms
                                      : POOL_DEFAULT_KEEP_ALIVE_MS) * 1000000u;
    lrt__list_init(&p->queue);
    lrt__list_init(&p->workers);
    atomic_init(&p->ready, 0);
    p->refs = 1;

    if ((err = pthread_condattr_init(&ca)) != 0)
        goto err_free;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    err = pthread_cond_init(&p->work_cv, &ca);
    if (!err && (err = pthread_cond_init(&p->done_cv, &ca)) != 0)
        pthread_cond_destroy(&p->work_cv);
    pthread_condattr_destroy(&ca);
    if (err)
        goto err_free;
    if ((err = pthread_mutex_init(&p->mu, NULL)) != 0)
        goto err_cond;
    p->notifier = lrt__notifier_get(rt);
    if (!p->notifier) {
        err = ENOMEM;
        goto err_mutex;
    }
    p->inbox_id = lrt__inbox_register(rt, &p->ready, pool_drain_cb, NULL);
    if (p->inbox_id < 0) {
        lrt__notifier_put(p->notifier);
        err = -p->inbox_id;
        goto err_mutex;
    }
    lrt__join_register(LRT__JOIN_JOB, &job_ops);
    rt->pool = p;
    return 0;

err_mutex:
    pthread_mutex_destroy(&p->mu);
err_cond:
    pthread_cond_destroy(&p->work_cv);
    pthread_cond_destroy(&p->done_cv);
err_free:
    free(p);
    return -err;
}

/* lrt_spawn_blocking of @fn(@arg), shown in the dump as @shown. */
static lrt_task_t *submit(lrt_fn fn, void *arg, lrt_fn shown)
{
    struct lrt_runtime *rt;
    struct lrt__pool *p;
    struct lrt__job *job;
    int err = 0;

    if (!fn) {
        errno = EINVAL;
        return NULL;
    }
    rt = lrt__rt_check(NULL, &err);
    if (!rt) {
        /* No current runtime means this is not a runtime thread (a foreign thread, a
         * pool thread): EPERM, as for every runtime-thread-only call. */
        errno = (err == -EINVAL || err == 0) ? EPERM : (err < 0 ? -err : err);
        return NULL;
    }
    p = rt->pool;
    if (rt->shutting_down || !p) {
        errno = ESHUTDOWN;
        return NULL;
    }
    job = job_alloc(rt, p);
    if (!job) {
        errno = ENOMEM;
        return NULL;
    }
    /* every field but the generation, which outlives the record's previous job */
    job->j.rt = rt;
    job->j.flags = 0;
    job->j.state = LRT__RUNNABLE;
    job->j.refs = 2; /* runtime + handle */
    job->j.wake_result = 0;
    job->j.kind = LRT__JOIN_JOB;
    job->j.joiner = NULL;
    job->j.arg = arg;
    job->j.id = ++rt->next_job_id;
    job->fn = fn;
    job->shown_fn = shown;
    job->submitter = rt->current ? rt->current->id : 0;
    job->enqueue_ns = LRT__TP_ENABLED(blocking_begin) ? lrt__mono_ns() : lrt__coarse_ns();
    job->queue.next = job->queue.prev = NULL;

    /* Published to the threads in one critical section when the submitting task next
     * gives up the CPU (lrt__pool_flush from the scheduler): a task that submits many
     * jobs takes the pool mutex once, not once per job. */
    job_push(&p->sub_head, &p->sub_tail, job);
    p->sub_n++;
    rt->pool_flush = 1;
    p->outstanding++;
    rt->m.blocking_jobs++;
    return lrt__join_handle(&job->j);
}

lrt_task_t *lrt_spawn_blocking(lrt_fn fn, void *arg) { return submit(fn, arg, fn); }

lrt_task_t *lrt_spawn_blocking_owned(lrt_fn fn, void *arg, void (*drop)(void *arg))
{
    if (!drop)
        return lrt_spawn_blocking(fn, arg);
    struct owned *o = fn ? malloc(sizeof *o) : NULL;
    lrt_task_t *job = NULL;
    if (o) {
        o->fn = fn;
        o->arg = arg;
        o->drop = drop;
        job = submit(owned_run, o, fn);
    }
    if (!job) {
        /* the job owns @arg from the call on: a failed call drops it too */
        int e = !fn ? EINVAL : !o ? ENOMEM : errno;
        free(o);
        drop(arg);
        errno = e;
    }
    return job;
}

/* Publish the jobs submitted since the last flush: queue them, wake idle threads, start
 * new ones up to the maximum.  Runtime thread. */
void lrt__pool_flush(struct lrt_runtime *rt)
{
    struct lrt__pool *p = rt->pool;
    rt->pool_flush = 0;
    if (!p || !p->sub_head)
        return;
    rt->pool_spin = 1; /* the next park watches for the completion a moment first */
    struct lrt__job *job = p->sub_head;
    size_t n = p->sub_n;
    p->sub_head = p->sub_tail = NULL;
    p->sub_n = 0;

    unsigned wake = 0;
    pthread_mutex_lock(&p->mu);
    for (; job; job = job->next) {
        lrt__list_push(&p->queue, &job->queue);
        LRT__TP(blocking_submit, job->j.id, (uint64_t)(p->queued + 1));
        qset(p, p->queued + 1);
    }
    /* one thread per job: idle ones first, then new ones up to the maximum */
    while (wake < n && p->idle > 0) {
        p->idle--;
        p->notified++;
        wake++;
    }
    size_t want = n - wake;
    want = want > p->spinning ? want - p->spinning : 0; /* spinners take the rest */
    for (; want > 0 && p->threads < p->max_threads; want--) {
        p->threads++;
        p->refs++;
        int cerr = lrt__pool_spawn_thread(p);
        if (cerr != 0) {
            p->threads--;
            p->refs--;
            if (p->threads == 0) {
                /* No thread at all: these jobs would never run.  Fail them. */
                while (!lrt__list_empty(&p->queue)) {
                    struct lrt__job *j = lrt__container_of(p->queue.next, struct lrt__job, queue);
                    lrt__list_del(&j->queue);
                    qset(p, p->queued - 1);
                    j->next = p->done_head;
                    p->done_head = j;
                    if (!p->done_tail)
                        p->done_tail = j;
                    /* arg stays: deliver() discards it outside the mutex */
                    j->j.wake_result = cerr == EAGAIN ? -EAGAIN : -ENOMEM;
                }
                atomic_store(&p->ready, 1);
                fprintf(stderr, "lrt: blocking pool: cannot start a thread (%s): jobs failed\n",
                        strerror(cerr));
            }
            break;
        }
        LRT__TP(blocking_thread_spawn, p->threads);
    }
    pthread_mutex_unlock(&p->mu);
    /* after unlocking: a woken thread needs the mutex at once */
    while (wake-- > 0)
        pthread_cond_signal(&p->work_cv);
}

bool lrt__pool_ready(struct lrt_runtime *rt)
{
    struct lrt__pool *p = rt->pool;
    return p && atomic_load(&p->ready);
}

size_t lrt__pool_pending(struct lrt_runtime *rt)
{
    return rt->pool ? rt->pool->outstanding : 0;
}

static void deliver(struct lrt__pool *p, struct lrt__job *job, int wake_result)
{
    if (wake_result)
        job->j.wake_result = wake_result;
    if (job->j.wake_result)
        job_discard(job); /* failed or cancelled: it never ran */
    p->outstanding--;
    lrt__join_finished(&job->j, LRT__WAKER_BLOCKING);
}

size_t lrt__pool_drain(struct lrt_runtime *rt)
{
    struct lrt__pool *p = rt->pool;
    struct lrt__job *job;
    size_t n = 0;

    if (!p || !atomic_load(&p->ready))
        return 0;
    pthread_mutex_lock(&p->mu);
    job = p->done_head;
    p->done_head = p->done_tail = NULL;
    atomic_store(&p->ready, 0);
    pthread_mutex_unlock(&p->mu);

    while (job) {
        struct lrt__job *next = job->next;
        job->next = NULL;
        deliver(p, job, 0);
        job = next;
        n++;
    }
    return n;
}

/* lrt_abort on a job (join ops): a queued job is dropped and its joiner gets
 * -ECANCELED; one a thread has taken runs to the end. */
static void job_abort(struct lrt__join *j)
{
    struct lrt__job *job = job_of(j);
    struct lrt__pool *p = j->rt->pool;
    bool dropped = false;

    if (!p)
        return;
    lrt__pool_flush(j->rt);
    pthread_mutex_lock(&p->mu);
    if (lrt__linked(&job->queue)) { /* still queued: no thread picked it */
        lrt__list_del(&job->queue);
        qset(p, p->queued - 1);
        dropped = true;
    }
    pthread_mutex_unlock(&p->mu);
    if (dropped)
        deliver(p, job, -ECANCELED);
}

void lrt__pool_stats(struct lrt_runtime *rt, unsigned *threads, unsigned *idle, size_t *queued)
{
    struct lrt__pool *p = rt->pool;
    unsigned t = 0, i = 0;
    size_t q = 0;

    if (p) {
        pthread_mutex_lock(&p->mu);
        t = p->threads;
        i = p->idle;
        q = p->queued + __atomic_load_n(&p->batched, __ATOMIC_RELAXED);
        pthread_mutex_unlock(&p->mu);
    }
    if (threads)
        *threads = t;
    if (idle)
        *idle = i;
    if (queued)
        *queued = q;
}

/* Calls fn under the pool mutex (so it also works from the dump agent's thread): fn must
 * not call back into the pool.  Running jobs first, with their begin time, then queued
 * ones in FIFO order with their submit time (lrt__mono_ns clock). */
static void view(void (*fn)(const struct lrt__job_view *v, void *ctx), void *ctx,
                 const struct lrt__job *job, int running, uint64_t since_ns)
{
    struct lrt__job_view v = {.id = job->j.id, .since_ns = since_ns, .task = job->submitter,
                              .fn = job->shown_fn, .running = running};
    fn(&v, ctx);
}

void lrt__pool_foreach(struct lrt_runtime *rt, void (*fn)(const struct lrt__job_view *v, void *ctx), void *ctx)
{
    struct lrt__pool *p = rt->pool;
    lrt__link *l;

    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    for (l = p->workers.next; l != &p->workers; l = l->next) {
        struct worker *w = lrt__container_of(l, struct worker, link);
        if (w->job) {
            /* the batch's records stay until their completion, which takes the mutex */
            uint64_t cur = __atomic_load_n(&w->job_id, __ATOMIC_RELAXED);
            bool after = false;
            for (size_t i = 0; i < w->batch_n; i++) {
                if (w->batch[i]->j.id == cur)
                    view(fn, ctx, w->batch[i], 1, w->begin_ns);
                else if (after) /* taken in the same batch, not started yet: queued */
                    view(fn, ctx, w->batch[i], 0, w->begin_ns);
                after |= w->batch[i]->j.id == cur;
            }
        }
    }
    for (l = p->queue.next; l != &p->queue; l = l->next) {
        struct lrt__job *job = lrt__container_of(l, struct lrt__job, queue);
        view(fn, ctx, job, 0, job->enqueue_ns);
    }
    pthread_mutex_unlock(&p->mu);
}

size_t lrt__pool_shutdown(struct lrt_runtime *rt, uint64_t timeout_ns, bool report)
{
    struct lrt__pool *p = rt->pool;
    lrt__link dropped;
    size_t still = 0;

    if (!p)
        return 0;
    lrt__pool_flush(rt);
    uint64_t start = lrt__mono_ns();
    uint64_t deadline = add_sat(start, timeout_ns);
    struct timespec ts = abs_deadline(deadline);

    /* 1. Stop accepting and take the queue: those jobs never run. */
    lrt__list_init(&dropped);
    pthread_mutex_lock(&p->mu);
    __atomic_store_n(&p->stopping, true, __ATOMIC_RELAXED); /* read by spinners */
    p->shutdown_waiting = true;
    while (!lrt__list_empty(&p->queue)) {
        lrt__link *l = p->queue.next;
        lrt__list_del(l);
        lrt__list_push(&dropped, l);
    }
    qset(p, 0);
    pthread_cond_broadcast(&p->work_cv); /* idle threads see stopping and exit */
    pthread_mutex_unlock(&p->mu);

    while (!lrt__list_empty(&dropped)) {
        struct lrt__job *job = lrt__container_of(dropped.next, struct lrt__job, queue);
        lrt__list_del(&job->queue);
        deliver(p, job, -ECANCELED);
    }

    /* 2. Wait for running jobs, and for the threads to leave (prompt once idle), so that
     * a clean shutdown leaves no thread behind. */
    pthread_mutex_lock(&p->mu);
    while (p->running > 0 || p->threads > 0) {
        int rc;
        if (timeout_ns == UINT64_MAX)
            rc = pthread_cond_wait(&p->done_cv, &p->mu);
        else
            rc = pthread_cond_timedwait(&p->done_cv, &p->mu, &ts);
        if (rc == ETIMEDOUT)
            break;
    }

    /* 3. What still runs is orphaned: its thread will drop the result and never touch
     * the record again.  Completions posted before this point are delivered below. */
    p->orphaned = true;
    p->shutdown_waiting = false;
    still = p->running;
    if (still && report) {
        uint64_t waited_ms = (lrt__mono_ns() - start) / 1000000u;
        for (lrt__link *l = p->workers.next; l != &p->workers; l = l->next) {
            struct worker *w = lrt__container_of(l, struct worker, link);
            if (w->job)
                fprintf(stderr, "lrt: shutdown: blocking job %llu still running after %llu ms\n",
                        (unsigned long long)w->job_id, (unsigned long long)waited_ms);
        }
    }
    pthread_mutex_unlock(&p->mu);

    lrt__pool_drain(rt);

    lrt__inbox_unregister(rt, p->inbox_id);
    rt->pool = NULL;
    pthread_mutex_lock(&p->mu);
    lrt__pool_unref_unlock(p);
    return still;
}
