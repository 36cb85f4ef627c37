/* Blocking pool: jobs, FIFO, growth and retirement, abort, shutdown, errors.
 * These tests use a little real time (each well under 0.5 s): pool threads are real. */
#include "test_util.h"
#include "internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void real_sleep_ms(unsigned ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* In a task: poll @v with 1 ms sleeps until it reaches @want; false after @timeout_ms. */
static bool wait_until(atomic_int *v, int want, int timeout_ms)
{
    for (int i = 0; i < timeout_ms && atomic_load(v) < want; i++)
        lrt_sleep_ms(1);
    return atomic_load(v) >= want;
}

static lrt_options_t pool_opts(unsigned max, unsigned keep_alive_ms)
{
    lrt_options_t o;
    memset(&o, 0, sizeof o);
    o.max_blocking_threads = max;
    o.blocking_keep_alive_ms = keep_alive_ms;
    return o;
}

/* A gate that jobs block on until the test opens it. */
struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int open;
    atomic_int started;
    atomic_int finished;
};
#define GATE_INIT { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0 }

static void *gated_job(void *arg)
{
    struct gate *g = arg;
    atomic_fetch_add(&g->started, 1);
    pthread_mutex_lock(&g->mu);
    while (!g->open)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
    atomic_fetch_add(&g->finished, 1);
    return (void *)(uintptr_t)0x600d;
}

