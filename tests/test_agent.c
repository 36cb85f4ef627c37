/*
 * Agent suite: the dump agent under abuse (issue 8, items 3, 14, 15): a process out of
 * file descriptors, clients looping on snapshots, clients holding half a request.
 *
 * Each case runs a runtime whose root task idles (so safe points come) while a client
 * thread talks to the agent's socket; the counters come from lrt__agent_stats().
 */
#include <CUnit/CUnit.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "internal.h"
#include "diag_entry.h"
#include "test_util.h"

/* ---- helpers ---------------------------------------------------------------------- */

static void nap_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static char agent_dir[64];

static void make_agent_dir(void)
{
    char tmpl[] = "/tmp/lrt-agenttest-XXXXXX";
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

static struct sockaddr_un agent_addr(void)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s/%d.sock", agent_dir, (int)getpid());
    return sa;
}

/* Connect @fd (a fresh AF_UNIX stream socket); 0 or -errno. */
static int connect_fd(int fd)
{
    struct sockaddr_un sa = agent_addr();
    return connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 ? 0 : -errno;
}

static int agent_connect(void)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect_fd(fd) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}


/* 1 when @fd's peer has closed (EOF or reset) within @ms, 0 otherwise; what it sent
 * before closing is skipped. */
static int closed_within(int fd, int ms)
{
    uint64_t until = lrt_test_mono_ms() + (uint64_t)ms;
    char buf[512];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            return 1;
        if (n > 0)
            continue;
        uint64_t now = lrt_test_mono_ms();
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (now >= until || poll(&p, 1, (int)(until - now)) < 0)
            return 0;
    }
}

/* A client thread runs @client while the runtime's root task idles. */
struct agent_case {
    void (*client)(struct agent_case *);
    void *arg;
    atomic_int done;
    int failed; /* for forked children: how many checks failed */
};

static void *client_thread(void *arg)
{
    struct agent_case *c = arg;
    c->client(c);
    atomic_store(&c->done, 1);
    return NULL;
}

static NOINLINE void *agent_idle_root(void *arg)
{
    struct agent_case *c = arg;
    while (!atomic_load(&c->done))
        lrt_sleep_ms(5);
    return NULL;
}

static struct lrt__agent_stats stats_now(struct agent_case *c)
{
    struct lrt__agent_stats st;
    lrt__agent_stats((struct lrt_runtime *)c->arg, &st);
    return st;
}

static void run_with_stats(void (*client)(struct agent_case *))
{
    make_agent_dir();
    struct agent_case c = {.client = client};
    lrt_options_t o = {0};
    o.dump_agent = 1;
    o.dump_socket_dir = agent_dir;
    lrt_runtime_t *rt = lrt_runtime_new(&o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rt);
    c.arg = rt;
    pthread_t th;
    pthread_create(&th, NULL, client_thread, &c);
    void *res;
    CU_ASSERT_EQUAL(lrt_block_on(rt, agent_idle_root, &c, &res), 0);
    pthread_join(th, NULL);
    lrt_runtime_free(rt);
    remove_agent_dir();
}

/* ---- item 3: out of file descriptors ---------------------------------------------- */

/* Checks in a forked child: count failures and say which on stderr. */
#define CHILD_CHECK(c, cond)                                                    \
    do {                                                                        \
        if (!(cond)) {                                                          \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            (c)->failed++;                                                      \
        }                                                                       \
    } while (0)

/* The agent thread's CPU time in clock ticks, from an already open stat file (the
 * process may be out of fds when we ask). */
static long thread_ticks(int statfd)
{
    char buf[1024];
    ssize_t n = pread(statfd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    p += 2; /* field 3 */
    for (int field = 3; field < 14 && p; field++) {
        p = strchr(p, ' ');
        if (p)
            p++;
    }
    if (!p)
        return -1;
    unsigned long utime, stime;
    if (sscanf(p, "%lu %lu", &utime, &stime) != 2)
        return -1;
    return (long)(utime + stime);
}

/* /proc/self/task/TID/stat of the thread called @name, opened; -1 if none. */
static int open_thread_stat(const char *name)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return -1;
    struct dirent *e;
    int fd = -1;
    while (fd < 0 && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[300], comm[64] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        if (fgets(comm, sizeof comm, f))
            comm[strcspn(comm, "\n")] = 0;
        fclose(f);
        if (strcmp(comm, name) == 0) {
            snprintf(path, sizeof path, "/proc/self/task/%s/stat", e->d_name);
            fd = open(path, O_RDONLY | O_CLOEXEC);
        }
    }
    closedir(d);
    return fd;
}

