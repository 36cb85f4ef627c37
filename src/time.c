/*
 * Time: the runtime clock and a hierarchical timer wheel.
 *
 * Clock: CLOCK_MONOTONIC read on demand (vDSO, no syscall), or a virtual clock with
 * start_paused (deterministic tests).
 *
 * Wheel: 6 levels x 64 slots; a level-0 slot is one tick of 2^15 ns (32.8 us), a level-l
 * slot 64^l ticks; 6 levels span 2^51 ns (26 days), farther deadlines wait in the top
 * level and cascade down.  Insert and cancel are O(1) (intrusive lists plus an occupancy
 * bitmap per level).  A timer's tick is ceil(deadline / tick), so it never fires early;
 * on an idle runtime it fires at most one tick plus the wake-up latency late, because
 * the driver parks with ns precision (epoll_pwait2) until that tick begins.
 */
#include "internal.h"
#include "trace.h"

#include <signal.h>
#include <sys/mman.h>
#include <time.h>

#define SLOT_MASK (LRT__WHEEL_SLOTS - 1)
#define TICK_NS (1ull << LRT__TICK_SHIFT)
/* The virtual clock saturates halfway to the deadline horizon, so timers armed after an
 * lrt_time_advance(UINT64_MAX) still get finite deadlines. */
#define VIRT_MAX (LRT__DEADLINE_MAX / 2)

uint64_t lrt__mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- the tick clock (per-task bookkeeping) ----------------------------------------- *
 * Busy time and "in this state since" are read at every switch between tasks.  Even the
 * vDSO's CLOCK_MONOTONIC_COARSE cost ~7 ns per switch here (13-25 % of a task switch;
 * rdtsc is worse under this hypervisor), so the switch reads a variable instead:
 * lrt__tick_ns, CLOCK_MONOTONIC_COARSE-based, stored every millisecond by one process-wide
 * ticker thread while runtimes exist, and refreshed by a runtime each time it wakes from
 * a park.  When no runtime has switched tasks or is inside a poll for a while the ticker
 * backs off (up to 64 ms between wake-ups) and is back to 1 ms at the first tick that
 * sees activity.
 * Durations measured with it are samples at tick edges: exact for long polls, unbiased
 * on average for short ones (a poll shorter than a tick is charged a tick with
 * probability duration/tick). */
uint64_t lrt__tick_ns;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    lrt__link runtimes;  /* struct lrt_runtime.tick_link */
    unsigned refs;
    bool running;
    pthread_t thread;
    struct prefault { void *addr; size_t len, stride, count; } pf[4]; /* pending requests */
    unsigned pf_n;
    void *pf_busy;       /* request being populated right now */
} ticker = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, {NULL, NULL}, 0, false, 0, {{0}}, 0, NULL};

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

void lrt__tick_refresh(void)
{
    uint64_t now = lrt__coarse_ns();
    if (now > __atomic_load_n(&lrt__tick_ns, __ATOMIC_RELAXED))
        __atomic_store_n(&lrt__tick_ns, now, __ATOMIC_RELAXED);
}

static void *ticker_main(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "lrt-tick");
    uint64_t period_ms = 1;
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
            struct lrt_runtime *rt = lrt__container_of(l, struct lrt_runtime, tick_link);
            /* busy: it switched tasks since the last tick, or a poll is still running
             * (a long poll must see the clock move, or its busy time would be lost) */
            uint64_t seq = __atomic_load_n(&rt->poll_seq, __ATOMIC_RELAXED);
            active |= seq != rt->tick_seen || __atomic_load_n(&rt->current, __ATOMIC_RELAXED);
            rt->tick_seen = seq;
        }
        period_ms = active ? 1 : period_ms < 64 ? period_ms * 2 : 64;
        pthread_mutex_unlock(&ticker.mu);
        lrt__tick_refresh();
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
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
    lrt__tick_refresh();
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
    lrt__list_push(&ticker.runtimes, &rt->tick_link);
    pthread_mutex_unlock(&ticker.mu);
    return 0;
}

