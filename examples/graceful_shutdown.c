/*
 * graceful_shutdown - on SIGINT or SIGTERM: stop accepting work, give in-flight work
 * 1 s, cancel the rest.
 *
 *   build/examples/graceful_shutdown
 *
 * A dispatcher takes jobs from a channel and runs each in a task group until it is told
 * to stop.  A signal task waits for SIGINT/SIGTERM (lrt_signal_recv: no handler, no
 * self-pipe) and tells it.  Then the dispatcher closes the intake, collects what finishes
 * within one second (a deadline scope over the join loop), aborts what is left, and
 * lrt_group_free() joins it: nothing leaks.  Each job records its cleanup in a shield, so
 * even a cancelled job finishes its bookkeeping.  To be a self-contained demo the program
 * sends itself SIGTERM after 100 ms (a real service waits for the operator's); the runtime
 * runs on its virtual clock (start_paused) so the output is the same on every run,
 * however loaded the machine: drop that option for real time.
 */
#include <lrt/lrt.h>

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

static unsigned long ms(void) { return (unsigned long)(lrt_now_ns() / 1000000); }

static void *job(void *arg)
{
    intptr_t secs10 = (intptr_t)arg; /* duration in tenths of a second */
    int rc = lrt_sleep_ms(100 * (uint64_t)secs10);
    int shield = lrt_shield_push(); /* cleanup runs to the end even when cancelled */
    lrt_sleep_ms(10);               /* e.g. flush a log line */
    lrt_shield_pop(shield);
    return (void *)(intptr_t)(rc == 0 ? secs10 : -secs10);
}

struct service {
    lrt_chan_t *intake;
    lrt_notify_t *stop;
};

static void *dispatcher(void *arg)
{
    struct service *s = arg;
    lrt_group_t *g = lrt_group_new("jobs");
    for (;;) {
        void *j = NULL;
        lrt_sel_t cases[] = {lrt_sel_recv(s->intake, &j), lrt_sel_notify(s->stop)};
        int i = lrt_select(cases, 2, -1);
        if (i != 0 || cases[0].res != 0)
            break;
        lrt_group_spawn(g, job, j);
    }
    printf("%4lu ms  stop: %zu jobs in flight, 1 s to finish\n", ms(), lrt_group_len(g));
    lrt_chan_close(s->intake);
    int scope = lrt_timeout_push(1000);
    void *res;
    while (lrt_group_join_next(g, NULL, &res, -1) == 0)
        printf("%4lu ms  job of %.1f s finished\n", ms(), (double)(intptr_t)res / 10);
    lrt_deadline_pop(scope);
    printf("%4lu ms  cancelling %zu jobs\n", ms(), lrt_group_len(g));
    lrt_group_abort_all(g);
    int rc;
    while ((rc = lrt_group_join_next(g, NULL, &res, -1)) != -ECHILD)
        printf("%4lu ms  job of %.1f s cancelled, cleaned up\n", ms(), (double)-(intptr_t)res / 10);
    lrt_group_free(g);
    return NULL;
}

struct watcher {
    lrt_signal_t *sigs;
    lrt_notify_t *stop;
};

static void *signal_watcher(void *arg)
{
    struct watcher *w = arg;
    int sig = lrt_signal_recv(w->sigs, -1);
    if (sig > 0) {
        printf("%4lu ms  %s: stop accepting\n", ms(), sig == SIGINT ? "SIGINT" : "SIGTERM");
        lrt_notify_one(w->stop);
    }
    return NULL;
}

static void *run(void *unused)
{
    (void)unused;
    static const int stop_signals[] = {SIGINT, SIGTERM};
    struct service s = {lrt_chan_new(0), lrt_notify_new()};
    struct watcher w = {lrt_signal_open(stop_signals, 2), s.stop};
    if (!w.sigs) {
        perror("lrt_signal_open");
        return (void *)1;
    }
    lrt_task_t *watch = lrt_spawn(signal_watcher, &w);
    lrt_task_t *d = lrt_spawn(dispatcher, &s);
    static const intptr_t work[] = {3, 8, 15, 40, 12};
    for (size_t i = 0; i < sizeof work / sizeof work[0]; i++)
        lrt_chan_send(s.intake, (void *)work[i]);
    lrt_sleep_ms(100);       /* the service runs for a while ... */
    kill(getpid(), SIGTERM); /* ... then the operator stops it */
    lrt_join(d, NULL);
    lrt_join(watch, NULL);
    lrt_signal_close(w.sigs);
    lrt_chan_free(s.intake);
    lrt_notify_free(s.stop);
    return NULL;
}

int main(void)
{
    lrt_options_t o = {.start_paused = 1};
    lrt_runtime_t *rt = lrt_runtime_new(&o);
    if (!rt)
        return 1;
    void *res = NULL;
    int rc = lrt_block_on(rt, run, NULL, &res);
    lrt_runtime_free(rt);
    return rc == 0 && !res ? 0 : 1;
}
