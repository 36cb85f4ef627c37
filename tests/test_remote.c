/* Cross-thread handle: injection from many threads, wake-up, shutdown, release anywhere. */
#include "test_util.h"
#include "internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void real_sleep_ms(unsigned ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* Runs as a task on the runtime thread: a plain counter is enough. */
static void *incr(void *arg)
{
    (*(int *)arg)++;
    return NULL;
}

/* ---- many threads ---------------------------------------------------------------- */

enum { THREADS = 4, PER_THREAD = 1000 };

struct spawner {
    lrt_handle_t *h;
    int *counter;
    int failures;
};

static void *spawner_thread(void *arg)
{
    struct spawner *s = arg;
    for (int i = 0; i < PER_THREAD; i++)
        if (lrt_handle_spawn(s->h, incr, s->counter) != 0)
            s->failures++;
    lrt_handle_release(s->h);
    return NULL;
}

static void *many_root(void *arg)
{
    (void)arg;
    lrt_runtime_t *rt = lrt_current();
    int counter = 0;
    pthread_t th[THREADS];
    struct spawner sp[THREADS];
    uint64_t before = rt->m.remote_schedules;

    lrt_handle_t *h = lrt_runtime_handle(rt);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    for (int i = 0; i < THREADS; i++) {
        sp[i] = (struct spawner){ lrt_handle_clone(h), &counter, 0 };
        CU_ASSERT_EQUAL_FATAL(pthread_create(&th[i], NULL, spawner_thread, &sp[i]), 0);
    }
    lrt_handle_release(h);
    for (int i = 0; i < 5000 && counter < THREADS * PER_THREAD; i++)
        lrt_sleep_ms(1);
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        CU_ASSERT_EQUAL(sp[i].failures, 0);
    }
    CU_ASSERT_EQUAL(counter, THREADS * PER_THREAD);
    CU_ASSERT_EQUAL(rt->m.remote_schedules - before, THREADS * PER_THREAD);
    CU_ASSERT_FALSE(lrt__remote_live_handles(rt));
    return NULL;
}

static void test_handle_spawn_from_four_threads_runs_every_task(void)
{
    lrt_test_run(NULL, many_root, NULL);
}

/* ---- wake-up of a parked runtime -------------------------------------------------- */

struct late {
    lrt_handle_t *h;
    lrt_chan_t *chan;
};

static void *send_task(void *arg)
{
    struct late *l = arg;
    lrt_chan_send(l->chan, (void *)(uintptr_t)42);
    return NULL;
}

static void *late_thread(void *arg)
{
    struct late *l = arg;
    real_sleep_ms(30); /* the root is parked by now, with no timer armed */
    CU_ASSERT_EQUAL(lrt_handle_spawn(l->h, send_task, l), 0);
    lrt_handle_release(l->h);
    return NULL;
}

static void *parked_root(void *arg)
{
    (void)arg;
    struct late l = { lrt_runtime_handle(lrt_current()), lrt_chan_new(0) };
    CU_ASSERT_PTR_NOT_NULL_FATAL(l.h);
    CU_ASSERT_PTR_NOT_NULL_FATAL(l.chan);
    pthread_t th;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, late_thread, &l), 0);
    void *msg = NULL;
    uint64_t t0 = lrt__mono_ns();
    /* Nothing but the live handle can wake us: no -EDEADLK, no busy loop. */
    CU_ASSERT_EQUAL(lrt_chan_recv(l.chan, &msg), 0);
    uint64_t took = lrt__mono_ns() - t0;
    CU_ASSERT_EQUAL((uintptr_t)msg, 42);
    CU_ASSERT(took < 400000000u);
    pthread_join(th, NULL);
    lrt_chan_free(l.chan);
    return NULL;
}

static void test_handle_spawn_wakes_a_parked_runtime(void)
{
    lrt_test_run(NULL, parked_root, NULL);
}

/* ---- before block_on, attributes ---------------------------------------------------- */

struct seen {
    int ran;
    const char *name;
    int waker;
    int detached;
};

static void *observe(void *arg)
{
    struct seen *s = arg;
    struct lrt_task *self = lrt__current();
    s->ran++;
    s->name = self->name;
    s->waker = self->last_waker;
    s->detached = !!(self->flags & LRT__TF_DETACHED);
    return NULL;
}

static void *wait_seen_root(void *arg)
{
    struct seen *s = arg;
    for (int i = 0; i < 200 && !s->ran; i++)
        lrt_sleep_ms(1);
    return NULL;
}

static void test_tasks_injected_before_block_on_run_inside_it(void)
{
    struct seen s = { 0, NULL, -1, 0 };
    lrt_runtime_t *rt = lrt_runtime_new(NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rt);
    lrt_handle_t *h = lrt_runtime_handle(rt);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    CU_ASSERT_EQUAL(lrt_handle_spawn(h, observe, &s), 0);
    CU_ASSERT_EQUAL(lrt_block_on(rt, wait_seen_root, &s, NULL), 0);
    CU_ASSERT_EQUAL(s.ran, 1);
    CU_ASSERT_STRING_EQUAL(s.name ? s.name : "(null)", "remote");
    CU_ASSERT_EQUAL(s.detached, 1);
    lrt_handle_release(h);
    lrt_runtime_free(rt);
}

