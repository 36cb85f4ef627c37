/* Task lifecycle: join handles, tasks that never run, shutdown, block_on's root task. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "test_util.h"

static void *ret_arg(void *arg) { return arg; }

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Run @fn(@arg) with stderr captured into @buf; returns fn's value. */
static int with_stderr_captured(int (*fn)(void *), void *arg, char *buf, size_t len)
{
    fflush(stderr);
    int saved = dup(2);
    FILE *tmp = tmpfile();
    CU_ASSERT_PTR_NOT_NULL_FATAL(tmp);
    dup2(fileno(tmp), 2);
    int rc = fn(arg);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(tmp);
    size_t n = fread(buf, 1, len - 1, tmp);
    buf[n] = 0;
    fclose(tmp);
    return rc;
}

/* ---- shutdown with a live lrt_handle_t (item 2) ---------------------------------- */

/* A runtime with a live cross-thread handle and a task that never ran (spawned outside
 * lrt_block_on).  The shutdown finishes that task without running it; before the fix the
 * loop then parked waiting on the handle as a source of work, forever. */
static lrt_runtime_t *runtime_with_handle_and_unstarted_task(lrt_handle_t **h)
{
    lrt_runtime_t *rt = lrt_runtime_new(NULL);
    if (!rt)
        return NULL;
    *h = lrt_runtime_handle(rt);
    lrt_task_t *t = lrt_spawn_local(rt, ret_arg, NULL);
    if (!*h || !t)
        return NULL;
    lrt_task_detach(t);
    return rt;
}

static int free_with_live_handle_child(void *arg)
{
    (void)arg;
    alarm(20); /* the hang this protects against: die instead */
    lrt_handle_t *h;
    lrt_runtime_t *rt = runtime_with_handle_and_unstarted_task(&h);
    if (!rt)
        return 3;
    lrt_runtime_free(rt);
    lrt_handle_release(h);
    return 0;
}

static void runtime_free_returns_with_a_live_handle_and_a_task_that_never_ran(void)
{
    char out[4096];
    int st = lrt_test_fork_capture(free_with_live_handle_child, NULL, out, sizeof out);
    CU_ASSERT_TRUE(WIFEXITED(st));
    CU_ASSERT_EQUAL(WIFEXITED(st) ? WEXITSTATUS(st) : -1, 0);
    if (!WIFEXITED(st))
        fprintf(stdout, "\n    child killed by signal %d (hung in lrt_runtime_free)\n", WTERMSIG(st));
    CU_ASSERT_STRING_EQUAL(out, "");
}

static int shutdown_with_live_handle_child(void *arg)
{
    (void)arg;
    alarm(60);
    lrt_handle_t *h;
    lrt_runtime_t *rt = runtime_with_handle_and_unstarted_task(&h);
    if (!rt)
        return 3;
    uint64_t t0 = mono_ms();
    int rc = lrt_shutdown_timeout(rt, 10000);
    uint64_t took = mono_ms() - t0;
    lrt_handle_release(h);
    if (rc != 0)
        return 4;
    /* a prompt return takes microseconds; 5 s is far beyond any scheduling delay while the
     * broken one waits the full 10 s */
    return took < 5000 ? 0 : 5;
}

static void shutdown_timeout_returns_at_once_with_a_live_handle_and_a_task_that_never_ran(void)
{
    char out[4096];
    int st = lrt_test_fork_capture(shutdown_with_live_handle_child, NULL, out, sizeof out);
    CU_ASSERT_TRUE(WIFEXITED(st));
    CU_ASSERT_EQUAL(WIFEXITED(st) ? WEXITSTATUS(st) : -1, 0);
    CU_ASSERT_STRING_EQUAL(out, ""); /* nothing outlived it, nothing to report */
}

/* ---- handle misuse (item 5) ------------------------------------------------------ */

static void *sleep_then_return(void *arg)
{
    lrt_sleep_ms(5);
    return arg;
}

static void *blocking_job(void *arg) { return arg; }

