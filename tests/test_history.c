/*
 * History suite: each task's ring of recent events (src/history.h, src/diag/history.c)
 * as the snapshot shows it with LRT_DUMP_HISTORY ("history", "max_poll_ns"), and in the
 * stall and deadlock reports on stderr (forked children).
 *
 * Assertions are about order and kinds, never about durations beyond generous lower
 * bounds: the machine is loaded.  With LRT_TEST_SNAPSHOT_DIR set, the snapshots are also
 * written there (tests/t-dump.sh validates them against docs/snapshot.schema.json).
 */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "test_util.h"
#include "internal.h" /* lrt__tls_rt->m.stalls: a stalled poll ends once it is reported */

/* ---- helpers ---------------------------------------------------------------------- */

static json_t *snap(const char *tag, unsigned flags)
{
    char *s = lrt_dump_json(NULL, flags);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    const char *dir = getenv("LRT_TEST_SNAPSHOT_DIR");
    if (dir && *dir && tag) {
        static atomic_int seq;
        char path[512];
        snprintf(path, sizeof path, "%s/history-%s-%d.json", dir, tag, atomic_fetch_add(&seq, 1));
        FILE *f = fopen(path, "w");
        if (f) {
            fputs(s, f);
            fclose(f);
        }
    }
    json_error_t err;
    json_t *j = json_loads(s, 0, &err);
    free(s);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    return j;
}

static json_t *task_by_id(json_t *s, uint64_t id)
{
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(s, "tasks"), i, t)
    {
        if ((uint64_t)json_integer_value(json_object_get(t, "id")) == id)
            return t;
    }
    return NULL;
}

static const char *str(json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "";
}

/* "event:wait:waker" of each history entry, joined by spaces, into @buf. */
static const char *events(json_t *task, char *buf, size_t n)
{
    size_t len = 0, i;
    json_t *e;
    buf[0] = 0;
    json_array_foreach(json_object_get(task, "history"), i, e)
    {
        int k = snprintf(buf + len, n - len, "%s%s", len ? " " : "", str(e, "event"));
        if (k > 0 && (size_t)k < n - len)
            len += (size_t)k;
        if (json_object_get(e, "wait") && strcmp(str(e, "event"), "suspended") == 0) {
            k = snprintf(buf + len, n - len, ":%s", str(e, "wait"));
            if (k > 0 && (size_t)k < n - len)
                len += (size_t)k;
        }
        if (json_object_get(e, "waker")) {
            k = snprintf(buf + len, n - len, ":%s:%s", str(e, "waker"), str(e, "wait"));
            if (k > 0 && (size_t)k < n - len)
                len += (size_t)k;
        }
    }
    return buf;
}

/* ---- what a task did, in order ---------------------------------------------------- */

static lrt_chan_t *jobs;

static void *sleeper_then_receiver(void *arg)
{
    (void)arg;
    void *m;
    lrt_sleep_ms(5);
    lrt_chan_recv(jobs, &m); /* woken by the root's send */
    lrt_chan_recv(jobs, &m); /* waits here while the root looks */
    return NULL;
}