/* ---- shutdown and release ------------------------------------------------------------ */

static void *release_thread(void *arg)
{
    lrt_handle_release(arg);
    return NULL;
}

static void test_handle_spawn_after_shutdown_fails_with_eshutdown(void)
{
    int counter = 0;
    lrt_runtime_t *rt = lrt_runtime_new(NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rt);
    lrt_handle_t *h = lrt_runtime_handle(rt);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    /* pending at shutdown: dropped without running, without leaking */
    CU_ASSERT_EQUAL(lrt_handle_spawn(h, incr, &counter), 0);
    lrt_runtime_free(rt);
    CU_ASSERT_EQUAL(lrt_handle_spawn(h, incr, &counter), -ESHUTDOWN);
    lrt_handle_t *h2 = lrt_handle_clone(h); /* still a valid object */
    CU_ASSERT_PTR_EQUAL(h2, h);
    CU_ASSERT_EQUAL(lrt_handle_spawn(h2, incr, &counter), -ESHUTDOWN);
    lrt_handle_release(h2);
    /* the last reference goes on another thread, after the runtime is gone */
    pthread_t th;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, release_thread, h), 0);
    pthread_join(th, NULL);
    CU_ASSERT(counter <= 1);
}

static void *live_root(void *arg)
{
    (void)arg;
    lrt_runtime_t *rt = lrt_current();
    CU_ASSERT_FALSE(lrt__remote_live_handles(rt));
    lrt_handle_t *h = lrt_runtime_handle(rt);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    CU_ASSERT_TRUE(lrt__remote_live_handles(rt));
    lrt_handle_t *h2 = lrt_runtime_handle(rt);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h2);
    lrt_handle_t *h3 = lrt_handle_clone(h2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h3);

    /* releases on other threads while the runtime runs */
    pthread_t th[2];
    CU_ASSERT_EQUAL_FATAL(pthread_create(&th[0], NULL, release_thread, h), 0);
    CU_ASSERT_EQUAL_FATAL(pthread_create(&th[1], NULL, release_thread, h2), 0);
    pthread_join(th[0], NULL);
    pthread_join(th[1], NULL);
    CU_ASSERT_TRUE(lrt__remote_live_handles(rt));
    lrt_handle_release(h3);
    CU_ASSERT_FALSE(lrt__remote_live_handles(rt));
    return NULL;
}

static void test_handles_count_as_live_until_released_from_any_thread(void)
{
    lrt_test_run(NULL, live_root, NULL);
}

static void *errors_root(void *arg)
{
    (void)arg;
    lrt_handle_t *h = lrt_runtime_handle(lrt_current());
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    CU_ASSERT_EQUAL(lrt_handle_spawn(NULL, incr, NULL), -EINVAL);
    CU_ASSERT_EQUAL(lrt_handle_spawn(h, NULL, NULL), -EINVAL);
    lrt_handle_release(h);
    lrt_handle_release(NULL); /* no-op */

    errno = 0;
    CU_ASSERT_PTR_NULL(lrt_runtime_handle(NULL));
    CU_ASSERT_EQUAL(errno, EINVAL);
    errno = 0;
    CU_ASSERT_PTR_NULL(lrt_handle_clone(NULL));
    CU_ASSERT_EQUAL(errno, EINVAL);
    return NULL;
}

static void test_handle_functions_reject_null_arguments(void)
{
    lrt_test_run(NULL, errors_root, NULL);
}

struct offthread {
    lrt_runtime_t *rt;
    lrt_handle_t *h;
    int err;
};

static void *offthread_handle(void *arg)
{
    struct offthread *o = arg;
    errno = 0;
    o->h = lrt_runtime_handle(o->rt);
    o->err = errno;
    return NULL;
}

static void test_runtime_handle_off_the_runtime_thread_fails_with_eperm(void)
{
    lrt_runtime_t *rt = lrt_runtime_new(NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rt);
    struct offthread o = { rt, (lrt_handle_t *)1, 0 };
    pthread_t th;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, offthread_handle, &o), 0);
    pthread_join(th, NULL);
    CU_ASSERT_PTR_NULL(o.h);
    CU_ASSERT_EQUAL(o.err, EPERM);
    lrt_runtime_free(rt);
}

/* ---- the inbox every cross-thread source posts into (notify.c) ------------------- */

struct src_log {
    int order[8];
    int n;
};

struct test_src {
    atomic_int pending;
    struct src_log *log;
    int who;
};

static size_t log_drain(struct lrt_runtime *rt, void *ctx)
{
    (void)rt;
    struct test_src *src = ctx;
    atomic_store(&src->pending, 0);
    if (src->log->n < 8)
        src->log->order[src->log->n++] = src->who;
    return 1;
}

