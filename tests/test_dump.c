/*
 * Dump suite: snapshots (every wait reason, backtraces), the deadlock report, the dump
 * agent (socket permissions, hostile clients, a stuck runtime thread), the stall
 * detector, and the cost of a 10,000-task snapshot.
 *
 * With LRT_TEST_SNAPSHOT_DIR set, every snapshot a test takes is also written there
 * (tests/t-dump.sh validates them against docs/snapshot.schema.json).
 */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test_util.h"
#include "internal.h" /* lrt__tls_rt->trace_hot */
#include "diag/diag.h" /* lrt__unwind_enter */
#if LRT_TRACE_ENABLED
#include <lttng/tracepoint-types.h>
#endif
#include <netinet/in.h>
#include <arpa/inet.h>

/* Keep a NOINLINE helper's frame on the stack: no tail call. */
#define NOTAIL(expr)                               \
    ({                                             \
        __typeof__(expr) rc_ = (expr);             \
        __asm__ volatile("" : : "r"(rc_) : "memory"); \
        rc_;                                       \
    })

/* CU_ASSERT_STRING_EQUAL, but a missing value (NULL) fails the test instead of crashing
 * the runner. */
#define STR_EQ(actual, expected)                                                           \
    do {                                                                                   \
        const char *a_ = (actual);                                                         \
        CU_ASSERT(a_ != NULL && strcmp(a_, (expected)) == 0);                              \
    } while (0)

/* ---- helpers ---------------------------------------------------------------------- */

static void save_snapshot(const char *tag, const char *text)
{
    static atomic_int seq;
    const char *dir = getenv("LRT_TEST_SNAPSHOT_DIR");
    if (!dir || !*dir)
        return;
    char path[512];
    snprintf(path, sizeof path, "%s/dump-%s-%d.json", dir, tag, atomic_fetch_add(&seq, 1));
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static json_t *parse_snapshot(const char *tag, const char *text)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    if (tag) /* NULL: too big to be worth validating in every run */
        save_snapshot(tag, text);
    json_error_t err;
    json_t *j = json_loads(text, 0, &err);
    if (!j)
        fprintf(stderr, "snapshot does not parse: %s at %d\n", err.text, err.position);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    return j;
}

static json_t *snap_self(const char *tag, unsigned flags)
{
    char *s = lrt_dump_json(NULL, flags);
    json_t *j = parse_snapshot(tag, s);
    free(s);
    return j;
}

static json_t *find_task(json_t *snap, const char *name)
{
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(snap, "tasks"), i, t)
    {
        const char *n = json_string_value(json_object_get(t, "name"));
        if (n && strcmp(n, name) == 0)
            return t;
    }
    return NULL;
}

static int frames_have(json_t *frames, const char *sym)
{
    size_t i;
    json_t *f;
    json_array_foreach(frames, i, f)
    {
        const char *s = json_string_value(json_object_get(f, "symbol"));
        if (s && strncmp(s, sym, strlen(sym)) == 0)
            return 1;
    }
    return 0;
}

static int bt_has(json_t *task, const char *sym)
{
    return task && frames_have(json_object_get(task, "backtrace"), sym);
}

static const char *bt_sym(json_t *task, int i)
{
    json_t *bt = json_object_get(task, "backtrace");
    if (i < 0)
        i += (int)json_array_size(bt);
    return json_string_value(json_object_get(json_array_get(bt, (size_t)i), "symbol"));
}

static const char *wait_kind(json_t *task)
{
    return json_string_value(json_object_get(json_object_get(task, "wait"), "kind"));
}

