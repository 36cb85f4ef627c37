/*
 * The ticker: one process-wide background thread, running while runtimes exist.  Two
 * jobs, both off the runtime threads' paths:
 *  - the switch clock (lrt__switch_clock_ns), a CLOCK_MONOTONIC_COARSE time stored every
 *    millisecond, so that the per-task bookkeeping at every switch is a plain load;
 *  - the prefault service: stack.c and task.c ask it to fault in memory they will need
 *    soon (MADV_POPULATE_WRITE), so the runtime thread does not take those faults;
 *  - a slow hook, called about every few hundred ms: diag's check for an lrt-dump attach
 *    request (src/diag/attach.c), which must not depend on any runtime thread;
 *  - one flag polled at every tick for diag (lrt__ticker_watch: the signal dump's
 *    request, set by a signal handler).
 * Both are installed by diag: the ticker never calls up by name.
 * Layer: calls only clock.c and libc.  State: the `ticker` struct under ticker.mu; the
 * switch clock is written by any thread with relaxed atomics (monotonic max).
 */
#include "internal.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>

/* The switch clock.  Busy time and "in this state since" are read at every switch
 * between tasks; even the vDSO's coarse clock is a measurable part of a switch
 * (docs/performance.md), so the switch reads this variable instead.  The ticker stores
 * it every millisecond while a runtime is active, and a runtime refreshes it when it
 * wakes from a park; when no runtime has switched tasks or is inside a poll for a while
 * the ticker backs off (up to 64 ms between wake-ups) and is back to 1 ms at the first
 * wake-up that sees activity.  Durations measured with it are samples at its edges:
 * exact for long polls, unbiased on average for short ones (a poll shorter than a
 * millisecond is charged one with probability duration/1 ms). */
uint64_t lrt__switch_clock_ns;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    lrt__link runtimes;  /* struct lrt_runtime.ticker_link */
    unsigned refs;
    bool running;
    pthread_t thread;
    struct prefault { void *addr; size_t len, stride, count; } pf[4]; /* pending requests */
    unsigned pf_n;
    void *pf_busy;       /* request being populated right now */
    void (*slow_hook)(void);
    uint64_t slow_every_ns;
} ticker = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, {NULL, NULL}, 0, false, 0, {{0}}, 0, NULL, NULL, 0};

void lrt__ticker_set_slow_hook(void (*fn)(void), uint64_t every_ns)
{
    pthread_mutex_lock(&ticker.mu);
    ticker.slow_hook = fn;
    ticker.slow_every_ns = every_ns;
    pthread_mutex_unlock(&ticker.mu);
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

void lrt__prefault_async(void *addr, size_t len, size_t stride, size_t count)
{
    pthread_mutex_lock(&ticker.mu);
    if (ticker.running && ticker.pf_n < sizeof ticker.pf / sizeof ticker.pf[0]) {
        ticker.pf[ticker.pf_n++] = (struct prefault){addr, len, stride, count};
        pthread_cond_broadcast(&ticker.cv);
    }
    pthread_mutex_unlock(&ticker.mu);
}

void lrt__prefault_cancel(void *addr)
{
    pthread_mutex_lock(&ticker.mu);
    for (unsigned i = 0; i < ticker.pf_n;) {
        if (ticker.pf[i].addr == addr)
            ticker.pf[i] = ticker.pf[--ticker.pf_n];
        else
            i++;
    }
    while (ticker.pf_busy == addr)
        pthread_cond_wait(&ticker.cv, &ticker.mu);
    pthread_mutex_unlock(&ticker.mu);
}

/* One flag polled at every wake-up and the function it calls on this thread, outside
 * ticker.mu (diag/sigdump.c: a signal handler may only set a flag).  Set once, never
 * cleared: the function handles a flag with nothing left to serve. */
static atomic_int *watch_flag;
static void (*watch_fn)(void);

void lrt__ticker_watch(atomic_int *flag, void (*fn)(void))
{
    pthread_mutex_lock(&ticker.mu);
    watch_flag = flag;
    watch_fn = fn;
    pthread_mutex_unlock(&ticker.mu);
}

void lrt__switch_clock_refresh(void)
{
    uint64_t now = lrt__coarse_ns();
    if (now > __atomic_load_n(&lrt__switch_clock_ns, __ATOMIC_RELAXED))
        __atomic_store_n(&lrt__switch_clock_ns, now, __ATOMIC_RELAXED);
}

static void *ticker_main(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "lrt-tick");
    /* bind this thread's malloc arena now: the slow hook may start the dump agent while
     * a runtime thread is stuck, perhaps inside malloc holding its arena's lock */
    free(malloc(64));
    uint64_t period_ms = 1, slow_next = 0;
    pthread_mutex_lock(&ticker.mu);
    while (ticker.refs > 0) {
        if (ticker.pf_n) {
            struct prefault r = ticker.pf[0];
            ticker.pf[0] = ticker.pf[--ticker.pf_n];
            ticker.pf_busy = r.addr;
            pthread_mutex_unlock(&ticker.mu);
            for (size_t i = 0; i < r.count; i++) /* EINVAL before Linux 5.14: harmless */
                madvise((char *)r.addr + i * r.stride, r.len, MADV_POPULATE_WRITE);
            pthread_mutex_lock(&ticker.mu);
            ticker.pf_busy = NULL;
            pthread_cond_broadcast(&ticker.cv);
            continue;
        }
        bool active = false;
        for (lrt__link *l = ticker.runtimes.next; l != &ticker.runtimes; l = l->next) {
            struct lrt_runtime *rt = lrt__container_of(l, struct lrt_runtime, ticker_link);
            /* busy: it switched tasks since the last tick, or a poll is still running
             * (a long poll must see the clock move, or its busy time would be lost) */
            uint64_t seq = __atomic_load_n(&rt->poll_seq, __ATOMIC_RELAXED);
            active |= seq != rt->ticker_seen || __atomic_load_n(&rt->current, __ATOMIC_RELAXED);
            rt->ticker_seen = seq;
        }
        period_ms = active ? 1 : period_ms < 64 ? period_ms * 2 : 64;
        void (*watched)(void) = watch_flag && atomic_load_explicit(watch_flag, memory_order_relaxed) ? watch_fn : NULL;
        void (*slow)(void) = ticker.slow_hook;
        uint64_t slow_every = ticker.slow_every_ns;
        pthread_mutex_unlock(&ticker.mu);
        lrt__switch_clock_refresh();
        if (watched)
            watched();
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        if (slow && lrt__timespec_ns(&ts) >= slow_next) {
            slow_next = lrt__timespec_ns(&ts) + slow_every;
            slow();
        }
        ts.tv_nsec += (long)(period_ms * 1000000);
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_mutex_lock(&ticker.mu);
        if (ticker.refs > 0)
            pthread_cond_timedwait(&ticker.cv, &ticker.mu, &ts);
    }
    ticker.running = false;
    pthread_cond_broadcast(&ticker.cv);
    pthread_mutex_unlock(&ticker.mu);
    return NULL;
}