static void test_inbox_drains_each_posted_source_once_in_registration_order(void)
{
    lrt_runtime_t *rt = lrt_runtime_new(NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rt);
    struct src_log log = {{0}, 0};
    struct test_src a = {0, &log, 1}, b = {0, &log, 2};
    int ia = lrt__inbox_register(rt, &a.pending, log_drain, &a);
    int ib = lrt__inbox_register(rt, &b.pending, log_drain, &b);
    CU_ASSERT_FATAL(ia >= 0 && ib >= 0 && ia != ib);
    CU_ASSERT_FALSE(lrt__inbox_pending(rt));
    lrt__inbox_post(rt->notifier, &b.pending);
    lrt__inbox_post(rt->notifier, &a.pending);
    CU_ASSERT_TRUE(lrt__inbox_pending(rt));
    CU_ASSERT_EQUAL(lrt__inbox_drain(rt), 2);
    CU_ASSERT_EQUAL(log.n, 2);
    CU_ASSERT_EQUAL(log.order[0], 1); /* registration order, not posting order */
    CU_ASSERT_EQUAL(log.order[1], 2);
    CU_ASSERT_FALSE(lrt__inbox_pending(rt));
    CU_ASSERT_EQUAL(lrt__inbox_drain(rt), 0);
    CU_ASSERT_EQUAL(log.n, 2);
    lrt__inbox_unregister(rt, ia);
    lrt__inbox_unregister(rt, ib);
    lrt_runtime_free(rt);
}

struct late_post {
    lrt__notifier *n;
    atomic_int *pending;
};

static void *post_later(void *arg)
{
    struct late_post *lp = arg;
    real_sleep_ms(50);
    lrt__inbox_post(lp->n, lp->pending);
    return NULL;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void test_inbox_post_from_another_thread_wakes_a_parked_driver(void)
{
    lrt_runtime_t *rt = lrt_runtime_new(NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rt);
    struct src_log log = {{0}, 0};
    struct test_src src = {0, &log, 7};
    int id = lrt__inbox_register(rt, &src.pending, log_drain, &src);
    CU_ASSERT_FATAL(id >= 0);
    struct late_post lp = {lrt__notifier_get(rt), &src.pending};
    pthread_t th;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, post_later, &lp), 0);
    uint64_t t0 = mono_ms();
    /* parks for up to 30 s; only the post can end it early (generous bound: 20 s) */
    while (!lrt__inbox_pending(rt) && mono_ms() - t0 < 20000)
        lrt__io_poll(rt, 30000000000ull);
    CU_ASSERT(mono_ms() - t0 < 20000);
    pthread_join(th, NULL);
    CU_ASSERT_EQUAL(lrt__inbox_drain(rt), 1);
    CU_ASSERT_EQUAL(log.n, 1);
    lrt__notifier_put(lp.n);
    lrt__inbox_unregister(rt, id);
    lrt_runtime_free(rt);
}

/* The lost-wake-up case: work posted while the runtime was not parked writes no eventfd,
 * so the driver must see the pending flag before it sleeps. */
static void test_inbox_work_posted_before_parking_keeps_the_driver_awake(void)
{
    lrt_runtime_t *rt = lrt_runtime_new(NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rt);
    struct src_log log = {{0}, 0};
    struct test_src src = {0, &log, 3};
    int id = lrt__inbox_register(rt, &src.pending, log_drain, &src);
    CU_ASSERT_FATAL(id >= 0);
    lrt__io_poll(rt, 0); /* consume any earlier wake-up */
    lrt__inbox_post(rt->notifier, &src.pending); /* not parked: the eventfd stays silent */
    uint64_t t0 = mono_ms();
    lrt__io_poll(rt, 5000000000ull); /* would sleep 5 s if the flag were missed */
    CU_ASSERT(mono_ms() - t0 < 4000);
    CU_ASSERT_EQUAL(lrt__inbox_drain(rt), 1);
    lrt__inbox_unregister(rt, id);
    lrt_runtime_free(rt);
}

CU_TestInfo lrt_test_remote[] = {
    {"handle_spawn_from_four_threads_runs_every_task", test_handle_spawn_from_four_threads_runs_every_task},
    {"handle_spawn_wakes_a_parked_runtime", test_handle_spawn_wakes_a_parked_runtime},
    {"tasks_injected_before_block_on_run_inside_it", test_tasks_injected_before_block_on_run_inside_it},
    {"handle_spawn_after_shutdown_fails_with_eshutdown", test_handle_spawn_after_shutdown_fails_with_eshutdown},
    {"handles_count_as_live_until_released_from_any_thread", test_handles_count_as_live_until_released_from_any_thread},
    {"handle_functions_reject_null_arguments", test_handle_functions_reject_null_arguments},
    {"runtime_handle_off_the_runtime_thread_fails_with_eperm", test_runtime_handle_off_the_runtime_thread_fails_with_eperm},
    {"inbox_drains_each_posted_source_once_in_registration_order", test_inbox_drains_each_posted_source_once_in_registration_order},
    {"inbox_post_from_another_thread_wakes_a_parked_driver", test_inbox_post_from_another_thread_wakes_a_parked_driver},
    {"inbox_work_posted_before_parking_keeps_the_driver_awake", test_inbox_work_posted_before_parking_keeps_the_driver_awake},
    CU_TEST_INFO_NULL,
};