static const char *str(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* Redirect stderr into a temp file while @fn runs; returns what was written (malloc'd). */
struct capture {
    int saved, fd;
    char path[64];
};

static void capture_begin(struct capture *c)
{
    fflush(stderr);
    snprintf(c->path, sizeof c->path, "/tmp/lrt-test-stderr-XXXXXX");
    c->fd = mkstemp(c->path);
    CU_ASSERT_FATAL(c->fd >= 0);
    c->saved = dup(2);
    dup2(c->fd, 2);
}

static char *capture_end(struct capture *c)
{
    fflush(stderr);
    dup2(c->saved, 2);
    close(c->saved);
    off_t n = lseek(c->fd, 0, SEEK_END);
    char *buf = calloc(1, (size_t)n + 1);
    if (pread(c->fd, buf, (size_t)n, 0) != n)
        buf[0] = 0;
    close(c->fd);
    unlink(c->path);
    fputs(buf, stderr); /* keep it visible in the test log */
    return buf;
}

static int count_of(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* ---- every wait reason ------------------------------------------------------------ */

struct waits {
    int pipe_fd[2];
    int job_pipe[2];
    lrt_chan_t *full, *empty;
    lrt_oneshot_t *once;
    lrt_notify_t *notify;
    lrt_mutex_t *mutex;
    lrt_sem_t *sem;
    lrt_task_t *target, *job;
    atomic_int stop;
};
static struct waits W;

static NOINLINE ssize_t wait_on_pipe(void)
{
    char c;
    return NOTAIL(lrt_read(W.pipe_fd[0], &c, 1));
}
static void *fd_waiter(void *a) { (void)a; wait_on_pipe(); return NULL; }

static NOINLINE int sleep_long(void) { return NOTAIL(lrt_sleep_ms(600000)); }
static void *sleeper(void *a) { (void)a; sleep_long(); return NULL; }

static NOINLINE int notify_wait_fn(void) { return NOTAIL(lrt_notify_wait(W.notify)); }
static void *notified(void *a) { (void)a; notify_wait_fn(); return NULL; }

static NOINLINE int join_it(void) { return NOTAIL(lrt_join(W.target, NULL)); }
static void *joiner(void *a) { (void)a; join_it(); return NULL; }

static void *job_fn(void *a)
{
    (void)a;
    char c;
    ssize_t n = read(W.job_pipe[0], &c, 1); /* blocks a pool thread, not the runtime */
    (void)n;
    return NULL;
}
static NOINLINE int join_job(void) { return NOTAIL(lrt_join(W.job, NULL)); }
static void *job_joiner(void *a) { (void)a; join_job(); return NULL; }

static NOINLINE int send_full(void) { return NOTAIL(lrt_chan_send(W.full, NULL)); }
static void *sender(void *a) { (void)a; send_full(); return NULL; }

static NOINLINE int recv_empty(void) { void *m; return NOTAIL(lrt_chan_recv(W.empty, &m)); }
static void *receiver(void *a) { (void)a; recv_empty(); return NULL; }

static NOINLINE int oneshot_wait(void) { void *v; return NOTAIL(lrt_oneshot_recv(W.once, &v)); }
static void *oneshot_waiter(void *a) { (void)a; oneshot_wait(); return NULL; }

static NOINLINE int mutex_wait(void)
{
    int rc = lrt_mutex_lock(W.mutex);
    if (rc == 0)
        lrt_mutex_unlock(W.mutex);
    return rc;
}
static void *mutex_waiter(void *a) { (void)a; mutex_wait(); return NULL; }

static NOINLINE int sem_wait_fn(void) { return NOTAIL(lrt_sem_acquire(W.sem, 2)); }
static void *sem_waiter(void *a) { (void)a; sem_wait_fn(); return NULL; }

static NOINLINE void yield_loop(void)
{
    while (!atomic_load(&W.stop))
        lrt_yield();
}
static void *yielder(void *a) { (void)a; yield_loop(); return NULL; }

static const struct {
    const char *name;
    const char *kind;
    const char *fn;
    const char *state;
} expect[] = {
    {"fd_waiter", "fd", "wait_on_pipe", "suspended"},
    {"sleeper", "sleep", "sleep_long", "suspended"},
    {"notified", "notify", "notify_wait_fn", "suspended"},
    {"joiner", "join", "join_it", "suspended"},
    {"job_joiner", "blocking", "join_job", "suspended"},
    {"sender", "chan_send", "send_full", "suspended"},
    {"receiver", "chan_recv", "recv_empty", "suspended"},
    {"oneshot_waiter", "oneshot", "oneshot_wait", "suspended"},
    {"mutex_waiter", "mutex", "mutex_wait", "suspended"},
    {"sem_waiter", "semaphore", "sem_wait_fn", "suspended"},
    {"yielder", "yield", "yield_loop", "runnable"},
};

static NOINLINE void *waits_root(void *arg)
{
    (void)arg;
    memset(&W, 0, sizeof W);
    CU_ASSERT_EQUAL_FATAL(pipe(W.pipe_fd), 0);
    CU_ASSERT_EQUAL_FATAL(pipe(W.job_pipe), 0);
    W.full = lrt_chan_new(1);
    W.empty = lrt_chan_new(0);
    W.once = lrt_oneshot_new();
    W.notify = lrt_notify_new();
    W.mutex = lrt_mutex_new();
    W.sem = lrt_sem_new(0);
    CU_ASSERT_EQUAL(lrt_chan_send(W.full, NULL), 0);
    CU_ASSERT_EQUAL(lrt_mutex_lock(W.mutex), 0);
    W.job = lrt_spawn_blocking(job_fn, NULL);
    lrt_task_t *ts[16];
    int n = 0;
    ts[n++] = lrt_spawn(fd_waiter, NULL);
    ts[n++] = lrt_spawn(sleeper, NULL);
    W.target = ts[n++] = lrt_spawn(notified, NULL);
    lrt_task_t *j = lrt_spawn(joiner, NULL);
    ts[n++] = lrt_spawn(job_joiner, NULL);
    ts[n++] = lrt_spawn(sender, NULL);
    ts[n++] = lrt_spawn(receiver, NULL);
    ts[n++] = lrt_spawn(oneshot_waiter, NULL);
    ts[n++] = lrt_spawn(mutex_waiter, NULL);
    ts[n++] = lrt_spawn(sem_waiter, NULL);
    ts[n++] = lrt_spawn(yielder, NULL);
    for (int i = 0; i < 3; i++)
        lrt_yield();

    json_t *s = snap_self("waits", LRT_DUMP_BACKTRACES);
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++) {
        json_t *t = find_task(s, expect[i].name);
        CU_ASSERT_PTR_NOT_NULL(t);
        if (!t)
            continue;
        if (strcmp(wait_kind(t), expect[i].kind) != 0 || strcmp(str(t, "state"), expect[i].state) != 0 ||
            !bt_has(t, expect[i].fn) || strcmp(bt_sym(t, -1), expect[i].name) != 0)
            fprintf(stderr, "task %s: state %s wait %s, last frame %s (expected %s %s in %s)\n", expect[i].name,
                    str(t, "state"), wait_kind(t), bt_sym(t, -1), expect[i].state, expect[i].kind, expect[i].fn);
        STR_EQ(wait_kind(t), expect[i].kind);
        STR_EQ(str(t, "state"), expect[i].state);
        CU_ASSERT(bt_has(t, expect[i].fn));
        /* unwinding stops at the task's entry: the last frame is the task function */
        STR_EQ(bt_sym(t, -1), expect[i].name);
        /* exactly one lrt frame above the suspension point: the public call (the
         * exact function is checked by ..._starts_with_the_public_call_...) */
        const char *top = bt_sym(t, 0), *next = bt_sym(t, 1);
        CU_ASSERT(top && strncmp(top, "lrt_", 4) == 0);
        CU_ASSERT(next && strncmp(next, "lrt_", 4) != 0);
        CU_ASSERT(!bt_has(t, "schedule") && !bt_has(t, "pick_next"));
        json_t *at = json_object_get(t, "spawned_at");
        CU_ASSERT(strstr(str(at, "file"), "test_dump.c") != NULL);
        STR_EQ(str(at, "func"), "waits_root");
        CU_ASSERT(json_integer_value(json_object_get(t, "parent")) > 0);
    }
    json_t *fd = json_object_get(find_task(s, "fd_waiter"), "wait");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(fd, "fd")), W.pipe_fd[0]);
    STR_EQ(str(fd, "interest"), "read");
    json_t *jw = json_object_get(find_task(s, "joiner"), "wait");
    CU_ASSERT_EQUAL((uint64_t)json_integer_value(json_object_get(jw, "task")), lrt_task_id(W.target));
    json_t *bw = json_object_get(find_task(s, "job_joiner"), "wait");
    CU_ASSERT_EQUAL((uint64_t)json_integer_value(json_object_get(bw, "job")), lrt_task_id(W.job));
    json_t *sw = json_object_get(find_task(s, "sleeper"), "wait");
    CU_ASSERT(json_integer_value(json_object_get(sw, "remaining_ns")) > 500000000000ll);
    json_t *mw = json_object_get(find_task(s, "mutex_waiter"), "wait");
    CU_ASSERT_EQUAL((uint64_t)json_integer_value(json_object_get(mw, "owner")), lrt_task_self_id());
    /* the caller is running, and its own backtrace shows where it called the dump */
    json_t *me = find_task(s, "main");
    STR_EQ(str(me, "state"), "running");
    CU_ASSERT(bt_has(me, "waits_root"));
    CU_ASSERT(json_is_true(json_object_get(me, "root")));
    /* I/O, timers and the blocking pool */
    CU_ASSERT(json_array_size(json_object_get(s, "io")) >= 1);
    CU_ASSERT(json_array_size(json_object_get(s, "timers")) >= 1);
    json_t *bl = json_object_get(s, "blocking");
    CU_ASSERT_EQUAL(json_array_size(json_object_get(bl, "jobs")), 1);
    json_t *rtj = json_object_get(s, "runtime");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(rtj, "alive_tasks")), 12);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(rtj, "poll_time_hist")), 16);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_object_get(s, "process"), "pid")), getpid());
    json_decref(s);

    /* a snapshot without backtraces has none */
    s = snap_self("waits-nobt", 0);
    CU_ASSERT_PTR_NULL(json_object_get(find_task(s, "sleeper"), "backtrace"));
    json_decref(s);

    /* clean up: release everything */
    atomic_store(&W.stop, 1);
    CU_ASSERT_EQUAL(write(W.job_pipe[1], "x", 1), 1);
    CU_ASSERT_EQUAL(write(W.pipe_fd[1], "x", 1), 1);
    lrt_notify_one(W.notify);
    void *m;
    lrt_chan_recv(W.full, &m);
    lrt_chan_send(W.empty, NULL);
    lrt_oneshot_send(W.once, NULL);
    lrt_mutex_unlock(W.mutex);
    lrt_sem_release(W.sem, 2);
    lrt_abort(ts[1]);
    CU_ASSERT_EQUAL(lrt_join(j, NULL), 0);
    for (int i = 0; i < n; i++)
        if (ts[i] != W.target)
            lrt_join(ts[i], NULL);
    lrt_chan_free(W.full);
    lrt_chan_free(W.empty);
    lrt_oneshot_free(W.once);
    lrt_notify_free(W.notify);
    lrt_mutex_free(W.mutex);
    lrt_sem_free(W.sem);
    lrt_close(W.pipe_fd[0]);
    close(W.pipe_fd[1]);
    close(W.job_pipe[0]);
    close(W.job_pipe[1]);
    return NULL;
}