static void *handle_misuse_root(void *arg)
{
    (void)arg;
    void *r = NULL;
    lrt_task_t *a = lrt_spawn(ret_arg, (void *)1);
    CU_ASSERT_EQUAL(lrt_join(a, &r), 0);
    CU_ASSERT_PTR_EQUAL(r, (void *)1);
    /* a second join of the same handle */
    r = NULL;
    CU_ASSERT_EQUAL(lrt_join(a, &r), -EINVAL);
    CU_ASSERT_PTR_NULL(r);

    /* the record is recycled for the next task: the stale handle must not reach it */
    lrt_task_t *b = lrt_spawn(sleep_then_return, (void *)2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_PTR_EQUAL(lrt__task_of(a), lrt__task_of(b)); /* the aliasing case */
    CU_ASSERT_EQUAL(lrt_join(a, &r), -EINVAL);
    CU_ASSERT_EQUAL(lrt_join_timeout(a, &r, 0), -EINVAL);
    CU_ASSERT_EQUAL(lrt_task_id(a), 0u);
    CU_ASSERT_EQUAL(lrt_task_is_finished(a), -EINVAL);
    lrt_abort(a);        /* must not cancel b */
    lrt_task_detach(a);  /* must not release b's handle */
    lrt_task_detach(a);
    struct lrt_task *rb = lrt__task_of(b);
    CU_ASSERT_EQUAL(rb->refs, 2); /* runtime + b's handle: nothing underflowed */
    CU_ASSERT_EQUAL(rb->flags & LRT__TF_CANCELLED, 0u);
    CU_ASSERT_NOT_EQUAL(lrt_task_id(b), 0u);
    CU_ASSERT_EQUAL(lrt_join(b, &r), 0);
    CU_ASSERT_PTR_EQUAL(r, (void *)2);

    /* joining a detached task */
    lrt_task_t *c = lrt_spawn(sleep_then_return, NULL);
    lrt_task_detach(c);
    CU_ASSERT_EQUAL(lrt__task_of(c)->refs, 1);
    lrt_task_detach(c); /* twice: no underflow */
    CU_ASSERT_EQUAL(lrt__task_of(c)->refs, 1);
    CU_ASSERT_EQUAL(lrt_join(c, NULL), -EINVAL);

    /* blocking-job handles follow the same rule */
    lrt_task_t *j = lrt_spawn_blocking(blocking_job, (void *)3);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    CU_ASSERT_EQUAL(lrt_join(j, &r), 0);
    CU_ASSERT_PTR_EQUAL(r, (void *)3);
    CU_ASSERT_EQUAL(lrt_join(j, &r), -EINVAL);

    /* the job record is recycled for the next job: the stale handle must not reach it
     * (the job stays queued until this task gives up the CPU, so abort could drop it) */
    lrt_task_t *k = lrt_spawn_blocking(blocking_job, (void *)4);
    CU_ASSERT_PTR_NOT_NULL_FATAL(k);
    CU_ASSERT_PTR_EQUAL(lrt__join_of(j), lrt__join_of(k)); /* the aliasing case */
    CU_ASSERT_EQUAL(lrt_join_timeout(j, &r, 0), -EINVAL);
    CU_ASSERT_EQUAL(lrt_task_id(j), 0u);
    CU_ASSERT_EQUAL(lrt_task_is_finished(j), -EINVAL);
    lrt_abort(j);       /* must not drop k */
    lrt_task_detach(j); /* must not release k's handle */
    CU_ASSERT_EQUAL(lrt__join_of(k)->refs, 2);
    CU_ASSERT_EQUAL(lrt_task_is_finished(k), 0);
    CU_ASSERT_NOT_EQUAL(lrt_task_id(k), 0u);
    r = NULL;
    CU_ASSERT_EQUAL(lrt_join(k, &r), 0);
    CU_ASSERT_PTR_EQUAL(r, (void *)4);
    return NULL;
}

static void a_handle_given_back_is_refused_and_never_reaches_the_task_reusing_its_record(void)
{
    lrt_test_run(NULL, handle_misuse_root, NULL);
}

/* ---- tasks that cannot get a stack (item 6) -------------------------------------- */

/* Cap the address space a little above what the process maps now: the next stack slab
 * (64 stacks of 64 MiB) cannot be mapped, while malloc and the sanitizers keep 1 GiB. */
static int cap_address_space(void)
{
    FILE *f = fopen("/proc/self/statm", "re");
    unsigned long long pages = 0;
    if (!f)
        return -1;
    int ok = fscanf(f, "%llu", &pages) == 1;
    fclose(f);
    if (!ok)
        return -1;
    rlim_t cap = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + (1ull << 30);
    struct rlimit rl = {cap, cap};
    return setrlimit(RLIMIT_AS, &rl);
}

static int fn_ran;
static void *mark_fn_ran(void *arg)
{
    fn_ran = 1;
    return arg;
}

static int root_without_stack_child(void *arg)
{
    (void)arg;
    alarm(30);
    lrt_options_t o = {.stack_size = 64u << 20};
    lrt_runtime_t *rt = lrt_runtime_new(&o);
    if (!rt)
        return 3;
    if (cap_address_space() != 0)
        return 4;
    void *r = (void *)7;
    int rc = lrt_block_on(rt, mark_fn_ran, NULL, &r);
    if (rc != -ENOMEM)
        return rc == -EDEADLK ? 10 : 11;
    if (fn_ran || r != (void *)7)
        return 12;
    lrt_runtime_free(rt);
    return 0;
}

static void root_task_without_a_stack_makes_block_on_return_enomem(void)
{
    char out[8192];
    int st = lrt_test_fork_capture(root_without_stack_child, NULL, out, sizeof out);
    CU_ASSERT_TRUE(WIFEXITED(st));
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    if (code != 0)
        fprintf(stdout, "\n    child exit %d; stderr:\n%s\n", code, out);
    CU_ASSERT_EQUAL(code, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "no memory for the stack"));
    CU_ASSERT_PTR_NULL(strstr(out, "deadlock"));
}

