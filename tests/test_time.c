/* Timers and sleeps, on the virtual clock (start_paused) unless stated otherwise. */
#include <stdlib.h>

#include "internal.h"
#include "test_util.h"

static uint64_t woke_at[64];
static int woke_order[64];
static int n_woke;

struct sleeper { int idx; uint64_t ms; };

static void *sleeper(void *arg)
{
    struct sleeper *s = arg;
    uint64_t before = lrt_now_ns();
    CU_ASSERT_EQUAL(lrt_sleep_ms(s->ms), 0);
    woke_at[s->idx] = lrt_now_ns() - before;
    woke_order[n_woke++] = s->idx;
    return NULL;
}

static void *order_root(void *arg)
{
    (void)arg;
    static const uint64_t ms[] = {50, 10, 30, 10, 1, 100000, 20, 3600000};
    enum { N = sizeof ms / sizeof ms[0] };
    struct sleeper s[N];
    lrt_task_t *t[N];
    for (int i = 0; i < N; i++) {
        s[i] = (struct sleeper){i, ms[i]};
        t[i] = lrt_spawn(sleeper, &s[i]);
    }
    for (int i = 0; i < N; i++)
        lrt_join(t[i], NULL);
    /* never early, and in deadline order; equal deadlines in start order */
    for (int i = 0; i < N; i++)
        CU_ASSERT(woke_at[i] >= ms[i] * 1000000ull);
    static const int expect[] = {4, 1, 3, 6, 2, 0, 5, 7};
    for (int i = 0; i < N; i++)
        CU_ASSERT_EQUAL(woke_order[i], expect[i]);
    return NULL;
}

static void timers_fire_in_deadline_order_and_never_early(void)
{
    n_woke = 0;
    lrt_test_run_paused(order_root, NULL);
    CU_ASSERT_EQUAL(n_woke, 8);
}

static void *advance_root(void *arg)
{
    (void)arg;
    struct sleeper s = {0, 5};
    lrt_task_t *t = lrt_spawn(sleeper, &s);
    lrt_yield(); /* it sleeps now */
    uint64_t t0 = lrt_now_ns();
    CU_ASSERT_EQUAL(lrt_time_advance(4 * 1000000), 0);
    lrt_yield();
    CU_ASSERT_FALSE(lrt_task_is_finished(t));
    CU_ASSERT_EQUAL(lrt_now_ns() - t0, 4000000u);
    CU_ASSERT_EQUAL(lrt_time_advance(1000000), 0);
    lrt_yield();
    CU_ASSERT_TRUE(lrt_task_is_finished(t));
    lrt_join(t, NULL);
    return NULL;
}

static void manual_clock_advance_fires_exactly_the_due_timers(void)
{
    n_woke = 0;
    lrt_test_run_paused(advance_root, NULL);
}

static void *many_root(void *arg)
{
    (void)arg;
    enum { N = 20000 };
    uint64_t *deadlines = malloc(N * sizeof *deadlines);
    lrt_task_t **ts = malloc(N * sizeof *ts);
    uint64_t x = 42;
    for (int i = 0; i < N; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        deadlines[i] = (x >> 33) % 5000000000ull; /* up to 5 s, ns resolution */
    }
    struct ctx { uint64_t deadline; } *c = malloc(N * sizeof *c);
    for (int i = 0; i < N; i++)
        c[i].deadline = deadlines[i];
    void *check(void *a);
    for (int i = 0; i < N; i++)
        ts[i] = lrt_spawn(check, &c[i]);
    for (int i = 0; i < N; i++)
        CU_ASSERT_EQUAL(lrt_join(ts[i], NULL), 0);
    free(deadlines);
    free(ts);
    free(c);
    return NULL;
}

static uint64_t last_fired;
static int out_of_order;
void *check(void *a)
{
    uint64_t d = *(uint64_t *)a;
    CU_ASSERT_EQUAL(lrt_sleep_until(d), 0);
    uint64_t now = lrt_now_ns();
    if (now < d || d < last_fired)
        out_of_order++;
    last_fired = d;
    return NULL;
}

static void twenty_thousand_random_deadlines_fire_sorted_and_never_early(void)
{
    last_fired = 0;
    out_of_order = 0;
    lrt_test_run_paused(many_root, NULL);
    CU_ASSERT_EQUAL(out_of_order, 0);
}