static void gate_open(struct gate *g)
{
    pthread_mutex_lock(&g->mu);
    g->open = 1;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

static void pool_stats(unsigned *threads, unsigned *idle, size_t *queued)
{
    lrt__pool_stats(lrt_current(), threads, idle, queued);
}

/* ---- results -------------------------------------------------------------------- */

static void *triple_job(void *arg)
{
    uintptr_t i = (uintptr_t)arg;
    if (i % 4 == 0)
        real_sleep_ms(2);
    return (void *)(i * 3);
}

static void *results_root(void *arg)
{
    (void)arg;
    enum { N = 16 };
    lrt_task_t *jobs[N];
    uint64_t prev = 0;
    uint64_t before = lrt_current()->m.blocking_jobs;
    for (uintptr_t i = 0; i < N; i++) {
        jobs[i] = lrt_spawn_blocking(triple_job, (void *)i);
        CU_ASSERT_PTR_NOT_NULL_FATAL(jobs[i]);
        CU_ASSERT(lrt_task_id(jobs[i]) > prev); /* job ids increase */
        prev = lrt_task_id(jobs[i]);
    }
    CU_ASSERT_EQUAL(lrt_current()->m.blocking_jobs - before, N);
    for (uintptr_t i = 0; i < N; i++) {
        void *res = NULL;
        CU_ASSERT_EQUAL(lrt_join(jobs[i], &res), 0);
        CU_ASSERT_EQUAL((uintptr_t)res, i * 3);
    }
    CU_ASSERT_EQUAL(lrt__pool_pending(lrt_current()), 0);
    return NULL;
}

static void test_blocking_job_results_come_back_through_join(void)
{
    lrt_test_run(NULL, results_root, NULL);
}

/* Joining a slow job with no timer armed: the runtime parks with no timeout and only the
 * completion (eventfd) can wake it.  Deadlock detection must count the pending job. */
static void *slow_job(void *arg)
{
    real_sleep_ms(30);
    return arg;
}

static void *slow_root(void *arg)
{
    (void)arg;
    lrt_task_t *j = lrt_spawn_blocking(slow_job, (void *)(uintptr_t)7);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    void *res = NULL;
    uint64_t t0 = lrt__mono_ns();
    CU_ASSERT_EQUAL(lrt_join(j, &res), 0);
    CU_ASSERT_EQUAL((uintptr_t)res, 7);
    uint64_t took = lrt__mono_ns() - t0;
    CU_ASSERT(took >= 25000000u && took < 400000000u);
    return NULL;
}

static void test_join_on_a_slow_job_wakes_the_parked_runtime(void)
{
    lrt_test_run(NULL, slow_root, NULL);
}

/* ---- ordering and growth ---------------------------------------------------------- */

struct order {
    atomic_int next;
    int seen[32];
};
struct order_arg {
    struct order *o;
    int i;
};

static void *order_job(void *arg)
{
    struct order_arg *a = arg;
    a->o->seen[atomic_fetch_add(&a->o->next, 1)] = a->i;
    return NULL;
}

static void *fifo_root(void *arg)
{
    (void)arg;
    enum { N = 20 };
    struct order o = { .next = 0 };
    struct order_arg args[N];
    lrt_task_t *jobs[N];
    for (int i = 0; i < N; i++) {
        args[i] = (struct order_arg){ &o, i };
        jobs[i] = lrt_spawn_blocking(order_job, &args[i]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(jobs[i]);
    }
    for (int i = 0; i < N; i++)
        CU_ASSERT_EQUAL(lrt_join(jobs[i], NULL), 0);
    CU_ASSERT_EQUAL(atomic_load(&o.next), N);
    for (int i = 0; i < N; i++)
        CU_ASSERT_EQUAL(o.seen[i], i);
    unsigned threads = 99;
    pool_stats(&threads, NULL, NULL);
    CU_ASSERT_EQUAL(threads, 1);
    return NULL;
}

static void test_jobs_run_in_fifo_order_on_a_single_thread(void)
{
    lrt_options_t o = pool_opts(1, 0);
    lrt_test_run(&o, fifo_root, NULL);
}

struct seen_jobs {
    int running, queued;
};

static void count_job(const struct lrt__job_view *v, void *ctx)
{
    struct seen_jobs *s = ctx;
    CU_ASSERT(v->id > 0);
    CU_ASSERT(v->since_ns > 0 && v->since_ns <= lrt__mono_ns());
    CU_ASSERT(v->fn == gated_job); /* the only jobs of this test */
    CU_ASSERT(v->task == lrt_task_self_id()); /* this test's task submitted them all */
    if (v->running)
        s->running++;
    else
        s->queued++;
}

static void *grow_root(void *arg)
{
    (void)arg;
    enum { N = 8 };
    struct gate g = GATE_INIT;
    lrt_task_t *jobs[N];
    unsigned threads, idle;
    size_t queued;

    for (int i = 0; i < N; i++) {
        jobs[i] = lrt_spawn_blocking(gated_job, &g);
        CU_ASSERT_PTR_NOT_NULL_FATAL(jobs[i]);
    }
    CU_ASSERT(wait_until(&g.started, 4, 400));
    lrt_sleep_ms(10); /* give a (wrong) fifth thread the chance to show up */
    CU_ASSERT_EQUAL(atomic_load(&g.started), 4);
    pool_stats(&threads, &idle, &queued);
    CU_ASSERT_EQUAL(threads, 4);
    CU_ASSERT_EQUAL(idle, 0);
    CU_ASSERT_EQUAL(queued, 4);
    CU_ASSERT_EQUAL(lrt__pool_pending(lrt_current()), N);

    struct seen_jobs s = { 0, 0 };
    lrt__pool_foreach(lrt_current(), count_job, &s);
    CU_ASSERT_EQUAL(s.running, 4);
    CU_ASSERT_EQUAL(s.queued, 4);

    gate_open(&g);
    for (int i = 0; i < N; i++) {
        void *res = NULL;
        CU_ASSERT_EQUAL(lrt_join(jobs[i], &res), 0);
        CU_ASSERT_EQUAL((uintptr_t)res, 0x600d);
    }
    CU_ASSERT_EQUAL(atomic_load(&g.finished), N);
    pool_stats(&threads, &idle, &queued);
    CU_ASSERT(threads <= 4);
    CU_ASSERT_EQUAL(queued, 0);

    /* keep-alive 50 ms: every thread retires */
    for (int i = 0; i < 40; i++) {
        pool_stats(&threads, &idle, &queued);
        if (threads == 0)
            break;
        lrt_sleep_ms(10);
    }
    CU_ASSERT_EQUAL(threads, 0);
    CU_ASSERT_EQUAL(idle, 0);
    return NULL;
}

static void test_pool_grows_to_its_maximum_and_retires_idle_threads(void)
{
    lrt_options_t o = pool_opts(4, 50);
    lrt_test_run(&o, grow_root, NULL);
}

/* Two quick submits with one idle thread: the idle thread takes one and a new thread the
 * other (both start without waiting for the first to finish). */
static void *reuse_root(void *arg)
{
    (void)arg;
    struct gate g = GATE_INIT;
    unsigned threads, idle;

    lrt_task_t *j = lrt_spawn_blocking(triple_job, (void *)1);
    CU_ASSERT_EQUAL(lrt_join(j, NULL), 0);
    pool_stats(&threads, &idle, NULL);
    CU_ASSERT_EQUAL(threads, 1);

    /* the thread posts the completion before it goes idle: wait for it to be idle */
    for (int i = 0; i < 100 && idle != 1; i++) {
        lrt_sleep_ms(1);
        pool_stats(&threads, &idle, NULL);
    }
    CU_ASSERT_EQUAL(idle, 1);
    j = lrt_spawn_blocking(triple_job, (void *)2);
    CU_ASSERT_EQUAL(lrt_join(j, NULL), 0);
    pool_stats(&threads, &idle, NULL);
    CU_ASSERT_EQUAL(threads, 1); /* reused, not grown */
    for (int i = 0; i < 100 && idle != 1; i++) {
        lrt_sleep_ms(1);
        pool_stats(&threads, &idle, NULL);
    }
    CU_ASSERT_EQUAL(idle, 1);

    lrt_task_t *a = lrt_spawn_blocking(gated_job, &g);
    lrt_task_t *b = lrt_spawn_blocking(gated_job, &g);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT(wait_until(&g.started, 2, 400));
    pool_stats(&threads, &idle, NULL);
    CU_ASSERT_EQUAL(threads, 2);
    gate_open(&g);
    CU_ASSERT_EQUAL(lrt_join(a, NULL), 0);
    CU_ASSERT_EQUAL(lrt_join(b, NULL), 0);
    return NULL;
}

static void test_an_idle_thread_is_reused_and_claimed_only_once(void)
{
    lrt_test_run(NULL, reuse_root, NULL);
}

/* ---- abort ---------------------------------------------------------------------- */

static void *mark_job(void *arg)
{
    atomic_fetch_add((atomic_int *)arg, 1);
    return NULL;
}

static void *abort_root(void *arg)
{
    (void)arg;
    struct gate g = GATE_INIT;
    atomic_int ran = 0;

    lrt_task_t *a = lrt_spawn_blocking(gated_job, &g);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT(wait_until(&g.started, 1, 400));
    lrt_task_t *b = lrt_spawn_blocking(mark_job, &ran);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_EQUAL(lrt__pool_pending(lrt_current()), 2);

    lrt_abort(b); /* queued: dropped */
    lrt_abort(a); /* running: no effect */
    CU_ASSERT_EQUAL(lrt__pool_pending(lrt_current()), 1);
    gate_open(&g);

    void *res = NULL;
    CU_ASSERT_EQUAL(lrt_join(a, &res), 0);
    CU_ASSERT_EQUAL((uintptr_t)res, 0x600d);
    res = (void *)1;
    CU_ASSERT_EQUAL(lrt_join(b, &res), -ECANCELED);
    lrt_sleep_ms(5);
    CU_ASSERT_EQUAL(atomic_load(&ran), 0);
    CU_ASSERT_EQUAL(lrt__pool_pending(lrt_current()), 0);
    return NULL;
}

static void test_aborting_a_queued_job_makes_join_return_ecanceled(void)
{
    lrt_options_t o = pool_opts(1, 0);
    lrt_test_run(&o, abort_root, NULL);
}

/* ---- detach and shutdown -------------------------------------------------------- */

static void *detach_root(void *arg)
{
    atomic_int *ran = arg;
    lrt_task_t *j = lrt_spawn_blocking(mark_job, ran);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    lrt_task_detach(j);
    CU_ASSERT(wait_until(ran, 1, 400));
    /* let the completion be delivered (and the record freed) before the root returns */
    for (int i = 0; i < 100 && lrt__pool_pending(lrt_current()); i++)
        lrt_sleep_ms(1);
    CU_ASSERT_EQUAL(lrt__pool_pending(lrt_current()), 0);
    return NULL;
}

static void test_a_detached_job_is_freed_when_it_finishes(void)
{
    atomic_int ran = 0;
    lrt_test_run(NULL, detach_root, &ran);
    CU_ASSERT_EQUAL(atomic_load(&ran), 1);
}

struct sleepy {
    atomic_int started, finished;
};

static void *sleepy_job(void *arg)
{
    struct sleepy *s = arg;
    atomic_fetch_add(&s->started, 1);
    real_sleep_ms(40);
    atomic_fetch_add(&s->finished, 1);
    return NULL;
}

/* The job has started (a queued one would be dropped at shutdown) when the root returns
 * with the job detached. */
static void *free_waits_root(void *arg)
{
    struct sleepy *s = arg;
    lrt_task_t *j = lrt_spawn_blocking(sleepy_job, s);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    CU_ASSERT(wait_until(&s->started, 1, 400));
    lrt_task_detach(j);
    return NULL;
}

static void test_runtime_free_waits_for_running_jobs(void)
{
    struct sleepy s = { 0, 0 };
    lrt_test_run(NULL, free_waits_root, &s);
    CU_ASSERT_EQUAL(atomic_load(&s.finished), 1);
}

struct stuck {
    int fds[2];
    atomic_int started, returned, queued_ran;
    uint64_t job_id;
};

static void *pipe_job(void *arg)
{
    struct stuck *s = arg;
    char c;
    atomic_fetch_add(&s->started, 1);
    ssize_t n;
    do
        n = read(s->fds[0], &c, 1); /* plain blocking read: this is a pool thread */
    while (n < 0 && errno == EINTR);
    atomic_fetch_add(&s->returned, 1);
    return NULL;
}

static void *stuck_root(void *arg)
{
    struct stuck *s = arg;
    lrt_task_t *a = lrt_spawn_blocking(pipe_job, s);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    s->job_id = lrt_task_id(a);
    CU_ASSERT(wait_until(&s->started, 1, 400));
    lrt_task_t *b = lrt_spawn_blocking(mark_job, &s->queued_ran); /* queued behind a */
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    lrt_task_detach(a);
    lrt_task_detach(b);
    return NULL;
}

static void test_shutdown_timeout_gives_up_on_a_stuck_job(void)
{
    struct stuck s = { .started = 0, .returned = 0, .queued_ran = 0 };
    CU_ASSERT_FATAL(pipe(s.fds) == 0);
    lrt_options_t o = pool_opts(1, 0);
    lrt_runtime_t *rt = lrt_runtime_new(&o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rt);
    CU_ASSERT_EQUAL(lrt_block_on(rt, stuck_root, &s, NULL), 0);

    /* capture stderr to check the report */
    FILE *tmp = tmpfile();
    CU_ASSERT_PTR_NOT_NULL_FATAL(tmp);
    fflush(stderr);
    int saved = dup(2);
    dup2(fileno(tmp), 2);
    uint64_t t0 = lrt__mono_ns();
    int rc = lrt_shutdown_timeout(rt, 100);
    uint64_t took = lrt__mono_ns() - t0;
    fflush(stderr);
    dup2(saved, 2);
    close(saved);

    CU_ASSERT_EQUAL(rc, -ETIMEDOUT);
    CU_ASSERT(took >= 90000000u && took < 450000000u);
    char text[4096] = "", want[96];
    rewind(tmp);
    size_t n = fread(text, 1, sizeof text - 1, tmp);
    text[n] = 0;
    fclose(tmp);
    snprintf(want, sizeof want, "blocking job %llu still running after",
             (unsigned long long)s.job_id);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, want));

    /* release the job: its thread drops the orphaned result, frees the pool, exits */
    CU_ASSERT_EQUAL(write(s.fds[1], "x", 1), 1);
    for (int i = 0; i < 400 && !atomic_load(&s.returned); i++)
        real_sleep_ms(1);
    CU_ASSERT_EQUAL(atomic_load(&s.returned), 1);
    real_sleep_ms(20); /* let the thread leave */
    CU_ASSERT_EQUAL(atomic_load(&s.queued_ran), 0); /* the queued job was dropped */
    close(s.fds[0]);
    close(s.fds[1]);
}