static void *history_in_order_root(void *arg)
{
    (void)arg;
    jobs = lrt_chan_new(4);
    lrt_chan_set_name(jobs, "jobs");
    lrt_task_t *w = lrt_spawn(sleeper_then_receiver, NULL);
    uint64_t wid = lrt_task_id(w);
    lrt_sleep_ms(50); /* the worker slept, woke and waits in its first recv */
    CU_ASSERT_EQUAL(lrt_chan_send(jobs, (void *)1), 0);
    lrt_yield(); /* the worker takes it and waits in its second recv */
    json_t *s = snap("in-order", LRT_DUMP_HISTORY);
    json_t *t = task_by_id(s, wid);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    char buf[2048];
    const char *got = events(t, buf, sizeof buf);
    const char *want = "spawned polled suspended:sleep woken:timer:sleep polled suspended:chan_recv "
                       "woken:task:chan_recv polled suspended:chan_recv";
    CU_ASSERT_STRING_EQUAL(got, want);
    if (strcmp(got, want) != 0)
        fprintf(stderr, "\nhistory: %s\n", got);
    json_t *h = json_object_get(t, "history");
    /* spawned by the root (task 1), woken by the root's send */
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_array_get(h, 0), "by_task")), 1);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_array_get(h, 6), "by_task")), 1);
    /* the sleep lasted 5 ms at least: its wake says how long it waited (coarse clock) */
    CU_ASSERT(json_integer_value(json_object_get(json_array_get(h, 3), "duration_ns")) >= 0);
    /* oldest first; every event has words; the last suspension names its object */
    uint64_t prev = 0;
    size_t i;
    json_t *e;
    json_array_foreach(h, i, e)
    {
        uint64_t at = (uint64_t)json_integer_value(json_object_get(e, "at_ns"));
        CU_ASSERT(at >= prev);
        prev = at;
        CU_ASSERT(strlen(str(e, "text")) > 0);
    }
    CU_ASSERT(strstr(str(json_array_get(h, json_array_size(h) - 1), "text"), "'jobs'") != NULL);
    CU_ASSERT(strncmp(str(json_array_get(h, 6), "text"), "woken by task 1 (chan_recv)", 27) == 0);
    /* without the flag: no history, but the longest poll is always there */
    json_decref(s);
    s = snap("no-history", 0);
    t = task_by_id(s, wid);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_PTR_NULL(json_object_get(t, "history"));
    CU_ASSERT(json_is_integer(json_object_get(t, "max_poll_ns")));
    json_decref(s);
    CU_ASSERT_EQUAL(lrt_chan_send(jobs, (void *)2), 0);
    CU_ASSERT_EQUAL(lrt_join(w, NULL), 0);
    lrt_chan_free(jobs);
    return NULL;
}

static void history_says_spawned_slept_woken_by_a_channel_send_in_order(void)
{
    lrt_test_run(NULL, history_in_order_root, NULL);
}

/* ---- the ring wraps --------------------------------------------------------------- */

static void *yielder(void *arg)
{
    for (int i = 0; i < *(int *)arg; i++)
        lrt_yield();
    void *m;
    lrt_chan_recv(jobs, &m);
    return NULL;
}

static void *wrap_root(void *arg)
{
    (void)arg;
    jobs = lrt_chan_new(1);
    /* 15 yields + the recv = 16 poll ends: with the spawn, one more than the ring holds;
     * 14 yields: exactly full */
    int counts[] = {14, 15, 1000};
    for (int k = 0; k < 3; k++) {
        lrt_task_t *w = lrt_spawn(yielder, &counts[k]);
        for (int i = 0; i < 10000; i++) { /* until it waits in its recv (bounded) */
            lrt_sleep_ms(1);
            json_t *s = snap(NULL, 0);
            bool waiting = strcmp(str(task_by_id(s, lrt_task_id(w)), "state"), "suspended") == 0;
            json_decref(s);
            if (waiting)
                break;
        }
        json_t *s = snap("wrap", LRT_DUMP_HISTORY);
        json_t *h = json_object_get(task_by_id(s, lrt_task_id(w)), "history");
        /* 16 entries; each poll end shows as two events, the spawn as one */
        CU_ASSERT_EQUAL(json_array_size(h), k == 0 ? 31 : 32);
        if (k == 0) {
            CU_ASSERT_STRING_EQUAL(str(json_array_get(h, 0), "event"), "spawned");
            CU_ASSERT_STRING_EQUAL(str(json_array_get(h, 1), "event"), "polled");
            CU_ASSERT_STRING_EQUAL(str(json_array_get(h, 2), "event"), "yielded");
        } else {
            /* the spawn fell out: the oldest kept is a poll */
            CU_ASSERT_STRING_EQUAL(str(json_array_get(h, 0), "event"), "polled");
            CU_ASSERT_STRING_EQUAL(str(json_array_get(h, 1), "event"), "yielded");
        }
        size_t n = json_array_size(h);
        CU_ASSERT_STRING_EQUAL(str(json_array_get(h, n - 2), "event"), "polled");
        CU_ASSERT_STRING_EQUAL(str(json_array_get(h, n - 1), "event"), "suspended");
        CU_ASSERT_STRING_EQUAL(str(json_array_get(h, n - 1), "wait"), "chan_recv");
        json_decref(s);
        CU_ASSERT_EQUAL(lrt_chan_send(jobs, NULL), 0);
        CU_ASSERT_EQUAL(lrt_join(w, NULL), 0);
    }
    lrt_chan_free(jobs);
    return NULL;
}

static void history_ring_keeps_the_newest_16_entries_when_it_wraps(void)
{
    lrt_test_run(NULL, wrap_root, NULL);
}

/* ---- never ran; aborted while waiting --------------------------------------------- */

