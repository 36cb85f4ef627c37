/*
 * Attach suite (issue 12, items 1 and 5): the dump agent started on demand in a runtime
 * that never opted in (the request file lrt-dump creates, noticed by the ticker thread),
 * also while the runtime thread is stuck; refused with LRT_DUMP=0 and for a request of
 * another uid; and one agent answering for every runtime of the process, each task
 * labelled with its runtime.
 *
 * A client thread plays lrt-dump (creates the request file, waits for the socket, asks)
 * while runtimes run on this thread or on threads of their own.  Every wait is bounded
 * (10 s for an agent to appear; it takes 200-400 ms).
 */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
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

#include <jansson.h>

#include "internal.h"
#include "test_util.h"

#define AGENT_WAIT_MS 10000 /* generous: the ticker looks every 200 ms */

/* Keep a NOINLINE helper's frame on the stack: no tail call. */
#define NOTAIL(expr)                                  \
    ({                                                \
        __typeof__(expr) rc_ = (expr);                \
        __asm__ volatile("" : : "r"(rc_) : "memory"); \
        rc_;                                          \
    })

/* ---- helpers ---------------------------------------------------------------------- */

static char dir[64];

static void make_dir(void)
{
    char tmpl[] = "/tmp/lrt-attachtest-XXXXXX";
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(tmpl));
    snprintf(dir, sizeof dir, "%s/sock", tmpl);
    setenv("LRT_DUMP_DIR", dir, 1); /* read by the next lrt_runtime_new with none alive */
}

static void remove_dir(void)
{
    unsetenv("LRT_DUMP_DIR");
    char p[128];
    snprintf(p, sizeof p, "%s/.lrt-attach-%d", dir, (int)getpid());
    unlink(p);
    rmdir(dir);
    *strrchr(dir, '/') = 0;
    rmdir(dir);
}

static void sock_path(char *out, size_t n) { snprintf(out, n, "%s/%d.sock", dir, (int)getpid()); }
static void trigger_path(char *out, size_t n) { snprintf(out, n, "%s/.lrt-attach-%d", dir, (int)getpid()); }

/* What lrt-dump does: a private directory, an empty request file.  Returns its fd's
 * creation status (0 or -errno). */
static int request_attach(void)
{
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return -errno;
    char p[128];
    trigger_path(p, sizeof p);
    int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    close(fd);
    return 0;
}

