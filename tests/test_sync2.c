/* watch.c, rwlock.c, barrier.c, interval.c, tls.c: the sync types beyond the basic ones. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

#define P(i) ((void *)(uintptr_t)(i))
#define I(p) ((uintptr_t)(p))
#define MS UINT64_C(1000000)

static void settle(void)
{
    for (int i = 0; i < 4; i++)
        lrt_yield();
}

/* ---- watch ------------------------------------------------------------------------ */

static void *watch_missed_root(void *arg)
{
    (void)arg;
    lrt_watch_t *w = lrt_watch_new(P(1));
    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    uint64_t seen = 99;
    CU_ASSERT_EQUAL(I(lrt_watch_get(w, &seen)), 1);
    CU_ASSERT_EQUAL(seen, 0);
    for (int i = 2; i <= 4; i++)
        CU_ASSERT_EQUAL(lrt_watch_set(w, P(i)), 0);
    CU_ASSERT_EQUAL(lrt_watch_changed(w, &seen, -1), 0);
    CU_ASSERT_EQUAL(seen, 3);
    uint64_t v = 0;
    CU_ASSERT_EQUAL(I(lrt_watch_get(w, &v)), 4);
    CU_ASSERT_EQUAL(v, 3);
    /* seen once: no second report of the same version */
    CU_ASSERT_EQUAL(lrt_watch_changed(w, &seen, 0), -ETIMEDOUT);
    CU_ASSERT_EQUAL(lrt_watch_free(w), 0);
    return NULL;
}

static void a_watch_reader_that_missed_several_sets_sees_the_latest_once(void)
{
    lrt_test_run(NULL, watch_missed_root, NULL);
}

struct wreader {
    lrt_watch_t *w;
    int64_t timeout;
    int rc;
    uint64_t seen;
    void *value;
};

static void *watch_reader(void *arg)
{
    struct wreader *r = arg;
    r->rc = lrt_watch_changed(r->w, &r->seen, r->timeout);
    r->value = lrt_watch_get(r->w, NULL);
    return NULL;
}

static void *watch_many_root(void *arg)
{
    (void)arg;
    lrt_watch_t *w = lrt_watch_new(NULL);
    struct wreader r[3];
    lrt_task_t *t[3];
    for (int i = 0; i < 3; i++) {
        r[i] = (struct wreader){.w = w, .timeout = -1, .rc = 1};
        t[i] = lrt_spawn(watch_reader, &r[i]);
    }
    settle();
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(r[i].rc, 1); /* still waiting */
    CU_ASSERT_EQUAL(lrt_watch_free(w), -EBUSY);
    CU_ASSERT_EQUAL(lrt_watch_set(w, P(7)), 0);
    CU_ASSERT_EQUAL(lrt_watch_free(w), -EBUSY); /* woken, not yet run */
    for (int i = 0; i < 3; i++) {
        CU_ASSERT_EQUAL(lrt_join(t[i], NULL), 0);
        CU_ASSERT_EQUAL(r[i].rc, 0);
        CU_ASSERT_EQUAL(r[i].seen, 1);
        CU_ASSERT_EQUAL(I(r[i].value), 7);
    }
    CU_ASSERT_EQUAL(lrt_watch_free(w), 0);
    return NULL;
}

static void a_watch_set_wakes_every_waiting_reader_with_the_new_version(void)
{
    lrt_test_run(NULL, watch_many_root, NULL);
}

