/*
 * blocking.c - the blocking thread pool.
 *
 * A job is a struct lrt__job: the join header it shares with tasks (a job id, a join
 * handle, a runtime reference), its function and its queue links; no stack, fn(arg) runs
 * on a pool thread.  Job records come from lrt__records_alloc chunks and a free list
 * (kept mapped while the runtime lives: stale handles may still read them).
 *
 * Layer: calls the notifier, the clocks and task.c's generic join-header helpers (and
 * registers its join ops there); nothing calls into it but the runtime, the scheduler
 * (flush, drain) and the dump (stats, foreach).
 *
 * Threads are created on demand, up to opts.max_blocking_threads, only when no idle
 * thread can take the job; an idle thread retires after opts.blocking_keep_alive_ms.
 * Jobs are served FIFO.  A finished job is pushed on the completion list and the runtime
 * is woken through the notifier (eventfd written only while the runtime is parked);
 * lrt__pool_drain() then delivers the completions on the runtime thread.
 *
 * Threads and ownership: said per field of struct lrt__job and struct lrt__pool below.
 * Whether a thread has taken a job is known from its queue link, under the mutex.
 *
 * Lifetime.  The pool object is refcounted: one reference for the runtime and one per
 * thread.  When lrt__pool_shutdown() gives up on running jobs it marks the pool orphaned
 * and drops the runtime's reference; from then on a thread never touches a job record
 * again (the runtime leaks those records on purpose), never touches rt, and the last
 * thread out frees the pool and its notifier reference.
 *
 * Pool threads have every asynchronous signal blocked (process-directed signals go to the
 * application's threads, never into a job), keep the synchronous fault signals (so a crash
 * in a job reports normally), are detached, named "lrt-blocking", and get a 1 MiB stack:
 * small next to glibc's 8 MiB default when hundreds of threads exist, but enough for the
 * library calls jobs are made of (getaddrinfo, stdio, compression).  The stack is virtual
 * memory: only touched pages cost.
 */
#include "internal.h"
#include "trace.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POOL_STACK_SIZE (1u << 20)
#define POOL_DEFAULT_MAX 512u
#define POOL_DEFAULT_KEEP_ALIVE_MS 10000u

/* A blocking job.  Owners: "rt" = the runtime thread only; "mu" = whoever holds the
 * pool mutex (a pool thread or the runtime). */
struct lrt__job {
    struct lrt__join j;     /* rt; except j.arg (read under mu at pick) and j.result
                               (written under mu at completion) */
    lrt_fn fn;              /* written by rt at submit, read under mu at pick */
    uint64_t enqueue_ns;    /* written by rt at submit, read under mu (pick, dump) */
    lrt__link queue;        /* mu: link in pool->queue while queued; unlinked = taken */
    struct lrt__job *next;  /* rt: submit list, free list; mu: completion list */
};

static inline struct lrt__job *job_of(struct lrt__join *j)
{
    return lrt__container_of(j, struct lrt__job, j);
}

static inline void job_push(struct lrt__job **head, struct lrt__job **tail, struct lrt__job *job)
{
    job->next = NULL;
    if (*tail)
        (*tail)->next = job;
    else
        *head = job;
    *tail = job;
}

/* One per pool thread, on its own stack, linked in pool->workers while alive; every
 * field under mu (job_id is also stored atomically outside it, see run_jobs). */
struct worker {
    lrt__link link;
    struct lrt__job *job; /* running job (first of its batch), NULL while idle */
    uint64_t job_id;      /* the job running now */
    uint64_t begin_ns;
    size_t batch_n;       /* jobs taken together; those after the running one wait */
    uint64_t batch_ids[16];
};

struct lrt__pool {
    /* runtime thread only */
    size_t outstanding;       /* submitted, not yet delivered or dropped */
    struct lrt__job *sub_head, *sub_tail; /* submitted, not yet published (job->next) */
    size_t sub_n;
    struct lrt__job *job_free; /* given-back job records (job->next) */
    struct lrt__job *job_bump, *job_bump_end; /* never-used records of the newest chunk */
    unsigned max_threads;     /* also read by pool threads: constant after init */
    uint64_t keep_alive_ns;   /* likewise */

    /* atomic: read and written by any thread without the mutex */
    atomic_bool ready;        /* completion list not empty */
    size_t batched;           /* taken in a batch, not started yet: added to under mu,
                                 taken from outside it (__atomic builtins) */
    lrt__notifier *notifier;  /* set at init; reference owned by the pool object */