static int try_connect(void)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    sock_path(sa.sun_path, sizeof sa.sun_path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* Connect once the agent's socket answers, within @ms; -1 if it never does. */
static int wait_agent(int ms)
{
    uint64_t until = lrt_test_mono_ms() + (uint64_t)ms;
    for (;;) {
        int fd = try_connect();
        if (fd >= 0 || lrt_test_mono_ms() >= until)
            return fd;
        poll(NULL, 0, 10);
    }
}

static void save_snapshot(const char *tag, const char *text)
{
    static int seq;
    const char *d = getenv("LRT_TEST_SNAPSHOT_DIR");
    if (!d || !*d)
        return;
    char path[512];
    snprintf(path, sizeof path, "%s/attach-%s-%d.json", d, tag, seq++);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static json_t *ask(int fd, const char *req, const char *tag)
{
    char *line = lrt_test_ask(fd, req, AGENT_WAIT_MS);
    if (!line)
        return NULL;
    if (tag)
        save_snapshot(tag, line);
    json_t *j = json_loads(line, 0, NULL);
    free(line);
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

static bool bt_has(json_t *task, const char *sym)
{
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(task, "backtrace"), i, f)
    {
        const char *s = json_string_value(json_object_get(f, "symbol"));
        if (s && strstr(s, sym))
            return true;
    }
    return false;
}

static const char *str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static json_int_t num(json_t *o, const char *k) { return json_integer_value(json_object_get(o, k)); }

/* The entry of runtimes for the runtime thread @tid. */
static json_t *runtime_of(json_t *snap, pid_t tid)
{
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(snap, "runtimes"), i, r) if (num(r, "tid") == tid) return r;
    return NULL;
}

/* ---- one runtime on a thread of its own ---------------------------------------------- */

struct rt_thread {
    pthread_t th;
    const char *sleeper; /* name of the task that sleeps in it */
    int opt_in;          /* dump_agent = 1 */
    int busy;            /* the root busy-loops (a stuck runtime thread) until stop */
    atomic_int ready, stop;
    pid_t tid;
};

static NOINLINE int sleeper_wait(void) { return NOTAIL(lrt_sleep_ms(100000)); }
static void *sleeper(void *a)
{
    (void)a;
    sleeper_wait();
    return NULL;
}

static NOINLINE void busy_until(atomic_int *stop)
{
    while (!atomic_load(stop))
        lrt__cpu_relax();
}

static void *rt_root(void *arg)
{
    struct rt_thread *r = arg;
    lrt_task_t *t = lrt_spawn_named(r->sleeper, sleeper, NULL);
    lrt_yield(); /* the sleeper reaches its sleep */
    atomic_store(&r->ready, 1);
    if (r->busy)
        busy_until(&r->stop);
    while (!atomic_load(&r->stop))
        lrt_sleep_ms(5);
    lrt_abort(t);
    lrt_join(t, NULL);
    return NULL;
}

static void *rt_thread_main(void *arg)
{
    struct rt_thread *r = arg;
    r->tid = gettid();
    lrt_options_t o = {0};
    o.dump_agent = r->opt_in;
    lrt_runtime_t *rt = lrt_runtime_new(&o);
    CU_ASSERT_PTR_NOT_NULL(rt);
    if (!rt) {
        atomic_store(&r->ready, 1);
        return NULL;
    }
    CU_ASSERT_EQUAL(lrt_block_on(rt, rt_root, r, NULL), 0);
    lrt_runtime_free(rt);
    return NULL;
}

static void rt_start(struct rt_thread *r)
{
    CU_ASSERT_EQUAL_FATAL(pthread_create(&r->th, NULL, rt_thread_main, r), 0);
    uint64_t until = lrt_test_mono_ms() + 30000;
    while (!atomic_load(&r->ready) && lrt_test_mono_ms() < until)
        poll(NULL, 0, 2);
    CU_ASSERT_FATAL(atomic_load(&r->ready));
}

static void rt_stop(struct rt_thread *r)
{
    atomic_store(&r->stop, 1);
    pthread_join(r->th, NULL);
}

/* ---- item 1: attach with no opt-in ------------------------------------------------------ */

/* Ask for an agent and check its first answer; @stuck: the runtime thread is stuck. */
static void attach_and_check(struct rt_thread *r, bool stuck)
{
    char p[128];
    sock_path(p, sizeof p);
    CU_ASSERT_NOT_EQUAL(access(p, F_OK), 0); /* no agent before anyone asks */
    uint64_t t0 = lrt_test_mono_ms();
    CU_ASSERT_EQUAL_FATAL(request_attach(), 0);
    int fd = wait_agent(AGENT_WAIT_MS);
    uint64_t up = lrt_test_mono_ms() - t0;
    CU_ASSERT_FATAL(fd >= 0);
    struct stat st;
    CU_ASSERT_EQUAL(lstat(p, &st), 0);
    CU_ASSERT_EQUAL(st.st_mode & 0777, 0600);
    CU_ASSERT_EQUAL(lstat(dir, &st), 0);
    CU_ASSERT_EQUAL(st.st_mode & 0777, 0700);
    trigger_path(p, sizeof p);
    CU_ASSERT_NOT_EQUAL(access(p, F_OK), 0); /* the process took the request away */
    json_t *s = ask(fd, "{\"cmd\":\"snapshot\",\"backtraces\":true}\n", stuck ? "stuck" : "plain");
    uint64_t answered = lrt_test_mono_ms() - t0;
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    fprintf(stderr, "agent up %" PRIu64 " ms after the request, answer after %" PRIu64 " ms%s\n", up, answered,
            stuck ? " (runtime thread stuck)" : "");
    json_t *t = find_task(s, r->sleeper);
    CU_ASSERT(bt_has(t, "sleeper_wait"));
    CU_ASSERT_STRING_EQUAL(str(json_object_get(s, "runtime"), "state"), stuck ? "stuck" : "running");
    if (stuck)
        CU_ASSERT(bt_has(find_task(s, "main"), "busy_until"));
    json_decref(s);
    close(fd);
}

static void agent_starts_on_an_attach_request_with_no_opt_in(void)
{
    make_dir();
    struct rt_thread r = {.sleeper = "attach_sleeper"};
    rt_start(&r);
    attach_and_check(&r, false);
    rt_stop(&r);
    char p[128];
    sock_path(p, sizeof p);
    CU_ASSERT_NOT_EQUAL(access(p, F_OK), 0); /* removed at shutdown */
    remove_dir();
}

static void agent_starts_on_an_attach_request_while_the_runtime_thread_busy_loops(void)
{
    make_dir();
    struct rt_thread r = {.sleeper = "attach_sleeper", .busy = 1};
    rt_start(&r);
    attach_and_check(&r, true);
    rt_stop(&r);
    remove_dir();
}

/* Give the ticker five chances (it looks every 200 ms); the request must still be there
 * and no agent listening. */
static void request_stays_unanswered(void)
{
    poll(NULL, 0, 1000);
    char p[128];
    sock_path(p, sizeof p);
    CU_ASSERT_NOT_EQUAL(access(p, F_OK), 0);
    trigger_path(p, sizeof p);
    CU_ASSERT_EQUAL(access(p, F_OK), 0);
}

static void attach_request_is_ignored_with_lrt_dump_0(void)
{
    make_dir();
    setenv("LRT_DUMP", "0", 1);
    struct rt_thread r = {.sleeper = "attach_sleeper"};
    rt_start(&r);
    unsetenv("LRT_DUMP"); /* read at the runtime's start: later changes do not count */
    CU_ASSERT_EQUAL(request_attach(), 0);
    request_stays_unanswered();
    rt_stop(&r);
    remove_dir();
}

static void attach_request_of_another_uid_is_ignored(void)
{
    if (geteuid() != 0) {
        fprintf(stderr, "skipped: needs root to create a request file of another uid\n");
        return;
    }
    make_dir();
    struct rt_thread r = {.sleeper = "attach_sleeper"};
    rt_start(&r);
    CU_ASSERT_EQUAL(request_attach(), 0);
    char p[128];
    trigger_path(p, sizeof p);
    CU_ASSERT_EQUAL(chown(p, 65534, 65534), 0);
    request_stays_unanswered();
    rt_stop(&r);
    remove_dir();
}

/* A symlink (which could point anywhere) or a directory in place of the request file:
 * never followed, never taken for a request. */
static void attach_request_that_is_not_a_regular_file_is_ignored(void)
{
    make_dir();
    struct rt_thread r = {.sleeper = "attach_sleeper"};
    rt_start(&r);
    CU_ASSERT_EQUAL(mkdir(dir, 0700), 0);
    char p[128];
    trigger_path(p, sizeof p);
    CU_ASSERT_EQUAL(symlink("/dev/null", p), 0);
    request_stays_unanswered();
    unlink(p);
    CU_ASSERT_EQUAL(mkdir(p, 0700), 0);
    request_stays_unanswered();
    rmdir(p);
    rt_stop(&r);
    remove_dir();
}

static NOINLINE void *short_lived_root(void *arg)
{
    lrt_sleep_ms((uint64_t)(uintptr_t)arg);
    return NULL;
}

static atomic_int requester_stop;
static void *requester(void *arg)
{
    (void)arg;
    while (!atomic_load(&requester_stop)) {
        request_attach();
        poll(NULL, 0, 1);
    }
    return NULL;
}

/* Runtimes come and go while requests keep coming: agents start (on the ticker thread)
 * and stop (with the last runtime) in every order; none outlives its runtimes. */
static void attach_requests_racing_runtime_shutdowns_leave_no_agent_behind(void)
{
    make_dir();
    atomic_store(&requester_stop, 0);
    pthread_t th;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, requester, NULL), 0);
    char sock[128];
    sock_path(sock, sizeof sock);
    int served = 0;
    for (unsigned i = 0; i < 12; i++) {
        lrt_runtime_t *rt = lrt_runtime_new(NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(rt);
        CU_ASSERT_EQUAL(lrt_block_on(rt, short_lived_root, (void *)(uintptr_t)(i * 37 % 450), NULL), 0);
        served += access(sock, F_OK) == 0;
        lrt_runtime_free(rt);
        CU_ASSERT_NOT_EQUAL(access(sock, F_OK), 0); /* gone with the last runtime */
    }
    atomic_store(&requester_stop, 1);
    pthread_join(th, NULL);
    fprintf(stderr, "12 short-lived runtimes under a stream of requests: %d had an agent at their end\n", served);
    CU_ASSERT(served > 0);
    remove_dir();
}

