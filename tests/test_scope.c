/* Deadline and shield scopes: one deadline over many calls, and cancellation that can be
 * cleaned up after.  Everything that can runs on the virtual clock (start_paused): it
 * jumps to the next timer when every task waits, so the tests are instant and exact. */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "test_util.h"

#define MS 1000000ull

/* ---- every suspension kind times out under a scope ---------------------------------- */

static void *park(void *arg)
{
    lrt_notify_t *n = arg;
    (void)lrt_notify_wait(n); /* until aborted */
    return NULL;
}

struct holder {
    lrt_mutex_t *m;
    lrt_notify_t *n;
};

static void *hold_mutex(void *arg)
{
    struct holder *h = arg;
    CU_ASSERT_EQUAL(lrt_mutex_lock(h->m), 0);
    (void)lrt_notify_wait(h->n); /* until aborted */
    CU_ASSERT_EQUAL(lrt_mutex_unlock(h->m), 0);
    return NULL;
}

/* Push a 10 ms scope, run the wait @what, which must return -ETIMEDOUT exactly when the
 * scope's deadline passes (the virtual clock jumps to it). */
#define EXPECT_SCOPE_TIMEOUT(what)                                                         \
    do {                                                                                   \
        uint64_t t0_ = lrt_now_ns();                                                       \
        int tok_ = lrt_timeout_push(10);                                                   \
        CU_ASSERT(tok_ >= 0);                                                              \
        long rc_ = (long)(what);                                                           \
        if (rc_ != -ETIMEDOUT)                                                             \
            fprintf(stderr, "%s: %ld\n", #what, rc_);                                      \
        CU_ASSERT_EQUAL(rc_, -ETIMEDOUT);                                                  \
        CU_ASSERT(lrt_now_ns() - t0_ >= 10 * MS && lrt_now_ns() - t0_ < 11 * MS);          \
        CU_ASSERT_EQUAL(lrt_deadline_pop(tok_), 0);                                        \
    } while (0)

static void *every_kind_root(void *arg)
{
    (void)arg;
    int p[2];
    CU_ASSERT_FATAL(pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
    char buf[64];
    EXPECT_SCOPE_TIMEOUT(lrt_read(p[0], buf, sizeof buf));
    EXPECT_SCOPE_TIMEOUT(lrt_read_timeout(p[0], buf, sizeof buf, 1000));
    EXPECT_SCOPE_TIMEOUT(lrt_wait_fd(p[0], EPOLLIN, -1));
    EXPECT_SCOPE_TIMEOUT(lrt_sleep_ms(1000));
    EXPECT_SCOPE_TIMEOUT(lrt_sleep_ns(UINT64_MAX));

    lrt_notify_t *n = lrt_notify_new();
    lrt_task_t *parked = lrt_spawn(park, n);
    void *res;
    EXPECT_SCOPE_TIMEOUT(lrt_join(parked, &res));
    EXPECT_SCOPE_TIMEOUT(lrt_join_timeout(parked, &res, 1000));
    lrt_abort(parked);
    CU_ASSERT_EQUAL(lrt_join(parked, &res), -ECANCELED);

    lrt_chan_t *c = lrt_chan_new(1);
    void *m = NULL;
    EXPECT_SCOPE_TIMEOUT(lrt_chan_recv(c, &m));
    EXPECT_SCOPE_TIMEOUT(lrt_chan_recv_timeout(c, &m, 1000));
    CU_ASSERT_EQUAL(lrt_chan_send(c, "a"), 0);
    EXPECT_SCOPE_TIMEOUT(lrt_chan_send(c, "b"));
    EXPECT_SCOPE_TIMEOUT(lrt_chan_send_timeout(c, "b", 1000));
    /* the timed-out sends left nothing behind */
    CU_ASSERT_EQUAL(lrt_chan_len(c), 1);
    CU_ASSERT_EQUAL(lrt_chan_try_recv(c, &m), 0);
    CU_ASSERT_STRING_EQUAL((char *)m, "a");
    CU_ASSERT_EQUAL(lrt_chan_try_recv(c, &m), -EAGAIN);

    struct holder h = {lrt_mutex_new(), lrt_notify_new()};
    lrt_task_t *ht = lrt_spawn(hold_mutex, &h);
    CU_ASSERT_EQUAL(lrt_yield(), 0); /* it takes the mutex */
    EXPECT_SCOPE_TIMEOUT(lrt_mutex_lock(h.m));
    EXPECT_SCOPE_TIMEOUT(lrt_mutex_lock_timeout(h.m, 1000));
    lrt_notify_one(h.n);
    CU_ASSERT_EQUAL(lrt_join(ht, NULL), 0);
    CU_ASSERT_EQUAL(lrt_mutex_trylock(h.m), 0); /* nobody took it meanwhile */
    CU_ASSERT_EQUAL(lrt_mutex_unlock(h.m), 0);

    lrt_sem_t *s = lrt_sem_new(1);
    EXPECT_SCOPE_TIMEOUT(lrt_sem_acquire(s, 2));
    EXPECT_SCOPE_TIMEOUT(lrt_sem_acquire_timeout(s, 2, 1000));
    CU_ASSERT_EQUAL(lrt_sem_available(s), 1); /* nothing taken */

    EXPECT_SCOPE_TIMEOUT(lrt_notify_wait(n));
    EXPECT_SCOPE_TIMEOUT(lrt_notify_wait_timeout(n, 1000));
    lrt_notify_one(n); /* stored as the permit: the timed-out waits ate nothing */
    CU_ASSERT_EQUAL(lrt_notify_wait_timeout(n, 0), 0);

    lrt_oneshot_t *o = lrt_oneshot_new();
    EXPECT_SCOPE_TIMEOUT(lrt_oneshot_recv(o, &m));
    EXPECT_SCOPE_TIMEOUT(lrt_oneshot_recv_timeout(o, &m, 1000));
    CU_ASSERT_EQUAL(lrt_oneshot_send(o, "v"), 0);
    CU_ASSERT_EQUAL(lrt_oneshot_recv_timeout(o, &m, 0), 0);
    CU_ASSERT_STRING_EQUAL((char *)m, "v");

    CU_ASSERT_EQUAL(lrt_oneshot_free(o), 0);
    CU_ASSERT_EQUAL(lrt_sem_free(s), 0);
    CU_ASSERT_EQUAL(lrt_mutex_free(h.m), 0);
    CU_ASSERT_EQUAL(lrt_notify_free(h.n), 0);
    CU_ASSERT_EQUAL(lrt_notify_free(n), 0);
    CU_ASSERT_EQUAL(lrt_chan_free(c), 0);
    close(p[0]);
    close(p[1]);
    return NULL;
}

static void every_suspension_kind_returns_etimedout_when_the_scope_deadline_passes(void)
{
    lrt_test_run_paused(every_kind_root, NULL);
}

/* ---- write_all halfway -------------------------------------------------------------- */

static void *write_all_root(void *arg)
{
    (void)arg;
    int p[2];
    CU_ASSERT_FATAL(pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
    int cap = fcntl(p[1], F_SETPIPE_SZ, 4096);
    CU_ASSERT_FATAL(cap > 0);
    size_t n = (size_t)cap * 4;
    char *out = malloc(n), *in = malloc(n);
    for (size_t i = 0; i < n; i++)
        out[i] = (char)(i * 7 + 1);
    int tok = lrt_timeout_push(10);
    CU_ASSERT_EQUAL(lrt_write_all(p[1], out, n), -ETIMEDOUT);
    CU_ASSERT_EQUAL(lrt_deadline_pop(tok), 0);
    /* what went out before the deadline is a prefix of the buffer, more than nothing and
     * less than all: the caller cannot tell how much (as the docs say), only that the
     * stream is now cut mid-message */
    ssize_t got = read(p[0], in, n);
    CU_ASSERT(got > 0 && (size_t)got < n);
    if (got > 0)
        CU_ASSERT(memcmp(in, out, (size_t)got) == 0);
    free(out);
    free(in);
    close(p[0]);
    close(p[1]);
    return NULL;
}

static void a_deadline_firing_while_write_all_is_halfway_returns_etimedout_after_a_prefix(void)
{
    lrt_test_run_paused(write_all_root, NULL);
}

/* ---- nesting, popping, tokens, huge values ------------------------------------------ */

static void *nested_root(void *arg)
{
    (void)arg;
    uint64_t t0 = lrt_now_ns();
    int outer = lrt_timeout_push(100), inner = lrt_timeout_push(10);
    CU_ASSERT(outer >= 0 && inner >= 0 && outer != inner);
    CU_ASSERT_EQUAL(lrt_sleep_ms(1000), -ETIMEDOUT);
    CU_ASSERT(lrt_now_ns() - t0 >= 10 * MS && lrt_now_ns() - t0 < 11 * MS);
    CU_ASSERT_EQUAL(lrt_deadline_pop(inner), 0);
    /* back under the outer one only */
    CU_ASSERT_EQUAL(lrt_sleep_ms(1000), -ETIMEDOUT);
    CU_ASSERT(lrt_now_ns() - t0 >= 100 * MS && lrt_now_ns() - t0 < 101 * MS);
    CU_ASSERT_EQUAL(lrt_deadline_pop(outer), 0);

    /* a later deadline pushed inside an earlier one does not extend it */
    t0 = lrt_now_ns();
    outer = lrt_timeout_push(10);
    inner = lrt_timeout_push(100);
    CU_ASSERT_EQUAL(lrt_sleep_ms(1000), -ETIMEDOUT);
    CU_ASSERT(lrt_now_ns() - t0 < 11 * MS);
    CU_ASSERT_EQUAL(lrt_deadline_pop(inner), 0);
    CU_ASSERT_EQUAL(lrt_deadline_pop(outer), 0);

    /* a call's own earlier deadline still applies, with its own result */
    outer = lrt_timeout_push(100);
    CU_ASSERT_EQUAL(lrt_sleep_ms(5), 0);
    void *m;
    lrt_chan_t *c = lrt_chan_new(0);
    CU_ASSERT_EQUAL(lrt_chan_recv_timeout(c, &m, 5), -ETIMEDOUT);
    CU_ASSERT_EQUAL(lrt_deadline_pop(outer), 0);
    CU_ASSERT_EQUAL(lrt_chan_free(c), 0);
    return NULL;
}

static void nested_scopes_the_earliest_deadline_wins(void)
{
    lrt_test_run_paused(nested_root, NULL);
}

static void *pop_outer_root(void *arg)
{
    (void)arg;
    int outer = lrt_timeout_push(50);
    int inner = lrt_timeout_push(5);
    int shield = lrt_shield_push();
    CU_ASSERT(shield >= 0);
    CU_ASSERT_EQUAL(lrt_deadline_pop(outer), 0);
    CU_ASSERT_EQUAL(lrt_deadline_pop(inner), -EINVAL);
    CU_ASSERT_EQUAL(lrt_shield_pop(shield), -EINVAL);
    CU_ASSERT_EQUAL(lrt_sleep_ms(100), 0); /* no deadline left */
    return NULL;
}

static void popping_an_outer_scope_pops_the_ones_pushed_after_it(void)
{
    lrt_test_run_paused(pop_outer_root, NULL);
}

static void *tokens_root(void *arg)
{
    (void)arg;
    CU_ASSERT_EQUAL(lrt_deadline_pop(0), -EINVAL); /* nothing pushed yet */
    CU_ASSERT_EQUAL(lrt_shield_pop(0), -EINVAL);
    int d = lrt_timeout_push(1000), s = lrt_shield_push();
    CU_ASSERT_EQUAL(lrt_deadline_pop(-1), -EINVAL);
    CU_ASSERT_EQUAL(lrt_deadline_pop(INT_MAX), -EINVAL);
    CU_ASSERT_EQUAL(lrt_deadline_pop(s), -EINVAL); /* a shield's token */
    CU_ASSERT_EQUAL(lrt_shield_pop(d), -EINVAL);   /* a deadline's token */
    CU_ASSERT_EQUAL(lrt_shield_pop(s), 0);
    CU_ASSERT_EQUAL(lrt_shield_pop(s), -EINVAL); /* twice */
    int d2 = lrt_timeout_push(1000);             /* same depth as the popped shield */
    CU_ASSERT(d2 != s);
    CU_ASSERT_EQUAL(lrt_deadline_pop(d), 0);
    CU_ASSERT_EQUAL(lrt_deadline_pop(d2), -EINVAL);
    /* scopes left pushed when the task returns are freed with it (ASan: no leak) */
    CU_ASSERT(lrt_timeout_push(1000) >= 0);
    CU_ASSERT(lrt_shield_push() >= 0);
    return NULL;
}

static void bad_tokens_are_refused_and_scopes_left_pushed_die_with_the_task(void)
{
    lrt_test_run_paused(tokens_root, NULL);
    /* outside a task */
    CU_ASSERT_EQUAL(lrt_timeout_push(10), -EPERM);
    CU_ASSERT_EQUAL(lrt_deadline_push(0), -EPERM);
    CU_ASSERT_EQUAL(lrt_deadline_pop(0), -EPERM);
    CU_ASSERT_EQUAL(lrt_shield_push(), -EPERM);
    CU_ASSERT_EQUAL(lrt_shield_pop(0), -EPERM);
}

static void *huge_root(void *arg)
{
    (void)arg;
    int a = lrt_timeout_push(INT64_MAX), b = lrt_timeout_push(-1), c = lrt_deadline_push(UINT64_MAX),
        d = lrt_deadline_push((uint64_t)1 << 62), e = lrt_timeout_push(INT64_MIN);
    CU_ASSERT(a >= 0 && b >= 0 && c >= 0 && d >= 0 && e >= 0);
    CU_ASSERT_EQUAL(lrt_sleep_ms(10), 0);
    CU_ASSERT_EQUAL(lrt_yield(), 0);
    CU_ASSERT_EQUAL(lrt_time_advance(UINT64_MAX), 0); /* the clock saturates far ahead */
    CU_ASSERT_EQUAL(lrt_yield(), 0);
    CU_ASSERT_EQUAL(lrt_deadline_pop(a), 0);
    /* 0 and "now" are deadlines that have passed: the next suspension point goes through
     * the scheduler once and says so, even when it would not have waited */
    int z = lrt_deadline_push(0);
    CU_ASSERT_EQUAL(lrt_yield(), -ETIMEDOUT);
    lrt_chan_t *ch = lrt_chan_new(0);
    CU_ASSERT_EQUAL(lrt_chan_send(ch, "x"), -ETIMEDOUT);
    CU_ASSERT_EQUAL(lrt_chan_len(ch), 0); /* not sent */
    CU_ASSERT_EQUAL(lrt_deadline_pop(z), 0);
    z = lrt_timeout_push(0);
    CU_ASSERT_EQUAL(lrt_sleep_ms(0), -ETIMEDOUT);
    CU_ASSERT_EQUAL(lrt_deadline_pop(z), 0);
    CU_ASSERT_EQUAL(lrt_chan_send(ch, "x"), 0);
    CU_ASSERT_EQUAL(lrt_chan_free(ch), 0);
    return NULL;
}

static void huge_deadlines_mean_none_and_a_passed_one_fails_at_once(void)
{
    lrt_test_run_paused(huge_root, NULL);
}

/* ---- first wake wins ---------------------------------------------------------------- */

struct handoff {
    lrt_chan_t *c;
    int recv_rc, next_rc;
    void *msg;
};

static void *receiver(void *arg)
{
    struct handoff *h = arg;
    int tok = lrt_timeout_push(10);
    h->recv_rc = lrt_chan_recv(h->c, &h->msg);
    h->next_rc = lrt_yield(); /* the deadline is reported here instead */
    CU_ASSERT_EQUAL(lrt_deadline_pop(tok), 0);
    return NULL;
}

static void *handoff_root(void *arg)
{
    (void)arg;
    struct handoff h = {.c = lrt_chan_new(1), .recv_rc = 1, .next_rc = 1};
    lrt_task_t *t = lrt_spawn(receiver, &h);
    CU_ASSERT_EQUAL(lrt_yield(), 0); /* it waits in recv */
    /* hand it the message, then let its deadline pass before it runs again */
    CU_ASSERT_EQUAL(lrt_chan_send(h.c, "m"), 0);
    CU_ASSERT_EQUAL(lrt_time_advance(20 * MS), 0);
    CU_ASSERT_EQUAL(lrt_join(t, NULL), 0);
    CU_ASSERT_EQUAL(h.recv_rc, 0);
    CU_ASSERT_PTR_NOT_NULL(h.msg);
    CU_ASSERT_EQUAL(h.next_rc, -ETIMEDOUT);
    CU_ASSERT_EQUAL(lrt_chan_len(h.c), 0);
    CU_ASSERT_EQUAL(lrt_chan_free(h.c), 0);
    return NULL;
}

static void a_wait_handed_its_message_before_the_scope_deadline_keeps_it(void)
{
    lrt_test_run_paused(handoff_root, NULL);
}

/* ---- shields ------------------------------------------------------------------------ */

struct cleanup {
    lrt_chan_t *c;
    int ready;
    int slept, recvd, after_pop, deadline_in_shield;
    void *msg;
};

static void *cleaner(void *arg)
{
    struct cleanup *s = arg;
    int sh = lrt_shield_push();
    s->ready = 1;
    s->slept = lrt_sleep_ms(50);           /* aborted meanwhile: not interrupted */
    s->recvd = lrt_chan_recv(s->c, &s->msg); /* the goodbye still arrives */
    int tok = lrt_timeout_push(10);        /* deadlines still apply inside */
    s->deadline_in_shield = lrt_sleep_ms(1000);
    CU_ASSERT_EQUAL(lrt_deadline_pop(tok), 0);
    CU_ASSERT_EQUAL(lrt_shield_pop(sh), 0);
    s->after_pop = lrt_sleep_ms(1000); /* the pending cancellation takes effect */
    return NULL;
}

static void *shield_root(void *arg)
{
    (void)arg;
    struct cleanup s = {.c = lrt_chan_new(0)};
    lrt_task_t *t = lrt_spawn(cleaner, &s);
    while (!s.ready)
        CU_ASSERT_EQUAL_FATAL(lrt_yield(), 0);
    lrt_abort(t);
    CU_ASSERT_EQUAL(lrt_sleep_ms(60), 0);
    CU_ASSERT_EQUAL(lrt_chan_send(s.c, "bye"), 0);
    CU_ASSERT_EQUAL(lrt_join(t, NULL), -ECANCELED);
    CU_ASSERT_EQUAL(s.slept, 0);
    CU_ASSERT_EQUAL(s.recvd, 0);
    CU_ASSERT_STRING_EQUAL((char *)s.msg, "bye");
    CU_ASSERT_EQUAL(s.deadline_in_shield, -ETIMEDOUT);
    CU_ASSERT_EQUAL(s.after_pop, -ECANCELED);
    CU_ASSERT_EQUAL(lrt_chan_free(s.c), 0);
    return NULL;
}

static void abort_inside_a_shield_lets_the_waits_complete_and_cancels_after_the_pop(void)
{
    lrt_test_run_paused(shield_root, NULL);
}

static void *late_shield(void *arg)
{
    int *r = arg;
    r[0] = lrt_sleep_ms(1000); /* aborted here */
    int sh = lrt_shield_push();
    int inner = lrt_shield_push();
    r[1] = lrt_sleep_ms(10); /* cleanup after the cancel */
    CU_ASSERT_EQUAL(lrt_shield_pop(inner), 0);
    r[2] = lrt_sleep_ms(10); /* still under the outer shield */
    CU_ASSERT_EQUAL(lrt_shield_pop(sh), 0);
    r[3] = lrt_yield();
    return NULL;
}

static void *late_shield_root(void *arg)
{
    (void)arg;
    int r[4] = {1, 1, 1, 1};
    lrt_task_t *t = lrt_spawn(late_shield, r);
    CU_ASSERT_EQUAL(lrt_yield(), 0);
    lrt_abort(t);
    CU_ASSERT_EQUAL(lrt_join(t, NULL), -ECANCELED);
    CU_ASSERT_EQUAL(r[0], -ECANCELED);
    CU_ASSERT_EQUAL(r[1], 0);
    CU_ASSERT_EQUAL(r[2], 0);
    CU_ASSERT_EQUAL(r[3], -ECANCELED);
    return NULL;
}

static void a_shield_pushed_after_the_abort_holds_the_cancellation_until_the_last_pop(void)
{
    lrt_test_run_paused(late_shield_root, NULL);
}

static int shielded_done, shielded_slept, shielded_after;

static void *shielded_cleanup(void *arg)
{
    (void)arg;
    int sh = lrt_shield_push();
    shielded_slept = lrt_sleep_ms(30); /* shutdown began meanwhile */
    lrt_shield_pop(sh);
    shielded_after = lrt_sleep_ms(100000);
    shielded_done = 1;
    return NULL;
}

static void *spawn_shielded(void *arg)
{
    (void)arg;
    lrt_task_detach(lrt_spawn(shielded_cleanup, NULL));
    return lrt_yield() == 0 ? NULL : (void *)1; /* it is in its shield now */
}

static void shutdown_waits_for_a_shielded_task_to_finish_its_cleanup(void)
{
    lrt_runtime_t *rt = lrt_runtime_new(NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rt);
    void *res = (void *)1;
    CU_ASSERT_EQUAL(lrt_block_on(rt, spawn_shielded, NULL, &res), 0);
    CU_ASSERT_PTR_NULL(res);
    CU_ASSERT_EQUAL(lrt_shutdown_timeout(rt, 10000), 0);
    CU_ASSERT_EQUAL(shielded_done, 1);
    CU_ASSERT_EQUAL(shielded_slept, 0);
    CU_ASSERT_EQUAL(shielded_after, -ECANCELED);
}

static void *forever_shielded(void *arg)
{
    lrt_notify_t *n = arg;
    (void)lrt_shield_push();
    for (;;)
        (void)lrt_notify_wait(n);
    return NULL;
}

static void *spawn_forever(void *arg)
{
    lrt_task_detach(lrt_spawn_named("stubborn", forever_shielded, arg));
    return lrt_yield() == 0 ? NULL : (void *)1;
}

static int forever_child(void *arg)
{
    (void)arg;
    lrt_runtime_t *rt = lrt_runtime_new(NULL);
    if (!rt)
        return 10;
    lrt_notify_t *n = lrt_notify_new();
    if (lrt_block_on(rt, spawn_forever, n, NULL) != 0)
        return 11;
    int rc = lrt_shutdown_timeout(rt, 50);
    return rc == -ETIMEDOUT ? 0 : 12; /* the task and n are leaked on purpose */
}

static void a_task_shielded_forever_outlives_the_shutdown_timeout_and_is_reported(void)
{
    char out[4096];
    int st = lrt_test_fork_capture(forever_child, NULL, out, sizeof out);
    CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "'stubborn'"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "did not finish"));
}

/* A deadlocked root can never complete the waits its shield protects: lrt_block_on's
 * deadlock cancellation goes through the shield, or lrt_block_on would return with the
 * root still suspended on the caller's data. */
static void *deadlocked_shielded_root(void *arg)
{
    int *r = arg;
    lrt_notify_t *n = lrt_notify_new();
    int sh = lrt_shield_push();
    r[0] = lrt_notify_wait(n); /* nobody can ever notify */
    r[1] = lrt_shield_pop(sh);
    lrt_notify_free(n);
    return NULL;
}

static int deadlock_child(void *arg)
{
    (void)arg;
    lrt_runtime_t *rt = lrt_runtime_new(NULL);
    if (!rt)
        return 10;
    int r[2] = {1, 1};
    int rc = lrt_block_on(rt, deadlocked_shielded_root, r, NULL);
    if (rc != -EDEADLK)
        return 11;
    if (r[0] != -ECANCELED || r[1] != 0)
        return 12;
    lrt_runtime_free(rt);
    return 0;
}

static void a_deadlocked_root_is_cancelled_through_its_shield(void)
{
    char out[8192];
    int st = lrt_test_fork_capture(deadlock_child, NULL, out, sizeof out);
    CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fprintf(stderr, "status %#x: %s\n", st, out);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "deadlock"));
}

