/*
 * lrt-bench - lrt as a peer of the anchor benchmarks (../shared/anchors, see its README:
 * "Adding lrt as a peer").  Every workload does the same work as tokio_bench's, through
 * lrt's public API only, with the runtime's default options (like a user would) except
 * max_blocking_threads = 4, which tokio_bench also sets for every workload.
 *
 *   lrt-bench spawn_many [N] | yield_many [TASKS] [YIELDS_PER_TASK] | ping_pong [N] | select2 [N]
 *           | chained_spawn [N] | timers [N] | blocking_pool [N] | blocking_pool_seq [N]
 *           | idle_mem [N] | idle_mem_shared [N] | echo_server [PORT]
 *   extra (not in run.sh):  scale_tasks [N]   N live tasks: spawn-to-parked ns and RSS per task
 *                           dump_10k [N]      lrt_dump_json() pause with N parked tasks
 *                           file_read [READS] [TASKS]
 *                                             TASKS tasks pread 4 KiB blocks of a cached
 *                                             file (pool on epoll, the ring on io_uring)
 *                           dump_loop SOCKET SECONDS [bt]
 *                                             a dump agent client asking for snapshots in
 *                                             a tight loop (no runtime; bench/agent_load.sh)
 *
 * One result line on stdout, `lrt WORKLOAD key=value ...`, exactly tokio_bench's metrics.
 * Timing uses CLOCK_MONOTONIC read directly (never the runtime's cached clock).
 * Tasks are detached right after spawn, as tokio_bench drops its JoinHandles.
 */
#include <lrt/lrt.h>

#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Results go here so the compiler cannot drop the work. */
static volatile uint64_t sink_v;
static void sink(uint64_t v) { sink_v = v; }

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double ns_per(uint64_t t0, size_t n) { return (double)(now_ns() - t0) / (double)n; }

static void die(const char *what, int err)
{
    fprintf(stderr, "lrt-bench: %s: %s\n", what, lrt_strerror(err));
    exit(1);
}

/* ---- completion bookkeeping (as tokio_bench's arm()/task_done()) ------------------- */

static size_t remaining;
static size_t started;
static lrt_oneshot_t *done_os;

static lrt_oneshot_t *arm(size_t n)
{
    remaining = n;
    done_os = lrt_oneshot_new();
    if (!done_os)
        die("lrt_oneshot_new", -errno);
    return done_os;
}

static inline void task_done(void)
{
    if (--remaining == 0)
        lrt_oneshot_send(done_os, NULL);
}

static void wait_done(lrt_oneshot_t *o)
{
    int r = lrt_oneshot_recv(o, NULL);
    if (r)
        die("wait for completion", r);
    lrt_oneshot_free(o);
}

/* A macro so that each task gets its function's name and spawn location. */
#define spawn_detached(fn, arg)                                                              \
    do {                                                                                     \
        lrt_task_t *t_ = lrt_spawn(fn, arg);                                                 \
        if (__builtin_expect(!t_, 0))                                                        \
            die("lrt_spawn", -errno);                                                        \
        lrt_task_detach(t_);                                                                 \
    } while (0)

/* ---- helpers ------------------------------------------------------------------------ */