static void snapshot_shows_each_wait_reason_with_its_object_and_backtrace(void)
{
    lrt_test_run(NULL, waits_root, NULL);
}

/* ---- the first frame is the public call ------------------------------------------- */

/* Each waiter is a user function that calls one public lrt function and stays on the
 * stack (NOTAIL): the snapshot must show that public function as frame 0 and the user
 * function as frame 1, whatever lrt calls inside (tail calls, .cold parts, statics). */
static struct {
    int pipe_fd[2], wpipe[2], lfd;
    uint64_t far_ns;
    lrt_chan_t *empty, *full;
    lrt_oneshot_t *once;
    lrt_notify_t *notify, *park;
    lrt_mutex_t *mutex;
    lrt_sem_t *sem;
    lrt_task_t *target[2];
    atomic_int stop;
} P;

static NOINLINE ssize_t in_read(void) { char c; return NOTAIL(lrt_read(P.pipe_fd[0], &c, 1)); }
static NOINLINE ssize_t in_read_timeout(void) { char c; return NOTAIL(lrt_read_timeout(P.pipe_fd[0], &c, 1, 600000)); }
static NOINLINE ssize_t in_write(void) { return NOTAIL(lrt_write(P.wpipe[1], "x", 1)); }
static NOINLINE ssize_t in_write_all(void) { return NOTAIL(lrt_write_all(P.wpipe[1], "xy", 2)); }
static NOINLINE int in_accept(void) { return NOTAIL(lrt_accept(P.lfd, NULL, NULL)); }
static NOINLINE int in_accept_timeout(void) { return NOTAIL(lrt_accept_timeout(P.lfd, NULL, NULL, 600000)); }
static NOINLINE int in_wait_fd(void) { return NOTAIL(lrt_wait_fd(P.pipe_fd[0], 0x001 /* EPOLLIN */, -1)); }
static NOINLINE int in_sleep_ms(void) { return NOTAIL(lrt_sleep_ms(600001)); } /* not sleep_long: ICF */
static NOINLINE int in_sleep_ns(void) { return NOTAIL(lrt_sleep_ns(600000000000ull)); }
static NOINLINE int in_sleep_until(void) { return NOTAIL(lrt_sleep_until(P.far_ns)); }
static NOINLINE int in_join(void) { return NOTAIL(lrt_join(P.target[0], NULL)); }
static NOINLINE int in_join_timeout(void) { return NOTAIL(lrt_join_timeout(P.target[1], NULL, 600000)); }
static NOINLINE int in_chan_recv(void) { void *m; return NOTAIL(lrt_chan_recv(P.empty, &m)); }
static NOINLINE int in_chan_recv_timeout(void) { void *m; return NOTAIL(lrt_chan_recv_timeout(P.empty, &m, 600000)); }
static NOINLINE int in_chan_send(void) { return NOTAIL(lrt_chan_send(P.full, NULL)); }
static NOINLINE int in_oneshot_recv(void) { void *v; return NOTAIL(lrt_oneshot_recv(P.once, &v)); }
static NOINLINE int in_notify_wait(void) { return NOTAIL(lrt_notify_wait(P.notify)); }
static NOINLINE int in_mutex_lock(void) { return NOTAIL(lrt_mutex_lock(P.mutex)); }
static NOINLINE int in_sem_acquire(void) { return NOTAIL(lrt_sem_acquire(P.sem, 1)); }
static NOINLINE int in_yield(void)
{
    int rc = 0;
    while (!atomic_load(&P.stop) && rc == 0)
        rc = NOTAIL(lrt_yield());
    return rc;
}

#define PUB(api, fn) {#api, #fn, (long (*)(void))(void (*)(void))fn}
static const struct {
    const char *api, *fn;
    long (*call)(void);
} pub[] = {
    PUB(lrt_read, in_read),
    PUB(lrt_read_timeout, in_read_timeout),
    PUB(lrt_write, in_write),
    PUB(lrt_write_all, in_write_all),
    PUB(lrt_accept, in_accept),
    PUB(lrt_accept_timeout, in_accept_timeout),
    PUB(lrt_wait_fd, in_wait_fd),
    PUB(lrt_sleep_ms, in_sleep_ms),
    PUB(lrt_sleep_ns, in_sleep_ns),
    PUB(lrt_sleep_until, in_sleep_until),
    PUB(lrt_join, in_join),
    PUB(lrt_join_timeout, in_join_timeout),
    PUB(lrt_chan_recv, in_chan_recv),
    PUB(lrt_chan_recv_timeout, in_chan_recv_timeout),
    PUB(lrt_chan_send, in_chan_send),
    PUB(lrt_oneshot_recv, in_oneshot_recv),
    PUB(lrt_notify_wait, in_notify_wait),
    PUB(lrt_mutex_lock, in_mutex_lock),
    PUB(lrt_sem_acquire, in_sem_acquire),
    PUB(lrt_yield, in_yield),
};
#define NPUB (sizeof pub / sizeof pub[0])

static void *pub_waiter(void *arg)
{
    /* the int/ssize_t results come back in rax either way: only 0 matters here */
    (void)pub[(uintptr_t)arg].call();
    return NULL;
}

static void *pub_target(void *arg)
{
    (void)arg;
    lrt_notify_wait(P.park);
    return NULL;
}

static void fill_socket(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    char buf[4096];
    memset(buf, 'f', sizeof buf);
    while (write(fd, buf, sizeof buf) > 0) {
    }
    fcntl(fd, F_SETFL, fl);
}