static int child_pipe[2];

static NOINLINE void *child_root(void *arg)
{
    (void)arg;
    lrt_task_t *t = lrt_spawn_named("child_sleeper", sleeper, NULL);
    char c;
    lrt_read(child_pipe[0], &c, 1); /* until the test is done with us */
    lrt_abort(t);
    lrt_join(t, NULL);
    return NULL;
}

/* A forked child inherits neither its parent's agent nor its runtimes: its own first
 * runtime reads the settings again and answers a request for its own pid. */
static void forked_child_of_an_attached_process_can_be_attached_itself(void)
{
    make_dir();
    struct rt_thread r = {.sleeper = "parent_sleeper"};
    rt_start(&r);
    CU_ASSERT_EQUAL_FATAL(request_attach(), 0);
    int fd = wait_agent(AGENT_WAIT_MS);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_EQUAL_FATAL(pipe(child_pipe), 0);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(60);
        lrt_runtime_t *rt = lrt_runtime_new(NULL);
        int ok = rt && lrt_block_on(rt, child_root, NULL, NULL) == 0;
        if (rt)
            lrt_runtime_free(rt);
        _exit(ok ? 0 : 1);
    }
    CU_ASSERT_FATAL(pid > 0);
    close(child_pipe[0]);
    char p[128];
    snprintf(p, sizeof p, "%s/.lrt-attach-%d", dir, (int)pid);
    close(open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s/%d.sock", dir, (int)pid);
    int cfd = -1;
    for (uint64_t until = lrt_test_mono_ms() + AGENT_WAIT_MS; cfd < 0 && lrt_test_mono_ms() < until;) {
        cfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (connect(cfd, (struct sockaddr *)&sa, sizeof sa) != 0) {
            close(cfd);
            cfd = -1;
            poll(NULL, 0, 10);
        }
    }
    CU_ASSERT(cfd >= 0);
    if (cfd >= 0) {
        /* the agent may answer before the child's root task has spawned its sleeper (a
         * snapshot at the loop's first safe point): ask again, for a bounded time */
        json_t *s = ask(cfd, "{\"cmd\":\"snapshot\"}\n", NULL);
        for (int i = 0; i < 250 && s && !find_task(s, "child_sleeper"); i++) {
            json_decref(s);
            poll(NULL, 0, 20);
            s = ask(cfd, "{\"cmd\":\"snapshot\"}\n", NULL);
        }
        CU_ASSERT_EQUAL(num(json_object_get(s, "process"), "pid"), pid);
        CU_ASSERT_PTR_NOT_NULL(find_task(s, "child_sleeper"));
        CU_ASSERT_PTR_NULL(find_task(s, "parent_sleeper"));
        CU_ASSERT_EQUAL(json_array_size(json_object_get(s, "runtimes")), 1);
        json_decref(s);
        close(cfd);
    }
    CU_ASSERT_EQUAL(write(child_pipe[1], "x", 1), 1);
    close(child_pipe[1]);
    int status = 0;
    CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
    CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    unlink(p);
    /* the parent's agent still answers for the parent only */
    json_t *s = ask(fd, "{\"cmd\":\"snapshot\"}\n", NULL);
    CU_ASSERT_PTR_NOT_NULL(find_task(s, "parent_sleeper"));
    CU_ASSERT_PTR_NULL(find_task(s, "child_sleeper"));
    json_decref(s);
    close(fd);
    rt_stop(&r);
    remove_dir();
}