static uint64_t splitmix_state;
static uint64_t splitmix64(void)
{
    uint64_t z = (splitmix_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = 0;
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = strtol(line + 6, NULL, 10);
            break;
        }
    fclose(f);
    return kb;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static double pct(const int64_t *v, size_t n, double p)
{
    if (n == 0)
        return 0.0;
    size_t idx = (size_t)(p * (double)(n - 1) + 0.5);
    if (idx > n - 1)
        idx = n - 1;
    return (double)v[idx] / 1000.0;
}

/* ---- spawn_many --------------------------------------------------------------------- */

static void *spawn_many_task(void *arg)
{
    (void)arg;
    task_done();
    return NULL;
}

static void *spawn_many(void *arg)
{
    size_t n = (size_t)arg;
    lrt_oneshot_t *rx = arm(n);
    uint64_t t = now_ns();
    for (size_t i = 0; i < n; i++)
        spawn_detached(spawn_many_task, NULL);
    wait_done(rx);
    printf("lrt spawn_many ns_per_task=%.1f n=%zu\n", ns_per(t, n), n);
    return NULL;
}

/* ---- yield_many --------------------------------------------------------------------- */

static size_t yields_per_task;

static void *yield_task(void *arg)
{
    (void)arg;
    for (size_t i = 0; i < yields_per_task; i++) {
        int r = lrt_yield();
        if (__builtin_expect(r != 0, 0))
            die("lrt_yield", r);
    }
    task_done();
    return NULL;
}

static size_t yield_tasks;

static void *yield_many(void *arg)
{
    (void)arg;
    lrt_oneshot_t *rx = arm(yield_tasks);
    uint64_t t = now_ns();
    for (size_t i = 0; i < yield_tasks; i++)
        spawn_detached(yield_task, NULL);
    wait_done(rx);
    printf("lrt yield_many_t%zu ns_per_yield=%.1f tasks=%zu yields_per_task=%zu\n", yield_tasks,
           ns_per(t, yield_tasks * yields_per_task), yield_tasks, yields_per_task);
    return NULL;
}

/* ---- ping_pong ---------------------------------------------------------------------- */

static lrt_chan_t *ch_ping, *ch_pong;
static size_t pp_n;

static void *pong_task(void *arg)
{
    (void)arg;
    void *v;
    while (lrt_chan_recv(ch_ping, &v) == 0)
        if (lrt_chan_send(ch_pong, (void *)((uintptr_t)v + 1)) != 0)
            break;
    task_done();
    return NULL;
}

static void *ping_task(void *arg)
{
    (void)arg;
    uint64_t acc = 0;
    for (size_t i = 0; i < pp_n; i++) {
        void *v;
        int r = lrt_chan_send(ch_ping, (void *)(uintptr_t)i);
        if (r)
            die("lrt_chan_send", r);
        r = lrt_chan_recv(ch_pong, &v);
        if (r)
            die("lrt_chan_recv", r);
        acc += (uintptr_t)v;
    }
    sink(acc);
    lrt_chan_close(ch_ping); /* = dropping tx_ping: pong's recv ends */
    task_done();
    return NULL;
}

static void *ping_pong(void *arg)
{
    pp_n = (size_t)arg;
    ch_ping = lrt_chan_new(1);
    ch_pong = lrt_chan_new(1);
    if (!ch_ping || !ch_pong)
        die("lrt_chan_new", -errno);
    lrt_oneshot_t *rx = arm(2);
    uint64_t t = now_ns();
    spawn_detached(pong_task, NULL);
    spawn_detached(ping_task, NULL);
    wait_done(rx);
    printf("lrt ping_pong ns_per_roundtrip=%.1f n=%zu\n", ns_per(t, pp_n), pp_n);
    lrt_chan_close(ch_pong);
    return NULL;
}

/* ---- select2: ping_pong whose ping receives through lrt_select of 2 recv cases ------- */

static lrt_chan_t *ch_idle; /* never ready: the losing case */

static void *ping_select_task(void *arg)
{
    (void)arg;
    uint64_t acc = 0;
    for (size_t i = 0; i < pp_n; i++) {
        void *v = NULL, *idle = NULL;
        int r = lrt_chan_send(ch_ping, (void *)(uintptr_t)i);
        if (r)
            die("lrt_chan_send", r);
        lrt_sel_t cs[2] = {lrt_sel_recv(ch_pong, &v), lrt_sel_recv(ch_idle, &idle)};
        r = lrt_select(cs, 2, -1);
        if (r != 0 || cs[0].res)
            die("lrt_select", r < 0 ? r : -EIO);
        acc += (uintptr_t)v;
    }
    sink(acc);
    lrt_chan_close(ch_ping);
    task_done();
    return NULL;
}

static void *select2(void *arg)
{
    pp_n = (size_t)arg;
    ch_ping = lrt_chan_new(1);
    ch_pong = lrt_chan_new(1);
    ch_idle = lrt_chan_new(1);
    if (!ch_ping || !ch_pong || !ch_idle)
        die("lrt_chan_new", -errno);
    lrt_oneshot_t *rx = arm(2);
    uint64_t t = now_ns();
    spawn_detached(pong_task, NULL);
    spawn_detached(ping_select_task, NULL);
    wait_done(rx);
    printf("lrt select2 ns_per_roundtrip=%.1f n=%zu\n", ns_per(t, pp_n), pp_n);
    lrt_chan_close(ch_pong);
    return NULL;
}

/* ---- chained_spawn ------------------------------------------------------------------ */

static void *chain_task(void *arg);

static void chain(size_t left)
{
    if (left == 0)
        task_done();
    else
        spawn_detached(chain_task, (void *)(left - 1));
}

static void *chain_task(void *arg)
{
    chain((size_t)arg);
    return NULL;
}

static void *chained_spawn(void *arg)
{
    size_t n = (size_t)arg;
    lrt_oneshot_t *rx = arm(1);
    uint64_t t = now_ns();
    chain(n);
    wait_done(rx);
    printf("lrt chained_spawn ns_per_spawn=%.1f depth=%zu\n", ns_per(t, n), n);
    return NULL;
}

/* ---- timers ------------------------------------------------------------------------- */

static int64_t *samples;
static size_t n_samples;

static void *timer_task(void *arg)
{
    uint64_t ms = (uint64_t)(uintptr_t)arg;
    uint64_t start = now_ns();
    int r = lrt_sleep_ms(ms);
    if (__builtin_expect(r != 0, 0))
        die("lrt_sleep_ms", r);
    samples[n_samples++] = (int64_t)(now_ns() - start) - (int64_t)(ms * 1000000ull);
    task_done();
    return NULL;
}

static void *timers(void *arg)
{
    size_t n = (size_t)arg;
    samples = malloc(n * sizeof *samples);
    if (!samples)
        die("malloc", -ENOMEM);
    n_samples = 0;
    lrt_oneshot_t *rx = arm(n);
    splitmix_state = 42;
    uint64_t t = now_ns();
    for (size_t i = 0; i < n; i++) {
        uint64_t ms = 1 + splitmix64() % 100;
        spawn_detached(timer_task, (void *)(uintptr_t)ms);
    }
    wait_done(rx);
    double total_ms = (double)(now_ns() - t) / 1e6;
    qsort(samples, n_samples, sizeof *samples, cmp_i64);
    printf("lrt timers total_ms=%.1f overshoot_p50_us=%.1f overshoot_p99_us=%.1f "
           "overshoot_max_us=%.1f n=%zu\n",
           total_ms, pct(samples, n_samples, 0.50), pct(samples, n_samples, 0.99),
           pct(samples, n_samples, 1.0), n);
    free(samples);
    return NULL;
}

/* ---- blocking pool ------------------------------------------------------------------ */

__attribute__((noinline)) static uint64_t tiny_job(uint64_t i)
{
    return (i * 0x9E3779B97F4A7C15ull) ^ (i >> 7);
}

static void *tiny_job_fn(void *arg)
{
    return (void *)(uintptr_t)tiny_job((uint64_t)(uintptr_t)arg);
}

static void *blocking_pool(void *arg)
{
    size_t n = (size_t)arg;
    lrt_task_t **h = malloc(n * sizeof *h);
    if (!h)
        die("malloc", -ENOMEM);
    uint64_t t = now_ns();
    for (size_t i = 0; i < n; i++) {
        h[i] = lrt_spawn_blocking(tiny_job_fn, (void *)(uintptr_t)i);
        if (!h[i])
            die("lrt_spawn_blocking", -errno);
    }
    uint64_t acc = 0;
    for (size_t i = 0; i < n; i++) {
        void *res;
        int r = lrt_join(h[i], &res);
        if (r)
            die("lrt_join", r);
        acc += (uintptr_t)res;
    }
    sink(acc);
    printf("lrt blocking_pool ns_per_job=%.1f n=%zu threads=4\n", ns_per(t, n), n);
    free(h);
    return NULL;
}

static void *blocking_pool_seq(void *arg)
{
    size_t n = (size_t)arg;
    uint64_t t = now_ns();
    uint64_t acc = 0;
    for (size_t i = 0; i < n; i++) {
        lrt_task_t *h = lrt_spawn_blocking(tiny_job_fn, (void *)(uintptr_t)i);
        if (!h)
            die("lrt_spawn_blocking", -errno);
        void *res;
        int r = lrt_join(h, &res);
        if (r)
            die("lrt_join", r);
        acc += (uintptr_t)res;
    }
    sink(acc);
    printf("lrt blocking_pool_seq ns_per_roundtrip=%.1f n=%zu threads=4\n", ns_per(t, n), n);
    return NULL;
}

/* ---- idle_mem / idle_mem_shared ----------------------------------------------------- */

static void *idle_oneshot_task(void *arg)
{
    lrt_oneshot_t *o = arg;
    started++;
    int r = lrt_oneshot_recv(o, NULL); /* never sent: -EPIPE once the sender closes it */
    if (r != -EPIPE)
        die("lrt_oneshot_recv (expected -EPIPE)", r);
    lrt_oneshot_free(o);               /* the receiver's side of the drop */
    task_done();
    return NULL;
}

static void *idle_mem(void *arg)
{
    size_t n = (size_t)arg;
    /* like tokio's Vec::with_capacity(n) before the first RSS reading: its pages are
     * touched (and counted) as the senders are stored */
    lrt_oneshot_t **senders = malloc(n * sizeof *senders);
    if (!senders)
        die("malloc", -ENOMEM);
    started = 0;
    long before = rss_kb();
    lrt_oneshot_t *rx = arm(n);
    for (size_t i = 0; i < n; i++) {
        lrt_oneshot_t *o = lrt_oneshot_new();
        if (!o)
            die("lrt_oneshot_new", -errno);
        senders[i] = o;
        spawn_detached(idle_oneshot_task, o);
    }
    while (started < n) /* let every task run up to its wait */
        lrt_yield();
    long after = rss_kb();
    long delta = after > before ? after - before : 0;
    uint64_t t = now_ns();
    for (size_t i = 0; i < n; i++) /* cancel: the senders go away, every waiter wakes */
        lrt_oneshot_close(senders[i]);
    wait_done(rx);
    double cancel = ns_per(t, n);
    printf("lrt idle_mem bytes_per_task=%.1f rss_delta_kb=%ld cancel_ns_per_task=%.1f n=%zu\n",
           (double)delta * 1024.0 / (double)n, delta, cancel, n);
    free(senders);
    return NULL;
}

static lrt_notify_t *shared_notify;

static void *idle_notify_task(void *arg)
{
    (void)arg;
    started++;
    int r = lrt_notify_wait(shared_notify);
    if (r)
        die("lrt_notify_wait", r);
    task_done();
    return NULL;
}

static void *idle_mem_shared(void *arg)
{
    size_t n = (size_t)arg;
    shared_notify = lrt_notify_new();
    if (!shared_notify)
        die("lrt_notify_new", -errno);
    started = 0;
    long before = rss_kb();
    lrt_oneshot_t *rx = arm(n);
    for (size_t i = 0; i < n; i++)
        spawn_detached(idle_notify_task, NULL);
    while (started < n)
        lrt_yield();
    long after = rss_kb();
    long delta = after > before ? after - before : 0;
    uint64_t t = now_ns();
    lrt_notify_all(shared_notify); /* cancel: wake every waiter at once */
    wait_done(rx);
    double cancel = ns_per(t, n);
    printf("lrt idle_mem_shared bytes_per_task=%.1f rss_delta_kb=%ld cancel_ns_per_task=%.1f n=%zu\n",
           (double)delta * 1024.0 / (double)n, delta, cancel, n);
    lrt_notify_free(shared_notify);
    return NULL;
}

/* ---- scale_tasks (issue 5 item 5; not part of run.sh) -------------------------------
 * N tasks spawned and run until each is parked on the shared notify: ns per task from the
 * first spawn until the last one is parked (spawn + first run + first stack touch), and
 * RSS per live task; then all are woken and finished.  A second round on the same
 * runtime shows the cost once stacks come from the pool. */
static void *scale_tasks(void *arg)
{
    size_t n = (size_t)arg;
    shared_notify = lrt_notify_new();
    if (!shared_notify)
        die("lrt_notify_new", -errno);
    for (int round = 1; round <= 2; round++) {
        started = 0;
        long before = rss_kb();
        lrt_oneshot_t *rx = arm(n);
        uint64_t t = now_ns();
        for (size_t i = 0; i < n; i++)
            spawn_detached(idle_notify_task, NULL);
        while (started < n)
            lrt_yield();
        double park_ns = ns_per(t, n);
        long delta = rss_kb() - before;
        uint64_t t2 = now_ns();
        lrt_notify_all(shared_notify);
        wait_done(rx);
        double fin_ns = ns_per(t2, n);
        printf("lrt scale_tasks spawn_to_parked_ns_per_task=%.1f rss_delta_kb=%ld bytes_per_task=%.1f "
               "wake_finish_ns_per_task=%.1f round=%d n=%zu\n",
               park_ns, delta, (double)delta * 1024.0 / (double)n, fin_ns, round, n);
    }
    return NULL;
}

/* ---- dump_10k (issue 5 item 6; not part of run.sh) ----------------------------------
 * N tasks parked on the shared notify (a few frames deep), then lrt_dump_json() with and
 * without backtraces: the runtime-thread pause a snapshot costs. */
static __attribute__((noinline)) void *dump_depth(int d)
{
    if (d > 0) {
        void *r = dump_depth(d - 1);
        __asm__ volatile("" ::: "memory"); /* keep the frame */
        return r;
    }
    lrt_notify_wait(shared_notify);
    return NULL;
}

static void *dump_task(void *arg)
{
    (void)arg;
    started++;
    void *r = dump_depth(3);
    task_done();
    return r;
}

static void *dump_10k(void *arg)
{
    size_t n = (size_t)arg;
    shared_notify = lrt_notify_new();
    lrt_oneshot_t *rx = arm(n);
    started = 0;
    for (size_t i = 0; i < n; i++)
        spawn_detached(dump_task, NULL);
    while (started < n)
        lrt_yield();
    double best_bt = 1e30, best_plain = 1e30;
    size_t bytes = 0;
    for (int rep = 0; rep < 3; rep++) {
        uint64_t t = now_ns();
        char *js = lrt_dump_json(lrt_current(), LRT_DUMP_BACKTRACES);
        double ms = (double)(now_ns() - t) / 1e6;
        if (!js)
            die("lrt_dump_json", -errno);
        bytes = strlen(js);
        free(js);
        best_bt = ms < best_bt ? ms : best_bt;
        t = now_ns();
        js = lrt_dump_json(lrt_current(), 0);
        ms = (double)(now_ns() - t) / 1e6;
        free(js);
        best_plain = ms < best_plain ? ms : best_plain;
    }
    printf("lrt dump_10k backtraces_ms=%.1f plain_ms=%.1f json_bytes=%zu n=%zu\n", best_bt, best_plain,
           bytes, n);
    lrt_notify_all(shared_notify);
    wait_done(rx);
    lrt_notify_free(shared_notify);
    return NULL;
}

/* ---- echo_server -------------------------------------------------------------------- */

static void *echo_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[4096];
    for (;;) {
        ssize_t n = lrt_read(fd, buf, sizeof buf);
        if (n <= 0)
            break;
        if (lrt_write_all(fd, buf, (size_t)n) < 0)
            break;
    }
    lrt_close(fd);
    return NULL;
}

