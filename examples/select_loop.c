/*
 * select_loop - wait for a message, a readable fd or a deadline, whichever comes first.
 *
 *   build/examples/select_loop
 *
 * A worker serves a channel of jobs and a control pipe, and notes when it has been idle
 * for 50 ms: one lrt_select() with three outcomes.  A losing case takes nothing: a job
 * that arrives while the worker handles a control line stays in the channel.  The
 * runtime runs on its virtual clock (start_paused) so the output is the same on every
 * run, however loaded the machine: drop that option for real time.
 */
#include <lrt/lrt.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

struct ctx {
    lrt_chan_t *jobs;
    int ctl[2]; /* control pipe: [0] read end, [1] write end */
};

static unsigned long ms(void) { return (unsigned long)(lrt_now_ns() / 1000000); }

static void *producer(void *arg)
{
    struct ctx *c = arg;
    static const char *const names[] = {"resize", "thumbnail", "upload"};
    for (int i = 0; i < 3; i++) {
        lrt_sleep_ms(20);
        lrt_chan_send(c->jobs, (void *)names[i]);
    }
    lrt_sleep_ms(130);
    lrt_write_all(c->ctl[1], "stop\n", 5);
    return NULL;
}

static void *worker(void *arg)
{
    struct ctx *c = arg;
    for (;;) {
        void *job = NULL;
        lrt_sel_t cases[] = {lrt_sel_recv(c->jobs, &job), lrt_sel_readable(c->ctl[0])};
        int i = lrt_select(cases, 2, 50);
        if (i == 0 && cases[0].res == 0) {
            printf("%4lu ms  job %s\n", ms(), (const char *)job);
        } else if (i == 1) {
            char line[64] = {0};
            ssize_t n = lrt_read(c->ctl[0], line, sizeof line - 1);
            printf("%4lu ms  control: %.*s\n", ms(), (int)(n > 0 ? strcspn(line, "\n") : 0), line);
            return NULL;
        } else if (i == -ETIMEDOUT) {
            printf("%4lu ms  idle for 50 ms\n", ms());
        } else {
            printf("%4lu ms  select: %s\n", ms(), lrt_strerror(i));
            return NULL;
        }
    }
}

static void *run(void *unused)
{
    (void)unused;
    struct ctx c = {.jobs = lrt_chan_new(0)};
    if (!c.jobs || pipe(c.ctl) != 0)
        return (void *)1;
    lrt_task_t *p = lrt_spawn(producer, &c);
    lrt_task_t *w = lrt_spawn(worker, &c);
    lrt_join(p, NULL);
    lrt_join(w, NULL);
    lrt_close(c.ctl[0]);
    lrt_close(c.ctl[1]);
    lrt_chan_free(c.jobs);
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
    return rc == 0 && res == NULL ? 0 : 1;
}
