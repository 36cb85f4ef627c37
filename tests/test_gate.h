/* A gate that holds blocking-pool jobs (or lookups, through a test hook) until a test
 * opens it, and a bounded wait for a counter: the file and net suites use them to keep
 * the pool's threads busy or a job running while a task is aborted.  One gate per
 * translation unit (static storage). */
#ifndef LRT_TEST_GATE_H
#define LRT_TEST_GATE_H
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "lrt/lrt.h"

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int open;
    atomic_int entered;
} gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};

static inline void gate_reset(void)
{
    gate.open = 0;
    atomic_store(&gate.entered, 0);
}

/* Pool thread: count in, then wait until the gate opens. */
static inline void gate_wait(void)
{
    atomic_fetch_add(&gate.entered, 1);
    pthread_mutex_lock(&gate.mu);
    while (!gate.open)
        pthread_cond_wait(&gate.cv, &gate.mu);
    pthread_mutex_unlock(&gate.mu);
}

static inline void gate_open(void)
{
    pthread_mutex_lock(&gate.mu);
    gate.open = 1;
    pthread_cond_broadcast(&gate.cv);
    pthread_mutex_unlock(&gate.mu);
}

static inline void *gated_job(void *arg)
{
    (void)arg;
    gate_wait();
    return NULL;
}

/* In a task: sleep 1 ms at a time until @v reaches @want; false after ~@ms. */
static inline bool wait_for(atomic_int *v, int want, int ms)
{
    for (int i = 0; i < ms && atomic_load(v) < want; i++)
        lrt_sleep_ms(1);
    return atomic_load(v) >= want;
}
#endif
