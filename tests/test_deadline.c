/* Deadlines: one saturating rule for every timed call (huge = no deadline, never
 * "already expired", never a wrapped timer that stops the wheel). */
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>
#include <stdlib.h>

#include "internal.h"
#include "test_util.h"

static void deadline_arithmetic_saturates_instead_of_wrapping(void)
{
    const uint64_t now = 123456789;
    CU_ASSERT_EQUAL(lrt__deadline_in_ms(now, -1), 0);
    CU_ASSERT_EQUAL(lrt__deadline_in_ms(now, INT64_MIN), 0);
    CU_ASSERT_EQUAL(lrt__deadline_in_ms(now, INT64_MAX), 0);
    CU_ASSERT_EQUAL(lrt__deadline_in_ms(now, 0), now);
    CU_ASSERT_EQUAL(lrt__deadline_in_ms(now, 5), now + 5000000);
    CU_ASSERT_EQUAL(lrt__deadline_in_ms(0, 0), 1); /* 0 would mean "none" */
    CU_ASSERT_EQUAL(lrt__deadline_in_ns(now, UINT64_MAX), 0);
    CU_ASSERT_EQUAL(lrt__deadline_in_ns(UINT64_MAX - 5, 10), 0);
    CU_ASSERT_EQUAL(lrt__deadline_in_ns(LRT__DEADLINE_MAX - 10, 9), LRT__DEADLINE_MAX - 1);
    CU_ASSERT_EQUAL(lrt__deadline_in_ns(LRT__DEADLINE_MAX - 10, 10), 0);
    CU_ASSERT_EQUAL(lrt__deadline_at(UINT64_MAX), 0);
    CU_ASSERT_EQUAL(lrt__deadline_at(LRT__DEADLINE_MAX), 0);
    CU_ASSERT_EQUAL(lrt__deadline_at(0), 1);
    CU_ASSERT_EQUAL(lrt__deadline_at(42), 42);
    /* the largest finite timeout still gives a real deadline */
    int64_t big = (int64_t)(LRT__DEADLINE_MAX / 1000000u) - 1 - (int64_t)(now / 1000000u) - 1;
    CU_ASSERT(lrt__deadline_in_ms(now, big) > now);
}

/* ---- every timed call with a huge timeout waits, and other timers keep firing ------ */

enum {
    W_SLEEP_NS, W_SLEEP_UNTIL, W_SLEEP_MS, W_CHAN, W_JOIN, W_READ, W_WRITE, W_ACCEPT,
    W_WAIT_FD, W_READ_NEG, W_CONNECT, W_COUNT
};
static const char *const wname[W_COUNT] = {
    "sleep_ns(UINT64_MAX)", "sleep_until(UINT64_MAX)", "sleep_ms(UINT64_MAX)",
    "chan_recv_timeout(INT64_MAX)", "join_timeout(INT64_MAX)", "read_timeout(INT64_MAX)",
    "write_timeout(INT64_MAX)", "accept_timeout(INT64_MAX)", "wait_fd(INT64_MAX)",
    "read_timeout(INT64_MIN)", "connect_timeout(INT64_MAX)",
};

struct far {
    lrt_chan_t *chan;
    lrt_task_t *forever; /* joined with a huge timeout */
    int pipe_rd, full_wr, listener, pipe_rd2, connecting;
    struct sockaddr_in full_listener;
    int rc[W_COUNT];
    int done[W_COUNT];
};

struct waiter { struct far *f; int which; };

static void *forever_task(void *arg)
{
    void *m;
    return (void *)(intptr_t)lrt_chan_recv((lrt_chan_t *)arg, &m); /* until aborted */
}

static void *far_waiter(void *arg)
{
    struct waiter *w = arg;
    struct far *f = w->f;
    char buf[64] = {0};
    void *m = NULL;
    int rc = 0;
    switch (w->which) {
    case W_SLEEP_NS: rc = lrt_sleep_ns(UINT64_MAX); break;
    case W_SLEEP_UNTIL: rc = lrt_sleep_until(UINT64_MAX); break;
    case W_SLEEP_MS: rc = lrt_sleep_ms(UINT64_MAX); break;
    case W_CHAN: rc = lrt_chan_recv_timeout(f->chan, &m, INT64_MAX); break;
    case W_JOIN: rc = lrt_join_timeout(f->forever, NULL, INT64_MAX); break;
    case W_READ: rc = (int)lrt_read_timeout(f->pipe_rd, buf, sizeof buf, INT64_MAX); break;
    case W_WRITE: rc = (int)lrt_write_timeout(f->full_wr, buf, sizeof buf, INT64_MAX); break;
    case W_ACCEPT: rc = lrt_accept_timeout(f->listener, NULL, NULL, INT64_MAX); break;
    case W_WAIT_FD: rc = lrt_wait_fd(f->pipe_rd2, EPOLLIN, INT64_MAX); break;
    case W_READ_NEG: rc = (int)lrt_read_timeout(f->pipe_rd, buf, sizeof buf, INT64_MIN); break;
    case W_CONNECT:
        rc = lrt_connect_timeout(f->connecting, (struct sockaddr *)&f->full_listener, sizeof f->full_listener,
                                 INT64_MAX);
        break;
    }
    f->rc[w->which] = rc;
    f->done[w->which] = 1;
    return NULL;
}