void lrt__ticker_remove(struct lrt_runtime *rt)
{
    pthread_t th = 0;
    bool join = false;
    pthread_mutex_lock(&ticker.mu);
    if (!rt->tick_link.next) {
        pthread_mutex_unlock(&ticker.mu);
        return;
    }
    lrt__list_del(&rt->tick_link);
    if (ticker.refs > 0 && --ticker.refs == 0) { /* refs is 0 in a forked child */
        th = ticker.thread;
        join = true;
        pthread_cond_broadcast(&ticker.cv);
    }
    pthread_mutex_unlock(&ticker.mu);
    if (join)
        pthread_join(th, NULL);
}

uint64_t lrt__rt_now(struct lrt_runtime *rt)
{
    return rt->paused ? rt->virt_now : lrt__mono_ns();
}

uint64_t lrt_now_ns(void)
{
    struct lrt_runtime *rt = lrt__tls_rt;
    return rt ? lrt__rt_now(rt) : lrt__mono_ns();
}

/* ---- wheel ------------------------------------------------------------------------ */

void lrt__wheel_init(lrt__wheel *w, uint64_t now_ns)
{
    w->elapsed = now_ns >> LRT__TICK_SHIFT;
    w->count = 0;
    for (int l = 0; l < LRT__WHEEL_LEVELS; l++) {
        w->occupied[l] = 0;
        for (int s = 0; s < LRT__WHEEL_SLOTS; s++)
            lrt__list_init(&w->slots[l][s]);
    }
}

static inline unsigned level_for(uint64_t elapsed, uint64_t when)
{
    uint64_t masked = (elapsed ^ when) | SLOT_MASK;
    unsigned significant = 63u - (unsigned)__builtin_clzll(masked);
    unsigned level = significant / 6;
    return level < LRT__WHEEL_LEVELS ? level : LRT__WHEEL_LEVELS - 1;
}

/* Returns false when the timer is already due (not inserted). */
static bool wheel_insert(lrt__wheel *w, lrt__timer *tm)
{
    if (tm->when <= w->elapsed)
        return false;
    /* Deadlines beyond half the top level's range are parked at that horizon and
     * re-inserted when it comes (each pass moves them at least 2^35 ticks closer). */
    uint64_t p = tm->when - w->elapsed > (1ull << 35) ? w->elapsed + (1ull << 35) : tm->when;
    unsigned l = level_for(w->elapsed, p);
    unsigned s = (unsigned)(p >> (6 * l)) & SLOT_MASK;
    tm->level = (uint8_t)l;
    tm->slot = (uint8_t)s;
    lrt__list_push(&w->slots[l][s], &tm->link);
    w->occupied[l] |= 1ull << s;
    return true;
}

static void wheel_remove(lrt__wheel *w, lrt__timer *tm)
{
    lrt__list_del(&tm->link);
    lrt__link *head = &w->slots[tm->level][tm->slot];
    if (lrt__list_empty(head))
        w->occupied[tm->level] &= ~(1ull << tm->slot);
}

/* Tick at which the earliest occupied slot begins, or UINT64_MAX. */
static uint64_t wheel_next(const lrt__wheel *w, unsigned *lvl, unsigned *slot)
{
    for (unsigned l = 0; l < LRT__WHEEL_LEVELS; l++) {
        uint64_t occ = w->occupied[l];
        if (!occ)
            continue;
        unsigned shift = 6 * l;
        unsigned now_slot = (unsigned)(w->elapsed >> shift) & SLOT_MASK;
        uint64_t rot = (occ >> now_slot) | (now_slot ? occ << (64 - now_slot) : 0);
        unsigned s = (now_slot + (unsigned)__builtin_ctzll(rot)) & SLOT_MASK;
        uint64_t level_range = 1ull << (shift + 6);
        uint64_t slot_range = 1ull << shift;
        uint64_t start = (w->elapsed & ~(level_range - 1)) + (uint64_t)s * slot_range;
        /* Only the top level can hold a slot "behind" elapsed in its ring: a horizon
         * that crossed into the next top-level block. */
        if (l == LRT__WHEEL_LEVELS - 1 && start <= w->elapsed && s != now_slot)
            start += level_range;
        if (start < w->elapsed)
            start = w->elapsed;
        *lvl = l;
        *slot = s;
        return start;
    }
    return UINT64_MAX;
}

