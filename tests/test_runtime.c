/* Runtime lifecycle, thread rules and bad input. */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "test_util.h"

static void *noop(void *arg) { return arg; }

static void null_arguments_get_einval(void)
{
    lrt_runtime_t *rt = lrt_runtime_new(NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rt);
    CU_ASSERT_EQUAL(lrt_block_on(NULL, noop, NULL, NULL), -EINVAL);
    CU_ASSERT_EQUAL(lrt_block_on(rt, NULL, NULL, NULL), -EINVAL);
    errno = 0;
    CU_ASSERT_PTR_NULL(lrt_spawn_local(rt, NULL, NULL));
    CU_ASSERT_EQUAL(errno, EINVAL);
    errno = 0;
    CU_ASSERT_PTR_NULL((lrt_spawn_local)(NULL, noop, NULL));
    CU_ASSERT_EQUAL(errno, EINVAL);
    errno = 0;
    CU_ASSERT_PTR_NULL(lrt_spawn(noop, NULL)); /* no current runtime: not a runtime thread */
    CU_ASSERT_EQUAL(errno, EPERM);
    CU_ASSERT_EQUAL(lrt_shutdown_timeout(NULL, 0), -EINVAL);
    lrt_runtime_free(NULL); /* no-op */
    lrt_abort(NULL);
    lrt_task_detach(NULL);
    CU_ASSERT_EQUAL(lrt_task_id(NULL), 0u);
    CU_ASSERT_EQUAL(lrt_task_is_finished(NULL), 0);
    lrt_runtime_free(rt);
}

static void bad_options_are_rejected(void)
{
    lrt_options_t o = {.max_blocking_threads = 1000000};
    errno = 0;
    CU_ASSERT_PTR_NULL(lrt_runtime_new(&o));
    CU_ASSERT_EQUAL(errno, EINVAL);
    lrt_options_t ok = {.stack_size = 64 * 1024, .event_interval = 7, .budget = 3};
    lrt_runtime_t *rt = lrt_runtime_new(&ok);
    CU_ASSERT_PTR_NOT_NULL(rt);
    lrt_runtime_free(rt);
}

static void *suspending_calls_outside_a_task(void *arg)
{
    (void)arg;
    return NULL;
}