static int sig_fd = -1;

/* SIGTERM arrives through a signalfd that this task waits on: exit at once. */
static void *sigterm_task(void *arg)
{
    (void)arg;
    struct signalfd_siginfo si;
    for (;;) {
        ssize_t n = lrt_read(sig_fd, &si, sizeof si);
        if (n == (ssize_t)sizeof si || (n < 0 && n != -EAGAIN && n != -EINTR))
            break;
    }
    fflush(stdout);
    _exit(0);
}

static void *echo_server(void *arg)
{
    int port = (int)(intptr_t)arg;
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd < 0)
        die("socket", -errno);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0)
        die("bind", -errno);
    if (listen(lfd, 4096) < 0)
        die("listen", -errno);
    socklen_t sl = sizeof sa;
    getsockname(lfd, (struct sockaddr *)&sa, &sl);
    spawn_detached(sigterm_task, NULL);
    printf("port=%d\n", ntohs(sa.sin_port));
    fflush(stdout);
    for (;;) {
        int c = lrt_accept(lfd, NULL, NULL);
        if (c < 0) {
            if (c == -ECANCELED)
                break;
            fprintf(stderr, "accept: %s\n", lrt_strerror(c));
            lrt_sleep_ms(1);
            continue;
        }
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        spawn_detached(echo_conn, (void *)(intptr_t)c);
    }
    return NULL;
}

