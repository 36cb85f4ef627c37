/*
 * waitq_bench.c — the two hot paths of src/waitq.h that lrt-bench's workloads do not
 * isolate (issue 9; numbers in docs/performance.md):
 *   waitq_bench pipe [N]   two tasks ping-pong one byte over two pipes: an I/O wait and
 *                          an edge wake-up per direction (wait_on, wake_queue)
 *   waitq_bench mutex [N]  two tasks take turns on an lrt_mutex held across a yield:
 *                          every lock is a hand-off to a waiter
 * Build (after `make bench`):
 *   cc -Iinclude -D_GNU_SOURCE -O2 -g -o build/bench/waitq_bench bench/waitq_bench.c \
 *      build/bench-lib/liblrt.a -lunwind -ljansson -lpthread -ldl
 */
#include <lrt/lrt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int p1[2], p2[2];
static size_t N;
static lrt_mutex_t *mx;

static uint64_t ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void *pong(void *a)
{
    (void)a;
    char b;
    for (size_t i = 0; i < N; i++) {
        if (lrt_read(p1[0], &b, 1) != 1)
            abort();
        if (lrt_write(p2[1], &b, 1) != 1)
            abort();
    }
    return NULL;
}
static void *pp_root(void *a)
{
    (void)a;
    char b = 'x';
    lrt_task_t *t = lrt_spawn(pong, NULL);
    uint64_t t0 = ns();
    for (size_t i = 0; i < N; i++) {
        if (lrt_write(p1[1], &b, 1) != 1)
            abort();
        if (lrt_read(p2[0], &b, 1) != 1)
            abort();
    }
    printf("pipe_ping_pong ns_per_roundtrip=%.1f\n", (double)(ns() - t0) / N);
    lrt_join(t, NULL);
    return NULL;
}
static void *mworker(void *a)
{
    (void)a;
    for (size_t i = 0; i < N; i++) {
        lrt_mutex_lock(mx);
        lrt_yield();
        lrt_mutex_unlock(mx);
    }
    return NULL;
}
static void *mx_root(void *a)
{
    (void)a;
    mx = lrt_mutex_new();
    uint64_t t0 = ns();
    lrt_task_t *t1 = lrt_spawn(mworker, NULL), *t2 = lrt_spawn(mworker, NULL);
    lrt_join(t1, NULL);
    lrt_join(t2, NULL);
    printf("mutex_handoff ns_per_lock=%.1f\n", (double)(ns() - t0) / (2 * N));
    lrt_mutex_free(mx);
    return NULL;
}
int main(int argc, char **argv)
{
    if (argc < 2 || (strcmp(argv[1], "pipe") && strcmp(argv[1], "mutex"))) {
        fprintf(stderr, "usage: waitq_bench pipe|mutex [N]\n");
        return 2;
    }
    N = argc > 2 ? strtoull(argv[2], 0, 10) : 200000;
    if (N == 0 || pipe(p1) || pipe(p2))
        return 1;
    lrt_runtime_t *rt = lrt_runtime_new(NULL);
    lrt_block_on(rt, !strcmp(argv[1], "pipe") ? pp_root : mx_root, NULL, NULL);
    lrt_runtime_free(rt);
    return 0;
}
