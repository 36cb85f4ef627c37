/*
 * showcase - a small lrt "service" with every kind of trouble lrt-dump is made to show.
 *
 *   build/examples/showcase [--block-after=MS] [--block-for=MS] [--blocking-syscall]
 *                           [--exit-after=MS] [--no-dump-agent] [--second-runtime]
 *
 * Tasks: an echo server (acceptor + one task per connection) and a client that talks to
 * it every 200 ms; a config watcher waiting on a pipe that never gets data; a nightly
 * report sleeping for an hour; a ledger and an auditor that take two named mutexes,
 * 'accounts' and 'audit', in opposite orders (a deadlock: lrt-dump --stuck names the
 * cycle in one sentence, --objects shows who holds what); a thumbnailer feeding four jobs to a
 * blocking pool of two threads (two run, two queue); a crawler waiting for the first of
 * its group of three slow fetches (lrt-dump --tree shows them under a group line); and a checksum task that, after
 * --block-after ms or at SIGUSR1 (whichever comes first), blocks the runtime thread for
 * --block-for ms (a busy loop, or with --blocking-syscall a plain nanosleep): the stall
 * detector reports it, and lrt-dump still answers meanwhile.
 *
 * The dump agent is on (LRT_DUMP_DIR chooses the socket directory; --no-dump-agent leaves
 * it off, as in a program that never opted in: lrt-dump then asks for it) and the stall
 * threshold is 500 ms.  --second-runtime adds a thread "metrics-rt" with a runtime of its
 * own (a task flushing metrics every 50 ms): lrt-dump shows both runtimes in one answer.  SIGINT/SIGTERM (or --exit-after) stop everything cleanly: every
 * task is cancelled and joined, the pool jobs notice the stop flag, and the runtime shuts
 * down with nothing left over.  Exit status 0 on a clean stop.
 */
#include <lrt/lrt.h>

#include <arpa/inet.h>
#include <pthread.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

static unsigned block_after_ms = 2000, block_for_ms = 4000, exit_after_ms;
static int blocking_syscall, no_dump_agent, second_runtime;
static int sig_pipe[2], config_pipe[2], kick_pipe[2];
static atomic_int stopping;
static int listen_fd;
static struct sockaddr_in server_addr;
static lrt_mutex_t *accounts, *audit;
static unsigned long requests_served;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("showcase: ");
    vprintf(fmt, ap);
    printf("\n");
    fflush(stdout);
    va_end(ap);
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- echo server ------------------------------------------------------------------ */

static NOINLINE ssize_t read_request(int fd, char *buf, size_t n) { return lrt_read(fd, buf, n); }

static void *connection(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[256];
    ssize_t n;
    while ((n = read_request(fd, buf, sizeof buf)) > 0) {
        if (lrt_write_all(fd, buf, (size_t)n) < 0)
            break;
        requests_served++;
    }
    lrt_close(fd);
    return NULL;
}

static NOINLINE int accept_connection(void) { return lrt_accept(listen_fd, NULL, NULL); }

static void *http_server(void *arg)
{
    (void)arg;
    for (;;) {
        int fd = accept_connection();
        if (fd < 0)
            break;
        lrt_task_t *t = lrt_spawn_named("connection", connection, (void *)(intptr_t)fd);
        if (t)
            lrt_task_detach(t);
        else
            lrt_close(fd);
    }
    return NULL;
}

static NOINLINE int wait_before_next_request(void) { return lrt_sleep_ms(200); }

static void *http_client(void *arg)
{
    (void)arg;
    while (wait_before_next_request() == 0) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0)
            break;
        char buf[32];
        if (lrt_connect(fd, (struct sockaddr *)&server_addr, sizeof server_addr) == 0 &&
            lrt_write_all(fd, "GET /health\n", 12) == 12)
            lrt_read(fd, buf, sizeof buf);
        lrt_close(fd);
    }
    return NULL;
}

/* ---- waiters that never get what they wait for ------------------------------------ */

static NOINLINE ssize_t wait_for_config_change(void)
{
    char buf[64];
    return lrt_read(config_pipe[0], buf, sizeof buf);
}

static void *config_watcher(void *arg)
{
    (void)arg;
    wait_for_config_change();
    return NULL;
}

static NOINLINE int sleep_until_midnight(void) { return lrt_sleep_ms(3600 * 1000); }

static void *nightly_report(void *arg)
{
    (void)arg;
    sleep_until_midnight();
    return NULL;
}

/* Each takes its first lock, gives the other time to take its own, then asks for the
 * other's: the classic lock-order deadlock.  Cancelled at shutdown, each lets go. */
static NOINLINE int transfer_between_accounts(void)
{
    if (lrt_mutex_lock(accounts) != 0)
        return -1;
    int rc = lrt_sleep_ms(50);
    if (rc == 0 && (rc = lrt_mutex_lock(audit)) == 0)
        lrt_mutex_unlock(audit); /* never: the auditor holds it */
    lrt_mutex_unlock(accounts);
    return rc;
}