static void *watch_close_root(void *arg)
{
    (void)arg;
    lrt_watch_t *w = lrt_watch_new(NULL);
    struct wreader r[2];
    lrt_task_t *t[2];
    for (int i = 0; i < 2; i++) {
        r[i] = (struct wreader){.w = w, .timeout = -1, .rc = 1};
        t[i] = lrt_spawn(watch_reader, &r[i]);
    }
    settle();
    lrt_watch_close(w);
    for (int i = 0; i < 2; i++) {
        CU_ASSERT_EQUAL(lrt_join(t[i], NULL), 0);
        CU_ASSERT_EQUAL(r[i].rc, -EPIPE);
        CU_ASSERT_EQUAL(r[i].seen, 0);
    }
    CU_ASSERT_EQUAL(lrt_watch_set(w, P(1)), -EPIPE);
    CU_ASSERT_EQUAL(lrt_watch_free(w), 0);

    /* a version set before close is still reported once, then -EPIPE */
    w = lrt_watch_new(NULL);
    uint64_t seen = 0;
    CU_ASSERT_EQUAL(lrt_watch_set(w, P(5)), 0);
    lrt_watch_close(w);
    CU_ASSERT_EQUAL(lrt_watch_changed(w, &seen, -1), 0);
    CU_ASSERT_EQUAL(seen, 1);
    CU_ASSERT_EQUAL(lrt_watch_changed(w, &seen, -1), -EPIPE);
    CU_ASSERT_EQUAL(lrt_watch_free(w), 0);
    return NULL;
}

static void closing_a_watch_wakes_its_waiters_with_epipe_after_the_last_unseen_version(void)
{
    lrt_test_run(NULL, watch_close_root, NULL);
}

static void *watch_timeout_root(void *arg)
{
    (void)arg;
    lrt_watch_t *w = lrt_watch_new(NULL);
    uint64_t t0 = lrt_now_ns();
    struct wreader r = {.w = w, .timeout = 50, .rc = 1};
    lrt_task_t *t = lrt_spawn(watch_reader, &r);
    CU_ASSERT_EQUAL(lrt_join(t, NULL), 0);
    CU_ASSERT_EQUAL(r.rc, -ETIMEDOUT);
    CU_ASSERT(lrt_now_ns() - t0 >= 50 * MS);
    CU_ASSERT_EQUAL(r.seen, 0);

    r = (struct wreader){.w = w, .timeout = -1, .rc = 1};
    t = lrt_spawn(watch_reader, &r);
    settle();
    lrt_abort(t);
    CU_ASSERT_EQUAL(lrt_join(t, NULL), -ECANCELED);
    CU_ASSERT_EQUAL(r.rc, -ECANCELED);
    CU_ASSERT_EQUAL(lrt_watch_free(w), 0); /* the aborted waiter left */
    return NULL;
}

static void a_watch_wait_times_out_or_is_cancelled_and_leaves_nothing_behind(void)
{
    lrt_test_run_paused(watch_timeout_root, NULL);
}

/* ---- rwlock ----------------------------------------------------------------------- */

struct rw {
    lrt_rwlock_t *l;
    lrt_notify_t *release;  /* holders wait on it before unlocking */
    int active_readers, max_readers, writer_in;
    int log[16];
    int nlog;
};

struct rwarg {
    struct rw *s;
    int id;      /* logged when it gets the lock */
    int write;
    int64_t timeout;
    int rc;
};

static void *rw_task(void *arg)
{
    struct rwarg *a = arg;
    struct rw *s = a->s;
    a->rc = a->write ? lrt_rwlock_wrlock_timeout(s->l, a->timeout)
                     : lrt_rwlock_rdlock_timeout(s->l, a->timeout);
    if (a->rc != 0)
        return NULL;
    s->log[s->nlog++] = a->id;
    if (a->write) {
        CU_ASSERT_EQUAL(s->active_readers, 0);
        CU_ASSERT_EQUAL(s->writer_in, 0);
        s->writer_in = 1;
    } else {
        CU_ASSERT_EQUAL(s->writer_in, 0);
        if (++s->active_readers > s->max_readers)
            s->max_readers = s->active_readers;
    }
    if (s->release)
        lrt_notify_wait(s->release);
    if (a->write)
        s->writer_in = 0;
    else
        s->active_readers--;
    CU_ASSERT_EQUAL(lrt_rwlock_unlock(s->l), 0);
    return NULL;
}

