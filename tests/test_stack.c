/* Stacks: pooling, slab fallback past the guarded limit, overflow reports. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "test_util.h"

static void *touch_and_yield(void *arg)
{
    volatile char buf[2048];
    buf[0] = (char)(intptr_t)arg;
    buf[sizeof buf - 1] = buf[0];
    lrt_yield();
    return (void *)(intptr_t)(buf[0] + buf[sizeof buf - 1]);
}

static int count_canaries(lrt_runtime_t *rt)
{
    int n = 0;
    for (lrt__link *l = rt->tasks.next; l != &rt->tasks; l = l->next)
        n += (lrt__container_of(l, struct lrt_task, all)->flags & LRT__TF_CANARY) != 0;
    return n;
}

static int fallback_canaries;
static void *fallback_root(void *arg)
{
    (void)arg;
    lrt_runtime_t *rt = lrt_current();
    /* as on a kernel without MADV_GUARD_INSTALL, with a budget of 8 mprotect guards */
    rt->guard_install = false;
    rt->guarded_max = 8;
    enum { N = 300 };
    lrt_task_t *t[N];
    for (int i = 0; i < N; i++)
        t[i] = lrt_spawn(touch_and_yield, (void *)(intptr_t)(i % 50));
    lrt_yield(); /* every task is now alive on its own stack */
    CU_ASSERT(rt->guarded_live <= 8);
    fallback_canaries = count_canaries(rt);
    for (int i = 0; i < N; i++) {
        void *r;
        CU_ASSERT_EQUAL(lrt_join(t[i], &r), 0);
        CU_ASSERT_EQUAL((intptr_t)r, 2 * (i % 50));
    }
    return NULL;
}

static void without_guard_regions_stacks_past_the_mprotect_budget_get_canaries(void)
{
    fallback_canaries = 0;
    lrt_test_run(NULL, fallback_root, NULL);
    CU_ASSERT(fallback_canaries >= 300 - 8);
}

static void *guard_root(void *arg)
{
    (void)arg;
    lrt_runtime_t *rt = lrt_current();
    enum { N = 300 };
    lrt_task_t *t[N];
    for (int i = 0; i < N; i++)
        t[i] = lrt_spawn(touch_and_yield, (void *)(intptr_t)i);
    lrt_yield();
    if (rt->guard_install) {
        CU_ASSERT_EQUAL(count_canaries(rt), 0);
        CU_ASSERT_EQUAL(rt->guarded_live, 0u); /* no mapping was split */
    } else {
        printf("(kernel without MADV_GUARD_INSTALL: mprotect guards) ");
    }
    for (int i = 0; i < N; i++)
        CU_ASSERT_EQUAL(lrt_join(t[i], NULL), 0);
    return NULL;
}

static void every_stack_gets_a_guard_region_without_splitting_mappings(void)
{
    lrt_test_run(NULL, guard_root, NULL);
}

static void *reuse_root(void *arg)
{
    (void)arg;
    lrt_runtime_t *rt = lrt_current();
    for (int i = 0; i < 1000; i++) {
        lrt_task_t *t = lrt_spawn(touch_and_yield, NULL);
        lrt_join(t, NULL);
    }
    /* one slab serves them all: stacks are recycled */
    CU_ASSERT_EQUAL(rt->stacks_made, 64u);
    return NULL;
}

static void finished_tasks_give_their_stack_back_to_the_pool(void)
{
    lrt_test_run(NULL, reuse_root, NULL);
}

static void absurd_stack_sizes_are_rejected(void)
{
    lrt_options_t o = {.stack_size = 100};
    errno = 0;
    CU_ASSERT_PTR_NULL(lrt_runtime_new(&o));
    CU_ASSERT_EQUAL(errno, EINVAL);
    o.stack_size = (size_t)1 << 40;
    errno = 0;
    CU_ASSERT_PTR_NULL(lrt_runtime_new(&o));
    CU_ASSERT_EQUAL(errno, EINVAL);
}

#ifndef LRT__ASAN /* ASan owns SIGSEGV and flags the deliberate overflows first */
static NOINLINE int recurse(int n)
{
    volatile char pad[1024];
    pad[0] = (char)n;
    return n ? recurse(n - 1) + pad[0] : 0;
}