static void test_shutdown_background_leaves_a_running_job_to_finish_alone(void)
{
    struct stuck s = { .started = 0, .returned = 0, .queued_ran = 0 };
    CU_ASSERT_FATAL(pipe(s.fds) == 0);
    lrt_options_t o = pool_opts(1, 0);
    lrt_runtime_t *rt = lrt_runtime_new(&o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rt);
    CU_ASSERT_EQUAL(lrt_block_on(rt, stuck_root, &s, NULL), 0);
    uint64_t t0 = lrt__mono_ns();
    lrt_shutdown_background(rt); /* does not wait for the job */
    CU_ASSERT(lrt__mono_ns() - t0 < 100000000u);
    CU_ASSERT_EQUAL(atomic_load(&s.returned), 0);

    CU_ASSERT_EQUAL(write(s.fds[1], "x", 1), 1);
    for (int i = 0; i < 400 && !atomic_load(&s.returned); i++)
        real_sleep_ms(1);
    CU_ASSERT_EQUAL(atomic_load(&s.returned), 1);
    real_sleep_ms(20);
    CU_ASSERT_EQUAL(atomic_load(&s.queued_ran), 0);
    close(s.fds[0]);
    close(s.fds[1]);
}

/* ---- errors --------------------------------------------------------------------- */