static void fire(struct lrt_runtime *rt, struct lrt_task *t, uint64_t now_ns)
{
    (void)now_ns; /* only traced */
    t->flags &= ~LRT__TF_TIMER;
    t->timer_deadline = 0;
    rt->wheel.count--;
    rt->m.timers_fired++;
    LRT__TP(timer_fire, t->id, t->timer->deadline_ns, now_ns - t->timer->deadline_ns);
    /* the timer, not whichever task happens to be running, woke it */
    lrt__wake_by(t, t->wait_kind == LRT__WAIT_SLEEP ? 0 : -ETIMEDOUT, LRT__WAKER_TIMER, 0);
}

void lrt__timer_arm(struct lrt_runtime *rt, struct lrt_task *t, lrt__timer *tm, uint64_t deadline_ns)
{
    tm->task = t;
    t->timer = tm;
    /* lrt__suspend never arms beyond LRT__DEADLINE_MAX; the clamp keeps the rounding
     * from wrapping (a wrapped `when` would sit in the current slot and stop the wheel). */
    if (LRT__UNLIKELY(deadline_ns > LRT__DEADLINE_MAX))
        deadline_ns = LRT__DEADLINE_MAX;
    t->timer_deadline = deadline_ns;
    tm->deadline_ns = deadline_ns;
    tm->when = (deadline_ns + TICK_NS - 1) >> LRT__TICK_SHIFT;
    t->flags |= LRT__TF_TIMER;
    rt->wheel.count++;
    if (!wheel_insert(&rt->wheel, tm)) {
        /* Due at the current tick already: keep it at level 0's current slot so the
         * next processing fires it once the exact deadline has passed. */
        unsigned s = (unsigned)rt->wheel.elapsed & SLOT_MASK;
        tm->level = 0;
        tm->slot = (uint8_t)s;
        lrt__list_push(&rt->wheel.slots[0][s], &tm->link);
        rt->wheel.occupied[0] |= 1ull << s;
    }
}

void lrt__timer_cancel(struct lrt_runtime *rt, struct lrt_task *t)
{
    if (!(t->flags & LRT__TF_TIMER))
        return;
    t->flags &= ~LRT__TF_TIMER;
    t->timer_deadline = 0;
    wheel_remove(&rt->wheel, t->timer);
    rt->wheel.count--;
}

size_t lrt__timers_process(struct lrt_runtime *rt, uint64_t now_ns)
{
    lrt__wheel *w = &rt->wheel;
    if (w->count == 0) {
        w->elapsed = now_ns >> LRT__TICK_SHIFT;
        return 0;
    }
    /* Round up: a slot whose tick has begun is examined; each timer in it still
     * fires only once its exact deadline has passed. */
    uint64_t now_tick = (now_ns + TICK_NS - 1) >> LRT__TICK_SHIFT;
    size_t fired = 0;
    for (;;) {
        unsigned l, s;
        uint64_t start = wheel_next(w, &l, &s);
        if (start == UINT64_MAX || start > now_tick)
            break;
        /* Take the slot, move time to its start, re-insert: due timers fire, the rest
         * cascade to lower levels. */
        lrt__link list;
        lrt__list_init(&list);
        lrt__link *head = &w->slots[l][s];
        if (!lrt__list_empty(head)) {
            list.next = head->next;
            list.prev = head->prev;
            list.next->prev = &list;
            list.prev->next = &list;
            lrt__list_init(head);
        }
        w->occupied[l] &= ~(1ull << s);
        if (start > w->elapsed)
            w->elapsed = start;
        bool kept = false;
        while (!lrt__list_empty(&list)) {
            lrt__timer *tm = lrt__container_of(list.next, lrt__timer, link);
            lrt__list_del(&tm->link);
            struct lrt_task *t = tm->task;
            if (tm->deadline_ns <= now_ns) {
                fire(rt, t, now_ns);
                fired++;
            } else if (!wheel_insert(w, tm)) {
                /* Its tick has begun but the exact deadline is still ahead (armed late
                 * in the current tick): keep it for the next round. */
                unsigned cs = (unsigned)w->elapsed & SLOT_MASK;
                tm->level = 0;
                tm->slot = (uint8_t)cs;
                lrt__list_push(&w->slots[0][cs], &tm->link);
                w->occupied[0] |= 1ull << cs;
                kept = true;
            }
        }
        if (kept)
            break;
    }
    if (now_tick > w->elapsed && (w->count == 0 || wheel_next(w, &(unsigned){0}, &(unsigned){0}) > now_tick))
        w->elapsed = now_tick;
    return fired;
}