static void *nothing(void *arg)
{
    (void)arg;
    return NULL;
}

static void *receiver(void *arg)
{
    (void)arg;
    void *m;
    int rc = lrt_chan_recv(jobs, &m);
    return (void *)(intptr_t)rc;
}

static void *abort_root(void *arg)
{
    (void)arg;
    jobs = lrt_chan_new(1);
    lrt_task_t *never = lrt_spawn(nothing, NULL);
    lrt_task_t *w = lrt_spawn(receiver, NULL);
    lrt_sleep_ms(1);
    lrt_abort(w);
    json_t *s = snap("aborted", LRT_DUMP_HISTORY);
    char buf[1024];
    /* the unstarted task ran before the sleep returned: look at a fresh one instead */
    lrt_task_t *fresh = lrt_spawn(nothing, NULL);
    json_t *s2 = snap("unstarted", LRT_DUMP_HISTORY);
    json_t *ft = task_by_id(s2, lrt_task_id(fresh));
    CU_ASSERT_PTR_NOT_NULL_FATAL(ft);
    CU_ASSERT_STRING_EQUAL(events(ft, buf, sizeof buf), "spawned");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(ft, "max_poll_ns")), 0);
    json_decref(s2);
    json_t *t = task_by_id(s, lrt_task_id(w));
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_STRING_EQUAL(events(t, buf, sizeof buf), "spawned polled suspended:chan_recv woken:cancel:chan_recv");
    json_t *h = json_object_get(t, "history");
    json_t *last = json_array_get(h, json_array_size(h) - 1);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(last, "by_task")), 1);
    CU_ASSERT(strncmp(str(last, "text"), "woken by an abort (from task 1)", 31) == 0);
    json_decref(s);
    void *res = NULL;
    CU_ASSERT_EQUAL(lrt_join(w, &res), -ECANCELED);
    CU_ASSERT_EQUAL(lrt_join(never, NULL), 0);
    CU_ASSERT_EQUAL(lrt_join(fresh, NULL), 0);
    lrt_chan_free(jobs);
    return NULL;
}

static void history_of_a_task_aborted_while_waiting_ends_with_the_abort(void)
{
    lrt_test_run(NULL, abort_root, NULL);
}

/* ---- longest poll ------------------------------------------------------------------ */

/* Spin until the switch clock (what polls are timed with) has moved 20 ms, not for a
 * fixed time: on a loaded machine, or under valgrind, the ticker thread that moves it may
 * not run for a while (seen: 300 ms of spinning under valgrind, the clock unmoved). */
static void *long_poll(void *arg)
{
    (void)arg;
    uint64_t start = lrt__switch_clock(), until = lrt_test_mono_ms() + 30000;
    while (lrt__switch_clock() - start < 20000000u && lrt_test_mono_ms() < until)
        __asm__ volatile("" ::: "memory");
    void *m;
    lrt_chan_recv(jobs, &m);
    return NULL;
}

static void *max_poll_root(void *arg)
{
    (void)arg;
    jobs = lrt_chan_new(1);
    lrt_task_t *w = lrt_spawn(long_poll, NULL);
    lrt_yield();
    json_t *s = snap("max-poll", LRT_DUMP_HISTORY);
    json_t *t = task_by_id(s, lrt_task_id(w));
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    uint64_t max = (uint64_t)json_integer_value(json_object_get(t, "max_poll_ns"));
    CU_ASSERT(max >= 20000000ull); /* the poll began no later than the spin's start */
    if (max < 20000000ull)
        fprintf(stderr, "\nmax_poll_ns %llu, history %s\n", (unsigned long long)max, json_dumps(json_object_get(t, "history"), 0));
    json_t *h = json_object_get(t, "history");
    json_t *polled = json_array_get(h, 1);
    CU_ASSERT_STRING_EQUAL(str(polled, "event"), "polled");
    CU_ASSERT_EQUAL((uint64_t)json_integer_value(json_object_get(polled, "duration_ns")) / 1000, max / 1000);
    CU_ASSERT(strncmp(str(polled, "text"), "polled for ", 11) == 0);
    json_decref(s);
    CU_ASSERT_EQUAL(lrt_chan_send(jobs, NULL), 0);
    CU_ASSERT_EQUAL(lrt_join(w, NULL), 0);
    lrt_chan_free(jobs);
    return NULL;
}