static void *overflow(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)recurse(1 << 20);
}

static void *slab_overflow(void *arg)
{
    (void)arg;
    /* 4 KiB more than the 16 KiB stack: the write runs past its base (and its
     * canary) into the neighbouring slab stack, which has no guard page */
    volatile char big[20 * 1024];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = 0x55;
    lrt_yield();
    return NULL;
}

/* Recursion with frames larger than a page: without stack-clash probes (or a guard
 * region larger than the frame) a frame jumps over a one-page guard and writes into the
 * neighbouring task's stack with no fault. */
#define BIG_FRAME_RECURSION(name, bytes)                                                   \
    static NOINLINE int name##_rec(int n)                                                 \
    {                                                                                      \
        volatile char pad[bytes];                                                          \
        pad[0] = (char)n;                                                                  \
        pad[sizeof pad - 1] = (char)n;                                                     \
        return n ? name##_rec(n - 1) + pad[0] + pad[sizeof pad - 1] : 0;                   \
    }                                                                                      \
    static void *name(void *arg)                                                           \
    {                                                                                      \
        (void)arg;                                                                         \
        return (void *)(intptr_t)name##_rec(1 << 20);                                      \
    }
BIG_FRAME_RECURSION(frames_6k, 6 * 1024)
BIG_FRAME_RECURSION(frames_12k, 12 * 1024)
BIG_FRAME_RECURSION(frames_64k, 64 * 1024)

static void *overflow_root(void *arg)
{
    lrt_task_t *t = lrt_spawn_named("deep_recursion", (lrt_fn)arg, NULL);
    lrt_join(t, NULL);
    return NULL;
}

static void *idle_sleeper(void *arg)
{
    (void)arg;
    lrt_sleep_ms(60000);
    return NULL;
}

/* The overflowing task sits high in its slab: eight idle tasks took the stacks below it,
 * so a runaway recursion on a canary stack runs through all of them before it faults. */
static void *overflow_high_root(void *arg)
{
    lrt_task_t *idle[8];
    for (int i = 0; i < 8; i++)
        idle[i] = lrt_spawn(idle_sleeper, NULL);
    lrt_yield();
    lrt_task_t *t = lrt_spawn_named("deep_recursion", (lrt_fn)arg, NULL);
    lrt_join(t, NULL);
    for (int i = 0; i < 8; i++)
        lrt_task_detach(idle[i]);
    return NULL;
}

struct child_args { lrt_fn fn; int canary_stacks; int high; };

static int overflow_child(void *arg)
{
    struct child_args *c = arg;
    lrt_options_t o = {.stack_size = 16 * 1024};
    lrt_runtime_t *rt = lrt_runtime_new(&o);
    if (c->canary_stacks) { /* as on a kernel without guard regions, no mprotect budget */
        rt->guard_install = false;
        rt->guarded_max = 0;
    }
    lrt_block_on(rt, c->high ? overflow_high_root : overflow_root, (void *)c->fn, NULL);
    return 0;
}

/* Run @fn as a task in a child whose stderr is captured; returns its wait status. */
static int run_child(lrt_fn fn, int canary_stacks, char *out, size_t outlen)
{
    struct child_args c = {fn, canary_stacks & 1, canary_stacks >> 1};
    return lrt_test_fork_capture(overflow_child, &c, out, outlen);
}
#endif

static void stack_overflow_into_the_guard_page_is_reported_with_the_task(void)
{
#ifdef LRT__ASAN
    printf("skipped: ASan owns SIGSEGV and reports stack overflows itself ");
    return;
#else
    char out[1024];
    int st = run_child(overflow, 0, out, sizeof out);
    CU_ASSERT(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "stack overflow in task 2 'deep_recursion'"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "test_stack.c"));
#endif
}

#ifndef LRT__ASAN
/* Every overflow must end in a report naming the task, never a silent corruption or a
 * bare SIGSEGV. */
static void expect_reported(lrt_fn fn, int canary_stacks, const char *what)
{
    char out[2048];
    int st = run_child(fn, canary_stacks, out, sizeof out);
    int ok = WIFSIGNALED(st) && strstr(out, "stack overflow") && strstr(out, "'deep_recursion'");
    if (!ok)
        printf("\n  %s (%s stacks): status %#x, stderr: %s\n", what, canary_stacks & 1 ? "canary" : "guarded",
               st, out[0] ? out : "(empty)");
    CU_ASSERT_TRUE(ok);
}
#endif

