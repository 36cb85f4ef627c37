/*
 * trace_cost - what the lrt tracepoints cost on the hottest paths.
 *
 *   trace_cost [ROUNDS]    prints ns per yield and per ping-pong round trip (median of
 *                          ROUNDS runs, default 7) and the lrt events each one emits.
 *
 * Build it against a library with tracepoints (build/liblrt.so) and one without
 * (make TRACE=0 → build/notrace/liblrt.so), then run it: plain (tracepoints compiled in,
 * no provider), with LRT_TRACE=1 (provider loaded, no session), and inside a session
 * recording lrt:* (cost per recorded event = extra ns / events per op).  docs/tracing.md
 * § Cost has the commands and the table.
 */
#include <lrt/lrt.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define YIELD_TASKS 2
#define YIELDS 200000
#define ROUND_TRIPS 100000

static lrt_chan_t *ping, *pong;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *yielder(void *arg)
{
    (void)arg;
    for (int i = 0; i < YIELDS; i++)
        lrt_yield();
    return NULL;
}

static void *ponger(void *arg)
{
    void *m;
    (void)arg;
    while (lrt_chan_recv(ping, &m) == 0)
        lrt_chan_send(pong, m);
    return NULL;
}

static void *bench_yield(void *arg)
{
    lrt_task_t *t[YIELD_TASKS];
    uint64_t t0 = now_ns();
    for (int i = 0; i < YIELD_TASKS; i++)
        t[i] = lrt_spawn(yielder, NULL);
    for (int i = 0; i < YIELD_TASKS; i++)
        lrt_join(t[i], NULL);
    *(double *)arg = (double)(now_ns() - t0) / (YIELD_TASKS * (double)YIELDS);
    return NULL;
}

static void *bench_pingpong(void *arg)
{
    void *m;
    ping = lrt_chan_new(0);
    pong = lrt_chan_new(0);
    lrt_task_t *p = lrt_spawn(ponger, NULL);
    uint64_t t0 = now_ns();
    for (uintptr_t i = 0; i < ROUND_TRIPS; i++) {
        lrt_chan_send(ping, (void *)i);
        lrt_chan_recv(pong, &m);
    }
    *(double *)arg = (double)(now_ns() - t0) / ROUND_TRIPS;
    lrt_chan_close(ping);
    lrt_join(p, NULL);
    lrt_chan_close(pong);
    lrt_chan_free(ping);
    lrt_chan_free(pong);
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median_of(lrt_fn fn, int rounds)
{
    double v[64];
    for (int r = 0; r < rounds; r++) {
        lrt_runtime_t *rt = lrt_runtime_new(NULL);
        if (!rt || lrt_block_on(rt, fn, &v[r], NULL) != 0) {
            fprintf(stderr, "trace_cost: runtime failed\n");
            exit(1);
        }
        lrt_runtime_free(rt);
    }
    qsort(v, (size_t)rounds, sizeof(v[0]), cmp);
    return v[rounds / 2];
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 7;
    if (rounds < 1 || rounds > 64) {
        fprintf(stderr, "usage: trace_cost [ROUNDS 1..64]\n");
        return 2;
    }
    /* events per op: a yield ends one poll and begins the next (2); a round trip wakes,
     * polls and suspends both tasks (wake + poll_begin + poll_end, twice: 6) */
    printf("yield      %8.1f ns/op   (2 events/op)\n", median_of(bench_yield, rounds));
    printf("ping-pong  %8.1f ns/op   (6 events/op)\n", median_of(bench_pingpong, rounds));
    return 0;
}