static int fill_socket(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    static char junk[65536];
    while (write(fd, junk, sizeof junk) > 0)
        ;
    return errno == EAGAIN ? 0 : -1;
}

static void *far_root(void *arg)
{
    struct far *f = arg;
    int p[2], p2[2], sp[2];
    CU_ASSERT_FATAL(pipe(p) == 0 && pipe(p2) == 0);
    CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0);
    CU_ASSERT_FATAL(fill_socket(sp[0]) == 0);
    f->pipe_rd = p[0];
    f->pipe_rd2 = p2[0];
    f->full_wr = sp[0];
    f->listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CU_ASSERT_FATAL(bind(f->listener, (struct sockaddr *)&sa, sizeof sa) == 0);
    CU_ASSERT_FATAL(listen(f->listener, 8) == 0);
    /* a listener with a full accept queue: the next connect stays in progress */
    int full = socket(AF_INET, SOCK_STREAM, 0);
    CU_ASSERT_FATAL(bind(full, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(full, 0) == 0);
    socklen_t sl = sizeof f->full_listener;
    CU_ASSERT_FATAL(getsockname(full, (struct sockaddr *)&f->full_listener, &sl) == 0);
    int first = socket(AF_INET, SOCK_STREAM, 0);
    CU_ASSERT_FATAL(connect(first, (struct sockaddr *)&f->full_listener, sizeof f->full_listener) == 0);
    f->connecting = socket(AF_INET, SOCK_STREAM, 0);
    f->chan = lrt_chan_new(0);
    lrt_chan_t *never = lrt_chan_new(0);
    f->forever = lrt_spawn(forever_task, never);

    struct waiter w[W_COUNT];
    lrt_task_t *t[W_COUNT];
    for (int i = 0; i < W_COUNT; i++) {
        w[i] = (struct waiter){f, i};
        t[i] = lrt_spawn(far_waiter, &w[i]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(t[i]);
    }
    lrt_yield(); /* every waiter is suspended now, most with a far-off deadline */

    /* Ordinary timers still fire, and on time (never early). */
    for (int k = 0; k < 3; k++) {
        uint64_t t0 = lrt_now_ns();
        CU_ASSERT_EQUAL(lrt_sleep_ms(20), 0);
        CU_ASSERT(lrt_now_ns() - t0 >= 20000000u);
    }
    /* Nobody gave up: a huge timeout is "no deadline", never "already expired". */
    for (int i = 0; i < W_COUNT; i++) {
        if (f->done[i])
            fprintf(stderr, "\n  %s returned %d (%s) early\n", wname[i], f->rc[i], lrt_strerror(f->rc[i]));
        CU_ASSERT_FALSE(f->done[i]);
    }
    for (int i = 0; i < W_COUNT; i++)
        lrt_abort(t[i]);
    for (int i = 0; i < W_COUNT; i++) {
        int jrc = lrt_join(t[i], NULL); /* the waiter returned after its abort */
        CU_ASSERT(jrc == 0 || jrc == -ECANCELED);
        if (f->rc[i] != -ECANCELED)
            fprintf(stderr, "\n  %s returned %d (%s) after abort\n", wname[i], f->rc[i], lrt_strerror(f->rc[i]));
        CU_ASSERT_EQUAL(f->rc[i], -ECANCELED);
    }
    lrt_abort(f->forever);
    CU_ASSERT_EQUAL(lrt_join(f->forever, NULL), -ECANCELED);
    lrt_chan_free(f->chan);
    lrt_chan_free(never);
    lrt_close(p[0]);
    close(p[1]);
    lrt_close(p2[0]);
    close(p2[1]);
    lrt_close(sp[0]);
    close(sp[1]);
    lrt_close(f->listener);
    lrt_close(f->connecting);
    close(first);
    close(full);
    return NULL;
}

static int far_child(void *arg)
{
    (void)arg;
    struct far f = {0};
    lrt_runtime_t *rt = lrt_runtime_new(NULL);
    if (!rt)
        return 2;
    int rc = lrt_block_on(rt, far_root, &f, NULL);
    lrt_runtime_free(rt);
    if (rc != 0)
        fprintf(stderr, "block_on: %s\n", lrt_strerror(rc));
    return rc == 0 && CU_get_number_of_failures() == 0 ? 0 : 1;
}

static void huge_timeouts_wait_until_cancelled_and_other_timers_keep_firing(void)
{
    char out[4096];
    /* In a child: before the fix a wrapped deadline froze the wheel and the 20 ms
     * sleep never returned (the child then dies by its alarm instead of hanging). */
    int st = lrt_test_fork_capture(far_child, NULL, out, sizeof out);
    if (out[0])
        fprintf(stderr, "%s", out);
    CU_ASSERT_TRUE(WIFEXITED(st));
    CU_ASSERT_EQUAL(WEXITSTATUS(st), 0);
}

/* ---- the same on the virtual clock: advancing by UINT64_MAX saturates ------------- */

static int far_sleep_rc = 1;

static void *far_sleeper(void *arg)
{
    (void)arg;
    far_sleep_rc = lrt_sleep_ns(UINT64_MAX);
    return NULL;
}

static void *hour_sleeper(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)lrt_sleep_ms(3600 * 1000);
}

