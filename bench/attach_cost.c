/*
 * attach_cost.c - what attaching on demand costs a process nobody attaches to
 * (src/diag/attach.c; docs/performance.md, "Issue 12 items 1 and 5").
 *   check:  the ticker's check in a loop (mutex lock, lstat of a request file that is not
 *           there, unlock): ns per check, and the share of a core at 5 checks a second;
 *   idle:   the ticker thread's CPU time (schedstat) while one runtime sleeps for SEC
 *           seconds; run it with and without LRT_DUMP=0 (which turns the check off).
 * Build against a liblrt (docs/performance.md has the command).
 * Usage: attach_cost check | attach_cost idle [SEC]
 */
#include <dirent.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lrt/lrt.h"

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void *sleep_root(void *arg)
{
    lrt_sleep_ms((uint64_t)(uintptr_t)arg);
    return NULL;
}

/* CPU time of the thread named lrt-tick, in ns (0 if none). */
static uint64_t ticker_cpu_ns(void)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    unsigned long long v = 0;
    while (d && (e = readdir(d)) != NULL) {
        char p[300], comm[32] = "";
        snprintf(p, sizeof p, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(p, "r");
        if (!f)
            continue;
        if (!fgets(comm, sizeof comm, f))
            comm[0] = 0;
        fclose(f);
        if (strncmp(comm, "lrt-tick", 8) != 0)
            continue;
        snprintf(p, sizeof p, "/proc/self/task/%s/schedstat", e->d_name);
        if ((f = fopen(p, "r")) != NULL) {
            if (fscanf(f, "%llu", &v) != 1)
                v = 0;
            fclose(f);
        }
    }
    if (d)
        closedir(d);
    return v;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "check") == 0) {
        static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
        char path[128];
        snprintf(path, sizeof path, "/tmp/lrt-%u/.lrt-attach-%d", (unsigned)geteuid(), (int)getpid());
        struct stat st;
        const int n = 1000000;
        uint64_t t0 = now_ns();
        for (int i = 0; i < n; i++) {
            pthread_mutex_lock(&mu);
            if (lstat(path, &st) == 0)
                abort();
            pthread_mutex_unlock(&mu);
        }
        double per = (double)(now_ns() - t0) / n;
        printf("check: %.0f ns; at 5 checks/s %.1f us/s = %.5f %% of a core\n", per, per * 5 / 1e3,
               per * 5 / 1e9 * 100);
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "idle") == 0) {
        unsigned sec = argc > 2 ? (unsigned)atoi(argv[2]) : 10;
        lrt_runtime_t *rt = lrt_runtime_new(NULL);
        if (!rt)
            return 1;
        uint64_t c0 = ticker_cpu_ns(), t0 = now_ns();
        lrt_block_on(rt, sleep_root, (void *)(uintptr_t)(sec * 1000u), NULL);
        uint64_t c1 = ticker_cpu_ns(), t1 = now_ns();
        printf("%s: ticker thread CPU %.3f ms in %.1f s (%.1f us/s)\n",
               getenv("LRT_DUMP") ? "LRT_DUMP set (0: no check)" : "default (a check every 200 ms)",
               (double)(c1 - c0) / 1e6, (double)(t1 - t0) / 1e9, (double)(c1 - c0) / 1e3 / ((double)(t1 - t0) / 1e9));
        lrt_runtime_free(rt);
        return 0;
    }
    fprintf(stderr, "usage: attach_cost check | attach_cost idle [SEC]\n");
    return 2;
}