static int drops;
static void count_and_free(void *arg)
{
    drops++;
    free(arg);
}

static void *wait_on_notify(void *arg)
{
    lrt_notify_wait(arg);
    return NULL;
}

static void *no_stack_root(void *arg)
{
    int *code = arg;
    /* the root took stack 0 of the first slab: 63 waiters take the rest */
    lrt_notify_t *n = lrt_notify_new();
    lrt_task_t *w[63];
    for (int i = 0; i < 63; i++)
        w[i] = lrt_spawn(wait_on_notify, n);
    lrt_yield();
    if (cap_address_space() != 0) {
        *code = 4;
        return NULL;
    }
    lrt_spawn_opts_t o = {.name = "no-stack", .drop = count_and_free};
    lrt_task_t *t = lrt_spawn_with(&o, mark_fn_ran, malloc(32));
    void *r = (void *)7;
    int rc = lrt_join(t, &r);
    if (rc != -ENOMEM)
        *code = 10;
    else if (drops != 1 || fn_ran || r != (void *)7)
        *code = 11;
    lrt_notify_all(n);
    for (int i = 0; i < 63; i++)
        lrt_join(w[i], NULL);
    lrt_notify_free(n);
    return NULL;
}

static int join_without_stack_child(void *arg)
{
    (void)arg;
    alarm(30);
    lrt_options_t o = {.stack_size = 64u << 20};
    lrt_runtime_t *rt = lrt_runtime_new(&o);
    if (!rt)
        return 3;
    int code = 0;
    if (lrt_block_on(rt, no_stack_root, &code, NULL) != 0)
        return 20;
    lrt_runtime_free(rt);
    return code;
}

static void join_of_a_task_without_a_stack_returns_enomem_and_drops_its_arg(void)
{
    char out[8192];
    int st = lrt_test_fork_capture(join_without_stack_child, NULL, out, sizeof out);
    CU_ASSERT_TRUE(WIFEXITED(st));
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    if (code != 0)
        fprintf(stdout, "\n    child exit %d; stderr:\n%s\n", code, out);
    CU_ASSERT_EQUAL(code, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "'no-stack'"));
}

/* ---- results of aborted tasks (item 8) ------------------------------------------- */

static void *yield_then_return_buffer(void *arg)
{
    (void)arg;
    lrt_yield(); /* aborted while runnable here: the yield itself already returned 0 */
    char *b = malloc(16);
    strcpy(b, "done");
    return b;
}

