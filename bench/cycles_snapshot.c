/* lrt_dump_json() pause with 10,000 tasks: 4,000 in 2,000 mutex 2-cycles (4,000 named
 * mutexes), 3,000 in 1,000 channel 3-cycles (3,000 channels), 3,000 parked on one notify
 * (issue 13 items 1-2; docs/performance.md).  Build against the -O2 library:
 *   make BUILD=build/bench-lib CFLAGS="-O2 -g" build/bench-lib/liblrt.a
 *   gcc -O2 -g -Iinclude -o /tmp/cycles_snapshot bench/cycles_snapshot.c \
 *       build/bench-lib/liblrt.a -lunwind -ljansson -lpthread -ldl -llttng-ust */
#include <lrt/lrt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static unsigned long long now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1000000000ull + t.tv_nsec; }
struct pair { lrt_mutex_t *a, *b; };
static void *lock2(void *arg) { lrt_mutex_t **m = arg; lrt_mutex_lock(m[0]); lrt_yield(); lrt_mutex_lock(m[1]); return NULL; }
static void *relay(void *arg) { lrt_chan_t **c = arg; void *m; lrt_chan_send(c[1], NULL); lrt_chan_recv(c[0], &m); lrt_chan_recv(c[0], &m); return NULL; }
static lrt_notify_t *nt;
static void *parked(void *arg) { (void)arg; lrt_notify_wait(nt); return NULL; }
static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return x < y ? -1 : x > y; }
static void *root(void *arg)
{
    (void)arg;
    nt = lrt_notify_new();
    static lrt_mutex_t *mm[2000][2][2];
    for (int i = 0; i < 2000; i++) {
        lrt_mutex_t *a = lrt_mutex_new(), *b = lrt_mutex_new();
        char n[32]; snprintf(n, sizeof n, "acct-%d", i); lrt_mutex_set_name(a, n);
        snprintf(n, sizeof n, "audit-%d", i); lrt_mutex_set_name(b, n);
        mm[i][0][0] = a; mm[i][0][1] = b; mm[i][1][0] = b; mm[i][1][1] = a;
        lrt_task_detach(lrt_spawn_named("ledger", lock2, mm[i][0]));
        lrt_task_detach(lrt_spawn_named("auditor", lock2, mm[i][1]));
    }
    static lrt_chan_t *cc[1000][3], *args[1000][3][2];
    for (int i = 0; i < 1000; i++) {
        for (int k = 0; k < 3; k++) cc[i][k] = lrt_chan_new(4);
        for (int k = 0; k < 3; k++) { args[i][k][0] = cc[i][k]; args[i][k][1] = cc[i][(k + 1) % 3]; lrt_task_detach(lrt_spawn_named("relay", relay, args[i][k])); }
    }
    for (int i = 0; i < 3000; i++) lrt_task_detach(lrt_spawn_named("parked", parked, NULL));
    for (int i = 0; i < 10; i++) lrt_yield();
    for (int bt = 0; bt < 2; bt++) {
        double ms[7]; size_t len = 0; int cyc = 0;
        for (int r = 0; r < 7; r++) {
            unsigned long long t0 = now();
            char *s = lrt_dump_json(NULL, bt ? LRT_DUMP_BACKTRACES : 0);
            ms[r] = (now() - t0) / 1e6;
            len = strlen(s);
            for (char *p = s; (p = strstr(p, "\"text\":\"deadlock")); p++) cyc++;
            free(s);
        }
        qsort(ms, 7, sizeof *ms, cmp);
        printf("%s: median %.1f ms (min %.1f max %.1f), %zu bytes, %d cycles/snapshot\n", bt ? "backtraces" : "no backtraces", ms[3], ms[0], ms[6], len, cyc / 7);
    }
    exit(0);
}
int main(void) { lrt_runtime_t *rt = lrt_runtime_new(NULL); lrt_block_on(rt, root, NULL, NULL); return 0; }
