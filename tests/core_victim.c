/*
 * core_victim - the program tests/t-core.sh takes core files of (lrt-dump --core).
 *
 *   core_victim crash      a few tasks waiting (a channel, a sleep), and a second
 *                          runtime on its own thread with the task 'other_runtime_task'
 *                          asleep; then the task 'crasher' writes through a null
 *                          pointer: the process dies by SIGSEGV from inside a task (a
 *                          core if ulimit -c allows)
 *   core_victim sleep N    N tasks 'sleeper' asleep for an hour, then "ready" on stdout;
 *                          the process waits for SIGTERM or SIGKILL (gcore it meanwhile)
 *
 * The tasks' functions are named so that a backtrace can be checked by name.
 */
#include "lrt/lrt.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static lrt_chan_t *inbox;

static void *chan_waiter(void *arg)
{
    (void)arg;
    void *msg;
    lrt_chan_recv(inbox, &msg);
    return NULL;
}

static void *sleeper(void *arg)
{
    (void)arg;
    lrt_sleep_ms(3600 * 1000);
    return NULL;
}

static void __attribute__((noinline)) null_write(volatile int *p)
{
    *p = 42;
}

static void *crasher(void *arg)
{
    (void)arg;
    lrt_sleep_ms(50); /* the others reach their waits first */
    null_write(NULL);
    return NULL;
}

static long count;
static pthread_mutex_t second_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t second_cv = PTHREAD_COND_INITIALIZER;
static int second_ready;

static void *other_runtime_task(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&second_mu);
    second_ready = 1;
    pthread_cond_signal(&second_cv);
    pthread_mutex_unlock(&second_mu);
    lrt_sleep_ms(3600 * 1000);
    return NULL;
}

static void *second_root(void *arg)
{
    (void)arg;
    lrt_join(lrt_spawn(other_runtime_task, NULL), NULL);
    return NULL;
}

/* A second runtime, on its own thread: a core holds the tasks of both. */
static void *second_thread(void *arg)
{
    (void)arg;
    lrt_runtime_t *rt = lrt_runtime_new(NULL);
    if (rt)
        lrt_block_on(rt, second_root, NULL, NULL);
    return NULL;
}

static void *victim_main(void *arg)
{
    const char *mode = arg;
    if (strcmp(mode, "crash") == 0) {
        pthread_t th;
        if (pthread_create(&th, NULL, second_thread, NULL) != 0)
            exit(1);
        pthread_mutex_lock(&second_mu);
        while (!second_ready)
            pthread_cond_wait(&second_cv, &second_mu);
        pthread_mutex_unlock(&second_mu);
        inbox = lrt_chan_new(1);
        lrt_spawn(chan_waiter, NULL);
        lrt_spawn(sleeper, NULL);
        lrt_task_t *c = lrt_spawn(crasher, NULL);
        lrt_join(c, NULL);
        return NULL;
    }
    for (long i = 0; i < count; i++)
        if (!lrt_spawn(sleeper, NULL)) {
            perror("lrt_spawn");
            exit(1);
        }
    lrt_sleep_ms(10); /* every sleeper has run to its sleep */
    printf("ready\n");
    fflush(stdout);
    lrt_sleep_ms(3600 * 1000);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2 || (strcmp(argv[1], "crash") && (strcmp(argv[1], "sleep") || argc < 3))) {
        fprintf(stderr, "usage: core_victim crash | core_victim sleep N\n");
        return 2;
    }
    if (argc > 2)
        count = atol(argv[2]);
    alarm(600); /* never outlive a broken test */
    lrt_options_t o = {.stack_size = 16 * 1024};
    lrt_runtime_t *rt = lrt_runtime_new(&o);
    if (!rt)
        return 1;
    lrt_block_on(rt, victim_main, argv[1], NULL);
    lrt_runtime_free(rt);
    return 0;
}