static void *ledger(void *arg)
{
    (void)arg;
    transfer_between_accounts();
    return NULL;
}

static NOINLINE int audit_the_accounts(void)
{
    if (lrt_mutex_lock(audit) != 0)
        return -1;
    int rc = lrt_sleep_ms(50);
    if (rc == 0 && (rc = lrt_mutex_lock(accounts)) == 0)
        lrt_mutex_unlock(accounts);
    lrt_mutex_unlock(audit);
    return rc;
}

static void *auditor(void *arg)
{
    (void)arg;
    audit_the_accounts();
    return NULL;
}

/* ---- a saturated blocking pool ---------------------------------------------------- */

static void *resize_image(void *arg)
{
    (void)arg;
    /* a slow library call: runs until the program stops */
    while (!atomic_load(&stopping)) {
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static NOINLINE int wait_for_thumbnail(lrt_task_t *job) { return lrt_join(job, NULL); }

static void *thumbnailer(void *arg)
{
    (void)arg;
    lrt_task_t *jobs[4];
    for (int i = 0; i < 4; i++)
        jobs[i] = lrt_spawn_blocking(resize_image, NULL);
    for (int i = 0; i < 4; i++) {
        if (!jobs[i])
            continue;
        if (wait_for_thumbnail(jobs[i]) == -ECANCELED && !lrt_task_is_finished(jobs[i])) {
            /* cancelled while waiting: the jobs end once stopping is set */
            for (int k = i; k < 4; k++)
                if (jobs[k])
                    lrt_task_detach(jobs[k]);
            break;
        }
    }
    return NULL;
}

/* ---- the task that blocks the thread ---------------------------------------------- */

static NOINLINE uint64_t crunch_checksum(uint64_t until_ms)
{
    uint64_t h = 1469598103934665603ull;
    while (mono_ms() < until_ms)
        for (int i = 0; i < 100000; i++)
            h = (h ^ (uint64_t)i) * 1099511628211ull;
    return h;
}

static NOINLINE void read_disk_synchronously(unsigned ms)
{
    /* a blocking call made directly from a task: the runtime thread sleeps with it */
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void *checksum(void *arg)
{
    (void)arg;
    char c;
    ssize_t r = lrt_read_timeout(kick_pipe[0], &c, 1, (int64_t)block_after_ms);
    if (r != 1 && r != -ETIMEDOUT)
        return NULL; /* cancelled */
    say("checksum: now blocking the runtime thread for %u ms (%s) - a bug on purpose", block_for_ms,
        blocking_syscall ? "a synchronous nanosleep" : "a busy loop");
    if (blocking_syscall)
        read_disk_synchronously(block_for_ms);
    else
        crunch_checksum(mono_ms() + block_for_ms);
    say("checksum: done, the runtime thread is free again");
    lrt_sleep_ms(3600 * 1000);
    return NULL;
}

static void *fetch_page(void *arg)
{
    (void)arg;
    lrt_sleep_ms(3600 * 1000);
    return NULL;
}

/* Waits for the first of three fetches of its group; cancelled, it frees the group (which
 * aborts and joins the fetches). */
static void *crawler(void *arg)
{
    (void)arg;
    lrt_group_t *g = lrt_group_new("fetchers");
    if (!g)
        return NULL;
    for (int i = 0; i < 3; i++)
        lrt_group_spawn(g, fetch_page, NULL);
    lrt_group_join_next(g, NULL, NULL, -1);
    lrt_group_free(g);
    return NULL;
}

/* ---- a second runtime on a thread of its own (--second-runtime) --------------------- */

static NOINLINE int flush_metrics(void) { return lrt_sleep_ms(50); }

static void *metrics_flusher(void *arg)
{
    (void)arg;
    while (!atomic_load(&stopping) && flush_metrics() == 0) {
    }
    return NULL;
}

static void *metrics_main(void *arg)
{
    (void)arg;
    lrt_join(lrt_spawn_named("metrics_flusher", metrics_flusher, NULL), NULL);
    return NULL;
}

static void *metrics_thread(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "metrics-rt");
    lrt_runtime_t *rt = lrt_runtime_new(NULL);
    if (!rt) {
        perror("showcase: second runtime");
        return NULL;
    }
    lrt_block_on(rt, metrics_main, NULL, NULL);
    lrt_runtime_free(rt);
    return NULL;
}

/* ---- main ------------------------------------------------------------------------- */

static void on_signal(int sig)
{
    char c = (char)sig;
    ssize_t n = write(sig == SIGUSR1 ? kick_pipe[1] : sig_pipe[1], &c, 1);
    (void)n;
}

static NOINLINE ssize_t wait_for_stop_signal(void)
{
    char c;
    return lrt_read_timeout(sig_pipe[0], &c, 1, exit_after_ms ? (int64_t)exit_after_ms : -1);
}

static void *service_main(void *arg)
{
    (void)arg;
    struct {
        const char *what;
        lrt_fn fn;
        const char *name;
        lrt_task_t *t;
    } tasks[] = {
        {"echo server accepting connections", http_server, "http_server", NULL},
        {"client sending a request every 200 ms", http_client, "http_client", NULL},
        {"waiting for data on a pipe that never gets any", config_watcher, "config_watcher", NULL},
        {"sleeping for an hour", nightly_report, "nightly_report", NULL},
        {"holds mutex 'accounts', then wants 'audit'", ledger, "ledger", NULL},
        {"holds mutex 'audit', then wants 'accounts' (a deadlock)", auditor, "auditor", NULL},
        {"4 jobs on a blocking pool of 2 threads", thumbnailer, "thumbnailer", NULL},
        {"waiting for the first of 3 fetches of its group", crawler, "crawler", NULL},
        {"will block the runtime thread", checksum, "checksum", NULL},
    };
    size_t n = sizeof tasks / sizeof tasks[0];
    for (size_t i = 0; i < n; i++) {
        tasks[i].t = lrt_spawn_named(tasks[i].name, tasks[i].fn, NULL);
        if (!tasks[i].t) {
            perror("showcase: spawn");
            exit(1);
        }
        say("task %-15s %s", tasks[i].name, tasks[i].what);
    }
    wait_for_stop_signal();
    say("stopping: cancelling every task");
    atomic_store(&stopping, 1);
    for (size_t i = 0; i < n; i++)
        lrt_abort(tasks[i].t);
    for (size_t i = 0; i < n; i++)
        lrt_join(tasks[i].t, NULL);
    lrt_close(listen_fd);
    return NULL;
}

static unsigned arg_ms(const char *arg, const char *name)
{
    char *end;
    unsigned long v = strtoul(arg, &end, 10);
    if (*end || v > 86400000ul) {
        fprintf(stderr, "showcase: %s: not a number of milliseconds: %s\n", name, arg);
        exit(2);
    }
    return (unsigned)v;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--block-after=", 14) == 0)
            block_after_ms = arg_ms(argv[i] + 14, "--block-after");
        else if (strncmp(argv[i], "--block-for=", 12) == 0)
            block_for_ms = arg_ms(argv[i] + 12, "--block-for");
        else if (strncmp(argv[i], "--exit-after=", 13) == 0)
            exit_after_ms = arg_ms(argv[i] + 13, "--exit-after");
        else if (strcmp(argv[i], "--blocking-syscall") == 0)
            blocking_syscall = 1;
        else if (strcmp(argv[i], "--no-dump-agent") == 0)
            no_dump_agent = 1;
        else if (strcmp(argv[i], "--second-runtime") == 0)
            second_runtime = 1;
        else {
            fprintf(stderr, "usage: showcase [--block-after=MS] [--block-for=MS] [--blocking-syscall] "
                            "[--exit-after=MS] [--no-dump-agent] [--second-runtime]\n");
            return 2;
        }
    }
    if (pipe(sig_pipe) != 0 || pipe(config_pipe) != 0 || pipe(kick_pipe) != 0) {
        perror("showcase: pipe");
        return 1;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);

    listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    server_addr.sin_family = AF_INET;
    server_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof server_addr;
    if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&server_addr, sizeof server_addr) != 0 ||
        listen(listen_fd, 64) != 0 || getsockname(listen_fd, (struct sockaddr *)&server_addr, &len) != 0) {
        perror("showcase: listen");
        return 1;
    }

    lrt_options_t o = {0};
    o.dump_agent = !no_dump_agent;
    o.stall_threshold_ms = 500;
    o.max_blocking_threads = 2;
    lrt_runtime_t *rt = lrt_runtime_new(&o);
    if (!rt) {
        perror("showcase: lrt_runtime_new");
        return 1;
    }
    accounts = lrt_mutex_new();
    audit = lrt_mutex_new();
    lrt_mutex_set_name(accounts, "accounts");
    lrt_mutex_set_name(audit, "audit");
    say("pid %d, echo server on 127.0.0.1:%d; inspect me with: lrt-dump %d", (int)getpid(),
        ntohs(server_addr.sin_port), (int)getpid());
    pthread_t metrics;
    if (second_runtime && pthread_create(&metrics, NULL, metrics_thread, NULL) != 0) {
        perror("showcase: second runtime thread");
        return 1;
    }
    int rc = lrt_block_on(rt, service_main, NULL, NULL);
    if (rc != 0)
        fprintf(stderr, "showcase: lrt_block_on: %s\n", lrt_strerror(rc));
    atomic_store(&stopping, 1);
    if (second_runtime)
        pthread_join(metrics, NULL);
    lrt_mutex_free(accounts);
    lrt_mutex_free(audit);
    int src = lrt_shutdown_timeout(rt, 3000);
    say("served %lu requests; runtime shut down %s", requests_served, src == 0 ? "cleanly" : lrt_strerror(src));
    close(config_pipe[0]);
    close(config_pipe[1]);
    close(kick_pipe[0]);
    close(kick_pipe[1]);
    return rc == 0 && src == 0 ? 0 : 1;
}