static int listen_loopback(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 4) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static void *pub_root(void *arg)
{
    const char *tag = arg;
    memset(&P, 0, sizeof P);
    CU_ASSERT_EQUAL_FATAL(pipe(P.pipe_fd), 0);
    CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, P.wpipe), 0);
    fill_socket(P.wpipe[1]);
    P.lfd = listen_loopback();
    CU_ASSERT_FATAL(P.lfd >= 0);
    P.far_ns = lrt_now_ns() + 600000000000ull;
    P.empty = lrt_chan_new(0);
    P.full = lrt_chan_new(1);
    P.once = lrt_oneshot_new();
    P.notify = lrt_notify_new();
    P.park = lrt_notify_new();
    P.mutex = lrt_mutex_new();
    P.sem = lrt_sem_new(0);
    CU_ASSERT_EQUAL(lrt_chan_send(P.full, NULL), 0);
    CU_ASSERT_EQUAL(lrt_mutex_lock(P.mutex), 0);
    P.target[0] = lrt_spawn(pub_target, NULL);
    P.target[1] = lrt_spawn(pub_target, NULL);
    lrt_task_t *ts[NPUB];
    for (size_t i = 0; i < NPUB; i++)
        ts[i] = lrt_spawn_named(pub[i].api, pub_waiter, (void *)(uintptr_t)i);
    for (int i = 0; i < 3; i++)
        lrt_yield();

    json_t *s = snap_self(tag, LRT_DUMP_BACKTRACES);
    for (size_t i = 0; i < NPUB; i++) {
        json_t *t = find_task(s, pub[i].api);
        CU_ASSERT_PTR_NOT_NULL(t);
        if (!t)
            continue;
        const char *f0 = bt_sym(t, 0), *f1 = bt_sym(t, 1);
        if (!f0 || strcmp(f0, pub[i].api) != 0 || !f1 || strcmp(f1, pub[i].fn) != 0) {
            fprintf(stderr, "\n    waits in %s, backtrace:", pub[i].api);
            for (int k = 0; k < (int)json_array_size(json_object_get(t, "backtrace")); k++)
                fprintf(stderr, " %s", bt_sym(t, k) ? bt_sym(t, k) : "??");
        }
        CU_ASSERT(f0 && strcmp(f0, pub[i].api) == 0);
        CU_ASSERT(f1 && strcmp(f1, pub[i].fn) == 0);
        CU_ASSERT(bt_sym(t, -1) && strcmp(bt_sym(t, -1), "pub_waiter") == 0);
    }
    json_decref(s);

    /* the deadlock report and lrt-dump print frames through the same trimming */
    atomic_store(&P.stop, 1);
    lrt_abort(P.target[0]);
    lrt_abort(P.target[1]);
    for (int i = 0; i < 3; i++)
        lrt_yield();
    for (size_t i = 0; i < NPUB; i++)
        lrt_abort(ts[i]);
    for (size_t i = 0; i < NPUB; i++)
        lrt_join(ts[i], NULL);
    lrt_mutex_unlock(P.mutex);
    lrt_chan_free(P.empty);
    lrt_chan_free(P.full);
    lrt_oneshot_free(P.once);
    lrt_notify_free(P.notify);
    lrt_notify_free(P.park);
    lrt_mutex_free(P.mutex);
    lrt_sem_free(P.sem);
    lrt_close(P.pipe_fd[0]);
    close(P.pipe_fd[1]);
    lrt_close(P.wpipe[1]);
    close(P.wpipe[0]);
    lrt_close(P.lfd);
    return NULL;
}

static void snapshot_backtrace_starts_with_the_public_call_each_task_waits_in(void)
{
    lrt_test_run(NULL, pub_root, "public-call");
}

#if LRT_TRACE_ENABLED
/* What an LTTng session does when it enables an event: liblttng-ust sets the call site's
 * state (tracepoint.c, set_tracepoint).  The runtime's gate then follows within one event
 * interval and schedule() takes its traced variant, whose cold part then sits in every
 * suspended task's stack.  No probe is registered, so nothing is recorded. */
extern struct lttng_ust_tracepoint lttng_ust_tracepoint_lrt___task_poll_begin;

static void *traced_pub_root(void *arg)
{
    CU_ASSERT(lrt__tls_rt->trace_hot); /* the traced scheduler path is the one running */
    return pub_root(arg);
}
#endif

static void snapshot_backtrace_trims_lrt_frames_of_a_static_build_with_a_tracepoint_enabled(void)
{
#if LRT_TRACE_ENABLED
    /* the runner links liblrt.a: this is the static build the trimming must handle */
    __atomic_store_n(&lttng_ust_tracepoint_lrt___task_poll_begin.state, 1, __ATOMIC_RELAXED);
    lrt_test_run(NULL, traced_pub_root, "public-call-traced");
    __atomic_store_n(&lttng_ust_tracepoint_lrt___task_poll_begin.state, 0, __ATOMIC_RELAXED);
#else
    fprintf(stderr, "\n    skipped: tracepoints compiled out (TRACE=0)\n    ");
#endif
}

/* ---- deadlock report ------------------------------------------------------------- */

static lrt_chan_t *dl_a, *dl_b;

static NOINLINE int wait_for_a(void) { void *m; return NOTAIL(lrt_chan_recv(dl_a, &m)); }
static void *dl_peer(void *arg) { (void)arg; wait_for_a(); return NULL; }

static NOINLINE int wait_for_b(void) { void *m; return NOTAIL(lrt_chan_recv(dl_b, &m)); }
static void *dl_root(void *arg)
{
    (void)arg;
    lrt_task_t *t = lrt_spawn(dl_peer, NULL);
    lrt_task_detach(t);
    wait_for_b();
    return NULL;
}

static void deadlock_report_prints_the_task_table_with_wait_reasons(void)
{
    dl_a = lrt_chan_new(0);
    dl_b = lrt_chan_new(0);
    lrt_runtime_t *rt = lrt_runtime_new(NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rt);
    struct capture c;
    capture_begin(&c);
    int rc = lrt_block_on(rt, dl_root, NULL, NULL);
    char *out = capture_end(&c);
    CU_ASSERT_EQUAL(rc, -EDEADLK);
    CU_ASSERT(strstr(out, "deadlock") != NULL);
    CU_ASSERT(strstr(out, "WAITING ON") != NULL);
    CU_ASSERT(strstr(out, "main") != NULL && strstr(out, "dl_peer") != NULL);
    CU_ASSERT_EQUAL(count_of(out, "(recv, empty)"), 2);
    CU_ASSERT(strstr(out, "wait_for_a") != NULL && strstr(out, "wait_for_b") != NULL);
    CU_ASSERT(strstr(out, "test_dump.c") != NULL);
    free(out);
    lrt_runtime_free(rt);
    lrt_chan_free(dl_a);
    lrt_chan_free(dl_b);
}

/* ---- dump agent ------------------------------------------------------------------- */

static char agent_dir[128];

static void make_agent_dir(void)
{
    char tmpl[] = "/tmp/lrt-dumptest-XXXXXX";
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(tmpl));
    snprintf(agent_dir, sizeof agent_dir, "%s/sock", tmpl);
}

static void remove_agent_dir(void)
{
    rmdir(agent_dir);
    char *slash = strrchr(agent_dir, '/');
    *slash = 0;
    rmdir(agent_dir);
}

static void sock_path(char *out, size_t n)
{
    snprintf(out, n, "%s/%d.sock", agent_dir, (int)getpid());
}

static int agent_connect(void)
{
    char path[256];
    sock_path(path, sizeof path);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path)
        return -1;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}


static json_t *ask_json(int fd, const char *req, int ms)
{
    char *line = lrt_test_ask(fd, req, ms);
    if (!line)
        return NULL;
    json_t *j = json_loads(line, 0, NULL);
    if (j && json_object_get(j, "runtime"))
        save_snapshot("agent", line);
    free(line);
    return j;
}

/* A client thread runs @fn while the runtime's root task runs @root. */
struct agent_case {
    void (*client)(struct agent_case *);
    atomic_int done;
    atomic_int release; /* the root may stop blocking */
    atomic_int stuck;   /* the root is about to block the thread */
    atomic_int ready;   /* the root's other tasks are in place */
    int pipe_fd[2];
    uint64_t answer_ms;
    json_t *snap;
};

static void *client_thread(void *arg)
{
    struct agent_case *c = arg;
    c->client(c);
    atomic_store(&c->done, 1);
    atomic_store(&c->release, 1);
    if (c->pipe_fd[1] > 0) {
        ssize_t n = write(c->pipe_fd[1], "x", 1);
        (void)n;
    }
    return NULL;
}

static NOINLINE void *agent_idle_root(void *arg)
{
    struct agent_case *c = arg;
    while (!atomic_load(&c->done))
        lrt_sleep_ms(5);
    return NULL;
}

