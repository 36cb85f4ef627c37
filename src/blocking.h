/*
 * blocking.h - what the two halves of the blocking pool share, private to them: the job
 * record, the pool object and its threads' bookkeeping.  blocking.c is the runtime
 * thread's half (job records, submit, delivery, abort, shutdown, dump views);
 * blocking_thread.c is the code that runs on pool threads.  Which thread owns a field
 * is said at the field.
 */
#ifndef LRT_BLOCKING_H
#define LRT_BLOCKING_H

#include "internal.h"

#include <time.h>

/* A blocking job.  Owners: "rt" = the runtime thread only; "mu" = whoever holds the
 * pool mutex (a pool thread or the runtime). */
struct lrt__job {
    struct lrt__join j;     /* rt; except j.arg (read under mu at pick) and j.result
                               (written under mu at completion) */
    lrt_fn fn;              /* written by rt at submit, read under mu at pick */
    lrt_fn shown_fn;        /* the caller's fn (owned jobs run a wrapper): rt at submit,
                               then read-only (dump, under mu) */
    uint64_t submitter;     /* id of the task that submitted it, 0 outside a task; ditto */
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
    struct lrt__job *const *batch; /* the batch's records (the thread's own array) */
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
    atomic_int ready;         /* completion list not empty: our flag in the inbox */
    int inbox_id;             /* runtime thread only */
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

static inline struct timespec abs_deadline(uint64_t deadline_ns)
{
    struct timespec ts = {
        .tv_sec = (time_t)(deadline_ns / 1000000000u),
        .tv_nsec = (long)(deadline_ns % 1000000000u),
    };
    return ts;
}

static inline uint64_t add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* blocking_thread.c */
/* Start one pool thread; called with p->mu held (the count is reserved by the caller).
 * Returns 0 or a positive errno. */
int lrt__pool_spawn_thread(struct lrt__pool *p);
/* Drop one reference to the pool; called with p->mu held, returns with it released; the
 * last one frees the pool (and its notifier reference). */
void lrt__pool_unref_unlock(struct lrt__pool *p);

#endif