static void fd_exhaustion_client(struct agent_case *c)
{
    long hz = sysconf(_SC_CLK_TCK);
    int statfd = open_thread_stat("lrt-dump-agent");
    CHILD_CHECK(c, statfd >= 0);
    if (statfd < 0)
        return;
    /* sockets made while fds remain: connect() needs none */
    int early = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHILD_CHECK(c, early >= 0);
    /* fill the fd table; again a little later, in case another thread had one open
     * for a moment */
    static int dups[4096];
    int ndups = 0;
    for (int round = 0; round < 2; round++) {
        while (ndups < 4096) {
            int fd = dup(0);
            if (fd < 0)
                break;
            dups[ndups++] = fd;
        }
        CHILD_CHECK(c, ndups < 4096 && errno == EMFILE);
        nap_ms(50);
    }
    CHILD_CHECK(c, connect_fd(early) == 0);
    nap_ms(100); /* the agent notices the connection */
    long t0 = thread_ticks(statfd);
    nap_ms(500);
    long t1 = thread_ticks(statfd);
    long used_ms = (t1 - t0) * 1000 / hz;
    fprintf(stderr, "agent thread CPU while out of fds: %ld ms in 500 ms\n", used_ms);
    CHILD_CHECK(c, t0 >= 0 && t1 >= 0);
    CHILD_CHECK(c, used_ms <= 50); /* a spinning agent burns the whole window */
    /* the pending connection was taken and told why, not left in the backlog */
    char *line = lrt_test_read_line(early, 2000);
    CHILD_CHECK(c, line && strstr(line, "file descriptors") != NULL);
    free(line);
    close(early);
    struct lrt__agent_stats st = stats_now(c);
    CHILD_CHECK(c, st.fd_drops >= 1);
    /* fds free again: answered at once */
    for (int i = 0; i < ndups; i++)
        close(dups[i]);
    uint64_t start = lrt_test_mono_ms();
    int fd = agent_connect();
    CHILD_CHECK(c, fd >= 0);
    line = fd >= 0 ? lrt_test_ask(fd, "{\"cmd\":\"snapshot\",\"backtraces\":true}\n", 5000) : NULL;
    CHILD_CHECK(c, line && strstr(line, "\"tasks\"") != NULL);
    fprintf(stderr, "snapshot after fds were freed: %llu ms\n", (unsigned long long)(lrt_test_mono_ms() - start));
    free(line);
    if (fd >= 0)
        close(fd);
    close(statfd);
}

static int fd_exhaustion_child(void *arg)
{
    (void)arg;
    /* a small table fills fast */
    struct rlimit rl = {256, 256};
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 99;
    struct agent_case c = {.client = fd_exhaustion_client};
    lrt_options_t o = {0};
    o.dump_agent = 1;
    o.dump_socket_dir = agent_dir;
    lrt_runtime_t *rt = lrt_runtime_new(&o);
    if (!rt)
        return 98;
    c.arg = rt;
    pthread_t th;
    pthread_create(&th, NULL, client_thread, &c);
    void *res;
    int rc = lrt_block_on(rt, agent_idle_root, &c, &res);
    pthread_join(th, NULL);
    lrt_runtime_free(rt);
    return rc ? 97 : c.failed;
}

static void agent_backs_off_when_out_of_fds_and_answers_once_fds_are_free(void)
{
    make_agent_dir();
    char out[4096];
    int status = lrt_test_fork_capture(fd_exhaustion_child, NULL, out, sizeof out);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fprintf(stderr, "child status %d:\n%s", status, out);
    else
        fprintf(stderr, "    %s", out);
    CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    remove_agent_dir();
}