struct foreign {
    lrt_task_t *t;
    int err;
};

static void *foreign_thread(void *arg)
{
    struct foreign *f = arg;
    errno = 0;
    f->t = lrt_spawn_blocking(mark_job, NULL);
    f->err = errno;
    return NULL;
}

static void *nested_job(void *arg)
{
    foreign_thread(arg); /* a pool thread is not the runtime thread either */
    return NULL;
}

static void *eperm_root(void *arg)
{
    (void)arg;
    struct foreign f = { (lrt_task_t *)1, 0 };
    pthread_t th;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, foreign_thread, &f), 0);
    pthread_join(th, NULL);
    CU_ASSERT_PTR_NULL(f.t);
    CU_ASSERT_EQUAL(f.err, EPERM);

    struct foreign g = { (lrt_task_t *)1, 0 };
    lrt_task_t *j = lrt_spawn_blocking(nested_job, &g);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    CU_ASSERT_EQUAL(lrt_join(j, NULL), 0);
    CU_ASSERT_PTR_NULL(g.t);
    CU_ASSERT_EQUAL(g.err, EPERM);
    return NULL;
}

static void test_spawn_blocking_off_the_runtime_thread_fails_with_eperm(void)
{
    lrt_test_run(NULL, eperm_root, NULL);
}

struct late_spawn {
    int sleep_rc;
    lrt_task_t *job;
    int err;
};