static void *rw_share_root(void *arg)
{
    (void)arg;
    struct rw s = {.l = lrt_rwlock_new(), .release = lrt_notify_new()};
    struct rwarg a[4];
    lrt_task_t *t[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (struct rwarg){.s = &s, .id = i, .write = i == 3, .timeout = -1, .rc = 1};
        t[i] = lrt_spawn(rw_task, &a[i]);
    }
    settle();
    CU_ASSERT_EQUAL(s.max_readers, 3); /* the readers share */
    CU_ASSERT_EQUAL(s.nlog, 3);        /* the writer waits for all of them */
    CU_ASSERT_EQUAL(lrt_rwlock_free(s.l), -EBUSY);
    lrt_notify_all(s.release);
    settle();
    CU_ASSERT_EQUAL(s.nlog, 4);
    CU_ASSERT_EQUAL(s.log[3], 3);
    lrt_notify_all(s.release);
    for (int i = 0; i < 4; i++) {
        CU_ASSERT_EQUAL(lrt_join(t[i], NULL), 0);
        CU_ASSERT_EQUAL(a[i].rc, 0);
    }
    CU_ASSERT_EQUAL(lrt_rwlock_free(s.l), 0);
    CU_ASSERT_EQUAL(lrt_notify_free(s.release), 0);
    return NULL;
}

static void rwlock_readers_share_it_and_a_writer_excludes_them(void)
{
    lrt_test_run(NULL, rw_share_root, NULL);
}

static void *rw_writer_first_root(void *arg)
{
    (void)arg;
    struct rw s = {.l = lrt_rwlock_new(), .release = lrt_notify_new()};
    /* reader 0 holds; writer 1 queues; reader 2 must queue behind the writer */
    struct rwarg a[3] = {
        {.s = &s, .id = 0, .write = 0, .timeout = -1, .rc = 1},
        {.s = &s, .id = 1, .write = 1, .timeout = -1, .rc = 1},
        {.s = &s, .id = 2, .write = 0, .timeout = -1, .rc = 1},
    };
    lrt_task_t *t[3];
    for (int i = 0; i < 3; i++) {
        t[i] = lrt_spawn(rw_task, &a[i]);
        settle();
    }
    CU_ASSERT_EQUAL(s.nlog, 1);
    CU_ASSERT_EQUAL(lrt_rwlock_rdlock_timeout(s.l, 0), -ETIMEDOUT); /* nor can we barge */
    lrt_notify_one(s.release); /* reader 0 unlocks: the writer, not reader 2 */
    settle();
    CU_ASSERT_EQUAL(s.nlog, 2);
    CU_ASSERT_EQUAL(s.log[1], 1);
    lrt_notify_one(s.release);
    settle();
    CU_ASSERT_EQUAL(s.nlog, 3);
    CU_ASSERT_EQUAL(s.log[2], 2);
    lrt_notify_one(s.release);
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(lrt_join(t[i], NULL), 0);
    CU_ASSERT_EQUAL(lrt_rwlock_free(s.l), 0);
    CU_ASSERT_EQUAL(lrt_notify_free(s.release), 0);
    return NULL;
}

static void a_waiting_writer_blocks_new_readers_of_an_rwlock(void)
{
    lrt_test_run(NULL, rw_writer_first_root, NULL);
}