static void run_agent_case(struct agent_case *c, lrt_fn root)
{
    lrt_options_t o = {0};
    o.dump_agent = 1;
    o.dump_socket_dir = agent_dir;
    lrt_runtime_t *rt = lrt_runtime_new(&o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rt);
    pthread_t th;
    pthread_create(&th, NULL, client_thread, c);
    void *res;
    CU_ASSERT_EQUAL(lrt_block_on(rt, root, c, &res), 0);
    pthread_join(th, NULL);
    lrt_runtime_free(rt);
}

static NOINLINE int agent_sleeper_wait(void) { return NOTAIL(lrt_sleep_ms(100000)); }
static void *agent_sleeper(void *a) { (void)a; agent_sleeper_wait(); return NULL; }

static void *agent_basic_root(void *arg)
{
    struct agent_case *c = arg;
    lrt_task_t *t = lrt_spawn(agent_sleeper, NULL);
    lrt_yield(); /* the sleeper runs to its sleep */
    atomic_store(&c->ready, 1);
    agent_idle_root(arg);
    lrt_abort(t);
    lrt_join(t, NULL);
    return NULL;
}

/* Wait (bounded) for @flag: the client thread may run long before the runtime's tasks
 * on a loaded machine.  Not _FATAL: this is the client thread. */
static void client_wait(atomic_int *flag)
{
    uint64_t until = lrt_test_mono_ms() + 30000;
    while (!atomic_load(flag) && lrt_test_mono_ms() < until) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    CU_ASSERT(atomic_load(flag));
}

static void basic_client(struct agent_case *c)
{
    client_wait(&c->ready);
    char path[256];
    sock_path(path, sizeof path);
    struct stat st;
    CU_ASSERT_EQUAL(stat(agent_dir, &st), 0);
    CU_ASSERT_EQUAL(st.st_mode & 0777, 0700);
    CU_ASSERT_EQUAL(lstat(path, &st), 0);
    CU_ASSERT(S_ISSOCK(st.st_mode));
    CU_ASSERT_EQUAL(st.st_mode & 0777, 0600);
    int fd = agent_connect();
    CU_ASSERT_FATAL(fd >= 0);
    json_t *p = ask_json(fd, "{\"cmd\":\"ping\"}\n", 2000);
    CU_ASSERT(json_is_true(json_object_get(p, "ok")));
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(p, "pid")), getpid());
    json_decref(p);
    uint64_t t0 = lrt_test_mono_ms();
    json_t *s = ask_json(fd, "{\"cmd\":\"snapshot\",\"backtraces\":true}\n", 2000);
    CU_ASSERT(lrt_test_mono_ms() - t0 < 1000);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    STR_EQ(str(json_object_get(s, "runtime"), "source"), "safepoint");
    json_t *t = find_task(s, "agent_sleeper");
    CU_ASSERT(t && wait_kind(t) && strcmp(wait_kind(t), "sleep") == 0);
    CU_ASSERT(bt_has(t, "agent_sleeper_wait"));
    CU_ASSERT(bt_has(find_task(s, "main"), "agent_idle_root"));
    json_decref(s);
    /* without backtraces: none; and the same connection serves again */
    s = ask_json(fd, "{\"cmd\":\"snapshot\"}\n", 2000);
    CU_ASSERT_PTR_NOT_NULL(s);
    CU_ASSERT_PTR_NULL(json_object_get(find_task(s, "agent_sleeper"), "backtrace"));
    json_decref(s);
    close(fd);
}

static void agent_answers_ping_and_snapshots_on_a_private_socket_removed_at_shutdown(void)
{
    make_agent_dir();
    struct agent_case c = {.client = basic_client};
    run_agent_case(&c, agent_basic_root);
    char path[256];
    sock_path(path, sizeof path);
    CU_ASSERT_NOT_EQUAL(access(path, F_OK), 0); /* removed at shutdown */
    remove_agent_dir();
}

static void hostile_client(struct agent_case *c)
{
    (void)c;
    /* a client that connects and says nothing */
    int silent = agent_connect();
    CU_ASSERT(silent >= 0);
    /* garbage: an error, and the connection still works */
    int fd = agent_connect();
    CU_ASSERT_FATAL(fd >= 0);
    json_t *e = ask_json(fd, "this is not json\n", 10000);
    CU_ASSERT_PTR_NOT_NULL(json_object_get(e, "error"));
    json_decref(e);
    e = ask_json(fd, "[1,2,3]\n", 10000);
    CU_ASSERT_PTR_NOT_NULL(json_object_get(e, "error"));
    json_decref(e);
    e = ask_json(fd, "{\"cmd\":\"reboot\"}\n", 10000);
    CU_ASSERT(strstr(json_string_value(json_object_get(e, "error")), "unknown command") != NULL);
    json_decref(e);
    e = ask_json(fd, "{\"cmd\":\"snapshot\",\"backtraces\":\"yes\"}\n", 10000);
    CU_ASSERT_PTR_NOT_NULL(json_object_get(e, "error"));
    json_decref(e);
    e = ask_json(fd, "{\"cmd\":\"ping\"}\n", 10000);
    CU_ASSERT(json_is_true(json_object_get(e, "ok")));
    json_decref(e);
    /* a 10 MB line: error, then dropped */
    int big = agent_connect();
    CU_ASSERT_FATAL(big >= 0);
    size_t n = 10u << 20;
    char *junk = malloc(n);
    memset(junk, 'x', n);
    size_t off = 0;
    while (off < n) {
        ssize_t k = send(big, junk + off, n - off, MSG_NOSIGNAL);
        if (k <= 0)
            break; /* the agent hung up on us */
        off += (size_t)k;
    }
    free(junk);
    CU_ASSERT(off < n);
    char *line = lrt_test_read_line(big, 10000);
    CU_ASSERT(line && strstr(line, "too long") != NULL);
    free(line);
    CU_ASSERT_PTR_NULL(lrt_test_read_line(big, 10000)); /* closed */
    close(big);
    /* several clients at once, while the silent one still hangs around */
    int fds[6];
    for (int i = 0; i < 6; i++) {
        fds[i] = agent_connect();
        CU_ASSERT(fds[i] >= 0);
        CU_ASSERT(write(fds[i], "{\"cmd\":\"snapshot\"}\n", 19) == 19);
    }
    uint64_t t0 = lrt_test_mono_ms();
    for (int i = 0; i < 6; i++) {
        char *l = lrt_test_read_line(fds[i], 10000);
        CU_ASSERT(l && strstr(l, "\"tasks\"") != NULL);
        free(l);
        close(fds[i]);
    }
    CU_ASSERT(lrt_test_mono_ms() - t0 < 1000);
    e = ask_json(fd, "{\"cmd\":\"ping\"}\n", 10000);
    CU_ASSERT(json_is_true(json_object_get(e, "ok")));
    json_decref(e);
    close(fd);
    close(silent);
}

/* A silent client is dropped after the client timeout (300 ms here).  Its own agent: with
 * so short a timeout, a loaded machine would also drop the clients above between two of
 * their requests. */
static void silent_client(struct agent_case *c)
{
    (void)c;
    int silent = agent_connect();
    CU_ASSERT(silent >= 0); /* not _FATAL: this is the client thread */
    if (silent < 0)
        return;
    uint64_t t1 = lrt_test_mono_ms();
    CU_ASSERT_PTR_NULL(lrt_test_read_line(silent, 20000));
    uint64_t ms = lrt_test_mono_ms() - t1;
    CU_ASSERT(ms >= 250 && ms < 19000); /* closed by the agent, not timed out here */
    close(silent);
}