static void *sleep_then_return_buffer(void *arg)
{
    (void)arg;
    int rc = lrt_sleep_ms(60000); /* -ECANCELED */
    char *b = malloc(16);
    strcpy(b, rc == -ECANCELED ? "unwound" : "slept");
    return b;
}

static void *aborted_result_root(void *arg)
{
    (void)arg;
    /* aborted while it could run, returned without reaching another suspension point */
    lrt_task_t *t = lrt_spawn(yield_then_return_buffer, NULL);
    lrt_yield(); /* t starts and yields: it is runnable, not suspended */
    lrt_abort(t);
    void *r = NULL;
    CU_ASSERT_EQUAL(lrt_join(t, &r), 0);
    CU_ASSERT_PTR_NOT_NULL(r);
    if (r)
        CU_ASSERT_STRING_EQUAL(r, "done");
    free(r);

    /* told of the abort (its sleep returned -ECANCELED), it unwound and returned memory:
     * the join says so and still hands the memory over */
    t = lrt_spawn(sleep_then_return_buffer, NULL);
    lrt_yield();
    lrt_abort(t);
    r = NULL;
    CU_ASSERT_EQUAL(lrt_join(t, &r), -ECANCELED);
    CU_ASSERT_PTR_NOT_NULL(r);
    if (r)
        CU_ASSERT_STRING_EQUAL(r, "unwound");
    free(r);
    return NULL;
}

static void result_of_a_task_that_returns_after_its_abort_reaches_the_joiner(void)
{
    lrt_test_run_paused(aborted_result_root, NULL);
}

/* ---- lrt_spawn_with and drop (item 9) -------------------------------------------- */

static int drop_yield_rc;
static void drop_checking_context(void *arg)
{
    drop_yield_rc = lrt_yield(); /* outside any task: must not suspend anybody */
    count_and_free(arg);
}

static void *fn_must_not_run(void *arg)
{
    fn_ran = 1;
    free(arg);
    return NULL;
}

static void *spawn_with_root(void *arg)
{
    (void)arg;
    /* aborted before its first poll */
    lrt_spawn_opts_t o = {.name = "aborted-first", .drop = drop_checking_context};
    lrt_task_t *t = lrt_spawn_with(&o, fn_must_not_run, malloc(64));
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_STRING_EQUAL(lrt__task_of(t)->name, "aborted-first");
    lrt_abort(t);
    void *r = (void *)7;
    CU_ASSERT_EQUAL(lrt_join(t, &r), -ECANCELED);
    CU_ASSERT_PTR_EQUAL(r, (void *)7);
    CU_ASSERT_EQUAL(drops, 1);
    CU_ASSERT_EQUAL(drop_yield_rc, -EPERM);
    CU_ASSERT_EQUAL(fn_ran, 0);

    /* once fn started, the arg is fn's: no drop, even when aborted afterwards */
    lrt_spawn_opts_t named_by_macro = {.drop = count_and_free};
    t = lrt_spawn_with(&named_by_macro, sleep_then_return_buffer, NULL);
    CU_ASSERT_STRING_EQUAL(lrt__task_of(t)->name, "sleep_then_return_buffer");
    lrt_yield();
    lrt_abort(t);
    r = NULL;
    CU_ASSERT_EQUAL(lrt_join(t, &r), -ECANCELED);
    free(r);
    CU_ASSERT_EQUAL(drops, 1);

    /* stack sizes: the runtime's size covers a smaller request, a larger one fails and
     * leaves the arg with the caller */
    lrt_spawn_opts_t small = {.stack_size = 16 * 1024};
    t = lrt_spawn_with(&small, ret_arg, (void *)5);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(lrt_join(t, &r), 0);
    CU_ASSERT_PTR_EQUAL(r, (void *)5);
    lrt_spawn_opts_t big = {.stack_size = (size_t)1 << 30, .drop = count_and_free};
    errno = 0;
    void *mine = malloc(8);
    CU_ASSERT_PTR_NULL(lrt_spawn_with(&big, fn_must_not_run, mine));
    CU_ASSERT_EQUAL(errno, EINVAL);
    CU_ASSERT_EQUAL(drops, 1);
    free(mine);
    errno = 0;
    CU_ASSERT_PTR_NULL(lrt_spawn_with(&o, NULL, NULL));
    CU_ASSERT_EQUAL(errno, EINVAL);
    t = (lrt_spawn_with)(NULL, ret_arg, (void *)9); /* the plain function, no options */
    CU_ASSERT_EQUAL(lrt_join(t, &r), 0);
    CU_ASSERT_PTR_EQUAL(r, (void *)9);

    /* detached and never run when lrt_block_on returns: dropped at shutdown */
    lrt_spawn_opts_t d = {.name = "left-behind", .drop = count_and_free};
    for (int i = 0; i < 3; i++)
        lrt_task_detach(lrt_spawn_with(&d, fn_must_not_run, malloc(16)));
    return NULL;
}