static void *rw_timeout_root(void *arg)
{
    (void)arg;
    struct rw s = {.l = lrt_rwlock_new(), .release = lrt_notify_new()};
    struct rwarg r0 = {.s = &s, .id = 0, .write = 0, .timeout = -1, .rc = 1};
    struct rwarg w1 = {.s = &s, .id = 1, .write = 1, .timeout = 30, .rc = 1};
    struct rwarg r2 = {.s = &s, .id = 2, .write = 0, .timeout = -1, .rc = 1};
    lrt_task_t *t0 = lrt_spawn(rw_task, &r0);
    settle();
    lrt_task_t *t1 = lrt_spawn(rw_task, &w1);
    settle();
    lrt_task_t *t2 = lrt_spawn(rw_task, &r2);
    settle();
    CU_ASSERT_EQUAL(s.nlog, 1);
    /* the writer at the head times out: it takes nothing, and the reader behind it
     * gets in beside reader 0 */
    CU_ASSERT_EQUAL(lrt_join(t1, NULL), 0);
    CU_ASSERT_EQUAL(w1.rc, -ETIMEDOUT);
    settle();
    CU_ASSERT_EQUAL(s.nlog, 2);
    CU_ASSERT_EQUAL(s.max_readers, 2);
    lrt_notify_all(s.release);
    CU_ASSERT_EQUAL(lrt_join(t0, NULL), 0);
    CU_ASSERT_EQUAL(lrt_join(t2, NULL), 0);

    /* a held write lock: both timed locks give up and take nothing */
    CU_ASSERT_EQUAL(lrt_rwlock_wrlock(s.l), 0);
    struct rwarg w3 = {.s = &s, .id = 3, .write = 1, .timeout = 10, .rc = 1};
    struct rwarg r4 = {.s = &s, .id = 4, .write = 0, .timeout = 10, .rc = 1};
    lrt_task_t *t3 = lrt_spawn(rw_task, &w3), *t4 = lrt_spawn(rw_task, &r4);
    CU_ASSERT_EQUAL(lrt_join(t3, NULL), 0);
    CU_ASSERT_EQUAL(lrt_join(t4, NULL), 0);
    CU_ASSERT_EQUAL(w3.rc, -ETIMEDOUT);
    CU_ASSERT_EQUAL(r4.rc, -ETIMEDOUT);
    CU_ASSERT_EQUAL(lrt_rwlock_unlock(s.l), 0);
    CU_ASSERT_EQUAL(lrt_rwlock_free(s.l), 0); /* nothing was left held */
    CU_ASSERT_EQUAL(lrt_notify_free(s.release), 0);
    return NULL;
}

static void rwlock_timeouts_take_nothing_and_let_the_queue_behind_them_in(void)
{
    lrt_test_run_paused(rw_timeout_root, NULL);
}

static void *rw_errors_root(void *arg)
{
    (void)arg;
    struct rw s = {.l = lrt_rwlock_new(), .release = lrt_notify_new()};
    lrt_rwlock_t *l = s.l;
    CU_ASSERT_EQUAL(lrt_rwlock_unlock(l), -EPERM);
    CU_ASSERT_EQUAL(lrt_rwlock_wrlock(l), 0);
    CU_ASSERT_EQUAL(lrt_rwlock_wrlock(l), -EDEADLK);
    CU_ASSERT_EQUAL(lrt_rwlock_rdlock(l), -EDEADLK);
    CU_ASSERT_EQUAL(lrt_rwlock_unlock(l), 0);
    CU_ASSERT_EQUAL(lrt_rwlock_unlock(l), -EPERM);
    CU_ASSERT_EQUAL(lrt_rwlock_rdlock(l), 0);
    CU_ASSERT_EQUAL(lrt_rwlock_rdlock(l), -EDEADLK);
    CU_ASSERT_EQUAL(lrt_rwlock_wrlock_timeout(l, 0), -EDEADLK);
    CU_ASSERT_EQUAL(lrt_rwlock_unlock(l), 0);
    /* a read lock held by another task cannot be released by us */
    struct rwarg a = {.s = &s, .id = 0, .write = 0, .timeout = -1, .rc = 1};
    lrt_task_t *t = lrt_spawn(rw_task, &a);
    settle();
    CU_ASSERT_EQUAL(s.nlog, 1);
    CU_ASSERT_EQUAL(lrt_rwlock_unlock(l), -EPERM);
    CU_ASSERT_EQUAL(lrt_rwlock_free(l), -EBUSY);
    lrt_notify_one(s.release);
    CU_ASSERT_EQUAL(lrt_join(t, NULL), 0);
    CU_ASSERT_EQUAL(lrt_rwlock_unlock(NULL), -EINVAL);
    CU_ASSERT_EQUAL(lrt_rwlock_free(l), 0);
    CU_ASSERT_EQUAL(lrt_notify_free(s.release), 0);
    return NULL;
}

static void rwlock_unlock_by_a_non_holder_is_eperm_and_a_holder_relocking_is_edeadlk(void)
{
    lrt_test_run(NULL, rw_errors_root, NULL);
}

/* ---- barrier ---------------------------------------------------------------------- */

#define GENS 200
#define PARTIES 4

struct bar {
    lrt_barrier_t *b;
    int leaders[GENS];
    int passed[GENS];
    int bad;
};