static void *paused_root(void *arg)
{
    (void)arg;
    far_sleep_rc = 1;
    lrt_task_t *far = lrt_spawn(far_sleeper, NULL);
    lrt_task_t *hour = lrt_spawn(hour_sleeper, NULL);
    lrt_yield();
    uint64_t before = lrt_now_ns();
    CU_ASSERT_EQUAL(lrt_time_advance(UINT64_MAX), 0);
    CU_ASSERT(lrt_now_ns() > before);           /* moved forward ... */
    CU_ASSERT(lrt_now_ns() <= LRT__DEADLINE_MAX / 2); /* ... without wrapping */
    lrt_yield();
    CU_ASSERT_TRUE(lrt_task_is_finished(hour));
    CU_ASSERT_FALSE(lrt_task_is_finished(far));
    CU_ASSERT_EQUAL(lrt_time_advance(UINT64_MAX), 0); /* saturated: no change, no wrap */
    /* a timer armed after saturation still works (due at once) */
    CU_ASSERT_EQUAL(lrt_sleep_ms(1), 0);
    lrt_abort(far);
    int jrc = lrt_join(far, NULL);
    CU_ASSERT(jrc == 0 || jrc == -ECANCELED);
    CU_ASSERT_EQUAL(far_sleep_rc, -ECANCELED);
    void *r = (void *)1;
    CU_ASSERT_EQUAL(lrt_join(hour, &r), 0);
    CU_ASSERT_PTR_NULL(r);
    return NULL;
}

static void virtual_clock_advance_by_uint64_max_saturates_and_far_sleeps_stay_asleep(void)
{
    lrt_test_run_paused(paused_root, NULL);
}

/* ---- join_timeout keeps one deadline across early wake-ups ------------------------- */

static void *short_task(void *arg)
{
    (void)arg;
    lrt_sleep_ms(5);
    return (void *)7;
}

static void *join_root(void *arg)
{
    (void)arg;
    lrt_task_t *t = lrt_spawn(short_task, NULL);
    void *r = NULL;
    CU_ASSERT_EQUAL(lrt_join_timeout(t, &r, INT64_MAX), 0);
    CU_ASSERT_PTR_EQUAL(r, (void *)7);
    t = lrt_spawn(short_task, NULL);
    CU_ASSERT_EQUAL(lrt_join_timeout(t, &r, 1), -ETIMEDOUT); /* handle kept */
    CU_ASSERT_EQUAL(lrt_join_timeout(t, &r, -1), 0);
    return NULL;
}

static void join_timeout_with_int64_max_waits_for_the_task(void)
{
    lrt_test_run_paused(join_root, NULL);
}

/* ---- shutdown_timeout(UINT64_MAX) waits like lrt_runtime_free ---------------------- */

static int unwound;

static void *slow_unwinder(void *arg)
{
    (void)arg;
    lrt_chan_t *c = lrt_chan_new(0);
    void *m;
    int rc = lrt_chan_recv(c, &m); /* until shutdown cancels it */
    /* cleanup that itself takes a suspension point after the cancel, as real code does */
    (void)lrt_yield();
    lrt_chan_free(c);
    unwound = rc == -ECANCELED;
    return NULL;
}