CU_TestInfo lrt_test_scope[] = {
    {"every_suspension_kind_returns_etimedout_when_the_scope_deadline_passes",
     every_suspension_kind_returns_etimedout_when_the_scope_deadline_passes},
    {"a_deadline_firing_while_write_all_is_halfway_returns_etimedout_after_a_prefix",
     a_deadline_firing_while_write_all_is_halfway_returns_etimedout_after_a_prefix},
    {"nested_scopes_the_earliest_deadline_wins", nested_scopes_the_earliest_deadline_wins},
    {"popping_an_outer_scope_pops_the_ones_pushed_after_it", popping_an_outer_scope_pops_the_ones_pushed_after_it},
    {"bad_tokens_are_refused_and_scopes_left_pushed_die_with_the_task",
     bad_tokens_are_refused_and_scopes_left_pushed_die_with_the_task},
    {"huge_deadlines_mean_none_and_a_passed_one_fails_at_once", huge_deadlines_mean_none_and_a_passed_one_fails_at_once},
    {"a_wait_handed_its_message_before_the_scope_deadline_keeps_it",
     a_wait_handed_its_message_before_the_scope_deadline_keeps_it},
    {"abort_inside_a_shield_lets_the_waits_complete_and_cancels_after_the_pop",
     abort_inside_a_shield_lets_the_waits_complete_and_cancels_after_the_pop},
    {"a_shield_pushed_after_the_abort_holds_the_cancellation_until_the_last_pop",
     a_shield_pushed_after_the_abort_holds_the_cancellation_until_the_last_pop},
    {"shutdown_waits_for_a_shielded_task_to_finish_its_cleanup", shutdown_waits_for_a_shielded_task_to_finish_its_cleanup},
    {"a_task_shielded_forever_outlives_the_shutdown_timeout_and_is_reported",
     a_task_shielded_forever_outlives_the_shutdown_timeout_and_is_reported},
    {"a_deadlocked_root_is_cancelled_through_its_shield", a_deadlocked_root_is_cancelled_through_its_shield},
    CU_TEST_INFO_NULL,
};