static void *bar_task(void *arg)
{
    struct bar *s = arg;
    for (int g = 0; g < GENS; g++) {
        int r = lrt_barrier_wait(s->b);
        if (r < 0) {
            s->bad++;
            return NULL;
        }
        /* nobody may pass generation g before all PARTIES arrived at it */
        if (g + 1 < GENS && s->passed[g + 1] != 0)
            s->bad++;
        s->leaders[g] += r;
        s->passed[g]++;
        if ((g + (int)(intptr_t)lrt_task_self_id()) % 3 == 0)
            lrt_yield(); /* vary arrival order */
    }
    return NULL;
}

static void *bar_gen_root(void *arg)
{
    (void)arg;
    struct bar *s = calloc(1, sizeof *s);
    s->b = lrt_barrier_new(PARTIES);
    lrt_task_t *t[PARTIES];
    for (int i = 0; i < PARTIES; i++)
        t[i] = lrt_spawn(bar_task, s);
    for (int i = 0; i < PARTIES; i++)
        CU_ASSERT_EQUAL(lrt_join(t[i], NULL), 0);
    int wrong = 0;
    for (int g = 0; g < GENS; g++)
        if (s->leaders[g] != 1 || s->passed[g] != PARTIES)
            wrong++;
    CU_ASSERT_EQUAL(wrong, 0);
    CU_ASSERT_EQUAL(s->bad, 0);
    CU_ASSERT_EQUAL(lrt_barrier_free(s->b), 0);
    free(s);
    return NULL;
}

static void a_barrier_has_exactly_one_leader_per_generation_over_many_generations(void)
{
    lrt_test_run(NULL, bar_gen_root, NULL);
}

static void *bar_once(void *arg)
{
    return P(lrt_barrier_wait(arg) + 10); /* 10: follower, 11: leader, < 10: error */
}

static void *bar_abort_root(void *arg)
{
    (void)arg;
    lrt_barrier_t *b = lrt_barrier_new(3);
    lrt_task_t *a = lrt_spawn(bar_once, b);
    lrt_task_t *x = lrt_spawn(bar_once, b);
    settle();
    CU_ASSERT_EQUAL(lrt_barrier_free(b), -EBUSY);
    lrt_abort(x);
    void *r = NULL;
    CU_ASSERT_EQUAL(lrt_join(x, &r), -ECANCELED);
    CU_ASSERT_EQUAL((intptr_t)r, 10 - ECANCELED);
    /* x left: one more arrival does not complete the generation, two do */
    lrt_task_t *c = lrt_spawn(bar_once, b);
    settle();
    CU_ASSERT_EQUAL(lrt_task_is_finished(a), 0);
    CU_ASSERT_EQUAL(lrt_task_is_finished(c), 0);
    lrt_task_t *d = lrt_spawn(bar_once, b);
    void *ra = NULL, *rc = NULL, *rd = NULL;
    CU_ASSERT_EQUAL(lrt_join(a, &ra), 0);
    CU_ASSERT_EQUAL(lrt_join(c, &rc), 0);
    CU_ASSERT_EQUAL(lrt_join(d, &rd), 0);
    CU_ASSERT_EQUAL(I(ra) + I(rc) + I(rd), 31); /* one leader, two followers */
    CU_ASSERT_EQUAL(I(rd), 11);                 /* the last to arrive leads */
    CU_ASSERT_EQUAL(lrt_barrier_free(b), 0);

    /* a barrier of one: every wait leads, at once */
    b = lrt_barrier_new(1);
    CU_ASSERT_EQUAL(lrt_barrier_wait(b), 1);
    CU_ASSERT_EQUAL(lrt_barrier_wait(b), 1);
    CU_ASSERT_EQUAL(lrt_barrier_free(b), 0);
    errno = 0;
    CU_ASSERT_PTR_NULL(lrt_barrier_new(0));
    CU_ASSERT_EQUAL(errno, EINVAL);
    return NULL;
}

static void an_aborted_barrier_waiter_leaves_its_generation_and_strands_nobody(void)
{
    lrt_test_run(NULL, bar_abort_root, NULL);
}

/* ---- interval --------------------------------------------------------------------- */

