/*
 * fanout - fan out 20 requests; the first error cancels the rest (a task group).
 *
 *   build/examples/fanout
 *
 * Each "request" is a sleep standing in for I/O; request 7 fails.  The group hands the
 * tasks back in completion order; on the first failure lrt_group_abort_all() cancels the
 * others, and the loop joins them all (each returns -ECANCELED from its wait).  The
 * runtime runs on its virtual clock (start_paused) so the output is the same on every
 * run, however loaded the machine: drop that option for real time.
 */
#include <lrt/lrt.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

struct request {
    int index;
    int err;  /* 0, or what went wrong */
    long value;
};

static void *fetch(void *arg)
{
    struct request *r = arg;
    r->err = lrt_sleep_ms(10 * (uint64_t)(r->index + 1)); /* -ECANCELED once aborted */
    if (!r->err && r->index == 7)
        r->err = -EIO;
    r->value = (long)r->index * r->index;
    return r;
}

static void *fanout(void *unused)
{
    (void)unused;
    struct request reqs[20];
    lrt_group_t *g = lrt_group_new("fetchers");
    for (int i = 0; i < 20; i++) {
        reqs[i] = (struct request){.index = i};
        lrt_group_spawn(g, fetch, &reqs[i]);
    }
    int ok = 0, failed = 0, cancelled = 0;
    void *res;
    int rc;
    while ((rc = lrt_group_join_next(g, NULL, &res, -1)) != -ECHILD) {
        struct request *r = res;
        if (rc == -ECANCELED) {
            cancelled++;
        } else if (r->err) {
            printf("request %d failed: %s; cancelling the rest\n", r->index, strerror(-r->err));
            if (!failed++)
                lrt_group_abort_all(g);
        } else {
            printf("request %d: %ld\n", r->index, r->value);
            ok++;
        }
    }
    lrt_group_free(g);
    printf("%d succeeded, %d failed, %d cancelled\n", ok, failed, cancelled);
    return NULL;
}

int main(void)
{
    lrt_options_t o = {.start_paused = 1};
    lrt_runtime_t *rt = lrt_runtime_new(&o);
    if (!rt)
        return 1;
    int rc = lrt_block_on(rt, fanout, NULL, NULL);
    lrt_runtime_free(rt);
    return rc == 0 ? 0 : 1;
}