static void agent_survives_garbage_huge_lines_silent_and_concurrent_clients(void)
{
    make_agent_dir();
    struct agent_case c = {.client = hostile_client};
    run_agent_case(&c, agent_idle_root);
    struct agent_case q = {.client = silent_client};
    setenv("LRT_DUMP_CLIENT_TIMEOUT_MS", "300", 1);
    run_agent_case(&q, agent_idle_root);
    unsetenv("LRT_DUMP_CLIENT_TIMEOUT_MS");
    remove_agent_dir();
}

/* The runtime thread stuck in a task: a busy loop, then a blocking read. */
static void stuck_client(struct agent_case *c)
{
    client_wait(&c->stuck); /* ask once the root blocks the thread */
    int fd = agent_connect();
    CU_ASSERT_FATAL(fd >= 0);
    uint64_t t0 = lrt_test_mono_ms();
    c->snap = ask_json(fd, "{\"cmd\":\"snapshot\",\"backtraces\":true}\n", 3000);
    c->answer_ms = lrt_test_mono_ms() - t0;
    close(fd);
}

static NOINLINE void spin_until_released(atomic_int *flag)
{
    while (!atomic_load_explicit(flag, memory_order_relaxed))
        __asm__ volatile("" ::: "memory");
}

static void *busy_root(void *arg)
{
    struct agent_case *c = arg;
    lrt_task_t *t = lrt_spawn(agent_sleeper, NULL);
    lrt_yield();
    atomic_store(&c->stuck, 1);
    spin_until_released(&c->release);
    lrt_abort(t);
    lrt_join(t, NULL);
    return NULL;
}

static NOINLINE ssize_t blocking_read_directly(int fd)
{
    char b;
    ssize_t n;
    do
        n = read(fd, &b, 1); /* a blocking syscall made inside a task */
    while (n < 0 && errno == EINTR);
    return NOTAIL(n);
}

static void *syscall_root(void *arg)
{
    struct agent_case *c = arg;
    lrt_task_t *t = lrt_spawn(agent_sleeper, NULL);
    lrt_yield();
    atomic_store(&c->stuck, 1);
    blocking_read_directly(c->pipe_fd[0]);
    lrt_abort(t);
    lrt_join(t, NULL);
    return NULL;
}

static void check_stuck(struct agent_case *c, const char *fn)
{
    json_t *s = c->snap;
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT(c->answer_ms < 1000);
    json_t *r = json_object_get(s, "runtime");
    STR_EQ(str(r, "state"), "stuck");
    json_t *me = find_task(s, "main");
    STR_EQ(str(me, "state"), "running");
    CU_ASSERT(json_integer_value(json_object_get(me, "state_ns")) >= 100000000);
    if (!bt_has(me, fn))
        fprintf(stderr, "stuck task backtrace lacks %s: %s\n", fn,
                json_dumps(json_object_get(me, "backtrace"), JSON_COMPACT));
    CU_ASSERT(bt_has(me, fn));
    CU_ASSERT_EQUAL((uint64_t)json_integer_value(json_object_get(r, "current_task")),
                    (uint64_t)json_integer_value(json_object_get(me, "id")));
    /* the others from consistent state */
    json_t *t = find_task(s, "agent_sleeper");
    STR_EQ(wait_kind(t), "sleep");
    CU_ASSERT(bt_has(t, "agent_sleeper_wait"));
    json_decref(s);
}

static void agent_answers_within_a_second_when_the_thread_is_stuck_in_a_busy_loop(void)
{
    make_agent_dir();
    struct agent_case c = {.client = stuck_client};
    run_agent_case(&c, busy_root);
    check_stuck(&c, "spin_until_released");
    remove_agent_dir();
}

static void agent_answers_within_a_second_when_the_thread_is_stuck_in_a_blocking_read(void)
{
    make_agent_dir();
    struct agent_case c = {.client = stuck_client};
    CU_ASSERT_EQUAL_FATAL(pipe(c.pipe_fd), 0);
    run_agent_case(&c, syscall_root);
    check_stuck(&c, "blocking_read_directly");
    close(c.pipe_fd[0]);
    close(c.pipe_fd[1]);
    remove_agent_dir();
}

static void agent_refuses_a_shared_directory_and_cleans_stale_sockets(void)
{
    make_agent_dir();
    /* group/world-writable directory: refused */
    CU_ASSERT_EQUAL(mkdir(agent_dir, 0700), 0);
    chmod(agent_dir, 0777);
    lrt_options_t o = {0};
    o.dump_agent = 1;
    o.dump_socket_dir = agent_dir;
    struct capture cap;
    capture_begin(&cap);
    lrt_runtime_t *rt = lrt_runtime_new(&o);
    int e = errno;
    free(capture_end(&cap));
    CU_ASSERT_PTR_NULL(rt);
    CU_ASSERT_EQUAL(e, EPERM);
    if (rt)
        lrt_runtime_free(rt);
    chmod(agent_dir, 0700);
    /* a stale socket of a dead process goes, a live one stays */
    pid_t child = fork();
    if (child == 0)
        _exit(0);
    waitpid(child, NULL, 0);
    char stale[256], live[256];
    snprintf(stale, sizeof stale, "%s/%d.sock", agent_dir, (int)child);
    snprintf(live, sizeof live, "%s/1.sock", agent_dir); /* init is alive */
    close(open(stale, O_CREAT | O_WRONLY, 0600));
    close(open(live, O_CREAT | O_WRONLY, 0600));
    rt = lrt_runtime_new(&o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rt);
    CU_ASSERT_NOT_EQUAL(access(stale, F_OK), 0);
    CU_ASSERT_EQUAL(access(live, F_OK), 0);
    lrt_runtime_free(rt);
    unlink(live);
    remove_agent_dir();
}

/* ---- stall detector --------------------------------------------------------------- */

/* The stall detector's count, read the way its watchdog writes it. */
static uint64_t stalls_now(void)
{
    return __atomic_load_n(&lrt__tls_rt->m.stalls, __ATOMIC_RELAXED);
}

#define STALL_WAIT_MS 30000 /* a bound, not an expectation: reports come after ~50 ms */

/* Each stalled poll ends once the detector has reported it, not after a fixed time the
 * watchdog thread may not get to run in on a loaded machine: one report per poll,
 * whatever the load.  Returns whether the report came. */
static NOINLINE bool hog_the_thread(void)
{
    uint64_t before = stalls_now(), until = lrt_test_mono_ms() + STALL_WAIT_MS;
    while (stalls_now() == before && lrt_test_mono_ms() < until)
        __asm__ volatile("" ::: "memory");
    return NOTAIL(stalls_now() != before);
}

static NOINLINE bool sleep_in_a_task(void)
{
    uint64_t before = stalls_now(), until = lrt_test_mono_ms() + STALL_WAIT_MS;
    while (stalls_now() == before && lrt_test_mono_ms() < until) {
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL); /* EINTR (the detector's signal) just ends a round early */
    }
    return NOTAIL(stalls_now() != before);
}

/* Whether the newest stall record's backtrace has @fn. */
static bool newest_stall_has(const char *fn)
{
    json_t *s = snap_self(NULL, 0);
    json_t *newest = json_array_get(json_object_get(s, "stalls"), 0);
    bool yes = newest && frames_have(json_object_get(newest, "backtrace"), fn);
    json_decref(s);
    return yes;
}