static void *iv_drift_root(void *arg)
{
    (void)arg;
    uint64_t t0 = lrt_now_ns();
    lrt_interval_t *iv = lrt_interval_new(10);
    CU_ASSERT_PTR_NOT_NULL_FATAL(iv);
    int not_one = 0;
    for (int i = 0; i < 100; i++) {
        if (lrt_interval_tick(iv) != 1)
            not_one++;
        lrt_sleep_ms(3); /* work between ticks: "now + period" would drift 3 ms a tick */
    }
    uint64_t now = lrt_now_ns();
    CU_ASSERT_EQUAL(not_one, 0);
    /* the 100th boundary is t0 + 1000 ms; then the 3 ms of the last loop */
    CU_ASSERT(now >= t0 + 1003 * MS);
    CU_ASSERT(now < t0 + 1010 * MS);
    CU_ASSERT_EQUAL(lrt_interval_free(iv), 0);
    return NULL;
}

static void an_interval_does_not_drift_over_100_ticks_on_the_virtual_clock(void)
{
    lrt_test_run_paused(iv_drift_root, NULL);
}

static void *iv_missed_root(void *arg)
{
    (void)arg;
    uint64_t t0 = lrt_now_ns();
    lrt_interval_t *iv = lrt_interval_new(10);
    CU_ASSERT_EQUAL(lrt_interval_tick(iv), 1);
    CU_ASSERT(lrt_now_ns() >= t0 + 10 * MS);
    CU_ASSERT_EQUAL(lrt_time_advance(35 * MS), 0); /* boundaries 20, 30, 40 go by */
    uint64_t before = lrt_now_ns();
    CU_ASSERT_EQUAL(lrt_interval_tick(iv), 3);
    CU_ASSERT_EQUAL(lrt_now_ns(), before); /* the late tick returns at once ... */
    CU_ASSERT_EQUAL(lrt_interval_tick(iv), 1); /* ... and only one: the next waits */
    CU_ASSERT(lrt_now_ns() >= t0 + 50 * MS);
    CU_ASSERT(lrt_now_ns() < t0 + 60 * MS);
    CU_ASSERT_EQUAL(lrt_interval_free(iv), 0);
    errno = 0;
    CU_ASSERT_PTR_NULL(lrt_interval_new(0));
    CU_ASSERT_EQUAL(errno, EINVAL);
    return NULL;
}

static void an_interval_counts_missed_ticks_in_one_late_return_not_a_burst(void)
{
    lrt_test_run_paused(iv_missed_root, NULL);
}

static void *iv_ticker(void *arg)
{
    for (;;) {
        int r = lrt_interval_tick(arg);
        if (r < 0)
            return P(-r);
    }
}

static void *iv_cancel_root(void *arg)
{
    (void)arg;
    lrt_interval_t *iv = lrt_interval_new(1000);
    lrt_task_t *t = lrt_spawn(iv_ticker, iv);
    settle();
    CU_ASSERT_EQUAL(lrt_interval_free(iv), -EBUSY);
    CU_ASSERT_EQUAL(lrt_interval_tick(iv), -EBUSY); /* one ticker */
    lrt_abort(t);
    void *r = NULL;
    CU_ASSERT_EQUAL(lrt_join(t, &r), -ECANCELED);
    CU_ASSERT_EQUAL(I(r), ECANCELED);
    CU_ASSERT_EQUAL(lrt_interval_free(iv), 0);
    return NULL;
}

static void an_interval_tick_is_cancellable_and_free_waits_for_the_ticker(void)
{
    lrt_test_run_paused(iv_cancel_root, NULL);
}

/* ---- task-local storage ----------------------------------------------------------- */

static int dtor_calls;
static uint64_t dtor_task_sum; /* sum of the task ids the dtors ran in */
static uint64_t dtor_value_sum;

static void count_dtor(void *v)
{
    dtor_calls++;
    dtor_task_sum += lrt_task_self_id();
    dtor_value_sum += *(uint64_t *)v;
    free(v);
}

static int tls_key = -1;