/* Cancelled by the shutdown, the task tries to hand work to the pool on its way out. */
static void *spawn_on_cancel_task(void *arg)
{
    struct late_spawn *l = arg;
    l->sleep_rc = lrt_sleep_ms(10000);
    errno = 0;
    l->job = lrt_spawn_blocking(mark_job, NULL);
    l->err = errno;
    return NULL;
}

static void *eshutdown_root(void *arg)
{
    lrt_task_t *t = lrt_spawn(spawn_on_cancel_task, arg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    lrt_yield(); /* let it start sleeping */
    lrt_task_detach(t);
    return NULL;
}

static void test_spawn_blocking_during_shutdown_fails_with_eshutdown(void)
{
    struct late_spawn l = { 1, (lrt_task_t *)1, 0 };
    lrt_test_run(NULL, eshutdown_root, &l);
    CU_ASSERT_EQUAL(l.sleep_rc, -ECANCELED);
    CU_ASSERT_PTR_NULL(l.job);
    CU_ASSERT_EQUAL(l.err, ESHUTDOWN);
}

static void *einval_root(void *arg)
{
    (void)arg;
    errno = 0;
    CU_ASSERT_PTR_NULL(lrt_spawn_blocking(NULL, NULL));
    CU_ASSERT_EQUAL(errno, EINVAL);
    return NULL;
}

static void test_spawn_blocking_with_a_null_function_fails_with_einval(void)
{
    lrt_test_run(NULL, einval_root, NULL);
}

/* ---- owned jobs: drop(arg) exactly once, however the job ends ------------------- */

struct drops {
    pthread_t rt_thread; /* the runtime thread */
    atomic_int n;        /* drop calls */
    atomic_int on_rt;    /* ... of which on the runtime thread */
    atomic_int started;  /* box_job entered */
    atomic_int ran;      /* box_job returned */
};

/* A heap argument owned by its job. */
struct box {
    struct drops *d;
    struct gate *g;    /* wait for it before returning (NULL = don't) */
    unsigned sleep_ms; /* then sleep this long */
    int value;         /* written by the job: the memory must still be there */
};

static struct box *box_new(struct drops *d, struct gate *g, unsigned sleep_ms)
{
    struct box *b = calloc(1, sizeof *b);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    b->d = d;
    b->g = g;
    b->sleep_ms = sleep_ms;
    return b;
}

static void box_drop(void *arg)
{
    struct box *b = arg;
    atomic_fetch_add(&b->d->n, 1);
    if (pthread_equal(pthread_self(), b->d->rt_thread))
        atomic_fetch_add(&b->d->on_rt, 1);
    free(b);
}

static void *box_job(void *arg)
{
    struct box *b = arg;
    atomic_fetch_add(&b->d->started, 1);
    if (b->g)
        gated_job(b->g);
    if (b->sleep_ms)
        real_sleep_ms(b->sleep_ms);
    b->value = 42;
    atomic_fetch_add(&b->d->ran, 1);
    return (void *)(uintptr_t)0xb0c5;
}

static void drops_init(struct drops *d)
{
    memset(d, 0, sizeof *d);
    d->rt_thread = pthread_self();
}

/* In a task: wait (1 ms sleeps) until the pool has delivered everything. */
static void wait_pool_idle(void)
{
    for (int i = 0; i < 2000 && lrt__pool_pending(lrt_current()); i++)
        lrt_sleep_ms(1);
    CU_ASSERT_EQUAL(lrt__pool_pending(lrt_current()), 0);
}

static void *owned_normal_root(void *arg)
{
    struct drops *d = arg;
    lrt_task_t *j = lrt_spawn_blocking_owned(box_job, box_new(d, NULL, 0), box_drop);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    void *res = NULL;
    CU_ASSERT_EQUAL(lrt_join(j, &res), 0);
    CU_ASSERT_EQUAL((uintptr_t)res, 0xb0c5);
    /* dropped on the pool thread before the completion was posted */
    CU_ASSERT_EQUAL(atomic_load(&d->n), 1);
    CU_ASSERT_EQUAL(atomic_load(&d->on_rt), 0);
    CU_ASSERT_EQUAL(atomic_load(&d->ran), 1);
    return NULL;
}

static void owned_arg_is_dropped_once_after_the_job_returns(void)
{
    struct drops d;
    drops_init(&d);
    lrt_test_run(NULL, owned_normal_root, &d);
    CU_ASSERT_EQUAL(atomic_load(&d.n), 1);
}

struct joiner_ctx {
    struct drops *d;
    struct gate *g;
    int join_rc;
};

static void *owned_joiner(void *arg)
{
    struct joiner_ctx *c = arg;
    lrt_task_t *j = lrt_spawn_blocking_owned(box_job, box_new(c->d, c->g, 0), box_drop);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    c->join_rc = lrt_join(j, NULL);
    if (c->join_rc != 0)
        lrt_task_detach(j); /* cancelled: stop waiting, the job owns its arg */
    return NULL;
}

static void *owned_aborted_joiner_root(void *arg)
{
    struct drops *d = arg;
    struct gate g = GATE_INIT;
    struct joiner_ctx c = {d, &g, 1};
    lrt_task_t *t = lrt_spawn(owned_joiner, &c);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT(wait_until(&g.started, 1, 1000));
    lrt_abort(t);
    int jr = lrt_join(t, NULL); /* the task returned after its abort (issue 8, item 8) */
    CU_ASSERT(jr == 0 || jr == -ECANCELED);
    CU_ASSERT_EQUAL(c.join_rc, -ECANCELED);
    CU_ASSERT_EQUAL(atomic_load(&d->n), 0); /* still running: its arg is alive */
    gate_open(&g);
    CU_ASSERT(wait_until(&d->n, 1, 2000));
    wait_pool_idle();
    CU_ASSERT_EQUAL(atomic_load(&d->ran), 1);
    CU_ASSERT_EQUAL(atomic_load(&d->on_rt), 0);
    return NULL;
}

static void owned_arg_is_dropped_once_when_the_joiner_was_aborted(void)
{
    struct drops d;
    drops_init(&d);
    lrt_test_run(NULL, owned_aborted_joiner_root, &d);
    CU_ASSERT_EQUAL(atomic_load(&d.n), 1);
}

static void *owned_queued_abort_root(void *arg)
{
    struct drops *d = arg;
    struct gate g = GATE_INIT;
    lrt_task_t *busy = lrt_spawn_blocking(gated_job, &g); /* takes the only thread */
    CU_ASSERT_PTR_NOT_NULL_FATAL(busy);
    CU_ASSERT(wait_until(&g.started, 1, 1000));
    lrt_task_t *j = lrt_spawn_blocking_owned(box_job, box_new(d, NULL, 0), box_drop);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    lrt_abort(j);
    /* dropped inside lrt_abort, on this thread */
    CU_ASSERT_EQUAL(atomic_load(&d->n), 1);
    CU_ASSERT_EQUAL(atomic_load(&d->on_rt), 1);
    void *res = (void *)1;
    CU_ASSERT_EQUAL(lrt_join(j, &res), -ECANCELED);
    gate_open(&g);
    CU_ASSERT_EQUAL(lrt_join(busy, NULL), 0);
    CU_ASSERT_EQUAL(atomic_load(&d->started), 0);
    return NULL;
}

static void owned_arg_is_dropped_on_the_runtime_thread_when_aborted_before_start(void)
{
    struct drops d;
    drops_init(&d);
    lrt_options_t o = pool_opts(1, 0);
    lrt_test_run(&o, owned_queued_abort_root, &d);
    CU_ASSERT_EQUAL(atomic_load(&d.n), 1);
}

static void *owned_detached_root(void *arg)
{
    struct drops *d = arg;
    lrt_task_t *j = lrt_spawn_blocking_owned(box_job, box_new(d, NULL, 0), box_drop);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    lrt_task_detach(j);
    CU_ASSERT(wait_until(&d->n, 1, 2000));
    wait_pool_idle();
    CU_ASSERT_EQUAL(atomic_load(&d->ran), 1);
    return NULL;
}

static void owned_arg_of_a_detached_job_is_dropped_once(void)
{
    struct drops d;
    drops_init(&d);
    lrt_test_run(NULL, owned_detached_root, &d);
    CU_ASSERT_EQUAL(atomic_load(&d.n), 1);
}

/* One owned job running (40 ms) on the only thread, three queued behind it; all
 * detached when the root returns, so lrt_runtime_free drops the queued ones. */
static void *owned_shutdown_root(void *arg)
{
    struct drops *d = arg;
    lrt_task_t *j = lrt_spawn_blocking_owned(box_job, box_new(d, NULL, 40), box_drop);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    CU_ASSERT(wait_until(&d->started, 1, 1000));
    lrt_task_detach(j);
    for (int i = 0; i < 3; i++) {
        j = lrt_spawn_blocking_owned(box_job, box_new(d, NULL, 0), box_drop);
        CU_ASSERT_PTR_NOT_NULL_FATAL(j);
        lrt_task_detach(j);
    }
    return NULL;
}

static void owned_args_of_queued_jobs_are_dropped_at_shutdown(void)
{
    struct drops d;
    drops_init(&d);
    lrt_options_t o = pool_opts(1, 0);
    lrt_test_run(&o, owned_shutdown_root, &d);
    CU_ASSERT_EQUAL(atomic_load(&d.ran), 1);
    CU_ASSERT_EQUAL(atomic_load(&d.n), 4);
    CU_ASSERT_EQUAL(atomic_load(&d.on_rt), 3);
}

static void *owned_orphan_root(void *arg)
{
    struct box *b = arg;
    lrt_task_t *j = lrt_spawn_blocking_owned(box_job, b, box_drop);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    CU_ASSERT(wait_until(&b->g->started, 1, 1000));
    lrt_task_detach(j);
    return NULL;
}

static void owned_arg_of_a_job_outliving_the_runtime_is_dropped_by_its_thread(void)
{
    struct drops d;
    drops_init(&d);
    struct gate g = GATE_INIT;
    lrt_runtime_t *rt = lrt_runtime_new(NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rt);
    CU_ASSERT_EQUAL(lrt_block_on(rt, owned_orphan_root, box_new(&d, &g, 0), NULL), 0);
    lrt_shutdown_background(rt); /* gives up on the running job */
    CU_ASSERT_EQUAL(atomic_load(&d.n), 0);
    gate_open(&g);
    for (int i = 0; i < 2000 && atomic_load(&d.n) == 0; i++)
        real_sleep_ms(1);
    CU_ASSERT_EQUAL(atomic_load(&d.n), 1);
    CU_ASSERT_EQUAL(atomic_load(&d.on_rt), 0);
    real_sleep_ms(20); /* let the thread leave (it frees the pool) */
}

static void *owned_foreign_thread(void *arg)
{
    struct drops *d = arg;
    errno = 0;
    lrt_task_t *j = lrt_spawn_blocking_owned(box_job, box_new(d, NULL, 0), box_drop);
    return j ? (void *)1 : (void *)(intptr_t)errno;
}

static void *owned_failures_root(void *arg)
{
    struct drops *d = arg;
    errno = 0;
    CU_ASSERT_PTR_NULL(lrt_spawn_blocking_owned(NULL, box_new(d, NULL, 0), box_drop));
    CU_ASSERT_EQUAL(errno, EINVAL);
    CU_ASSERT_EQUAL(atomic_load(&d->n), 1);
    pthread_t th;
    void *err = NULL;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, owned_foreign_thread, d), 0);
    pthread_join(th, &err);
    CU_ASSERT_EQUAL((intptr_t)err, EPERM);
    CU_ASSERT_EQUAL(atomic_load(&d->n), 2);
    CU_ASSERT_EQUAL(atomic_load(&d->on_rt), 1); /* the second one on the foreign thread */
    /* a NULL drop is lrt_spawn_blocking */
    struct box b = {.d = d};
    lrt_task_t *j = lrt_spawn_blocking_owned(box_job, &b, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    CU_ASSERT_EQUAL(lrt_join(j, NULL), 0);
    CU_ASSERT_EQUAL(b.value, 42);
    CU_ASSERT_EQUAL(atomic_load(&d->n), 2);
    return NULL;
}

