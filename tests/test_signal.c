/* Signals as waits: lrt_signal_open / recv / close (src/signal.c). */
#include "test_util.h"

#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

/* Thread-directed, so no other thread of the test runner (whose masks we don't control)
 * can take the signal instead of the runtime thread. */
static void send_self(int sig) { pthread_kill(pthread_self(), sig); }

static bool blocked(int sig)
{
    sigset_t cur;
    pthread_sigmask(SIG_BLOCK, NULL, &cur);
    return sigismember(&cur, sig) == 1;
}

/* ---- receive ------------------------------------------------------------------------ */

static void *recv_one(void *arg) { return (void *)(intptr_t)lrt_signal_recv(arg, 5000); }

static void *receive_root(void *unused)
{
    (void)unused;
    static const int sigs[] = {SIGUSR1, SIGUSR2};
    lrt_signal_t *s = lrt_signal_open(sigs, 2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT(blocked(SIGUSR1) && blocked(SIGUSR2));
    lrt_task_t *t = lrt_spawn(recv_one, s);
    lrt_yield(); /* t waits */
    send_self(SIGUSR2);
    void *res = NULL;
    CU_ASSERT_EQUAL(lrt_join(t, &res), 0);
    CU_ASSERT_EQUAL((intptr_t)res, SIGUSR2);
    /* one already pending is returned without waiting, also with a zero timeout */
    send_self(SIGUSR1);
    CU_ASSERT_EQUAL(lrt_signal_recv(s, 0), SIGUSR1);
    CU_ASSERT_EQUAL(lrt_signal_recv(s, 0), -ETIMEDOUT);
    CU_ASSERT_EQUAL(lrt_signal_recv(s, 20), -ETIMEDOUT);
    lrt_signal_close(s);
    return NULL;
}

static void recv_returns_the_signal_and_times_out_when_none_comes(void)
{
    lrt_test_run(NULL, receive_root, NULL);
    CU_ASSERT(!blocked(SIGUSR1) && !blocked(SIGUSR2));
}

static void *nap(void *unused)
{
    (void)unused;
    usleep(1000);
    return NULL;
}

/* Process-directed (kill), in a clean child: the runtime thread is the only thread
 * that does not block it once lrt's own threads exist. */
static void *kill_root(void *unused)
{
    (void)unused;
    static const int sigs[] = {SIGTERM};
    lrt_signal_t *s = lrt_signal_open(sigs, 1);
    if (!s) {
        perror("lrt_signal_open");
        return (void *)1;
    }
    lrt_join(lrt_spawn_blocking(nap, NULL), NULL); /* a pool thread now idles */
    lrt_task_t *t = lrt_spawn(recv_one, s);
    lrt_yield();
    kill(getpid(), SIGTERM);
    void *res = NULL;
    int rc = lrt_join(t, &res);
    lrt_signal_close(s);
    return (void *)(intptr_t)(rc == 0 && (intptr_t)res == SIGTERM ? 0 : 2);
}

static int kill_child(void *unused)
{
    (void)unused;
    /* every thread lrt starts (ticker, pool, dump agent, stall watchdog) must block the
     * signal, or the kernel may pick one of them and run SIGTERM's default action */
    lrt_options_t o = {.dump_agent = 1, .stall_threshold_ms = 1000};
    lrt_runtime_t *rt = lrt_runtime_new(&o);
    void *res = (void *)3;
    if (!rt || lrt_block_on(rt, kill_root, NULL, &res) != 0)
        return 4;
    lrt_runtime_free(rt);
    return (int)(intptr_t)res;
}

static void a_sigterm_sent_to_the_process_is_received_by_a_task(void)
{
    char err[512];
    int st = lrt_test_fork_capture(kill_child, NULL, err, sizeof err);
    CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fprintf(stderr, "child status %#x: %s\n", st, err);
}

/* ---- two waiters on one handle ---------------------------------------------------- */

static int got[2];

static void *waiter_a(void *s) { got[0] = lrt_signal_recv(s, 5000); return NULL; }
static void *waiter_b(void *s) { got[1] = lrt_signal_recv(s, 5000); return NULL; }

static void *two_waiters_root(void *unused)
{
    (void)unused;
    static const int sigs[] = {SIGUSR1, SIGUSR2};
    lrt_signal_t *s = lrt_signal_open(sigs, 2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    got[0] = got[1] = 0;
    lrt_task_t *a = lrt_spawn(waiter_a, s), *b = lrt_spawn(waiter_b, s);
    lrt_yield();
    send_self(SIGUSR1);
    /* one of them takes it; the other goes back to waiting */
    for (int i = 0; i < 100 && !got[0] && !got[1]; i++)
        lrt_sleep_ms(1);
    CU_ASSERT((got[0] == SIGUSR1) != (got[1] == SIGUSR1));
    CU_ASSERT(got[0] == 0 || got[1] == 0);
    send_self(SIGUSR2);
    CU_ASSERT_EQUAL(lrt_join(a, NULL), 0);
    CU_ASSERT_EQUAL(lrt_join(b, NULL), 0);
    CU_ASSERT(got[0] + got[1] == SIGUSR1 + SIGUSR2 && got[0] != got[1]);
    lrt_signal_close(s);
    return NULL;
}

static void two_tasks_waiting_on_one_handle_get_one_signal_each(void)
{
    lrt_test_run(NULL, two_waiters_root, NULL);
}

/* ---- masks ------------------------------------------------------------------------- */

static void close_restores_only_what_no_other_handle_and_no_one_before_blocked(void)
{
    sigset_t usr2, saved;
    sigemptyset(&usr2);
    sigaddset(&usr2, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &usr2, &saved); /* the thread's own choice, before lrt */
    static const int one[] = {SIGUSR1}, both[] = {SIGUSR1, SIGUSR2};
    lrt_signal_t *a = lrt_signal_open(one, 1);
    lrt_signal_t *b = lrt_signal_open(both, 2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    lrt_signal_close(a);
    CU_ASSERT(blocked(SIGUSR1)); /* b still covers it */
    lrt_signal_close(b);
    CU_ASSERT(!blocked(SIGUSR1)); /* restored */
    CU_ASSERT(blocked(SIGUSR2));  /* blocked before lrt looked: stays blocked */
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
}

/* SIGUSR1's default action terminates: a pending one unblocked at close would kill. */
static int pending_child(void *unused)
{
    (void)unused;
    static const int sigs[] = {SIGUSR1};
    lrt_signal_t *s = lrt_signal_open(sigs, 1);
    if (!s) {
        perror("lrt_signal_open");
        return 1;
    }
    kill(getpid(), SIGUSR1); /* pending: nobody receives it */
    lrt_signal_close(s);
    return blocked(SIGUSR1) ? 2 : 0;
}

static void a_signal_still_pending_at_close_is_consumed_not_delivered(void)
{
    char err[256];
    int st = lrt_test_fork_capture(pending_child, NULL, err, sizeof err);
    CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fprintf(stderr, "child status %#x: %s\n", st, err);
}

/* ---- errors ------------------------------------------------------------------------ */

static void *outside_root(void *s)
{
    CU_ASSERT_EQUAL(lrt_signal_recv(NULL, 0), -EINVAL);
    CU_ASSERT_EQUAL(lrt_signal_recv(s, 0), -EXDEV); /* opened by another thread */
    return NULL;
}

static void *other_thread(void *s)
{
    lrt_test_run(NULL, outside_root, s);
    return NULL;
}

static void bad_arguments_and_the_wrong_thread_get_an_error(void)
{
    static const int kill9[] = {SIGKILL}, stop[] = {SIGSTOP}, zero[] = {0}, big[] = {65}, neg[] = {-1};
    static const int ok[] = {SIGUSR1};
    errno = 0;
    CU_ASSERT_PTR_NULL(lrt_signal_open(NULL, 1));
    CU_ASSERT_EQUAL(errno, EINVAL);
    CU_ASSERT_PTR_NULL(lrt_signal_open(ok, 0));
    CU_ASSERT_PTR_NULL(lrt_signal_open(kill9, 1));
    CU_ASSERT_PTR_NULL(lrt_signal_open(stop, 1));
    CU_ASSERT_PTR_NULL(lrt_signal_open(zero, 1));
    CU_ASSERT_PTR_NULL(lrt_signal_open(big, 1));
    CU_ASSERT_PTR_NULL(lrt_signal_open(neg, 1));
    CU_ASSERT_EQUAL(errno, EINVAL);
    CU_ASSERT(!blocked(SIGUSR1));
    lrt_signal_close(NULL);
    lrt_signal_t *s = lrt_signal_open(ok, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL(lrt_signal_recv(s, 0), -EPERM); /* not in a task */
    pthread_t th;
    CU_ASSERT_FATAL(pthread_create(&th, NULL, other_thread, s) == 0);
    pthread_join(th, NULL);
    lrt_signal_close(s);
    CU_ASSERT(!blocked(SIGUSR1));
}

static int emfile_child(void *unused)
{
    (void)unused;
    struct rlimit rl = {3, 3}; /* 0, 1, 2 are open: no room for the signalfd */
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 1;
    static const int sigs[] = {SIGUSR1};
    errno = 0;
    lrt_signal_t *s = lrt_signal_open(sigs, 1);
    if (s || errno != EMFILE)
        return 2;
    return blocked(SIGUSR1) ? 3 : 0; /* the failed open undid its mask change */
}

static void out_of_fds_gives_emfile_and_leaves_the_mask_alone(void)
{
    if (lrt_test_skip_under_valgrind(__func__, "a RLIMIT_NOFILE of 3 (valgrind keeps fds of its own)"))
        return;
    char err[256];
    int st = lrt_test_fork_capture(emfile_child, NULL, err, sizeof err);
    CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fprintf(stderr, "child status %#x\n", st);
}

/* ---- abort, close while waiting, the dump ------------------------------------------ */

static void *forever(void *s) { return (void *)(intptr_t)lrt_signal_recv(s, -1); }

static char *task_wait_field(uint64_t id, const char *obj, const char *key)
{
    json_t *root = lrt_test_snapshot(NULL);
    json_t *v = json_object_get(lrt_test_task_get(root, id, obj), key);
    char *val = NULL;
    if (json_is_string(v))
        val = strdup(json_string_value(v));
    else if (json_is_integer(v) && asprintf(&val, "%lld", (long long)json_integer_value(v)) < 0)
        val = NULL;
    json_decref(root);
    return val;
}

static void *recv_then_waker(void *s)
{
    if (lrt_signal_recv(s, 5000) != SIGUSR1)
        return NULL;
    return task_wait_field(lrt_task_self_id(), "last_waker", "kind");
}

static void *abort_close_root(void *unused)
{
    (void)unused;
    static const int sigs[] = {SIGUSR1, SIGTERM};
    lrt_signal_t *s = lrt_signal_open(sigs, 2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    lrt_task_t *t = lrt_spawn(forever, s);
    lrt_yield();
    json_decref(lrt_test_snapshot("signal")); /* with the signal wait, for t-dump's schema check */
    char *kind = task_wait_field(lrt_task_id(t), "wait", "kind");
    char *text = task_wait_field(lrt_task_id(t), "wait", "object");
    CU_ASSERT(kind && strcmp(kind, "signal") == 0);
    CU_ASSERT(text && strcmp(text, "signal SIGUSR1,SIGTERM") == 0);
    free(kind);
    free(text);
    lrt_abort(t);
    CU_ASSERT_EQUAL(lrt_join(t, NULL), -ECANCELED);
    void *res = NULL;

    /* closed under a waiting task: it gets -EPIPE and never touches the freed handle */
    t = lrt_spawn(forever, s);
    lrt_yield();
    lrt_signal_close(s);
    CU_ASSERT_EQUAL(lrt_join(t, &res), 0);
    CU_ASSERT_EQUAL((intptr_t)res, -EPIPE);
    CU_ASSERT(!blocked(SIGUSR1) && !blocked(SIGTERM));

    /* the wake names the signal as its waker (the woken task reads its own entry) */
    s = lrt_signal_open(sigs, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    t = lrt_spawn(recv_then_waker, s);
    lrt_yield();
    send_self(SIGUSR1);
    CU_ASSERT_EQUAL(lrt_join(t, &res), 0);
    CU_ASSERT(res && strcmp(res, "signal") == 0);
    if (!res || strcmp(res, "signal") != 0)
        fprintf(stderr, "last waker: %s\n", res ? (char *)res : "(none)");
    free(res);
    lrt_signal_close(s);
    return NULL;
}

static void abort_and_close_end_a_wait_and_the_dump_names_the_signals(void)
{
    lrt_test_run(NULL, abort_close_root, NULL);
}

CU_TestInfo lrt_test_signal[] = {
    {"recv_returns_the_signal_and_times_out_when_none_comes", recv_returns_the_signal_and_times_out_when_none_comes},
    {"a_sigterm_sent_to_the_process_is_received_by_a_task", a_sigterm_sent_to_the_process_is_received_by_a_task},
    {"two_tasks_waiting_on_one_handle_get_one_signal_each", two_tasks_waiting_on_one_handle_get_one_signal_each},
    {"close_restores_only_what_no_other_handle_and_no_one_before_blocked",
     close_restores_only_what_no_other_handle_and_no_one_before_blocked},
    {"a_signal_still_pending_at_close_is_consumed_not_delivered",
     a_signal_still_pending_at_close_is_consumed_not_delivered},
    {"bad_arguments_and_the_wrong_thread_get_an_error", bad_arguments_and_the_wrong_thread_get_an_error},
    {"out_of_fds_gives_emfile_and_leaves_the_mask_alone", out_of_fds_gives_emfile_and_leaves_the_mask_alone},
    {"abort_and_close_end_a_wait_and_the_dump_names_the_signals",
     abort_and_close_end_a_wait_and_the_dump_names_the_signals},
    CU_TEST_INFO_NULL,
};