    /* guarded by mu */
    pthread_mutex_t mu;
    pthread_cond_t work_cv;   /* idle threads wait here (CLOCK_MONOTONIC) */
    pthread_cond_t done_cv;   /* shutdown waits here for running jobs and threads */
    lrt__link queue;          /* queued jobs, through job->queue, FIFO */
    lrt__link workers;        /* struct worker of every live thread */
    struct lrt__job *done_head, *done_tail; /* completions, through job->next */
    size_t queued;            /* written under mu, also read without it (spinners: qset) */
    size_t running;
    unsigned threads;
    unsigned idle;            /* waiting threads not yet claimed by a submit */
    unsigned spinning;        /* threads watching the queue before they sleep */
    unsigned notified;        /* claimed wake-ups not yet consumed */
    unsigned refs;            /* runtime + one per thread */
    bool stopping;            /* no more jobs: threads exit once the queue is empty
                                 (also read atomically without mu by spinners) */
    bool orphaned;            /* runtime gone: never touch a job again */
    bool shutdown_waiting;    /* signal done_cv on every completion and exit */
};

/* p->queued is written under the mutex and read without it by spinning threads. */
static inline void qset(struct lrt__pool *p, size_t v)
{
    __atomic_store_n(&p->queued, v, __ATOMIC_RELAXED);
}

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
static void pool_unref_unlock(struct lrt__pool *p)
{
    bool last = --p->refs == 0;
    pthread_mutex_unlock(&p->mu);
    if (last)
        pool_free(p);
}

static struct timespec abs_deadline(uint64_t deadline_ns)
{
    struct timespec ts = {
        .tv_sec = (time_t)(deadline_ns / 1000000000u),
        .tv_nsec = (long)(deadline_ns % 1000000000u),
    };
    return ts;
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

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
     * setting parked and re-checking lrt__pool_ready() before it sleeps. */
    return !atomic_exchange(&p->ready, true);
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
            /* unlinked = started: lrt__pool_abort() can't drop it */
            lrt__list_del(head);
            batch[i] = lrt__container_of(head, struct lrt__job, queue);
            /* GCC 12 -O2 kept p->queue.next in a register across this loop (it took
             * every batch slot to be the same job): force the reload. */
            __asm__ volatile("" ::: "memory");
        }
        qset(p, p->queued - n);
        p->running += n;
        __atomic_add_fetch(&p->batched, n - 1, __ATOMIC_RELAXED);
        /* precise clock only for the trace; the dump's "running for" is coarse */
        bool traced = LRT__TP_ENABLED(blocking_begin) || LRT__TP_ENABLED(blocking_end);
        w->job = batch[0];
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
         * meanwhile is taken without a futex wake-up, which costs >= 3 us each way on
         * this VM (blocking_pool_seq: one job at a time).  Submitters count spinning
         * threads as available and neither wake nor start another one for them. */
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
    pool_unref_unlock(p);
    return NULL;
}

/* Start one thread; called with p->mu held (the count is reserved by the caller).
 * Returns 0 or a positive errno. */
static int spawn_thread(struct lrt__pool *p)
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

/* ---- runtime side ----------------------------------------------------------------- */

#define JOBS_PER_CHUNK 64

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
    return p->job_bump++;
}

/* The last reference is gone (join ops).  After shutdown (no pool) the record is not
 * reused: it goes with the runtime's records. */
static void job_free(struct lrt__join *j)
{
    struct lrt__pool *p = j->rt->pool;
    struct lrt__job *job = job_of(j);
    j->state = LRT__FINISHED;
    if (p) {
        job->next = p->job_free;
        p->job_free = job;
    }
}

static void job_abort(struct lrt__join *j);
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
    atomic_init(&p->ready, false);
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

lrt_task_t *lrt_spawn_blocking(lrt_fn fn, void *arg)
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
        job = lrt_spawn_blocking(owned_run, o);
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
        int cerr = spawn_thread(p);
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
                atomic_store(&p->ready, true);
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
    atomic_store(&p->ready, false);
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
void lrt__pool_foreach(struct lrt_runtime *rt,
                       void (*fn)(uint64_t job_id, int running, uint64_t since_ns, void *ctx), void *ctx)
{
    struct lrt__pool *p = rt->pool;
    lrt__link *l;

    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    for (l = p->workers.next; l != &p->workers; l = l->next) {
        struct worker *w = lrt__container_of(l, struct worker, link);
        if (w->job) {
            uint64_t cur = __atomic_load_n(&w->job_id, __ATOMIC_RELAXED);
            fn(cur, 1, w->begin_ns, ctx);
            /* taken in the same batch, not started yet: shown as queued */
            bool after = false;
            for (size_t i = 0; i < w->batch_n; i++) {
                if (after)
                    fn(w->batch_ids[i], 0, w->begin_ns, ctx);
                after |= w->batch_ids[i] == cur;
            }
        }
    }
    for (l = p->queue.next; l != &p->queue; l = l->next) {
        struct lrt__job *job = lrt__container_of(l, struct lrt__job, queue);
        fn(job->j.id, 0, job->enqueue_ns, ctx);
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

    rt->pool = NULL;
    pthread_mutex_lock(&p->mu);
    pool_unref_unlock(p);
    return still;
}