static void drop_runs_for_the_arg_of_every_task_that_never_runs(void)
{
    drops = 0;
    fn_ran = 0;
    drop_yield_rc = 0;
    lrt_runtime_t *rt = lrt_runtime_new(NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rt);
    CU_ASSERT_EQUAL(lrt_block_on(rt, spawn_with_root, NULL, NULL), 0);
    CU_ASSERT_EQUAL(drops, 1);
    CU_ASSERT_EQUAL(lrt_shutdown_timeout(rt, 1000), 0);
    CU_ASSERT_EQUAL(drops, 4);
    CU_ASSERT_EQUAL(fn_ran, 0);

    /* spawned outside lrt_block_on, never run, runtime freed */
    drops = 0;
    rt = lrt_runtime_new(NULL);
    lrt_runtime_t *prev = lrt_enter(rt);
    lrt_spawn_opts_t o = {.drop = count_and_free};
    lrt_task_t *kept = lrt_spawn_with(&o, fn_must_not_run, malloc(16));
    lrt_task_detach(lrt_spawn_with(&o, fn_must_not_run, malloc(16)));
    lrt_exit(prev);
    lrt_runtime_free(rt); /* kept dies with the runtime: never used again */
    (void)kept;
    CU_ASSERT_EQUAL(drops, 2);
    CU_ASSERT_EQUAL(fn_ran, 0);
}

/* ---- deadlocked root (item 12) --------------------------------------------------- */

static void *recv_forever(void *arg)
{
    void *m;
    return (void *)(intptr_t)lrt_chan_recv(arg, &m);
}

struct dl { lrt_chan_t *c; int join_rc, unwound; };
static struct dl dl;

static void *deadlocked_root(void *arg)
{
    struct dl *d = arg;
    lrt_task_t *t = lrt_spawn(recv_forever, d->c);
    d->join_rc = lrt_join(t, NULL); /* nobody will ever send */
    if (d->join_rc == -ECANCELED)
        lrt_task_detach(t); /* the caller's cancellation left the handle with us */
    d->unwound = 1; /* touches d: must happen before lrt_block_on returns */
    return (void *)"root result";
}

static void *root_result;
static int run_deadlock_with_result(void *arg)
{
    return lrt_block_on(arg, deadlocked_root, &dl, &root_result);
}

static void block_on_lets_a_deadlocked_root_unwind_before_returning_edeadlk(void)
{
    lrt_runtime_t *rt = lrt_runtime_new(NULL);
    dl = (struct dl){.c = lrt_chan_new(0)};
    root_result = NULL;
    char out[8192];
    int rc = with_stderr_captured(run_deadlock_with_result, rt, out, sizeof out);
    CU_ASSERT_EQUAL(rc, -EDEADLK);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "deadlock"));
    CU_ASSERT_EQUAL(dl.join_rc, -ECANCELED);
    CU_ASSERT_EQUAL(dl.unwound, 1);
    CU_ASSERT_PTR_NOT_NULL(root_result);
    if (root_result)
        CU_ASSERT_STRING_EQUAL(root_result, "root result");
    /* what the root used can go now: the root never runs again */
    dl.unwound = 0;
    lrt_runtime_free(rt);
    CU_ASSERT_EQUAL(dl.unwound, 0);
    CU_ASSERT_EQUAL(lrt_chan_free(dl.c), 0);
}