/* ---- item 14: snapshots are rationed ---------------------------------------------- */

#define LOOPERS 6
#define LOOP_MS 1000

struct looper {
    int bt;
    unsigned replies, with_bt;
    int bad;
};

static void *loop_snapshots(void *arg)
{
    struct looper *l = arg;
    int fd = agent_connect();
    if (fd < 0) {
        l->bad++;
        return NULL;
    }
    const char *req = l->bt ? "{\"cmd\":\"snapshot\",\"backtraces\":true}\n" : "{\"cmd\":\"snapshot\"}\n";
    uint64_t until = lrt_test_mono_ms() + LOOP_MS;
    while (lrt_test_mono_ms() < until) {
        char *line = lrt_test_ask(fd, req, 5000);
        if (!line || !strstr(line, "\"tasks\"")) {
            l->bad++;
            free(line);
            break;
        }
        l->replies++;
        /* A snapshot that could not capture the running task (the runtime thread was
         * busy and did not stop in time: "consistent": false) has no backtrace for it;
         * every other one asked for backtraces must carry them. */
        json_t *j = json_loads(line, 0, NULL);
        int ok = strstr(line, "\"backtrace\"") != NULL || (j && json_is_false(json_object_get(j, "consistent")));
        if (l->bt && !ok)
            fprintf(stderr, "\n  reply without backtraces: %.400s\n", line);
        l->with_bt += ok;
        json_decref(j);
        free(line);
    }
    close(fd);
    return NULL;
}

static void looping_clients(struct agent_case *c)
{
    struct looper l[LOOPERS] = {{0}};
    pthread_t th[LOOPERS];
    uint64_t t0 = lrt_test_mono_ms();
    for (int i = 0; i < LOOPERS; i++) {
        l[i].bt = i % 2;
        pthread_create(&th[i], NULL, loop_snapshots, &l[i]);
    }
    for (int i = 0; i < LOOPERS; i++)
        pthread_join(th[i], NULL);
    uint64_t took = lrt_test_mono_ms() - t0;
    struct lrt__agent_stats st = stats_now(c);
    unsigned replies = 0;
    for (int i = 0; i < LOOPERS; i++) {
        CU_ASSERT_EQUAL(l[i].bad, 0);
        CU_ASSERT(l[i].replies >= 1);
        /* per client: one snapshot per 100 ms (+1: the first is free, +1: the last
         * request may be answered after LOOP_MS) */
        CU_ASSERT(l[i].replies <= took / 100 + 2);
        if (l[i].bt)
            CU_ASSERT_EQUAL(l[i].with_bt, l[i].replies); /* a shared capture had them */
        replies += l[i].replies;
    }
    fprintf(stderr, "%u snapshot replies to %d looping clients in %llu ms from %llu captures\n", replies,
            LOOPERS, (unsigned long long)took, (unsigned long long)st.captures);
    CU_ASSERT_EQUAL(st.replies, replies);
    /* overall: one capture per 50 ms at most, and clients share them */
    CU_ASSERT(st.captures <= took / 50 + 2);
    CU_ASSERT(st.captures < replies);
}

static void snapshot_requests_in_a_loop_share_few_captures(void)
{
    run_with_stats(looping_clients);
}

/* Identical tasks waiting at the same point are unwound once per snapshot: what makes a
 * capture with backtraces cheap (0.1-0.6 ms per *distinct* backtrace).  Each stack's top
 * is offset by a cache colour (stack.c), so the memo must not key on the distance from
 * the top.  LRT_DUMP_DEBUG=1 makes the snapshot print its memo hits on stderr. */
#define TWINS 40

static NOINLINE int twin_wait(void) { return lrt_sleep_ms(100000); }
static void *twin(void *a) { (void)a; twin_wait(); return NULL; }