static json_t *stall_with(json_t *stalls, const char *fn, bool ended)
{
    size_t i;
    json_t *r;
    json_array_foreach(stalls, i, r)
    {
        if (frames_have(json_object_get(r, "backtrace"), fn) && (!ended || json_is_false(json_object_get(r, "ongoing"))))
            return r;
    }
    return NULL;
}

static void *stall_root(void *arg)
{
    int *stalled = arg;
    /* Seven stalled polls at least; more only while none has a backtrace yet (a capture
     * gives up when the thread cannot take its signal within 200 ms: heavy load). */
    bool bt = false;
    for (int i = 0; i < 7 || (!bt && i < 20); i++) {
        CU_ASSERT_FATAL(hog_the_thread());
        (*stalled)++;
        if (!bt)
            bt = newest_stall_has("hog_the_thread"); /* same poll: no extra stall */
        lrt_yield();
    }
    CU_ASSERT(bt);
    /* A blocking system call: captured from /proc, without a signal. */
    bt = false;
    for (int i = 0; i < 5 && !bt; i++) {
        CU_ASSERT_FATAL(sleep_in_a_task());
        (*stalled)++;
        bt = newest_stall_has("sleep_in_a_task");
        lrt_yield();
    }
    CU_ASSERT(bt);
    json_t *s = snap_self("stalls", LRT_DUMP_BACKTRACES);
    json_t *stalls = json_object_get(s, "stalls");
    /* The ring keeps the 8 newest; a poll of this task we did not stall on purpose (the
     * thread descheduled for longer than the threshold) may add one: find by content. */
    CU_ASSERT(json_array_size(stalls) == 8);
    CU_ASSERT_PTR_NOT_NULL(stall_with(stalls, "sleep_in_a_task", false));
    json_t *older = stall_with(stalls, "hog_the_thread", true);
    CU_ASSERT_PTR_NOT_NULL(older);
    STR_EQ(str(older, "name"), "main");
    CU_ASSERT(json_integer_value(json_object_get(older, "duration_ns")) >= 50000000);
    json_t *r = json_object_get(s, "runtime");
    int64_t n = json_integer_value(json_object_get(r, "stalls"));
    int64_t supp = json_integer_value(json_object_get(r, "stalls_suppressed"));
    CU_ASSERT(n >= *stalled);
    CU_ASSERT_EQUAL(supp, n - 5); /* five printed in the first minute, the rest not */
    json_decref(s);
    return NULL;
}

static void stall_detector_reports_long_polls_with_backtrace_and_rate_limit(void)
{
    lrt_options_t o = {0};
    o.stall_threshold_ms = 50;
    int stalled = 0;
    struct capture c;
    uint64_t t0 = lrt_test_mono_ms();
    capture_begin(&c);
    lrt_test_run(&o, stall_root, &stalled);
    char *out = capture_end(&c);
    CU_ASSERT(stalled >= 8);
    if (lrt_test_mono_ms() - t0 < 55000) /* one rate-limit window: 5 reports a minute */
        CU_ASSERT_EQUAL(count_of(out, "lrt: stall: task"), 5);
    CU_ASSERT(strstr(out, "'main'") != NULL);
    CU_ASSERT(strstr(out, "without giving the thread back") != NULL);
    free(out);
}

/* ---- cost ------------------------------------------------------------------------- */

#define MANY 10000

static NOINLINE int park_here(void) { return NOTAIL(lrt_sleep_ms(1000000)); }
static NOINLINE int nested_wait(int depth) { return depth ? NOTAIL(nested_wait(depth - 1)) : NOTAIL(park_here()); }
static void *many_task(void *a) { (void)a; nested_wait(3); return NULL; }

/* The snapshot runs on this thread: its CPU time is its cost, whatever else runs. */
static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *many_root(void *arg)
{
    (void)arg;
    static lrt_task_t *ts[MANY];
    for (int i = 0; i < MANY; i++)
        ts[i] = lrt_spawn(many_task, NULL);
    lrt_yield();
    double best_bt = 1e9, best_plain = 1e9, best_cpu = 1e9;
    size_t len = 0;
    for (int round = 0; round < 3; round++) {
        uint64_t t0 = lrt_now_ns(), c0 = thread_cpu_ns();
        char *s = lrt_dump_json(NULL, LRT_DUMP_BACKTRACES);
        double ms = (double)(lrt_now_ns() - t0) / 1e6, cpu = (double)(thread_cpu_ns() - c0) / 1e6;
        if (cpu < best_cpu)
            best_cpu = cpu;
        CU_ASSERT_PTR_NOT_NULL_FATAL(s);
        len = strlen(s);
        if (round == 0) {
            json_t *j = parse_snapshot(NULL, s);
            CU_ASSERT_EQUAL(json_array_size(json_object_get(j, "tasks")), MANY + 1);
            CU_ASSERT(bt_has(json_array_get(json_object_get(j, "tasks"), 5000), "park_here"));
            json_decref(j);
        }
        free(s);
        if (ms < best_bt)
            best_bt = ms;
        t0 = lrt_now_ns();
        s = lrt_dump_json(NULL, 0);
        ms = (double)(lrt_now_ns() - t0) / 1e6;
        free(s);
        if (ms < best_plain)
            best_plain = ms;
    }
    fprintf(stderr, "\n    snapshot of %d suspended tasks: %.1f ms with backtraces (%.1f ms of CPU, %.1f MB of "
                    "JSON), %.1f ms without\n    ",
            MANY, best_bt, best_cpu, (double)len / 1e6, best_plain);
    /* the target (50 ms) is for optimised builds (docs/performance.md); CPU time, so that
     * a loaded machine cannot fail it */
    CU_ASSERT(best_cpu < 2000);
    for (int i = 0; i < MANY; i++) {
        lrt_abort(ts[i]);
        lrt_join(ts[i], NULL);
    }
    return NULL;
}

static void snapshot_of_10000_suspended_tasks_with_backtraces_is_timed(void)
{
    lrt_test_run(NULL, many_root, NULL);
}

/* ---- durations in words ------------------------------------------------------------- */

static void *sleep_ms_task(void *arg) { return (void *)(intptr_t)lrt_sleep_ms((uint64_t)(uintptr_t)arg); }