static void *cancel_sleep(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)lrt_sleep_ms(10000);
}

static void *cancel_root(void *arg)
{
    (void)arg;
    lrt_runtime_t *rt = lrt_current();
    lrt_task_t *t = lrt_spawn(cancel_sleep, NULL);
    lrt_yield();
    CU_ASSERT_EQUAL(rt->wheel.count, 1);
    lrt_abort(t);
    CU_ASSERT_EQUAL(rt->wheel.count, 1); /* disarmed when the task resumes */
    CU_ASSERT_EQUAL(lrt_join(t, NULL), -ECANCELED);
    CU_ASSERT_EQUAL(rt->wheel.count, 0);
    return NULL;
}

static void aborted_sleep_disarms_its_timer(void)
{
    lrt_test_run_paused(cancel_root, NULL);
}

static void *past_root(void *arg)
{
    (void)arg;
    CU_ASSERT_EQUAL(lrt_sleep_until(0), 0);
    CU_ASSERT_EQUAL(lrt_sleep_ms(0), 0);
    CU_ASSERT_EQUAL(lrt_sleep_ns(1), 0);
    return NULL;
}

static void sleep_until_a_past_deadline_returns_after_a_yield(void)
{
    lrt_test_run_paused(past_root, NULL);
}

static void *far_root(void *arg)
{
    (void)arg;
    /* 100 days: beyond the wheel's 2^51 ns span, parked at the horizon and cascaded */
    uint64_t d = lrt_now_ns() + 100ull * 86400ull * 1000000000ull;
    CU_ASSERT_EQUAL(lrt_sleep_until(d), 0);
    CU_ASSERT(lrt_now_ns() >= d);
    return NULL;
}

static void deadlines_beyond_the_wheel_span_still_fire_on_time(void)
{
    lrt_test_run_paused(far_root, NULL);
}

static void *real_root(void *arg)
{
    (void)arg;
    for (int i = 0; i < 20; i++) {
        uint64_t t0 = lrt_now_ns();
        uint64_t ns = 100000ull * (uint64_t)(i + 1); /* 0.1 .. 2 ms */
        CU_ASSERT_EQUAL(lrt_sleep_ns(ns), 0);
        CU_ASSERT(lrt_now_ns() - t0 >= ns); /* correctness, not a timing assertion */
    }
    return NULL;
}

static void real_clock_sub_millisecond_sleeps_never_wake_early(void)
{
    lrt_test_run(NULL, real_root, NULL);
}

static void *outside(void *arg)
{
    (void)arg;
    return NULL;
}

static void sleep_outside_a_task_fails_with_eperm(void)
{
    CU_ASSERT_EQUAL(lrt_sleep_ms(1), -EPERM);
    lrt_runtime_t *rt = lrt_runtime_new(NULL);
    lrt_runtime_t *prev = lrt_enter(rt);
    CU_ASSERT_EQUAL(lrt_sleep_ms(1), -EPERM);
    CU_ASSERT_EQUAL(lrt_time_advance(1), -EINVAL); /* not paused */
    lrt_exit(prev);
    CU_ASSERT_EQUAL(lrt_block_on(rt, outside, NULL, NULL), 0);
    lrt_runtime_free(rt);
    CU_ASSERT(lrt_now_ns() > 0); /* any thread */
}

CU_TestInfo lrt_test_time[] = {
    {"timers_fire_in_deadline_order_and_never_early", timers_fire_in_deadline_order_and_never_early},
    {"manual_clock_advance_fires_exactly_the_due_timers", manual_clock_advance_fires_exactly_the_due_timers},
    {"twenty_thousand_random_deadlines_fire_sorted_and_never_early",
     twenty_thousand_random_deadlines_fire_sorted_and_never_early},
    {"aborted_sleep_disarms_its_timer", aborted_sleep_disarms_its_timer},
    {"sleep_until_a_past_deadline_returns_after_a_yield", sleep_until_a_past_deadline_returns_after_a_yield},
    {"deadlines_beyond_the_wheel_span_still_fire_on_time", deadlines_beyond_the_wheel_span_still_fire_on_time},
    {"real_clock_sub_millisecond_sleeps_never_wake_early", real_clock_sub_millisecond_sleeps_never_wake_early},
    {"sleep_outside_a_task_fails_with_eperm", sleep_outside_a_task_fails_with_eperm},
    CU_TEST_INFO_NULL,
};