static void *twins_root(void *arg)
{
    int snapshots = (int)(intptr_t)arg;
    lrt_task_t *t[TWINS];
    for (int i = 0; i < TWINS; i++)
        t[i] = lrt_spawn(twin, NULL);
    lrt_sleep_ms(1); /* every twin runs to its sleep */
    for (int i = 0; i < snapshots; i++)
        free(lrt_dump_json(NULL, LRT_DUMP_BACKTRACES));
    for (int i = 0; i < TWINS; i++) {
        lrt_abort(t[i]);
        lrt_join(t[i], NULL);
    }
    return NULL;
}

static int twins_child(void *arg)
{
    setenv("LRT_DUMP_DEBUG", "1", 1);
    lrt_runtime_t *rt = lrt_runtime_new(NULL);
    if (!rt)
        return 99;
    int rc = lrt_block_on(rt, twins_root, arg, NULL);
    lrt_runtime_free(rt);
    return rc ? 98 : 0;
}

static void snapshot_unwinds_identical_waiting_tasks_once(void)
{
    char out[4096];
    int status = lrt_test_fork_capture(twins_child, (void *)(intptr_t)1, out, sizeof out);
    CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    unsigned hits = 0, misses = 0;
    const char *m = strstr(out, "memo ");
    CU_ASSERT_FATAL(m && sscanf(m, "memo %u hits %u misses", &hits, &misses) == 2);
    fprintf(stderr, "%u identical tasks + root: memo %u hits, %u misses\n", TWINS, hits, misses);
    /* a twin or two are unwound (38 of 40 hit here), the others only checked; before the
     * colour was taken out of the key, only twins of the same colour hit (6 of 40) */
    CU_ASSERT(hits >= TWINS * 3 / 4);
}

/* The next snapshot finds its symbols resolved: libunwind's unw_get_proc_name reads
 * /proc/self/maps and maps the ELF file for each ip (most of a small capture's time). */
static void next_snapshot_resolves_no_symbol_again(void)
{
    char out[4096];
    int status = lrt_test_fork_capture(twins_child, (void *)(intptr_t)3, out, sizeof out);
    CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    unsigned resolved[3] = {0, 0, 0};
    const char *p = out;
    for (int i = 0; i < 3; i++) {
        p = strstr(p, "misses, ");
        CU_ASSERT_FATAL(p && sscanf(p, "misses, %u symbols resolved", &resolved[i]) == 1);
        p++;
    }
    fprintf(stderr, "symbols resolved by 3 snapshots in a row: %u, %u, %u\n", resolved[0], resolved[1],
            resolved[2]);
    CU_ASSERT(resolved[0] > 0);
    CU_ASSERT_EQUAL(resolved[1], 0);
    CU_ASSERT_EQUAL(resolved[2], 0);
}

/* ---- item 15: hostile clients cannot lock lrt-dump out ----------------------------- */

#define HOSTILE 200

static void half_request_flood(struct agent_case *c)
{
    static int fds[HOSTILE];
    int n = 0;
    for (int i = 0; i < HOSTILE; i++) {
        int fd = agent_connect();
        CU_ASSERT(fd >= 0);
        if (fd < 0)
            break;
        CU_ASSERT(write(fd, "{\"cmd\":\"snap", 12) == 12);
        fds[n++] = fd;
    }
    uint64_t t0 = lrt_test_mono_ms();
    int fd = agent_connect();
    CU_ASSERT_FATAL(fd >= 0);
    char *line = lrt_test_ask(fd, "{\"cmd\":\"snapshot\",\"backtraces\":true}\n", 2000);
    uint64_t took = lrt_test_mono_ms() - t0;
    fprintf(stderr, "snapshot with %d half-request clients: %llu ms\n", n, (unsigned long long)took);
    CU_ASSERT(line && strstr(line, "\"tasks\"") != NULL);
    CU_ASSERT(took < 2000);
    free(line);
    close(fd);
    struct lrt__agent_stats st = stats_now(c);
    CU_ASSERT(st.evictions >= (uint64_t)(n - 16));
    /* the ones still held are dropped for sitting on half a line (1 s), long before the
     * 5 s idle timeout */
    int dropped = 0;
    for (int i = 0; i < n; i++)
        dropped += closed_within(fds[i], 3000);
    CU_ASSERT_EQUAL(dropped, n);
    for (int i = 0; i < n; i++)
        close(fds[i]);
}

