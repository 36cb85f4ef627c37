/*
 * trace_demo - a small lrt program that fires every lrt tracepoint at least once.
 *
 *   LRT_TRACE=1 build/examples/trace_demo            (inside an lttng session)
 *   build/examples/trace_demo --flood 200000          (many events: buffer-loss tests)
 *
 * Tasks: a pipe reader woken by I/O, a writer and a sleeper woken by timers, a channel
 * ping-pong (tasks waking tasks), a blocking-pool job, a task spawned from another thread
 * through lrt_handle_spawn, a task aborted while it sleeps, a yielding task, a task woken
 * by a signal (lrt_signal_recv) and one by a child's exit (lrt_process_wait), and one
 * poll that hogs the thread long enough for the stall detector.  Prints "fds: R W" (the pipe
 * ends, checked by tests/t-trace.sh) and "ok" at the end.
 */
#include <lrt/lrt.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CHECK(cond)                                                                \
    do {                                                                           \
        if (!(cond)) {                                                             \
            fprintf(stderr, "trace_demo: %s:%d: check failed: %s\n", __FILE__,     \
                    __LINE__, #cond);                                              \
            exit(1);                                                               \
        }                                                                          \
    } while (0)

#define STALL_MS 20

static int pipe_fds[2];
static lrt_chan_t *ping, *pong, *remote_done;
static unsigned long flood;

static void *reader(void *arg)
{
    char buf[64];
    size_t total = 0;
    ssize_t n;

    (void)arg;
    while ((n = lrt_read(pipe_fds[0], buf, sizeof(buf))) > 0)
        total += (size_t)n;
    CHECK(n == 0);
    CHECK(lrt_close(pipe_fds[0]) == 0);
    return (void *)(uintptr_t)total;
}

static void *writer(void *arg)
{
    static const char msg[] = "hello, trace\n";

    (void)arg;
    for (int i = 0; i < 3; i++) {
        CHECK(lrt_sleep_ms(3) == 0);
        CHECK(lrt_write_all(pipe_fds[1], msg, sizeof(msg) - 1) == sizeof(msg) - 1);
    }
    CHECK(lrt_close(pipe_fds[1]) == 0);
    return NULL;
}

static void *sleeper(void *arg)
{
    (void)arg;
    for (int i = 0; i < 3; i++)
        CHECK(lrt_sleep_ms(2) == 0);
    return NULL;
}

static void *ponger(void *arg)
{
    void *msg;

    (void)arg;
    while (lrt_chan_recv(ping, &msg) == 0)
        CHECK(lrt_chan_send(pong, msg) == 0);
    return NULL;
}

static void *yielder(void *arg)
{
    (void)arg;
    for (int i = 0; i < 5; i++)
        CHECK(lrt_yield() == 0);
    return NULL;
}

static void *victim(void *arg)
{
    (void)arg;
    CHECK(lrt_sleep_ms(10000) == -ECANCELED);
    return NULL;
}

static void *hog(void *arg)
{
    struct timespec ts = { 0, (STALL_MS * 3) * 1000000L };

    (void)arg;
    nanosleep(&ts, NULL); /* blocks the runtime thread: a stall */
    return NULL;
}

static void *blocking_job(void *arg)
{
    usleep(5000);
    return (void *)((uintptr_t)arg * 2);
}

static void *from_remote(void *arg)
{
    CHECK(lrt_chan_send(remote_done, arg) == 0);
    return NULL;
}

static void *remote_thread(void *arg)
{
    lrt_handle_t *h = arg;

    CHECK(lrt_handle_spawn(h, from_remote, (void *)(uintptr_t)42) == 0);
    return NULL;
}

static void *flooder(void *arg)
{
    (void)arg;
    for (unsigned long i = 0; i < flood; i++)
        lrt_yield();
    return NULL;
}

static void *signal_waiter(void *arg)
{
    return (void *)(intptr_t)lrt_signal_recv(arg, 10000);
}

static void *child_waiter(void *arg)
{
    (void)arg;
    char *const argv[] = {"sleep", "0.05", NULL};
    lrt_process_t *p = lrt_process_spawn("sleep", argv, NULL);
    CHECK(p);
    int status = -1;
    CHECK(lrt_process_wait(p, &status, 10000) == 0 && status == 0);
    lrt_process_free(p);
    return NULL;
}

static void *demo_main(void *arg)
{
    lrt_runtime_t *rt = arg;
    lrt_task_t *t_reader, *t_writer, *t_sleeper, *t_ponger, *t_yielder, *t_victim, *t_hog;
    lrt_task_t *job;
    lrt_handle_t *h;
    pthread_t th;
    void *res;

    if (flood) {
        lrt_task_t *f1 = lrt_spawn_named("flooder", flooder, NULL);
        lrt_task_t *f2 = lrt_spawn_named("flooder", flooder, NULL);
        CHECK(f1 && f2 && lrt_join(f1, NULL) == 0 && lrt_join(f2, NULL) == 0);
        return NULL;
    }

    CHECK(pipe(pipe_fds) == 0);
    printf("fds: %d %d\n", pipe_fds[0], pipe_fds[1]);
    fflush(stdout);

    /* I/O and timers */
    t_reader = lrt_spawn(reader, NULL);
    t_writer = lrt_spawn(writer, NULL);
    t_sleeper = lrt_spawn(sleeper, NULL);
    CHECK(t_reader && t_writer && t_sleeper);

    /* tasks waking tasks */
    ping = lrt_chan_new(0);
    pong = lrt_chan_new(0);
    CHECK(ping && pong);
    t_ponger = lrt_spawn(ponger, NULL);
    t_yielder = lrt_spawn(yielder, NULL);
    CHECK(t_ponger && t_yielder);
    for (uintptr_t i = 0; i < 3; i++) {
        CHECK(lrt_chan_send(ping, (void *)i) == 0);
        CHECK(lrt_chan_recv(pong, &res) == 0 && res == (void *)i);
    }
    lrt_chan_close(ping);
    CHECK(lrt_join(t_ponger, NULL) == 0);
    CHECK(lrt_join(t_yielder, NULL) == 0);

    /* blocking pool */
    job = lrt_spawn_blocking(blocking_job, (void *)(uintptr_t)21);
    CHECK(job);
    CHECK(lrt_join(job, &res) == 0 && res == (void *)(uintptr_t)42);

    /* a task spawned from another thread */
    remote_done = lrt_chan_new(0);
    CHECK(remote_done);
    h = lrt_runtime_handle(rt);
    CHECK(h);
    CHECK(pthread_create(&th, NULL, remote_thread, h) == 0);
    CHECK(lrt_chan_recv(remote_done, &res) == 0 && res == (void *)(uintptr_t)42);
    CHECK(pthread_join(th, NULL) == 0);
    lrt_handle_release(h);

    /* cancellation */
    t_victim = lrt_spawn(victim, NULL);
    CHECK(t_victim);
    CHECK(lrt_sleep_ms(1) == 0);
    lrt_abort(t_victim);
    res = NULL;
    (void)lrt_join(t_victim, &res); /* 0: it returned after seeing -ECANCELED */

    CHECK(lrt_join(t_reader, &res) == 0 && (uintptr_t)res == 3 * 13);
    CHECK(lrt_join(t_writer, NULL) == 0);
    CHECK(lrt_join(t_sleeper, NULL) == 0);

    /* OS waits: a signal (thread-directed: only this thread blocks it) and a child */
    static const int usr1[] = {SIGUSR1};
    lrt_signal_t *sig = lrt_signal_open(usr1, 1);
    CHECK(sig);
    lrt_task_t *t_sig = lrt_spawn_named("signal_waiter", signal_waiter, sig);
    lrt_task_t *t_child = lrt_spawn_named("child_waiter", child_waiter, NULL);
    CHECK(t_sig && t_child && lrt_sleep_ms(1) == 0);
    CHECK(pthread_kill(pthread_self(), SIGUSR1) == 0);
    CHECK(lrt_join(t_sig, &res) == 0 && (intptr_t)res == SIGUSR1);
    CHECK(lrt_join(t_child, NULL) == 0);
    lrt_signal_close(sig);

    /* a poll long enough for the stall detector */
    t_hog = lrt_spawn(hog, NULL);
    CHECK(t_hog && lrt_join(t_hog, NULL) == 0);

    /* let the idle blocking thread time out (blocking_thread_exit) */
    CHECK(lrt_sleep_ms(60) == 0);

    lrt_chan_close(pong);
    lrt_chan_close(remote_done);
    CHECK(lrt_chan_free(ping) == 0);
    CHECK(lrt_chan_free(pong) == 0);
    CHECK(lrt_chan_free(remote_done) == 0);
    return NULL;
}

int main(int argc, char **argv)
{
    lrt_options_t opts;
    lrt_runtime_t *rt;

    if (argc == 3 && strcmp(argv[1], "--flood") == 0) {
        flood = strtoul(argv[2], NULL, 10);
    } else if (argc != 1) {
        fprintf(stderr, "usage: trace_demo [--flood N]\n");
        return 2;
    }
    memset(&opts, 0, sizeof(opts));
    opts.blocking_keep_alive_ms = 20;
    opts.stall_threshold_ms = STALL_MS;
    rt = lrt_runtime_new(&opts);
    CHECK(rt);
    CHECK(lrt_block_on(rt, demo_main, rt, NULL) == 0);
    lrt_runtime_free(rt);
    printf("ok\n");
    return 0;
}