static void owned_arg_is_dropped_when_the_spawn_fails(void)
{
    struct drops d;
    drops_init(&d);
    lrt_test_run(NULL, owned_failures_root, &d);
    CU_ASSERT_EQUAL(atomic_load(&d.n), 2);
    CU_ASSERT_EQUAL(atomic_load(&d.ran), 1);
}

/*
 * The hazard of lrt_spawn_blocking with an arg on the joiner's stack: the joiner is
 * aborted, returns, its stack goes to the next task, and the job then writes into it.
 * The owned form with a reference-counted heap arg: the job writes into memory that the
 * aborted joiner let go of but the job still holds; the task on the recycled stack sees
 * its own data intact.
 */
struct shared_out {
    atomic_int refs; /* joiner + job */
    struct drops *d;
    struct gate *g;
    char out[512];
};

static void shared_unref(void *arg)
{
    struct shared_out *s = arg;
    struct drops *d = s->d;
    if (atomic_fetch_sub(&s->refs, 1) == 1)
        free(s);
    atomic_fetch_add(&d->n, 1); /* last: the test may end once it sees every unref */
}

static void *fill_job(void *arg)
{
    struct shared_out *s = arg;
    gated_job(s->g);
    memset(s->out, 'J', sizeof s->out); /* after the joiner is gone */
    return NULL;
}