/* A forked child has no ticker thread, whatever the parent's state said. */
static void ticker_child(void)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_mutex_init(&ticker.mu, NULL);
    pthread_cond_init(&ticker.cv, &attr);
    pthread_condattr_destroy(&attr);
    lrt__list_init(&ticker.runtimes);
    ticker.refs = 0;
    ticker.running = false;
    ticker.pf_n = 0;
    ticker.pf_busy = NULL;
}

static void ticker_once(void)
{
    /* timed waits on CLOCK_MONOTONIC (the static initializer means CLOCK_REALTIME) */
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_destroy(&ticker.cv);
    pthread_cond_init(&ticker.cv, &attr);
    pthread_condattr_destroy(&attr);
    pthread_atfork(NULL, NULL, ticker_child);
}

int lrt__ticker_add(struct lrt_runtime *rt)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, ticker_once);
    lrt__switch_clock_refresh();
    pthread_mutex_lock(&ticker.mu);
    if (!ticker.runtimes.next)
        lrt__list_init(&ticker.runtimes);
    while (ticker.running && ticker.refs == 0) /* the last one is still leaving */
        pthread_cond_wait(&ticker.cv, &ticker.mu);
    if (!ticker.running) {
        pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setstacksize(&a, 64 * 1024);
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_JOINABLE);
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old); /* born with every signal blocked */
        int err = pthread_create(&ticker.thread, &a, ticker_main, NULL);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        pthread_attr_destroy(&a);
        if (err) {
            pthread_mutex_unlock(&ticker.mu);
            return -err;
        }
        ticker.running = true;
    }
    ticker.refs++;
    lrt__list_push(&ticker.runtimes, &rt->ticker_link);
    pthread_mutex_unlock(&ticker.mu);
    return 0;
}

void lrt__ticker_remove(struct lrt_runtime *rt)
{
    pthread_t th = 0;
    bool join = false;
    pthread_mutex_lock(&ticker.mu);
    if (!rt->ticker_link.next) {
        pthread_mutex_unlock(&ticker.mu);
        return;
    }
    lrt__list_del(&rt->ticker_link);
    if (ticker.refs > 0 && --ticker.refs == 0) { /* refs is 0 in a forked child */
        th = ticker.thread;
        join = true;
        pthread_cond_broadcast(&ticker.cv);
    }
    pthread_mutex_unlock(&ticker.mu);
    if (join)
        pthread_join(th, NULL);
}