static atomic_int job_done, job_started;

static void *slow_job(void *arg)
{
    (void)arg;
    atomic_store(&job_started, 1);
    usleep(100 * 1000);
    atomic_store(&job_done, 1);
    return NULL;
}

static void *spawn_unwinder(void *arg)
{
    (void)arg;
    lrt_task_detach(lrt_spawn(slow_unwinder, NULL));
    atomic_store(&job_started, 0);
    lrt_task_detach(lrt_spawn_blocking(slow_job, NULL));
    while (!atomic_load(&job_started)) /* shutdown waits for running jobs, drops queued ones */
        lrt_sleep_ms(1);
    return NULL;
}

static void shutdown_timeout_with_uint64_max_waits_for_every_task(void)
{
    unwound = 0;
    atomic_store(&job_done, 0);
    lrt_runtime_t *rt = lrt_runtime_new(NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rt);
    CU_ASSERT_EQUAL(lrt_block_on(rt, spawn_unwinder, NULL, NULL), 0);
    /* the timeout used to wrap around to "already expired": -ETIMEDOUT, job abandoned */
    CU_ASSERT_EQUAL(lrt_shutdown_timeout(rt, UINT64_MAX), 0);
    CU_ASSERT_TRUE(unwound);
    CU_ASSERT_TRUE(atomic_load(&job_done));
    unwound = 0;
    atomic_store(&job_done, 0);
    rt = lrt_runtime_new(NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rt);
    CU_ASSERT_EQUAL(lrt_block_on(rt, spawn_unwinder, NULL, NULL), 0);
    CU_ASSERT_EQUAL(lrt_shutdown_timeout(rt, UINT64_MAX / 1000000u), 0);
    CU_ASSERT_TRUE(unwound);
    CU_ASSERT_TRUE(atomic_load(&job_done));
}

/* ---- the dump shows a sleep with no deadline as such ------------------------------- */

static void *forever_sleeper(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)lrt_sleep_ms(UINT64_MAX);
}

static void *dump_root(void *arg)
{
    (void)arg;
    lrt_task_t *t = lrt_spawn(forever_sleeper, NULL);
    lrt_yield();
    char *js = lrt_dump_json(lrt_current(), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(js);
    json_t *root = json_loads(js, 0, NULL);
    free(js);
    CU_ASSERT_PTR_NOT_NULL_FATAL(root);
    json_t *tasks = json_object_get(root, "tasks"), *it;
    size_t i;
    int seen = 0;
    json_array_foreach(tasks, i, it) {
        if (json_integer_value(json_object_get(it, "id")) != (json_int_t)lrt_task_id(t))
            continue;
        json_t *w = json_object_get(it, "wait");
        const char *obj = json_string_value(json_object_get(w, "object"));
        CU_ASSERT_PTR_NOT_NULL(obj);
        if (obj)
            CU_ASSERT_STRING_EQUAL(obj, "sleep (forever)");
        CU_ASSERT_PTR_NULL(json_object_get(w, "deadline_ns")); /* not a bogus far deadline */
        seen = 1;
    }
    CU_ASSERT_TRUE(seen);
    json_decref(root);
    lrt_abort(t);
    void *r = NULL;
    lrt_join(t, &r);
    CU_ASSERT_EQUAL((intptr_t)r, -ECANCELED);
    return NULL;
}

static void snapshot_shows_a_sleep_without_deadline_as_forever(void)
{
    lrt_test_run(NULL, dump_root, NULL);
}

CU_TestInfo lrt_test_deadline[] = {
    {"snapshot_shows_a_sleep_without_deadline_as_forever", snapshot_shows_a_sleep_without_deadline_as_forever},
    {"shutdown_timeout_with_uint64_max_waits_for_every_task", shutdown_timeout_with_uint64_max_waits_for_every_task},
    {"deadline_arithmetic_saturates_instead_of_wrapping", deadline_arithmetic_saturates_instead_of_wrapping},
    {"huge_timeouts_wait_until_cancelled_and_other_timers_keep_firing",
     huge_timeouts_wait_until_cancelled_and_other_timers_keep_firing},
    {"virtual_clock_advance_by_uint64_max_saturates_and_far_sleeps_stay_asleep",
     virtual_clock_advance_by_uint64_max_saturates_and_far_sleeps_stay_asleep},
    {"join_timeout_with_int64_max_waits_for_the_task", join_timeout_with_int64_max_waits_for_the_task},
    CU_TEST_INFO_NULL,
};