static void *tls_user(void *arg)
{
    lrt_notify_t *n = arg;
    uint64_t *v = malloc(sizeof *v);
    *v = lrt_task_self_id();
    CU_ASSERT_PTR_NULL(lrt_tls_get(tls_key));
    CU_ASSERT_EQUAL(lrt_tls_set(tls_key, v), 0);
    lrt_yield(); /* the others set theirs meanwhile */
    CU_ASSERT_PTR_EQUAL(lrt_tls_get(tls_key), v);
    if (lrt_notify_wait(n) == -ECANCELED)
        CU_ASSERT_PTR_EQUAL(lrt_tls_get(tls_key), v);
    return NULL;
}

static void *tls_root(void *arg)
{
    (void)arg;
    if (tls_key < 0)
        tls_key = lrt_tls_key_new(count_dtor);
    CU_ASSERT_FATAL(tls_key >= 0);
    dtor_calls = 0;
    dtor_task_sum = dtor_value_sum = 0;
    lrt_notify_t *n = lrt_notify_new();
    lrt_task_t *t[6];
    uint64_t ids = 0;
    for (int i = 0; i < 6; i++) {
        t[i] = lrt_spawn(tls_user, n);
        ids += lrt_task_id(t[i]);
    }
    settle();
    CU_ASSERT_EQUAL(dtor_calls, 0);
    CU_ASSERT_PTR_NULL(lrt_tls_get(tls_key)); /* the root set nothing */
    lrt_abort(t[0]);
    lrt_abort(t[1]);
    lrt_notify_all(n);
    for (int i = 0; i < 6; i++)
        lrt_join(t[i], NULL);
    /* once per task, aborted ones too, each in its own task, before its join returned */
    CU_ASSERT_EQUAL(dtor_calls, 6);
    CU_ASSERT_EQUAL(dtor_task_sum, ids);
    CU_ASSERT_EQUAL(dtor_value_sum, ids);
    CU_ASSERT_EQUAL(lrt_notify_free(n), 0);
    return NULL;
}

static void task_local_values_are_per_task_and_dtors_run_once_per_task_end_including_aborted(void)
{
    lrt_test_run(NULL, tls_root, NULL);
}

static int key_limit_child(void *arg)
{
    (void)arg;
    int prev = -1, got = 0;
    for (;;) {
        int k = lrt_tls_key_new(NULL);
        if (k == -EAGAIN)
            break;
        if (k != prev + 1 && !(prev == -1 && k >= 0))
            return 2;
        prev = k;
        if (++got > 64)
            return 3;
    }
    if (prev != 15 || lrt_tls_key_new(NULL) != -EAGAIN)
        return 4;
    return 0;
}

static void *tls_errors_root(void *arg)
{
    (void)arg;
    CU_ASSERT_EQUAL(lrt_tls_set(-1, P(1)), -EINVAL);
    CU_ASSERT_EQUAL(lrt_tls_set(16, P(1)), -EINVAL);
    CU_ASSERT_PTR_NULL(lrt_tls_get(16));
    return NULL;
}

static void task_local_keys_are_limited_to_16_then_eagain(void)
{
    char out[256];
    int st = lrt_test_fork_capture(key_limit_child, NULL, out, sizeof out);
    CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CU_ASSERT_EQUAL(lrt_tls_set(0, P(1)), -EPERM); /* outside a task */
    lrt_test_run(NULL, tls_errors_root, NULL);
}

/* ---- the dump --------------------------------------------------------------------- */

static void *dump_rw_waiter(void *arg)
{
    return P(lrt_rwlock_wrlock(arg) == 0 && lrt_rwlock_unlock(arg) == 0);
}