static void *durations_root(void *unused)
{
    (void)unused;
    static const struct { uint64_t ms; const char *prefix; } cases[] = {
        {250, "sleep (2"},               /* 2xxms */
        {12300, "sleep (12."},           /* 12.xs */
        {3600000, "sleep (59m5"},        /* 59m5xs, not "3599990 ms" */
        {5 * 3600000, "sleep (4h59m"},
        {3 * 86400000ull, "sleep (2d23h"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lrt_task_t *t = lrt_spawn(sleep_ms_task, (void *)(uintptr_t)cases[i].ms);
        lrt_yield();
        json_t *w = lrt_test_task_wait(lrt_task_id(t), NULL);
        const char *text = json_string_value(json_object_get(w, "object"));
        CU_ASSERT(text && strncmp(text, cases[i].prefix, strlen(cases[i].prefix)) == 0 && strstr(text, " left)"));
        if (!text || strncmp(text, cases[i].prefix, strlen(cases[i].prefix)) != 0)
            fprintf(stderr, "sleep of %llu ms shows '%s'\n", (unsigned long long)cases[i].ms, text ? text : "(null)");
        json_decref(w);
        lrt_abort(t);
        lrt_join(t, NULL);
    }
    return NULL;
}

static void a_sleep_shows_the_time_left_in_words_people_read(void)
{
    lrt_test_run(NULL, durations_root, NULL);
}

/* ---- fork while another thread unwinds ----------------------------------------------- */

static atomic_int unwinder_stop;

static void *parked(void *arg) { return (void *)(intptr_t)lrt_sleep_ms((uint64_t)(uintptr_t)arg); }

/* Snapshots with backtraces in a loop: this thread is inside libunwind most of the time. */
static void *unwinding_root(void *unused)
{
    (void)unused;
    lrt_task_t *t[8];
    for (int i = 0; i < 8; i++)
        t[i] = lrt_spawn(parked, (void *)(uintptr_t)3600000);
    lrt_yield();
    while (!atomic_load(&unwinder_stop))
        free(lrt_dump_json(lrt_current(), LRT_DUMP_BACKTRACES));
    for (int i = 0; i < 8; i++) {
        lrt_abort(t[i]);
        lrt_join(t[i], NULL);
    }
    return NULL;
}

static void *unwinding_thread(void *unused)
{
    (void)unused;
    lrt_runtime_t *rt = lrt_runtime_new(NULL);
    if (rt) {
        lrt_block_on(rt, unwinding_root, NULL, NULL);
        lrt_runtime_free(rt);
    }
    return NULL;
}

static void *child_dump_root(void *unused)
{
    (void)unused;
    lrt_task_t *t = lrt_spawn(parked, (void *)(uintptr_t)3600000);
    lrt_yield();
    char *js = lrt_dump_json(lrt_current(), LRT_DUMP_BACKTRACES);
    lrt_abort(t);
    lrt_join(t, NULL);
    return js;
}

/* libunwind keeps process-wide mutexes; a fork() while another thread held one copied it
 * locked, and the child's first backtrace (its dump agent starting, a crash report, a
 * snapshot) waited forever.  Children here get 10 s to take one snapshot with backtraces. */
static void a_child_forked_while_another_thread_unwinds_can_still_unwind(void)
{
    atomic_store(&unwinder_stop, 0);
    pthread_t th;
    CU_ASSERT_FATAL(pthread_create(&th, NULL, unwinding_thread, NULL) == 0);
    usleep(50000);
    int hung = 0, failed = 0;
    for (int i = 0; i < 200 && !hung; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            alarm(10);
            lrt_runtime_t *rt = lrt_runtime_new(NULL);
            void *js = NULL;
            int ok = rt && lrt_block_on(rt, child_dump_root, NULL, &js) == 0 && js && strstr(js, "\"backtrace\"");
            _exit(ok ? 0 : 1);
        }
        CU_ASSERT_FATAL(pid > 0);
        /* bounded from here: a snapshot blocks signals while it runs, so the child's
         * alarm cannot end a hang inside one */
        int st = 0;
        pid_t r = 0;
        for (int ms = 0; ms < 10000 && (r = waitpid(pid, &st, WNOHANG)) == 0; ms += 5)
            usleep(5000);
        if (r == 0) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            hung++;
            continue;
        }
        hung += WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM;
        failed += !WIFEXITED(st) || WEXITSTATUS(st) != 0;
    }
    atomic_store(&unwinder_stop, 1);
    pthread_join(th, NULL);
    CU_ASSERT_EQUAL(hung, 0);
    CU_ASSERT_EQUAL(failed, 0);
    if (hung || failed)
        fprintf(stderr, "forked children: %d hung in an unwind, %d failed\n", hung, failed);
}

static atomic_int unwind_held;

static void *hold_unwind(void *unused)
{
    (void)unused;
    bool lk = lrt__unwind_enter(); /* as every unwind does around libunwind */
    atomic_store(&unwind_held, 1);
    usleep(300000);
    lrt__unwind_leave(lk);
    return NULL;
}

/* The mechanism behind the test above, deterministic: a fork waits until no thread is
 * inside libunwind (it could copy one of libunwind's mutexes locked), and the child can
 * unwind at once. */
static void fork_waits_for_a_thread_inside_libunwind(void)
{
    atomic_store(&unwind_held, 0);
    pthread_t th;
    CU_ASSERT_FATAL(pthread_create(&th, NULL, hold_unwind, NULL) == 0);
    while (!atomic_load(&unwind_held))
        usleep(1000);
    uint64_t t0 = lrt_test_mono_ms();
    pid_t pid = fork();
    if (pid == 0) {
        alarm(10);
        bool lk = lrt__unwind_enter();
        lrt__unwind_leave(lk);
        _exit(lk ? 0 : 1);
    }
    uint64_t waited = lrt_test_mono_ms() - t0;
    CU_ASSERT_FATAL(pid > 0);
    int st = 0;
    waitpid(pid, &st, 0);
    pthread_join(th, NULL);
    CU_ASSERT(waited >= 200); /* the holder let go after 300 ms: fork could not return before */
    CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

CU_TestInfo lrt_test_dump[] = {
    {"fork_waits_for_a_thread_inside_libunwind", fork_waits_for_a_thread_inside_libunwind},
    {"a_child_forked_while_another_thread_unwinds_can_still_unwind",
     a_child_forked_while_another_thread_unwinds_can_still_unwind},
    {"a_sleep_shows_the_time_left_in_words_people_read", a_sleep_shows_the_time_left_in_words_people_read},
    {"snapshot_shows_each_wait_reason_with_its_object_and_backtrace",
     snapshot_shows_each_wait_reason_with_its_object_and_backtrace},
    {"snapshot_backtrace_starts_with_the_public_call_each_task_waits_in",
     snapshot_backtrace_starts_with_the_public_call_each_task_waits_in},
    {"snapshot_backtrace_trims_lrt_frames_of_a_static_build_with_a_tracepoint_enabled",
     snapshot_backtrace_trims_lrt_frames_of_a_static_build_with_a_tracepoint_enabled},
    {"deadlock_report_prints_the_task_table_with_wait_reasons",
     deadlock_report_prints_the_task_table_with_wait_reasons},
    {"agent_answers_ping_and_snapshots_on_a_private_socket_removed_at_shutdown",
     agent_answers_ping_and_snapshots_on_a_private_socket_removed_at_shutdown},
    {"agent_survives_garbage_huge_lines_silent_and_concurrent_clients",
     agent_survives_garbage_huge_lines_silent_and_concurrent_clients},
    {"agent_answers_within_a_second_when_the_thread_is_stuck_in_a_busy_loop",
     agent_answers_within_a_second_when_the_thread_is_stuck_in_a_busy_loop},
    {"agent_answers_within_a_second_when_the_thread_is_stuck_in_a_blocking_read",
     agent_answers_within_a_second_when_the_thread_is_stuck_in_a_blocking_read},
    {"agent_refuses_a_shared_directory_and_cleans_stale_sockets",
     agent_refuses_a_shared_directory_and_cleans_stale_sockets},
    {"stall_detector_reports_long_polls_with_backtrace_and_rate_limit",
     stall_detector_reports_long_polls_with_backtrace_and_rate_limit},
    {"snapshot_of_10000_suspended_tasks_with_backtraces_is_timed",
     snapshot_of_10000_suspended_tasks_with_backtraces_is_timed},
    CU_TEST_INFO_NULL,
};