static NOINLINE void *stack_joiner(void *arg)
{
    struct joiner_ctx *c = arg;
    struct shared_out *s = calloc(1, sizeof *s);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    atomic_init(&s->refs, 2);
    s->d = c->d;
    s->g = c->g;
    lrt_task_t *j = lrt_spawn_blocking_owned(fill_job, s, shared_unref);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    c->join_rc = lrt_join(j, NULL);
    if (c->join_rc != 0)
        lrt_task_detach(j);
    shared_unref(s); /* the joiner's reference */
    return NULL;
}

static NOINLINE void *stack_reuser(void *arg)
{
    struct joiner_ctx *c = arg;
    char mine[16384]; /* spans where the joiner's frames were */
    memset(mine, 'R', sizeof mine);
    __asm__ volatile("" : : "r"(mine) : "memory");
    gate_open(c->g);
    /* both references dropped = the job has finished writing */
    for (int i = 0; i < 2000 && atomic_load(&c->d->n) < 2; i++)
        lrt_sleep_ms(1);
    size_t bad = 0;
    for (size_t i = 0; i < sizeof mine; i++)
        bad += mine[i] != 'R';
    return (void *)bad;
}

static void *stack_reuse_root(void *arg)
{
    struct drops *d = arg;
    struct gate g = GATE_INIT;
    struct joiner_ctx c = {d, &g, 1};
    lrt_task_t *t = lrt_spawn(stack_joiner, &c);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT(wait_until(&g.started, 1, 1000));
    lrt_abort(t);
    int jr = lrt_join(t, NULL); /* the task returned after its abort (issue 8, item 8) */
    CU_ASSERT(jr == 0 || jr == -ECANCELED);
    CU_ASSERT_EQUAL(c.join_rc, -ECANCELED);
    CU_ASSERT_EQUAL(atomic_load(&d->n), 1); /* the joiner's reference only */
    lrt_task_t *r = lrt_spawn(stack_reuser, &c); /* takes the joiner's stack */
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    void *bad = (void *)1;
    CU_ASSERT_EQUAL(lrt_join(r, &bad), 0);
    CU_ASSERT_EQUAL(atomic_load(&d->n), 2);
    CU_ASSERT_EQUAL((uintptr_t)bad, 0);
    wait_pool_idle();
    return NULL;
}