/* ---- spawn argument and thread errors (item 13) ---------------------------------- */

static void *null_runtime_root(void *arg)
{
    (void)arg;
    errno = 0;
    lrt_task_t *t = lrt_spawn_local(NULL, ret_arg, NULL); /* the macro */
    CU_ASSERT_PTR_NULL(t);
    CU_ASSERT_EQUAL(errno, EINVAL);
    if (t)
        lrt_task_detach(t);
    errno = 0;
    CU_ASSERT_PTR_NULL(lrt_spawn_local_at(NULL, "x", ret_arg, NULL, __FILE__, __LINE__, __func__));
    CU_ASSERT_EQUAL(errno, EINVAL);
    return NULL;
}

static void spawn_local_macro_with_a_null_runtime_fails_with_einval(void)
{
    lrt_test_run(NULL, null_runtime_root, NULL);
}

struct foreign_spawn { lrt_runtime_t *rt; int spawn, named, with, local; };

static void *foreign_spawner(void *arg)
{
    struct foreign_spawn *f = arg;
    errno = 0;
    f->spawn = lrt_spawn(ret_arg, NULL) ? 0 : errno;
    errno = 0;
    f->named = lrt_spawn_named("x", ret_arg, NULL) ? 0 : errno;
    errno = 0;
    f->with = lrt_spawn_with(NULL, ret_arg, NULL) ? 0 : errno;
    errno = 0;
    f->local = lrt_spawn_local(f->rt, ret_arg, NULL) ? 0 : errno;
    return NULL;
}

static void *foreign_spawn_root(void *arg)
{
    pthread_t th;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, foreign_spawner, arg), 0);
    while (pthread_tryjoin_np(th, NULL) != 0)
        lrt_sleep_ms(1);
    return NULL;
}

static void spawn_from_a_foreign_thread_fails_with_eperm(void)
{
    struct foreign_spawn f = {.rt = lrt_runtime_new(NULL)};
    CU_ASSERT_EQUAL(lrt_block_on(f.rt, foreign_spawn_root, &f, NULL), 0);
    CU_ASSERT_EQUAL(f.spawn, EPERM);
    CU_ASSERT_EQUAL(f.named, EPERM);
    CU_ASSERT_EQUAL(f.with, EPERM);
    CU_ASSERT_EQUAL(f.local, EPERM);
    lrt_runtime_free(f.rt);
}

CU_TestInfo lrt_test_lifecycle[] = {
    {"runtime_free_returns_with_a_live_handle_and_a_task_that_never_ran",
     runtime_free_returns_with_a_live_handle_and_a_task_that_never_ran},
    {"shutdown_timeout_returns_at_once_with_a_live_handle_and_a_task_that_never_ran",
     shutdown_timeout_returns_at_once_with_a_live_handle_and_a_task_that_never_ran},
    {"a_handle_given_back_is_refused_and_never_reaches_the_task_reusing_its_record",
     a_handle_given_back_is_refused_and_never_reaches_the_task_reusing_its_record},
    {"root_task_without_a_stack_makes_block_on_return_enomem",
     root_task_without_a_stack_makes_block_on_return_enomem},
    {"join_of_a_task_without_a_stack_returns_enomem_and_drops_its_arg",
     join_of_a_task_without_a_stack_returns_enomem_and_drops_its_arg},
    {"result_of_a_task_that_returns_after_its_abort_reaches_the_joiner",
     result_of_a_task_that_returns_after_its_abort_reaches_the_joiner},
    {"drop_runs_for_the_arg_of_every_task_that_never_runs",
     drop_runs_for_the_arg_of_every_task_that_never_runs},
    {"block_on_lets_a_deadlocked_root_unwind_before_returning_edeadlk",
     block_on_lets_a_deadlocked_root_unwind_before_returning_edeadlk},
    {"spawn_local_macro_with_a_null_runtime_fails_with_einval",
     spawn_local_macro_with_a_null_runtime_fails_with_einval},
    {"spawn_from_a_foreign_thread_fails_with_eperm", spawn_from_a_foreign_thread_fails_with_eperm},
    CU_TEST_INFO_NULL,
};