static void max_poll_ns_is_the_longest_poll_of_the_task(void)
{
    lrt_test_run(NULL, max_poll_root, NULL);
}

/* ---- the stall and deadlock reports ------------------------------------------------ */

static uint64_t stalls_now(void)
{
    return __atomic_load_n(&lrt__tls_rt->m.stalls, __ATOMIC_RELAXED);
}

static void *staller(void *arg)
{
    (void)arg;
    lrt_sleep_ms(2);
    uint64_t before = stalls_now(), until = lrt_test_mono_ms() + 30000;
    while (stalls_now() == before && lrt_test_mono_ms() < until)
        __asm__ volatile("" ::: "memory");
    return NULL;
}

static void *stall_root(void *arg)
{
    (void)arg;
    lrt_task_t *w = lrt_spawn_named("staller", staller, NULL);
    lrt_join(w, NULL);
    return NULL;
}

static int stall_child(void *arg)
{
    (void)arg;
    lrt_options_t o;
    memset(&o, 0, sizeof o);
    o.stall_threshold_ms = 50;
    lrt_runtime_t *rt = lrt_runtime_new(&o);
    if (!rt)
        return 3;
    int rc = lrt_block_on(rt, stall_root, NULL, NULL);
    lrt_runtime_free(rt);
    return rc == 0 ? 0 : 4;
}