static void suspension_points_outside_a_task_fail_with_eperm(void)
{
    lrt_runtime_t *rt = lrt_runtime_new(NULL);
    lrt_runtime_t *prev = lrt_enter(rt);
    CU_ASSERT_PTR_EQUAL(lrt_current(), rt);
    lrt_task_t *t = lrt_spawn(noop, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(lrt_join(t, NULL), -EPERM); /* handle kept */
    CU_ASSERT_EQUAL(lrt_yield(), -EPERM);
    CU_ASSERT_EQUAL(lrt_sleep_ms(1), -EPERM);
    CU_ASSERT_EQUAL(lrt_task_self_id(), 0u);
    CU_ASSERT_EQUAL(lrt_task_set_name("x"), -EPERM);
    lrt_exit(prev);
    CU_ASSERT_PTR_EQUAL(lrt_current(), prev);
    CU_ASSERT_EQUAL(lrt_block_on(rt, suspending_calls_outside_a_task, NULL, NULL), 0);
    CU_ASSERT_TRUE(lrt_task_is_finished(t));
    lrt_task_detach(t);
    lrt_runtime_free(rt);
}

/* ---- foreign threads ---- */
struct foreign { lrt_runtime_t *rt; int block_on, spawn_errno, shutdown, enter_errno; };

static void *foreign_thread(void *arg)
{
    struct foreign *f = arg;
    f->block_on = lrt_block_on(f->rt, noop, NULL, NULL);
    errno = 0;
    lrt_task_t *t = lrt_spawn_local(f->rt, noop, NULL);
    f->spawn_errno = t ? 0 : errno;
    f->shutdown = lrt_shutdown_timeout(f->rt, 0);
    errno = 0;
    lrt_enter(f->rt);
    f->enter_errno = errno;
    return NULL;
}

static void *foreign_root(void *arg)
{
    struct foreign *f = arg;
    pthread_t th;
    pthread_create(&th, NULL, foreign_thread, f);
    /* the runtime keeps running while the other thread tries its luck */
    while (pthread_tryjoin_np(th, NULL) != 0)
        lrt_sleep_ms(1);
    return NULL;
}

static void calls_from_a_foreign_thread_fail_with_eperm(void)
{
    struct foreign f = {.rt = lrt_runtime_new(NULL)};
    CU_ASSERT_EQUAL(lrt_block_on(f.rt, foreign_root, &f, NULL), 0);
    CU_ASSERT_EQUAL(f.block_on, -EPERM);
    CU_ASSERT_EQUAL(f.spawn_errno, EPERM);
    CU_ASSERT_EQUAL(f.shutdown, -EPERM);
    CU_ASSERT_EQUAL(f.enter_errno, EPERM);
    lrt_runtime_free(f.rt);
}

static void *nested_root(void *arg)
{
    lrt_runtime_t *rt = arg;
    CU_ASSERT_EQUAL(lrt_block_on(rt, noop, NULL, NULL), -EDEADLK);
    lrt_runtime_t *other = lrt_runtime_new(NULL);
    CU_ASSERT_EQUAL(lrt_block_on(other, noop, NULL, NULL), -EDEADLK); /* same thread */
    CU_ASSERT_EQUAL(lrt_shutdown_timeout(rt, 0), -EDEADLK);          /* from its own task */
    lrt_runtime_free(other);
    return NULL;
}

static void nested_block_on_on_the_same_thread_fails_with_edeadlk(void)
{
    lrt_runtime_t *rt = lrt_runtime_new(NULL);
    CU_ASSERT_EQUAL(lrt_block_on(rt, nested_root, rt, NULL), 0);
    lrt_runtime_free(rt);
}

static void *wait_forever(void *arg)
{
    lrt_chan_t *c = arg;
    void *m;
    return (void *)(intptr_t)lrt_chan_recv(c, &m);
}

static void *deadlock_root(void *arg)
{
    lrt_chan_t *c = arg;
    lrt_task_t *t = lrt_spawn(wait_forever, c);
    lrt_join(t, NULL); /* nobody will ever send */
    return NULL;
}

static void root_that_can_never_be_woken_returns_edeadlk(void)
{
    lrt_runtime_t *rt = lrt_runtime_new(NULL);
    lrt_chan_t *c = lrt_chan_new(0);
    /* the report goes to stderr: capture it */
    fflush(stderr);
    int saved = dup(2);
    FILE *tmp = tmpfile();
    dup2(fileno(tmp), 2);
    int rc = lrt_block_on(rt, deadlock_root, c, NULL);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    CU_ASSERT_EQUAL(rc, -EDEADLK);
    char buf[4096] = {0};
    rewind(tmp);
    size_t n = fread(buf, 1, sizeof buf - 1, tmp);
    fclose(tmp);
    CU_ASSERT(n > 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "deadlock"));
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "wait_forever"));
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "chan_recv"));
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "join of task"));
    lrt_runtime_free(rt); /* cancels both tasks */
    CU_ASSERT_EQUAL(lrt_chan_free(c), 0);
}

static int unwound;
static void *cleanup_on_cancel(void *arg)
{
    (void)arg;
    int rc = lrt_sleep_ms(60000);
    if (rc == -ECANCELED)
        unwound++;
    /* spawning during shutdown is refused */
    errno = 0;
    CU_ASSERT_PTR_NULL(lrt_spawn(noop, NULL));
    CU_ASSERT_EQUAL(errno, ESHUTDOWN);
    return NULL;
}

static void *spawn_sleepers(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100; i++)
        lrt_task_detach(lrt_spawn(cleanup_on_cancel, NULL));
    lrt_yield();
    return NULL;
}

static void shutdown_cancels_every_task_and_lets_it_unwind(void)
{
    unwound = 0;
    lrt_runtime_t *rt = lrt_runtime_new(NULL);
    CU_ASSERT_EQUAL(lrt_block_on(rt, spawn_sleepers, NULL, NULL), 0);
    CU_ASSERT_EQUAL(rt->alive, 100u);
    CU_ASSERT_EQUAL(lrt_shutdown_timeout(rt, 1000), 0);
    CU_ASSERT_EQUAL(unwound, 100);
}

static void shutdown_background_also_unwinds_tasks(void)
{
    unwound = 0;
    lrt_runtime_t *rt = lrt_runtime_new(NULL);
    CU_ASSERT_EQUAL(lrt_block_on(rt, spawn_sleepers, NULL, NULL), 0);
    lrt_shutdown_background(rt);
    CU_ASSERT_EQUAL(unwound, 100);
}

static void *block_on_after_shutdown_root(void *arg)
{
    (void)arg;
    return NULL;
}