static void *dump_root(void *arg)
{
    (void)arg;
    lrt_watch_t *w = lrt_watch_new(NULL);
    lrt_rwlock_t *l = lrt_rwlock_new();
    lrt_barrier_t *b = lrt_barrier_new(3);
    struct wreader r = {.w = w, .timeout = -1, .rc = 1};
    CU_ASSERT_EQUAL(lrt_rwlock_wrlock(l), 0);
    lrt_task_t *t[3] = {lrt_spawn(watch_reader, &r), lrt_spawn(dump_rw_waiter, l),
                        lrt_spawn(bar_once, b)};
    settle();
    char *s = lrt_dump_json(NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "\"kind\":\"watch\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "past version 0"));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "\"kind\":\"rwlock\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "written by task"));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "\"kind\":\"barrier\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "\"missing\":2"));
    free(s);
    lrt_watch_set(w, P(1));
    CU_ASSERT_EQUAL(lrt_rwlock_unlock(l), 0);
    lrt_task_t *more = lrt_spawn(bar_once, b), *last = lrt_spawn(bar_once, b);
    void *res = NULL;
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(lrt_join(t[i], i == 1 ? &res : NULL), 0);
    CU_ASSERT_EQUAL(I(res), 1);
    CU_ASSERT_EQUAL(lrt_join(more, NULL), 0);
    CU_ASSERT_EQUAL(lrt_join(last, &res), 0);
    CU_ASSERT_EQUAL(I(res), 11);
    CU_ASSERT_EQUAL(lrt_watch_free(w), 0);
    CU_ASSERT_EQUAL(lrt_rwlock_free(l), 0);
    CU_ASSERT_EQUAL(lrt_barrier_free(b), 0);
    return NULL;
}

static void the_dump_names_watch_rwlock_and_barrier_waits_with_their_detail(void)
{
    lrt_test_run(NULL, dump_root, NULL);
}

CU_TestInfo lrt_test_sync2[] = {
    {"a_watch_reader_that_missed_several_sets_sees_the_latest_once",
     a_watch_reader_that_missed_several_sets_sees_the_latest_once},
    {"a_watch_set_wakes_every_waiting_reader_with_the_new_version",
     a_watch_set_wakes_every_waiting_reader_with_the_new_version},
    {"closing_a_watch_wakes_its_waiters_with_epipe_after_the_last_unseen_version",
     closing_a_watch_wakes_its_waiters_with_epipe_after_the_last_unseen_version},
    {"a_watch_wait_times_out_or_is_cancelled_and_leaves_nothing_behind",
     a_watch_wait_times_out_or_is_cancelled_and_leaves_nothing_behind},
    {"rwlock_readers_share_it_and_a_writer_excludes_them", rwlock_readers_share_it_and_a_writer_excludes_them},
    {"a_waiting_writer_blocks_new_readers_of_an_rwlock", a_waiting_writer_blocks_new_readers_of_an_rwlock},
    {"rwlock_timeouts_take_nothing_and_let_the_queue_behind_them_in",
     rwlock_timeouts_take_nothing_and_let_the_queue_behind_them_in},
    {"rwlock_unlock_by_a_non_holder_is_eperm_and_a_holder_relocking_is_edeadlk",
     rwlock_unlock_by_a_non_holder_is_eperm_and_a_holder_relocking_is_edeadlk},
    {"a_barrier_has_exactly_one_leader_per_generation_over_many_generations",
     a_barrier_has_exactly_one_leader_per_generation_over_many_generations},
    {"an_aborted_barrier_waiter_leaves_its_generation_and_strands_nobody",
     an_aborted_barrier_waiter_leaves_its_generation_and_strands_nobody},
    {"an_interval_does_not_drift_over_100_ticks_on_the_virtual_clock",
     an_interval_does_not_drift_over_100_ticks_on_the_virtual_clock},
    {"an_interval_counts_missed_ticks_in_one_late_return_not_a_burst",
     an_interval_counts_missed_ticks_in_one_late_return_not_a_burst},
    {"an_interval_tick_is_cancellable_and_free_waits_for_the_ticker",
     an_interval_tick_is_cancellable_and_free_waits_for_the_ticker},
    {"task_local_values_are_per_task_and_dtors_run_once_per_task_end_including_aborted",
     task_local_values_are_per_task_and_dtors_run_once_per_task_end_including_aborted},
    {"task_local_keys_are_limited_to_16_then_eagain", task_local_keys_are_limited_to_16_then_eagain},
    {"the_dump_names_watch_rwlock_and_barrier_waits_with_their_detail",
     the_dump_names_watch_rwlock_and_barrier_waits_with_their_detail},
    CU_TEST_INFO_NULL,
};