/* ---- item 5: every runtime in one answer ------------------------------------------------ */

/* Check that @s holds both runtimes with their own tasks. */
static void check_two(json_t *s, struct rt_thread *a, struct rt_thread *b)
{
    json_t *ra = runtime_of(s, a->tid), *rb = runtime_of(s, b->tid);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(s, "runtimes")), 2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ra);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rb);
    json_t *ta = find_task(s, a->sleeper), *tb = find_task(s, b->sleeper);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ta);
    CU_ASSERT_PTR_NOT_NULL_FATAL(tb);
    CU_ASSERT_EQUAL(num(ta, "runtime"), num(ra, "index"));
    CU_ASSERT_EQUAL(num(tb, "runtime"), num(rb, "index"));
    CU_ASSERT_NOT_EQUAL(num(ra, "index"), num(rb, "index"));
    CU_ASSERT(bt_has(ta, "sleeper_wait"));
    CU_ASSERT(bt_has(tb, "sleeper_wait"));
    /* each runtime numbers its own tasks: two "main" tasks with id 1, one per runtime */
    size_t i, mains = 0;
    json_t *t;
    json_array_foreach(json_object_get(s, "tasks"), i, t) mains += strcmp(str(t, "name"), "main") == 0 &&
                                                                   num(t, "id") == 1;
    CU_ASSERT_EQUAL(mains, 2);
    CU_ASSERT_EQUAL(num(json_object_get(ra, "runtime"), "alive_tasks"), 2);
    /* the top level repeats the first runtime's (what a one-runtime reader expects) */
    json_t *first = json_array_get(json_object_get(s, "runtimes"), 0);
    CU_ASSERT_EQUAL(num(json_object_get(s, "process"), "runtime_tid"), num(first, "tid"));
}