/* ---- file_read: blocking-pool-free file reads (issue 15 item 6) ---------------------- */

/* TASKS tasks each pread 4 KiB blocks at pseudo-random offsets of a 16 MiB file that is
 * in the page cache (written just before): the cost of the call itself, a pool job on
 * epoll, a submitted IORING_OP_READ on io_uring (LRT_DRIVER picks). */
enum { FR_BLOCK = 4096, FR_BLOCKS = 4096 };
static int fr_fd;
static size_t fr_per_task;

static void *file_read_task(void *arg)
{
    uint64_t x = (uintptr_t)arg * 0x9E3779B97F4A7C15ull + 1;
    char buf[FR_BLOCK];
    uint64_t acc = 0;
    for (size_t i = 0; i < fr_per_task; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        ssize_t k = lrt_pread(fr_fd, buf, sizeof buf, (off_t)(x % FR_BLOCKS) * FR_BLOCK);
        if (k != FR_BLOCK)
            die("lrt_pread", k < 0 ? (int)k : -EIO);
        acc += (unsigned char)buf[k - 1];
    }
    sink(acc);
    task_done();
    return NULL;
}

static size_t fr_tasks = 64;

static void *file_read(void *arg)
{
    size_t n = (size_t)arg;
    char path[] = "/tmp/lrt-bench-file-XXXXXX";
    fr_fd = mkstemp(path);
    if (fr_fd < 0)
        die("mkstemp", -errno);
    unlink(path);
    char *blk = malloc(FR_BLOCK);
    if (!blk)
        die("malloc", -ENOMEM);
    for (size_t b = 0; b < FR_BLOCKS; b++) {
        memset(blk, (int)(b & 0xff), FR_BLOCK);
        if (pwrite(fr_fd, blk, FR_BLOCK, (off_t)(b * FR_BLOCK)) != FR_BLOCK)
            die("pwrite", -errno);
    }
    free(blk);
    fr_per_task = n / fr_tasks ? n / fr_tasks : 1;
    lrt_oneshot_t *o = arm(fr_tasks);
    uint64_t t = now_ns();
    for (size_t i = 0; i < fr_tasks; i++)
        spawn_detached(file_read_task, (void *)(uintptr_t)i);
    wait_done(o);
    size_t total = fr_per_task * fr_tasks;
    printf("lrt file_read ns_per_read=%.1f n=%zu tasks=%zu block=%d driver=%s\n", ns_per(t, total), total,
           fr_tasks, FR_BLOCK, lrt_runtime_driver(lrt_current(), NULL));
    close(fr_fd);
    return NULL;
}