static void enter_and_exit_nest(void)
{
    lrt_runtime_t *a = lrt_runtime_new(NULL), *b = lrt_runtime_new(NULL);
    CU_ASSERT_PTR_NULL(lrt_current());
    lrt_runtime_t *p1 = lrt_enter(a);
    lrt_runtime_t *p2 = lrt_enter(b);
    CU_ASSERT_PTR_EQUAL(p2, a);
    CU_ASSERT_PTR_EQUAL(lrt_current(), b);
    lrt_exit(p2);
    CU_ASSERT_PTR_EQUAL(lrt_current(), a);
    lrt_exit(p1);
    CU_ASSERT_PTR_NULL(lrt_current());
    CU_ASSERT_EQUAL(lrt_block_on(a, block_on_after_shutdown_root, NULL, NULL), 0);
    CU_ASSERT_PTR_NULL(lrt_current()); /* block_on restores */
    lrt_runtime_free(a);
    lrt_runtime_free(b);
}

static void strerror_names_lrt_errors(void)
{
    CU_ASSERT_STRING_EQUAL(lrt_strerror(0), "Success");
    CU_ASSERT_STRING_EQUAL(lrt_strerror(-ECANCELED), strerror(ECANCELED));
    CU_ASSERT_STRING_EQUAL(lrt_strerror(ETIMEDOUT), strerror(ETIMEDOUT));
}

/* The header promises a static string for any int: glibc's strerror() writes unknown
 * codes into a per-thread buffer that the next strerror() call overwrites, and -INT_MIN
 * overflows. */
static void strerror_gives_a_static_string_for_any_int(void)
{
    const char *unknown = lrt_strerror(-9999);
    const char *min = lrt_strerror(INT_MIN);
    (void)strerror(12345);
    CU_ASSERT_STRING_EQUAL(unknown, "Unknown error");
    CU_ASSERT_STRING_EQUAL(min, "Unknown error");
    CU_ASSERT_STRING_EQUAL(lrt_strerror(INT_MAX), "Unknown error");
    CU_ASSERT_STRING_EQUAL(lrt_strerror(-EPERM), strerror(EPERM));
}

static void *runaway(void *arg)
{
    (void)arg;
    /* ignores cancellation: every suspension point fails at once, it keeps going */
    for (;;)
        lrt_sleep_ms(1);
    return NULL;
}

static void *spawn_runaway(void *arg)
{
    (void)arg;
    lrt_task_detach(lrt_spawn_named("runaway", runaway, NULL));
    lrt_yield();
    return NULL;
}

static int runaway_child(void *arg)
{
    (void)arg;
    lrt_runtime_t *rt = lrt_runtime_new(NULL);
    lrt_block_on(rt, spawn_runaway, NULL, NULL);
    return lrt_shutdown_timeout(rt, 50) == -ETIMEDOUT ? 0 : 1;
}

static void shutdown_timeout_names_a_task_that_ignores_cancellation(void)
{
    /* In a child: the runtime and the task are leaked on purpose (they never returned). */
    char buf[4096];
    int st = lrt_test_fork_capture(runaway_child, NULL, buf, sizeof buf);
    CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "'runaway'"));
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "did not finish"));
}

CU_TestInfo lrt_test_runtime[] = {
    {"null_arguments_get_einval", null_arguments_get_einval},
    {"bad_options_are_rejected", bad_options_are_rejected},
    {"suspension_points_outside_a_task_fail_with_eperm", suspension_points_outside_a_task_fail_with_eperm},
    {"calls_from_a_foreign_thread_fail_with_eperm", calls_from_a_foreign_thread_fail_with_eperm},
    {"nested_block_on_on_the_same_thread_fails_with_edeadlk", nested_block_on_on_the_same_thread_fails_with_edeadlk},
    {"root_that_can_never_be_woken_returns_edeadlk", root_that_can_never_be_woken_returns_edeadlk},
    {"shutdown_cancels_every_task_and_lets_it_unwind", shutdown_cancels_every_task_and_lets_it_unwind},
    {"shutdown_background_also_unwinds_tasks", shutdown_background_also_unwinds_tasks},
    {"enter_and_exit_nest", enter_and_exit_nest},
    {"strerror_names_lrt_errors", strerror_names_lrt_errors},
    {"strerror_gives_a_static_string_for_any_int", strerror_gives_a_static_string_for_any_int},
    {"shutdown_timeout_names_a_task_that_ignores_cancellation",
     shutdown_timeout_names_a_task_that_ignores_cancellation},
    CU_TEST_INFO_NULL,
};