static void one_answer_shows_the_tasks_of_two_runtimes_on_two_threads(void)
{
    make_dir();
    struct rt_thread a = {.sleeper = "a_sleeper", .opt_in = 1}, b = {.sleeper = "b_sleeper"};
    rt_start(&a);
    rt_start(&b);
    int fd = wait_agent(AGENT_WAIT_MS);
    CU_ASSERT_FATAL(fd >= 0);
    json_t *p = ask(fd, "{\"cmd\":\"ping\"}\n", NULL);
    CU_ASSERT_EQUAL(num(p, "runtimes"), 2);
    CU_ASSERT_EQUAL(num(p, "tasks"), 4);
    json_decref(p);
    json_t *s = ask(fd, "{\"cmd\":\"snapshot\",\"backtraces\":true}\n", "two");
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    check_two(s, &a, &b);
    CU_ASSERT_STRING_EQUAL(str(json_object_get(runtime_of(s, a.tid), "runtime"), "state"), "running");
    json_decref(s);
    close(fd);
    /* the runtime that asked for the agent goes first: the agent stays for the other */
    rt_stop(&a);
    fd = try_connect();
    CU_ASSERT_FATAL(fd >= 0);
    s = ask(fd, "{\"cmd\":\"snapshot\"}\n", "one-left");
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(s, "runtimes")), 1);
    CU_ASSERT_PTR_NULL(find_task(s, "a_sleeper"));
    CU_ASSERT_PTR_NOT_NULL(find_task(s, "b_sleeper"));
    json_decref(s);
    close(fd);
    rt_stop(&b);
    char path[128];
    sock_path(path, sizeof path);
    CU_ASSERT_NOT_EQUAL(access(path, F_OK), 0); /* the last runtime took the agent along */
    remove_dir();
}

