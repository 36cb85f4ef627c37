/*
 * notail_cost.c - what keeping public frames costs (LRT__NOTAIL, src/internal.h): the
 * calls that lost a sibling call, in loops that do nothing else.
 *   sleep_ns(0): lrt_sleep_ns -> lrt_sleep_until -> lrt_yield (two frames kept)
 *   read:        lrt_read -> lrt_read_timeout on /dev/zero (one frame kept, one syscall)
 * Build against a static liblrt (docs/performance.md has the command); prints ns per call.
 * Usage: notail_cost [N]
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "lrt/lrt.h"

static size_t n_iter = 2000000;

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void *root(void *arg)
{
    (void)arg;
    double t0 = now_ns();
    for (size_t i = 0; i < n_iter; i++)
        lrt_sleep_ns(0);
    double t1 = now_ns();
    int fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
    char c;
    for (size_t i = 0; i < n_iter / 4; i++)
        if (lrt_read(fd, &c, 1) != 1)
            abort();
    double t2 = now_ns();
    lrt_close(fd);
    printf("sleep_ns0_ns_per_call=%.2f read_ns_per_call=%.2f\n", (t1 - t0) / (double)n_iter,
           (t2 - t1) / (double)(n_iter / 4));
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        n_iter = strtoull(argv[1], NULL, 10);
    lrt_runtime_t *rt = lrt_runtime_new(NULL);
    if (!rt || lrt_block_on(rt, root, NULL, NULL) != 0)
        return 1;
    lrt_runtime_free(rt);
    return 0;
}