static void frames_of_6_12_and_64_kib_overflow_with_a_report_in_both_stack_modes(void)
{
#ifdef LRT__ASAN
    printf("skipped: ASan owns SIGSEGV and reports stack overflows itself ");
#else
    for (int canary = 0; canary <= 1; canary++) {
        expect_reported(frames_6k, canary, "6 KiB frames");
        expect_reported(frames_12k, canary, "12 KiB frames");
        expect_reported(frames_64k, canary, "64 KiB frames");
    }
#endif
}

static void small_frame_recursion_on_a_canary_stack_is_reported_with_the_task(void)
{
#ifdef LRT__ASAN
    printf("skipped: ASan owns SIGSEGV and reports stack overflows itself ");
#else
    expect_reported(overflow, 1, "1 KiB frames");
    expect_reported(overflow, 3, "1 KiB frames, high in the slab");
    expect_reported(frames_6k, 3, "6 KiB frames, high in the slab");
#endif
}

#ifndef LRT__ASAN
static void *nothing(void *arg)
{
    return arg;
}

static int two_runtimes_child(void *arg)
{
    (void)arg;
    lrt_options_t o = {.stack_size = 16 * 1024};
    lrt_runtime_t *first = lrt_runtime_new(&o);
    lrt_runtime_t *second = lrt_runtime_new(&o);
    if (!first || !second)
        return 3;
    lrt_block_on(first, nothing, NULL, NULL);
    lrt_runtime_free(first); /* used to take the thread's sigaltstack with it */
    lrt_block_on(second, overflow_root, (void *)overflow, NULL);
    return 0;
}
#endif

static void freeing_one_of_two_runtimes_on_a_thread_keeps_the_overflow_report(void)
{
#ifdef LRT__ASAN
    printf("skipped: ASan owns SIGSEGV and reports stack overflows itself ");
#else
    char out[1024];
    int st = lrt_test_fork_capture(two_runtimes_child, NULL, out, sizeof out);
    CU_ASSERT(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "stack overflow in task 2 'deep_recursion'"));
#endif
}

static void smashed_canary_of_a_slab_stack_is_reported_at_the_next_switch(void)
{
#ifdef LRT__ASAN
    printf("skipped: ASan flags the deliberate out-of-bounds write first ");
    return;
#else
    char out[1024];
    int st = run_child(slab_overflow, 1, out, sizeof out);
    CU_ASSERT(WIFSIGNALED(st));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "canary"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "'deep_recursion'"));
#endif
}

CU_TestInfo lrt_test_stack[] = {
    {"frames_of_6_12_and_64_kib_overflow_with_a_report_in_both_stack_modes",
     frames_of_6_12_and_64_kib_overflow_with_a_report_in_both_stack_modes},
    {"small_frame_recursion_on_a_canary_stack_is_reported_with_the_task",
     small_frame_recursion_on_a_canary_stack_is_reported_with_the_task},
    {"freeing_one_of_two_runtimes_on_a_thread_keeps_the_overflow_report",
     freeing_one_of_two_runtimes_on_a_thread_keeps_the_overflow_report},
    {"every_stack_gets_a_guard_region_without_splitting_mappings",
     every_stack_gets_a_guard_region_without_splitting_mappings},
    {"without_guard_regions_stacks_past_the_mprotect_budget_get_canaries",
     without_guard_regions_stacks_past_the_mprotect_budget_get_canaries},
    {"finished_tasks_give_their_stack_back_to_the_pool", finished_tasks_give_their_stack_back_to_the_pool},
    {"absurd_stack_sizes_are_rejected", absurd_stack_sizes_are_rejected},
    {"stack_overflow_into_the_guard_page_is_reported_with_the_task",
     stack_overflow_into_the_guard_page_is_reported_with_the_task},
    {"smashed_canary_of_a_slab_stack_is_reported_at_the_next_switch",
     smashed_canary_of_a_slab_stack_is_reported_at_the_next_switch},
    CU_TEST_INFO_NULL,
};