static void one_answer_shows_a_stuck_runtime_next_to_a_running_one(void)
{
    make_dir();
    struct rt_thread a = {.sleeper = "a_sleeper"}, b = {.sleeper = "b_sleeper", .busy = 1};
    rt_start(&a);
    rt_start(&b);
    CU_ASSERT_EQUAL_FATAL(request_attach(), 0);
    int fd = wait_agent(AGENT_WAIT_MS);
    CU_ASSERT_FATAL(fd >= 0);
    uint64_t t0 = lrt_test_mono_ms();
    json_t *s = ask(fd, "{\"cmd\":\"snapshot\",\"backtraces\":true}\n", "stuck-and-running");
    fprintf(stderr, "two runtimes, one stuck: answered in %" PRIu64 " ms\n", lrt_test_mono_ms() - t0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    check_two(s, &a, &b);
    CU_ASSERT_STRING_EQUAL(str(json_object_get(runtime_of(s, a.tid), "runtime"), "state"), "running");
    CU_ASSERT_STRING_EQUAL(str(json_object_get(runtime_of(s, b.tid), "runtime"), "state"), "stuck");
    json_decref(s);
    close(fd);
    rt_stop(&b);
    rt_stop(&a);
    remove_dir();
}

/* Runtimes with no task (created, never in lrt_block_on) before and after one with
 * tasks: the spliced answer is still one valid snapshot (empty task arrays are the edge
 * of the splice), the idle ones captured from outside. */
struct idle_owner {
    atomic_int step; /* 1: make X; 3: make Y; 5: free both */
    atomic_int done; /* last step done */
    pid_t tid;
};

static void *idle_owner_main(void *arg)
{
    struct idle_owner *o = arg;
    o->tid = gettid();
    lrt_runtime_t *x = NULL, *y = NULL;
    uint64_t until = lrt_test_mono_ms() + 60000;
    for (int want = 1; want <= 5 && lrt_test_mono_ms() < until; want += 2) {
        while (atomic_load(&o->step) < want && lrt_test_mono_ms() < until)
            poll(NULL, 0, 2); /* interrupted by the agent's freeze: harmless */
        if (want == 1)
            x = lrt_runtime_new(NULL);
        else if (want == 3)
            y = lrt_runtime_new(NULL);
        atomic_store(&o->done, want);
    }
    CU_ASSERT_PTR_NOT_NULL(x);
    CU_ASSERT_PTR_NOT_NULL(y);
    if (y)
        lrt_runtime_free(y);
    if (x)
        lrt_runtime_free(x);
    return NULL;
}

static void owner_do(struct idle_owner *o, int step)
{
    atomic_store(&o->step, step);
    uint64_t until = lrt_test_mono_ms() + 30000;
    while (atomic_load(&o->done) < step && lrt_test_mono_ms() < until)
        poll(NULL, 0, 2);
    CU_ASSERT_FATAL(atomic_load(&o->done) >= step);
}

static void one_answer_splices_runtimes_that_have_no_task(void)
{
    make_dir();
    struct idle_owner o = {0};
    pthread_t th;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, idle_owner_main, &o), 0);
    owner_do(&o, 1); /* X: first, no task */
    struct rt_thread b = {.sleeper = "b_sleeper", .opt_in = 1};
    rt_start(&b);
    owner_do(&o, 3); /* Y: last, no task */
    int fd = wait_agent(AGENT_WAIT_MS);
    CU_ASSERT_FATAL(fd >= 0);
    json_t *s = ask(fd, "{\"cmd\":\"snapshot\",\"backtraces\":true}\n", "idle-ends");
    CU_ASSERT_PTR_NOT_NULL_FATAL(s); /* parsed: the splice made valid JSON */
    json_t *rts = json_object_get(s, "runtimes");
    CU_ASSERT_EQUAL(json_array_size(rts), 3);
    size_t i;
    json_t *r, *t;
    int idle = 0;
    json_array_foreach(rts, i, r) idle += strcmp(str(json_object_get(r, "runtime"), "state"), "idle") == 0 &&
                                          num(r, "tid") == o.tid;
    CU_ASSERT_EQUAL(idle, 2);
    CU_ASSERT_EQUAL(num(json_array_get(rts, 0), "tid"), o.tid); /* X, the oldest, first */
    CU_ASSERT_EQUAL(json_array_size(json_object_get(s, "tasks")), 2); /* b's main and sleeper */
    json_array_foreach(json_object_get(s, "tasks"), i, t)
        CU_ASSERT_EQUAL(num(t, "runtime"), num(runtime_of(s, b.tid), "index"));
    json_decref(s);
    close(fd);
    rt_stop(&b);
    owner_do(&o, 5);
    pthread_join(th, NULL);
    remove_dir();
}

CU_TestInfo lrt_test_attach[] = {
    {"agent_starts_on_an_attach_request_with_no_opt_in", agent_starts_on_an_attach_request_with_no_opt_in},
    {"agent_starts_on_an_attach_request_while_the_runtime_thread_busy_loops",
     agent_starts_on_an_attach_request_while_the_runtime_thread_busy_loops},
    {"attach_request_is_ignored_with_lrt_dump_0", attach_request_is_ignored_with_lrt_dump_0},
    {"attach_request_of_another_uid_is_ignored", attach_request_of_another_uid_is_ignored},
    {"attach_request_that_is_not_a_regular_file_is_ignored", attach_request_that_is_not_a_regular_file_is_ignored},
    {"attach_requests_racing_runtime_shutdowns_leave_no_agent_behind",
     attach_requests_racing_runtime_shutdowns_leave_no_agent_behind},
    {"forked_child_of_an_attached_process_can_be_attached_itself",
     forked_child_of_an_attached_process_can_be_attached_itself},
    {"one_answer_shows_the_tasks_of_two_runtimes_on_two_threads",
     one_answer_shows_the_tasks_of_two_runtimes_on_two_threads},
    {"one_answer_shows_a_stuck_runtime_next_to_a_running_one", one_answer_shows_a_stuck_runtime_next_to_a_running_one},
    {"one_answer_splices_runtimes_that_have_no_task", one_answer_splices_runtimes_that_have_no_task},
    CU_TEST_INFO_NULL,
};