/* ---- main --------------------------------------------------------------------------- */

static void usage(void)
{
    fprintf(stderr,
            "usage: lrt-bench spawn_many [N] | yield_many [TASKS] [YIELDS_PER_TASK] | ping_pong [N] | "
            "select2 [N] | chained_spawn [N] | timers [N] | blocking_pool [N] | blocking_pool_seq [N] | idle_mem [N] | "
            "idle_mem_shared [N] | echo_server [PORT] | scale_tasks [N] | dump_10k [N] | "
            "dump_loop SOCKET SECONDS [bt] | file_read [READS] [TASKS]\n");
    exit(2);
}

static size_t arg_or(int argc, char **argv, int i, size_t d)
{
    if (i >= argc)
        return d;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(argv[i], &end, 10);
    if (errno || *end || end == argv[i])
        return d;
    return (size_t)v;
}

/* ---- dump_loop: the hostile snapshot client of issue 8 item 14 ----------------------- */

/* As fast as the agent answers, on one connection (what `while :; do lrt-dump -b PID; done`
 * would do, minus the process start-up).  Prints the snapshot count and their mean size. */
static int dump_loop(int argc, char **argv)
{
    if (argc < 4)
        usage();
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", argv[2]);
    double secs = atof(argv[3]);
    const char *req = argc > 4 && !strcmp(argv[4], "bt") ? "{\"cmd\":\"snapshot\",\"backtraces\":true}\n"
                                                         : "{\"cmd\":\"snapshot\"}\n";
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        die("dump_loop: connect", -errno);
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap);
    uint64_t n = 0, bytes = 0, t0 = now_ns(), until = t0 + (uint64_t)(secs * 1e9);
    while (now_ns() < until) {
        if (write(fd, req, strlen(req)) != (ssize_t)strlen(req))
            die("dump_loop: write", -errno);
        for (;;) {
            if (len == cap)
                buf = realloc(buf, cap *= 2);
            ssize_t k = read(fd, buf + len, cap - len);
            if (k <= 0)
                die("dump_loop: read", k < 0 ? -errno : -ECONNRESET);
            char *nl = memchr(buf + len, '\n', (size_t)k);
            len += (size_t)k;
            if (nl) {
                if (strncmp(buf, "{\"error\"", 9) == 0) {
                    fprintf(stderr, "lrt-bench: dump_loop: %.*s\n", (int)(nl - buf), buf);
                    exit(1);
                }
                bytes += (uint64_t)(nl - buf + 1);
                len = 0; /* one request in flight: nothing follows the newline */
                break;
            }
        }
        n++;
    }
    double took = (double)(now_ns() - t0) / 1e9;
    printf("lrt dump_loop snapshots=%" PRIu64 " per_s=%.1f mean_bytes=%" PRIu64 "\n", n, (double)n / took,
           n ? bytes / n : 0);
    free(buf);
    close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    const char *wl = argc > 1 ? argv[1] : "";
    lrt_fn fn;
    size_t a;
    if (!strcmp(wl, "dump_loop"))
        return dump_loop(argc, argv);
    if (!strcmp(wl, "spawn_many")) {
        fn = spawn_many, a = arg_or(argc, argv, 2, 1000000);
    } else if (!strcmp(wl, "yield_many")) {
        fn = yield_many, a = 0;
        yield_tasks = arg_or(argc, argv, 2, 1);
        yields_per_task = arg_or(argc, argv, 3, 2000000);
    } else if (!strcmp(wl, "ping_pong")) {
        fn = ping_pong, a = arg_or(argc, argv, 2, 500000);
    } else if (!strcmp(wl, "select2")) {
        fn = select2, a = arg_or(argc, argv, 2, 500000);
    } else if (!strcmp(wl, "chained_spawn")) {
        fn = chained_spawn, a = arg_or(argc, argv, 2, 1000000);
    } else if (!strcmp(wl, "timers")) {
        fn = timers, a = arg_or(argc, argv, 2, 100000);
    } else if (!strcmp(wl, "blocking_pool")) {
        fn = blocking_pool, a = arg_or(argc, argv, 2, 100000);
    } else if (!strcmp(wl, "blocking_pool_seq")) {
        fn = blocking_pool_seq, a = arg_or(argc, argv, 2, 20000);
    } else if (!strcmp(wl, "idle_mem")) {
        fn = idle_mem, a = arg_or(argc, argv, 2, 100000);
    } else if (!strcmp(wl, "idle_mem_shared")) {
        fn = idle_mem_shared, a = arg_or(argc, argv, 2, 100000);
    } else if (!strcmp(wl, "scale_tasks")) {
        fn = scale_tasks, a = arg_or(argc, argv, 2, 100000);
    } else if (!strcmp(wl, "dump_10k")) {
        fn = dump_10k, a = arg_or(argc, argv, 2, 10000);
    } else if (!strcmp(wl, "file_read")) {
        fn = file_read, a = arg_or(argc, argv, 2, 200000);
        fr_tasks = arg_or(argc, argv, 3, 64);
        if (fr_tasks == 0)
            usage();
    } else if (!strcmp(wl, "echo_server")) {
        fn = echo_server, a = arg_or(argc, argv, 2, 0);
    } else {
        usage();
        return 2;
    }
    if (a == 0 && fn != echo_server && fn != yield_many)
        usage();
    if (fn == yield_many && (yield_tasks == 0 || yields_per_task == 0))
        usage();

    /* as many fds as allowed (echo_server at 1000+ connections) */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);
    if (fn == echo_server) {
        /* blocked before the runtime starts, so pool threads inherit the mask */
        sigset_t ss;
        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGINT);
        sigprocmask(SIG_BLOCK, &ss, NULL);
        sig_fd = signalfd(-1, &ss, SFD_NONBLOCK | SFD_CLOEXEC);
        if (sig_fd < 0)
            die("signalfd", -errno);
    }

    lrt_options_t o = {0};
    o.max_blocking_threads = 4; /* = tokio_bench's max_blocking_threads(4) */
    /* the I/O backend comes from the environment: LRT_DRIVER=auto|epoll|uring (the
     * library reads it; auto = io_uring where the kernel allows it) */
    lrt_runtime_t *rt = lrt_runtime_new(&o);
    if (!rt)
        die("lrt_runtime_new", -errno);
    const char *why = "";
    const char *drv = lrt_runtime_driver(rt, &why);
    if (getenv("LRT_BENCH_VERBOSE"))
        fprintf(stderr, "lrt-bench: driver %s (%s)\n", drv, why);
    int r = lrt_block_on(rt, fn, (void *)a, NULL);
    if (r)
        die("lrt_block_on", r);
    fflush(stdout);
    /* Nothing is left to measure: exit without tearing the runtime down (idle pool
     * threads would otherwise be joined), as the peers do. */
    _exit(0);
}