static void owned_arg_keeps_a_late_job_out_of_a_recycled_stack(void)
{
    struct drops d;
    drops_init(&d);
    lrt_test_run(NULL, stack_reuse_root, &d);
    CU_ASSERT_EQUAL(atomic_load(&d.n), 2);
}

CU_TestInfo lrt_test_blocking[] = {
    {"blocking_job_results_come_back_through_join", test_blocking_job_results_come_back_through_join},
    {"join_on_a_slow_job_wakes_the_parked_runtime", test_join_on_a_slow_job_wakes_the_parked_runtime},
    {"jobs_run_in_fifo_order_on_a_single_thread", test_jobs_run_in_fifo_order_on_a_single_thread},
    {"pool_grows_to_its_maximum_and_retires_idle_threads", test_pool_grows_to_its_maximum_and_retires_idle_threads},
    {"an_idle_thread_is_reused_and_claimed_only_once", test_an_idle_thread_is_reused_and_claimed_only_once},
    {"aborting_a_queued_job_makes_join_return_ecanceled", test_aborting_a_queued_job_makes_join_return_ecanceled},
    {"a_detached_job_is_freed_when_it_finishes", test_a_detached_job_is_freed_when_it_finishes},
    {"runtime_free_waits_for_running_jobs", test_runtime_free_waits_for_running_jobs},
    {"shutdown_timeout_gives_up_on_a_stuck_job", test_shutdown_timeout_gives_up_on_a_stuck_job},
    {"shutdown_background_leaves_a_running_job_to_finish_alone", test_shutdown_background_leaves_a_running_job_to_finish_alone},
    {"spawn_blocking_off_the_runtime_thread_fails_with_eperm", test_spawn_blocking_off_the_runtime_thread_fails_with_eperm},
    {"spawn_blocking_during_shutdown_fails_with_eshutdown", test_spawn_blocking_during_shutdown_fails_with_eshutdown},
    {"spawn_blocking_with_a_null_function_fails_with_einval", test_spawn_blocking_with_a_null_function_fails_with_einval},
    {"owned_arg_is_dropped_once_after_the_job_returns", owned_arg_is_dropped_once_after_the_job_returns},
    {"owned_arg_is_dropped_once_when_the_joiner_was_aborted", owned_arg_is_dropped_once_when_the_joiner_was_aborted},
    {"owned_arg_is_dropped_on_the_runtime_thread_when_aborted_before_start", owned_arg_is_dropped_on_the_runtime_thread_when_aborted_before_start},
    {"owned_arg_of_a_detached_job_is_dropped_once", owned_arg_of_a_detached_job_is_dropped_once},
    {"owned_args_of_queued_jobs_are_dropped_at_shutdown", owned_args_of_queued_jobs_are_dropped_at_shutdown},
    {"owned_arg_of_a_job_outliving_the_runtime_is_dropped_by_its_thread", owned_arg_of_a_job_outliving_the_runtime_is_dropped_by_its_thread},
    {"owned_arg_is_dropped_when_the_spawn_fails", owned_arg_is_dropped_when_the_spawn_fails},
    {"owned_arg_keeps_a_late_job_out_of_a_recycled_stack", owned_arg_keeps_a_late_job_out_of_a_recycled_stack},
    CU_TEST_INFO_NULL,
};