/* Clients that ping every so often keep no complete request: a new client gets in. */
static void pinging_squatters(struct agent_case *c)
{
    (void)c;
    int fds[16];
    for (int i = 0; i < 16; i++) {
        fds[i] = agent_connect();
        CU_ASSERT_FATAL(fds[i] >= 0);
        char *l = lrt_test_ask(fds[i], "{\"cmd\":\"ping\"}\n", 2000);
        CU_ASSERT(l && strstr(l, "\"ok\":true"));
        free(l);
    }
    int fd = agent_connect();
    CU_ASSERT_FATAL(fd >= 0);
    char *line = lrt_test_ask(fd, "{\"cmd\":\"snapshot\"}\n", 2000);
    CU_ASSERT(line && strstr(line, "\"tasks\"") != NULL);
    free(line);
    close(fd);
    /* the squatter that was idle longest was told why it was closed */
    line = lrt_test_read_line(fds[0], 2000);
    CU_ASSERT(line && strstr(line, "too many clients") != NULL);
    free(line);
    for (int i = 0; i < 16; i++)
        close(fds[i]);
}

static void agent_answers_within_2s_while_200_clients_hold_half_a_request(void)
{
    run_with_stats(half_request_flood);
}

static void agent_evicts_an_idle_client_when_the_table_is_full(void)
{
    run_with_stats(pinging_squatters);
}

/* ---- issue 9: the client timeout belongs to its agent -------------------------------- */

/* The timeout for silent clients (LRT_DUMP_CLIENT_TIMEOUT_MS, read when an agent starts)
 * was one process-wide variable that every agent start rewrote: a second runtime started
 * with a 60 s timeout gave the first agent's clients 60 s too. */
static void agent_keeps_its_client_timeout_when_another_agent_starts(void)
{
    make_agent_dir();
    lrt_options_t o = {0};
    o.dump_agent = 1;
    o.dump_socket_dir = agent_dir;
    setenv("LRT_DUMP_CLIENT_TIMEOUT_MS", "200", 1);
    lrt_runtime_t *a = lrt_runtime_new(&o); /* serves <pid>.sock */
    setenv("LRT_DUMP_CLIENT_TIMEOUT_MS", "60000", 1);
    lrt_runtime_t *b = lrt_runtime_new(&o); /* serves <pid>.1.sock */
    unsetenv("LRT_DUMP_CLIENT_TIMEOUT_MS");
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    /* a silent client of the first agent: dropped after 200 ms, far within 10 s (the
     * agent thread serves it without the runtime thread) */
    int fd = agent_connect();
    CU_ASSERT(fd >= 0);
    if (fd >= 0) {
        uint64_t t0 = lrt_test_mono_ms();
        CU_ASSERT_EQUAL(closed_within(fd, 10000), 1);
        fprintf(stderr, "silent client of the 200 ms agent dropped after %" PRIu64 " ms\n", lrt_test_mono_ms() - t0);
        close(fd);
    }
    lrt_runtime_free(b);
    lrt_runtime_free(a);
    remove_agent_dir();
}

CU_TestInfo lrt_test_agent[] = {
    {"agent_backs_off_when_out_of_fds_and_answers_once_fds_are_free",
     agent_backs_off_when_out_of_fds_and_answers_once_fds_are_free},
    {"snapshot_requests_in_a_loop_share_few_captures", snapshot_requests_in_a_loop_share_few_captures},
    {"snapshot_unwinds_identical_waiting_tasks_once", snapshot_unwinds_identical_waiting_tasks_once},
    {"next_snapshot_resolves_no_symbol_again", next_snapshot_resolves_no_symbol_again},
    {"agent_answers_within_2s_while_200_clients_hold_half_a_request",
     agent_answers_within_2s_while_200_clients_hold_half_a_request},
    {"agent_evicts_an_idle_client_when_the_table_is_full", agent_evicts_an_idle_client_when_the_table_is_full},
    {"agent_keeps_its_client_timeout_when_another_agent_starts",
     agent_keeps_its_client_timeout_when_another_agent_starts},
    CU_TEST_INFO_NULL,
};