uint64_t lrt__timers_next(struct lrt_runtime *rt)
{
    if (rt->wheel.count == 0)
        return UINT64_MAX;
    unsigned l, s;
    uint64_t start = wheel_next(&rt->wheel, &l, &s);
    if (start == UINT64_MAX)
        return UINT64_MAX;
    if (l == 0) {
        /* Exact: the earliest deadline in that slot (usually one or a few timers). */
        uint64_t best = UINT64_MAX;
        for (lrt__link *n = rt->wheel.slots[0][s].next; n != &rt->wheel.slots[0][s]; n = n->next) {
            lrt__timer *tm = lrt__container_of(n, lrt__timer, link);
            if (tm->deadline_ns < best)
                best = tm->deadline_ns;
        }
        return best;
    }
    /* A higher-level slot starting at tick k holds deadlines above (k-1) ticks: wake
     * just after that, cascade, and fire each timer at its exact deadline. */
    return start ? ((start - 1) << LRT__TICK_SHIFT) + 1 : 0;
}

void lrt__timers_foreach(struct lrt_runtime *rt, void (*fn)(struct lrt_task *t, void *ctx), void *ctx)
{
    for (int l = 0; l < LRT__WHEEL_LEVELS; l++) {
        if (!rt->wheel.occupied[l])
            continue;
        for (int s = 0; s < LRT__WHEEL_SLOTS; s++) {
            lrt__link *h = &rt->wheel.slots[l][s];
            for (lrt__link *n = h->next; n != h;) {
                lrt__link *next = n->next;
                fn(lrt__container_of(n, lrt__timer, link)->task, ctx);
                n = next;
            }
        }
    }
}

int lrt_time_advance(uint64_t ns)
{
    struct lrt_runtime *rt = lrt__rt_check(NULL, &(int){0});
    if (!rt)
        return -EPERM;
    if (!rt->paused)
        return -EINVAL;
    rt->virt_now = ns >= VIRT_MAX - rt->virt_now ? VIRT_MAX : rt->virt_now + ns;
    lrt__timers_process(rt, rt->virt_now);
    return 0;
}

/* ---- sleeping --------------------------------------------------------------------- */

/* Every sleep ends here.  A deadline beyond LRT__DEADLINE_MAX sleeps until cancelled
 * (no timer is armed); the wait reason keeps the requested deadline for the dump. */
static inline int sleep_until(struct lrt_task *t, uint64_t deadline_ns)
{
    if (deadline_ns <= lrt__rt_now(t->rt)) /* already due: still a suspension point */
        return LRT__NOTAIL(lrt_yield());
    return LRT__NOTAIL(lrt__suspend(LRT__WAIT_SLEEP, NULL, deadline_ns, lrt__deadline_at(deadline_ns)));
}

int lrt_sleep_until(uint64_t deadline_ns)
{
    struct lrt_task *t;
    int err = lrt__task_ctx(&t);
    if (err)
        return err;
    return sleep_until(t, deadline_ns);
}

int lrt_sleep_ns(uint64_t ns)
{
    struct lrt_task *t;
    int err = lrt__task_ctx(&t);
    if (err)
        return err;
    uint64_t d = lrt__deadline_in_ns(lrt__rt_now(t->rt), ns);
    return sleep_until(t, d ? d : UINT64_MAX);
}

int lrt_sleep_ms(uint64_t ms)
{
    struct lrt_task *t;
    int err = lrt__task_ctx(&t);
    if (err)
        return err;
    uint64_t d = lrt__deadline_in_ms(lrt__rt_now(t->rt), ms > INT64_MAX ? INT64_MAX : (int64_t)ms);
    return sleep_until(t, d ? d : UINT64_MAX);
}