static void stall_report_shows_the_stalled_tasks_history(void)
{
    static char out[1 << 16];
    int st = lrt_test_fork_capture(stall_child, NULL, out, sizeof out);
    CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    const char *r = strstr(out, "lrt: stall: task 2 'staller'");
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    const char *h = strstr(r, "its history before this poll, oldest first:\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    const char *a = strstr(h, " ago  spawned by task 1\n");
    const char *b = a ? strstr(a, " ago  suspended on sleep\n") : NULL;
    const char *c = b ? strstr(b, " ago  woken by its timer (sleep)") : NULL;
    CU_ASSERT(a && b && c);
    if (!(a && b && c))
        fprintf(stderr, "\nstall report:\n%s\n", out);
}

static void *deadlocked_root(void *arg)
{
    (void)arg;
    jobs = lrt_chan_new(1);
    lrt_chan_set_name(jobs, "never");
    void *m;
    lrt_chan_recv(jobs, &m); /* nobody sends: the deadlock report */
    lrt_chan_free(jobs);
    return NULL;
}

static int deadlock_child(void *arg)
{
    (void)arg;
    lrt_runtime_t *rt = lrt_runtime_new(NULL);
    if (!rt)
        return 3;
    int rc = lrt_block_on(rt, deadlocked_root, NULL, NULL);
    lrt_runtime_free(rt);
    return rc == -EDEADLK ? 0 : 4;
}

static void deadlock_report_shows_each_tasks_history(void)
{
    static char out[1 << 16];
    int st = lrt_test_fork_capture(deadlock_child, NULL, out, sizeof out);
    CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    const char *h = strstr(out, "history, oldest first:\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    const char *a = strstr(h, " ago  spawned\n");
    const char *b = a ? strstr(a, " ago  suspended on chan_recv\n") : NULL;
    CU_ASSERT(a && b);
    /* block_on's task is spawned before the runtime's clock was first read: its spawn
     * is not dated at the clock's epoch (it once read "3h23m ago", the machine's uptime) */
    CU_ASSERT_PTR_NULL(strstr(out, "m ago  spawned"));
    CU_ASSERT_PTR_NULL(strstr(out, "h ago  spawned"));
    if (!(a && b))
        fprintf(stderr, "\ndeadlock report:\n%s\n", out);
}

/* ---- flags ------------------------------------------------------------------------- */

static void *flags_root(void *arg)
{
    (void)arg;
    /* unknown bits are ignored; both flags together give both keys */
    json_t *s = snap("flags", LRT_DUMP_HISTORY | LRT_DUMP_BACKTRACES | 0x80000000u);
    json_t *t = task_by_id(s, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT(json_is_array(json_object_get(t, "history")));
    CU_ASSERT(json_is_array(json_object_get(t, "backtrace")));
    json_decref(s);
    return NULL;
}

static void dump_flags_history_and_backtraces_combine(void)
{
    lrt_test_run(NULL, flags_root, NULL);
}


/* ---- the agent's request ----------------------------------------------------------- */

#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static char hist_dir[64];
static atomic_int client_done;
static int agent_ok; /* what the client thread saw, checked on the main thread */

static int dial(void)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s/%d.sock", hist_dir, (int)getpid());
    for (uint64_t until = lrt_test_mono_ms() + 30000; lrt_test_mono_ms() < until;) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
            return fd;
        if (fd >= 0)
            close(fd);
        usleep(10000);
    }
    return -1;
}

/* 1: every task has a history; 0: none has; -1: not a snapshot. */
static int has_history(const char *line)
{
    json_t *j = line ? json_loads(line, 0, NULL) : NULL;
    json_t *tasks = json_object_get(j, "tasks");
    int r = json_array_size(tasks) ? -2 : -1;
    size_t i;
    json_t *t;
    json_array_foreach(tasks, i, t)
    {
        int h = json_is_array(json_object_get(t, "history"));
        r = r == -2 ? h : (r == h ? r : -1);
    }
    json_decref(j);
    return r < 0 ? -1 : r;
}

static void *history_client(void *arg)
{
    (void)arg;
    int fd = dial();
    if (fd >= 0) {
        char *a = lrt_test_ask(fd, "{\"cmd\":\"snapshot\",\"history\":true}\n", 10000);
        char *b = lrt_test_ask(fd, "{\"cmd\":\"snapshot\"}\n", 10000);
        char *c = lrt_test_ask(fd, "{\"cmd\":\"snapshot\",\"history\":5}\n", 10000);
        agent_ok = has_history(a) == 1 && has_history(b) == 0 && c &&
                   strstr(c, "\"history\\\" must be true or false") != NULL;
        if (!agent_ok)
            fprintf(stderr, "\nagent answers: %.200s | %.200s | %.200s\n", a ? a : "-", b ? b : "-", c ? c : "-");
        free(a);
        free(b);
        free(c);
        close(fd);
    }
    atomic_store(&client_done, 1);
    return NULL;
}

static void *agent_root(void *arg)
{
    (void)arg;
    lrt_task_t *w = lrt_spawn(receiver, NULL);
    uint64_t until = lrt_test_mono_ms() + 60000;
    while (!atomic_load(&client_done) && lrt_test_mono_ms() < until)
        lrt_sleep_ms(5);
    lrt_abort(w);
    lrt_join(w, NULL);
    return NULL;
}

static void agent_sends_history_only_when_asked_and_refuses_a_bad_flag(void)
{
    char tmpl[] = "/tmp/lrt-histtest-XXXXXX";
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(tmpl));
    snprintf(hist_dir, sizeof hist_dir, "%s/sock", tmpl);
    jobs = lrt_chan_new(1);
    atomic_store(&client_done, 0);
    agent_ok = 0;
    lrt_options_t o;
    memset(&o, 0, sizeof o);
    o.dump_agent = 1;
    o.dump_socket_dir = hist_dir;
    lrt_runtime_t *rt = lrt_runtime_new(&o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rt);
    pthread_t th;
    pthread_create(&th, NULL, history_client, NULL);
    CU_ASSERT_EQUAL(lrt_block_on(rt, agent_root, NULL, NULL), 0);
    pthread_join(th, NULL);
    lrt_runtime_free(rt);
    lrt_chan_free(jobs);
    CU_ASSERT(agent_ok);
    rmdir(hist_dir);
    rmdir(tmpl);
}

CU_TestInfo lrt_test_history[] = {
    {"history_says_spawned_slept_woken_by_a_channel_send_in_order", history_says_spawned_slept_woken_by_a_channel_send_in_order},
    {"history_ring_keeps_the_newest_16_entries_when_it_wraps", history_ring_keeps_the_newest_16_entries_when_it_wraps},
    {"history_of_a_task_aborted_while_waiting_ends_with_the_abort", history_of_a_task_aborted_while_waiting_ends_with_the_abort},
    {"max_poll_ns_is_the_longest_poll_of_the_task", max_poll_ns_is_the_longest_poll_of_the_task},
    {"stall_report_shows_the_stalled_tasks_history", stall_report_shows_the_stalled_tasks_history},
    {"deadlock_report_shows_each_tasks_history", deadlock_report_shows_each_tasks_history},
    {"dump_flags_history_and_backtraces_combine", dump_flags_history_and_backtraces_combine},
    {"agent_sends_history_only_when_asked_and_refuses_a_bad_flag", agent_sends_history_only_when_asked_and_refuses_a_bad_flag},
    CU_TEST_INFO_NULL,
};
