/*
 * Scheduler: FIFO run queue, polls, wake-ups, budget, event interval.
 *
 * A "poll" is one resume of a task until it yields, suspends or returns.  When a task
 * gives up the CPU it runs the scheduling step itself, on its own stack: it picks the
 * next runnable task and switches to it directly (one context switch per poll instead
 * of two through a scheduler stack); if the next task is itself (it yielded and nothing
 * else is runnable) no switch is needed at all.  Only when the run queue is empty, or a
 * task finished (its stack must be released from another stack), does control return
 * to the scheduler context (the stack of lrt_block_on's caller), which parks in the I/O
 * driver until a timer, an fd, a blocking job or another thread makes work.
 *
 * While tasks are runnable the driver is polled without blocking only every
 * event_interval polls (never on every yield: Tokio 1.24's yield_now pays an
 * epoll_wait(0) each time).  The cooperative budget bounds how many I/O operations a
 * poll may complete without suspending, so an always-ready fd cannot starve others.
 *
 * Bookkeeping that is always on (for lrt-dump) stays off the syscall path: poll counts,
 * states and wait reasons are plain stores; time is one load of the 1 ms tick clock
 * (time.c) per switch between different tasks.  Busy time is therefore a sampled
 * estimate for sub-tick polls (each tick edge is charged to the task running across it:
 * unbiased on average) and exact at the tick resolution for long polls.
 */
#include "internal.h"
#include "trace.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#ifdef LRT__ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

LRT__TLS struct lrt_runtime *lrt__tls_rt;
LRT__TLS int lrt__tls_in_block_on;

uint64_t lrt__coarse_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- queues ----------------------------------------------------------------------- *
 * Two FIFO queues.  The run queue holds tasks that never ran and tasks that yielded; the
 * wake queue holds tasks woken by an event (fd, timer, another task, a job).  Woken tasks
 * are served first: a timer that fires during a burst of 100k spawns must not wait
 * behind all of them (that was a 145 ms p50 lateness in the 100k-timer benchmark).  So
 * that new tasks cannot starve behind a steady stream of wake-ups, the run queue is
 * served first once every event interval.  A yield goes to the run queue's tail: every
 * other runnable task runs before the yielder runs again. */

#define q_push lrt__tq_push

static inline struct lrt_task *q_pop(struct lrt_task **head, struct lrt_task **tail)
{
    struct lrt_task *t = *head;
    if (t) {
        *head = t->next_run;
        if (!*head)
            *tail = NULL;
    }
    return t;
}

static inline void rq_push(struct lrt_runtime *rt, struct lrt_task *t)
{
    q_push(&rt->rq_head, &rt->rq_tail, t);
}

static inline struct lrt_task *rq_pop(struct lrt_runtime *rt)
{
    if (LRT__UNLIKELY(rt->serve_rq) && rt->rq_head) {
        rt->serve_rq = 0;
        return q_pop(&rt->rq_head, &rt->rq_tail);
    }
    struct lrt_task *t = q_pop(&rt->wk_head, &rt->wk_tail);
    return t ? t : q_pop(&rt->rq_head, &rt->rq_tail);
}

static inline bool runnable(const struct lrt_runtime *rt)
{
    return rt->wk_head || rt->rq_head;
}

void lrt__enqueue(struct lrt_runtime *rt, struct lrt_task *t)
{
    rq_push(rt, t);
}

void lrt__wake_by(struct lrt_task *t, int result, int waker_kind, uint64_t waker_id)
{
    if (t->state != LRT__SUSPENDED)
        return;
    struct lrt_runtime *rt = t->rt;
    t->wake_result = result;
    t->state = LRT__RUNNABLE;
    t->last_waker = (uint8_t)waker_kind;
    t->last_waker_id = waker_id;
    t->state_since = rt->clock_cache;
    q_push(&rt->wk_head, &rt->wk_tail, t);
    /* last, so the disabled check stays a leaf's compare and branch and the enabled one is
     * a tail call (before the push, GCC gave lrt__wake a stack frame: +11 instructions
     * per wake with tracing off) */
    LRT__TP_HOT(rt, task_wake, t->id, waker_kind, waker_id);
}

void lrt__wake(struct lrt_task *t, int result, int waker_kind)
{
    struct lrt_task *cur = t->rt->current;
    lrt__wake_by(t, result, waker_kind, cur ? cur->id : 0);
}

/* ---- accounting ------------------------------------------------------------------- */

static inline unsigned hist_bucket(uint64_t ns)
{
    uint64_t us = ns >> 10;
    unsigned b = us ? 64u - (unsigned)__builtin_clzll(us) : 0;
    return b < 16 ? b : 15;
}

/* Per-task time bookkeeping is always on; LRT_BOOKKEEPING=0 exists only so that `make
 * bench` can measure what it costs (build/bench-nobook). */
#ifndef LRT_BOOKKEEPING
#define LRT_BOOKKEEPING 1
#endif

/* @from stops running (may be NULL), @to starts (may be NULL).  One tick-clock load. */
static inline void account_switch(struct lrt_runtime *rt, struct lrt_task *from, struct lrt_task *to)
{
#if !LRT_BOOKKEEPING
    (void)rt;
    (void)from;
    (void)to;
    return;
#endif
    uint64_t now = lrt__tick();
    if (LRT__LIKELY(now == rt->poll_start)) {
        /* same tick as the last switch (the usual case): the poll that ends took no
         * measurable time; only the state timestamps and the wake latency remain */
        if (from)
            from->state_since = now;
        if (to) {
            if (LRT__UNLIKELY(now - to->state_since >= 1024))
                rt->m.sched_hist[hist_bucket(now - to->state_since)]++;
            to->state_since = now;
        }
        return;
    }
    rt->clock_cache = now;
    /* With a 1 ms clock most durations read 0: those land in bucket 0 implicitly (polls
     * minus the other buckets, see dump.c), so the common case is one add. */
    if (from) {
        uint64_t d = now - rt->poll_start;
        from->busy_ns += d;
        if (LRT__UNLIKELY(d >= 1024))
            rt->m.poll_hist[hist_bucket(d)]++;
        from->state_since = now;
    }
    if (to) {
        uint64_t l = now - to->state_since;
        if (LRT__UNLIKELY(l >= 1024))
            rt->m.sched_hist[hist_bucket(l)]++;
        to->state_since = now;
    }
    __atomic_store_n(&rt->poll_start, now, __ATOMIC_RELAXED);
}

static inline void poll_begin(struct lrt_runtime *rt, struct lrt_task *t)
{
    t->state = LRT__RUNNING;
    t->polls++;
    rt->m.polls++;
    /* current, poll_seq and poll_start are sampled by the stall watchdog and the dump
     * agent: relaxed/release atomic stores, plain movs on x86-64 */
    __atomic_store_n(&rt->current, t, __ATOMIC_RELAXED);
    rt->budget_left = rt->budget;
    __atomic_store_n(&rt->poll_seq, rt->poll_seq + 1, __ATOMIC_RELEASE);
}

static inline void poll_end(struct lrt_runtime *rt)
{
    __atomic_store_n(&rt->poll_seq, rt->poll_seq + 1, __ATOMIC_RELEASE);
}

/* ---- context switches (with ASan fiber annotations) ------------------------------- */

/* Switch to @to (NULL: the scheduler stack).  A task that never ran (sp still NULL)
 * starts on its fresh stack through lrt__ctx_start. */
static inline void ctx_switch(struct lrt_runtime *rt, void **save, struct lrt_task *to, bool from_dying)
{
    void *to_sp = to ? to->sp : rt->sched_sp;
    const lrt__stack *st = to ? to->stack : NULL;
#ifdef LRT__ASAN
    void *fake = NULL;
    __sanitizer_start_switch_fiber(from_dying ? NULL : &fake, st ? st->base : rt->asan_sched_bottom,
                                   st ? st->size : rt->asan_sched_size);
#else
    (void)from_dying;
#endif
    if (LRT__LIKELY(to_sp != NULL)) {
        lrt__ctx_switch(save, to_sp);
    } else {
        /* same alignment as the switch frame gives: rsp % 16 == 0 before the call */
        uintptr_t top = (((uintptr_t)st->base + st->size - st->color) & ~(uintptr_t)15) - 16;
        lrt__ctx_start(save, (void *)top, lrt__task_main, to);
    }
#ifdef LRT__ASAN
    __sanitizer_finish_switch_fiber(fake, NULL, NULL);
#endif
}

/* Give a task that never ran its stack and first frame.  false when out of memory. */
static bool prepare(struct lrt_runtime *rt, struct lrt_task *t)
{
    if (LRT__LIKELY(t->flags & LRT__TF_STARTED))
        return true;
    lrt__stack *s = lrt__stack_get(rt);
    if (!s)
        return false;
    t->stack = s;
#ifdef LRT__ASAN
    /* frames of the stack's previous task never returned: drop their redzones */
    __asan_unpoison_memory_region(s->base, s->size);
#endif
    t->sp = NULL; /* first switch: lrt__ctx_start */
    t->flags |= LRT__TF_STARTED | (s->guarded ? 0 : LRT__TF_CANARY);
    return true;
}

/* Slab stacks have no guard page: their canary is checked at every switch-out.  Guarded
 * stacks skip it, so a switch touches no page but the top of the stack. */
static inline void check_canary(struct lrt_task *t)
{
    /* the stack pointer below the base: the task overflowed without touching the canary */
    if (LRT__UNLIKELY(t->flags & LRT__TF_CANARY) &&
        (!lrt__stack_canary_ok(t->stack) || (char *)__builtin_frame_address(0) < (char *)t->stack->base))
        lrt__stack_overflow_report(t, "stack overflow (canary smashed)");
}

/* ---- picking the next task -------------------------------------------------------- */

/* Non-blocking check of every wake-up source.  Runs on whatever stack is current. */
static void maintenance(struct lrt_runtime *rt)
{
    lrt__trace_refresh(rt); /* a session may have enabled or disabled events */
    uint64_t now = lrt__rt_now(rt);
    if (rt->wheel.count)
        lrt__timers_process(rt, now);
    lrt__io_poll(rt, 0);
    if (lrt__remote_pending(rt))
        lrt__remote_drain(rt);
    if (lrt__pool_ready(rt))
        lrt__pool_drain(rt);
    if (rt->run_deadline && lrt__mono_ns() >= rt->run_deadline)
        rt->stop = 1;
    if (atomic_load_explicit(&rt->dump_request, memory_order_relaxed))
        lrt__agent_safepoint(rt);
}

/* lrt_spawn_with's drop: @t's function will never run, so its argument goes back to
 * the cleanup the spawner gave.  It runs outside any task (current is NULL meanwhile), so
 * a drop that calls a suspension point gets -EPERM instead of suspending whichever task
 * happens to be switching out. */
static __attribute__((noinline, cold)) void run_drop(struct lrt_runtime *rt, struct lrt_task *t)
{
    void (*drop)(void *) = t->drop;
    void *arg = t->arg;
    t->drop = NULL;
    t->arg = NULL;
    struct lrt_task *cur = rt->current;
    __atomic_store_n(&rt->current, NULL, __ATOMIC_RELAXED);
    drop(arg);
    __atomic_store_n(&rt->current, cur, __ATOMIC_RELAXED);
}

/* Finish a task that never started: aborted before its first poll (or by a shutdown), or
 * no stack. */
static void finish_unstarted(struct lrt_runtime *rt, struct lrt_task *t, int status)
{
    LRT__TP_HOT(rt, task_poll_begin, t->id);
    t->state = LRT__FINISHED;
    t->wake_result = status;
    if (t->drop)
        run_drop(rt, t);
    LRT__TP_HOT(rt, task_poll_end, t->id, LRT__FINISHED);
    lrt__task_finished(t);
    (void)rt;
}

static struct lrt_task *pick_next(struct lrt_runtime *rt)
{
    /* a pending lrt-dump request is answered at the next switch, not 61 polls later */
    if (LRT__UNLIKELY(++rt->tick >= rt->event_interval ||
                      atomic_load_explicit(&rt->dump_request, memory_order_relaxed))) {
        rt->tick = 0;
        rt->serve_rq = 1;
        maintenance(rt);
    }
    for (;;) {
        if (LRT__UNLIKELY(rt->stop))
            return NULL;
        struct lrt_task *t = rq_pop(rt);
        if (!t)
            return NULL;
        if (LRT__LIKELY(t->flags & LRT__TF_STARTED))
            return t;
        if (t->flags & LRT__TF_CANCELLED) {
            finish_unstarted(rt, t, -ECANCELED);
            continue;
        }
        if (!prepare(rt, t)) {
            fprintf(stderr, "lrt: no memory for the stack of task %llu '%s': not run\n",
                    (unsigned long long)t->id, t->name);
            finish_unstarted(rt, t, -ENOMEM);
            continue;
        }
        return t;
    }
}

/* Release a task that finished on its own stack.  Runs right after the switch away from
 * it, on the next task's (or the scheduler's) stack. */
static inline void reap(struct lrt_runtime *rt)
{
    struct lrt_task *d = rt->dead;
    if (LRT__UNLIKELY(d != NULL)) {
        rt->dead = NULL;
        lrt__stack *s = d->stack;
        d->stack = NULL;
        lrt__stack_put(rt, s);
        lrt__task_finished(d);
    }
}

/*
 * The running task @t gives up the CPU; its state is already RUNNABLE (and queued),
 * SUSPENDED or FINISHED.  Returns when @t runs again (never for FINISHED).  A finished
 * task also switches straight to the next one, which reaps it; only block_on's task
 * returns to the scheduler stack so that lrt_block_on returns at once.
 * Two copies: with @traced false (nobody traces the hot events) there is no tracepoint
 * check at all; schedule() picks one with a single check of rt->trace_hot.
 */
static inline __attribute__((always_inline)) void schedule_body(struct lrt_runtime *rt, struct lrt_task *t,
                                                                const bool traced)
{
    check_canary(t);
    if (LRT__UNLIKELY(rt->pool_flush))
        lrt__pool_flush(rt);
    poll_end(rt);
    if (traced)
        LRT__TP_POLL_END(t);
    bool dying = t->state == LRT__FINISHED;
    struct lrt_task *next = NULL;
    if (LRT__LIKELY(!dying) || t != rt->run_until) {
        next = pick_next(rt);
        if (next == t) { /* yielded and alone: the scheduler picks it again */
            poll_begin(rt, t);
            if (traced)
                LRT__TP_POLL_BEGIN(t);
            return;
        }
    }
    account_switch(rt, t, next);
    if (dying)
        rt->dead = t;
    if (next) {
        poll_begin(rt, next);
        if (traced)
            LRT__TP_POLL_BEGIN(next);
        ctx_switch(rt, &t->sp, next, dying);
    } else {
        __atomic_store_n(&rt->current, NULL, __ATOMIC_RELAXED);
        ctx_switch(rt, &t->sp, NULL, dying);
    }
    reap(rt);
}

#if LRT_TRACE_ENABLED
static __attribute__((noinline)) void schedule_traced(struct lrt_runtime *rt, struct lrt_task *t)
{
    schedule_body(rt, t, true);
}
#endif

static void schedule(struct lrt_runtime *rt, struct lrt_task *t)
{
#if LRT_TRACE_ENABLED
    if (LRT__TP_GATE(rt)) {
        schedule_traced(rt, t);
        return;
    }
#endif
    schedule_body(rt, t, false);
}

void lrt__task_main(void *p)
{
    struct lrt_task *t = p;
    struct lrt_runtime *rt = t->rt;
#ifdef LRT__ASAN
    __sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
    reap(rt);
    t->result = t->fn(t->arg);
    t->state = LRT__FINISHED;
    /* A task aborted while it ran that returned before reaching a suspension point
     * never learnt of the abort: it completed, so its join says 0.  One that was told
     * (-ECANCELED from a suspension point) says -ECANCELED.  Either way the result goes
     * to the joiner (lrt_join), it may own memory. */
    t->wake_result = (t->flags & LRT__TF_CANCEL_SEEN) ? -ECANCELED : 0;
    schedule(rt, t);
    __builtin_unreachable();
}

/* ---- suspension points ------------------------------------------------------------ */


/* A cancelled task still goes through the scheduler once per suspension point, so a
 * loop that ignores -ECANCELED cannot monopolise the thread or hang a shutdown. */
static int cancelled_yield(struct lrt_runtime *rt, struct lrt_task *t)
{
    t->flags |= LRT__TF_CANCEL_SEEN;
    t->state = LRT__RUNNABLE;
    t->wait_kind = LRT__WAIT_YIELD;
    rq_push(rt, t);
    schedule(rt, t);
    t->wait_kind = LRT__WAIT_NONE;
    return -ECANCELED;
}

int lrt__suspend(int kind, const void *obj, uint64_t aux, uint64_t deadline_ns)
{
    struct lrt_runtime *rt = lrt__tls_rt;
    struct lrt_task *t = rt->current;
    if (LRT__UNLIKELY(t->flags & LRT__TF_CANCELLED))
        return cancelled_yield(rt, t);
    t->wait_kind = (uint8_t)kind;
    t->wait_obj = obj;
    t->wait_aux = aux;
    t->state = LRT__SUSPENDED;
    t->wake_result = 0;
    if (deadline_ns - 1 < LRT__DEADLINE_MAX - 1) { /* 0 and beyond the horizon: no timer */
        lrt__timer tm;
        lrt__timer_arm(rt, t, &tm, deadline_ns);
        schedule(rt, t);
        if (t->flags & LRT__TF_TIMER)
            lrt__timer_cancel(rt, t);
        t->timer = NULL;
    } else {
        schedule(rt, t);
    }
    t->wait_kind = LRT__WAIT_NONE;
    t->wait_obj = NULL;
    return t->wake_result;
}

int lrt_yield(void)
{
    struct lrt_task *t;
    int err = lrt__task_ctx(&t);
    if (err)
        return err;
    struct lrt_runtime *rt = t->rt;
    if (LRT__UNLIKELY(t->flags & LRT__TF_CANCELLED))
        return cancelled_yield(rt, t);
    t->state = LRT__RUNNABLE;
    t->wait_kind = LRT__WAIT_YIELD;
    rq_push(rt, t);
    schedule(rt, t);
    t->wait_kind = LRT__WAIT_NONE;
    return 0;
}

int lrt__budget_spend(void)
{
    struct lrt_runtime *rt = lrt__tls_rt;
    if (LRT__LIKELY(--rt->budget_left > 0))
        return 0;
    rt->m.forced_yields++;
    return lrt_yield();
}

/* ---- the scheduler loop (on the block_on caller's stack) -------------------------- */

bool lrt__wakeup_sources(struct lrt_runtime *rt)
{
    return runnable(rt) || rt->wheel.count || lrt__io_waiters(rt) || lrt__pool_pending(rt) ||
           lrt__remote_pending(rt) || lrt__remote_live_handles(rt);
}

#define LRT__PARK_SPIN_NS 20000u

/* Nothing is runnable: wait for the next wake-up.  Returns 0, or -EDEADLK when nothing
 * can ever wake a task, or -ETIMEDOUT at the run deadline. */
static int park(struct lrt_runtime *rt)
{
    if (rt->pool_flush)
        lrt__pool_flush(rt); /* jobs submitted outside a task (lrt_spawn_blocking after lrt_enter) */
    uint64_t now = lrt__rt_now(rt);
    rt->tick = 0;
    if (rt->wheel.count)
        lrt__timers_process(rt, now);
    if (lrt__remote_pending(rt))
        lrt__remote_drain(rt);
    if (lrt__pool_ready(rt))
        lrt__pool_drain(rt);
    if (runnable(rt))
        return 0;
    bool sources = lrt__wakeup_sources(rt);
    if (rt->run_deadline) {
        uint64_t m = lrt__mono_ns();
        if (m >= rt->run_deadline)
            return -ETIMEDOUT;
        if (!sources)
            return -EDEADLK;
    } else if (!sources) {
        return -EDEADLK;
    }
    uint64_t next = lrt__timers_next(rt);
    uint64_t timeout;
    if (rt->paused) {
        /* Virtual time: take what I/O has to offer, then jump to the next timer unless
         * real work (blocking jobs, other threads) could still arrive. */
        if (lrt__io_poll(rt, 0) > 0 || runnable(rt))
            goto drain;
        if (next != UINT64_MAX && !lrt__pool_pending(rt)) {
            if (next > rt->virt_now)
                rt->virt_now = next;
            lrt__timers_process(rt, rt->virt_now);
            return 0;
        }
        timeout = UINT64_MAX;
    } else {
        timeout = next == UINT64_MAX ? UINT64_MAX : (next > now ? next - now : 0);
    }
    if (rt->run_deadline) {
        uint64_t m = lrt__mono_ns();
        uint64_t left = rt->run_deadline > m ? rt->run_deadline - m : 0;
        if (left < timeout)
            timeout = left;
    }
    if (rt->pool_spin && timeout && !rt->paused) {
        /* Blocking jobs were just handed to the pool: a short job completes within a few
         * microseconds, and watching for it is cheaper than sleeping in epoll and being
         * woken through the eventfd (>= 3 us each way on this VM).  Once per submit
         * burst, at most LRT__PARK_SPIN_NS. */
        rt->pool_spin = 0;
        uint64_t until = lrt__mono_ns() + LRT__PARK_SPIN_NS;
        for (unsigned i = 1; !lrt__pool_ready(rt); i++) {
            lrt__cpu_relax();
            if ((i & 63) == 0 && (lrt__mono_ns() >= until || lrt__remote_pending(rt)))
                break;
        }
        if (lrt__pool_ready(rt) || lrt__remote_pending(rt))
            timeout = 0;
    }
    rt->m.parks++;
    if (rt->stack_pool_len > 1024 && timeout)
        lrt__stacks_trim(rt); /* idle: a good moment for the syscalls */
    lrt__io_poll(rt, timeout);
    lrt__trace_refresh(rt); /* a session may have started while we were parked */
    lrt__tick_refresh(); /* the ticker may be backing off while we were idle */
    rt->clock_cache = lrt__tick();
    if (rt->wheel.count)
        lrt__timers_process(rt, lrt__rt_now(rt));
drain:
    if (atomic_load_explicit(&rt->dump_request, memory_order_relaxed))
        lrt__agent_safepoint(rt);
    if (lrt__remote_pending(rt))
        lrt__remote_drain(rt);
    if (lrt__pool_ready(rt))
        lrt__pool_drain(rt);
    return 0;
}

int lrt__run(struct lrt_runtime *rt, struct lrt_task *until, uint64_t deadline_ns)
{
#ifdef LRT__ASAN
    pthread_attr_t attr;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        void *addr;
        size_t size;
        pthread_attr_getstack(&attr, &addr, &size);
        rt->asan_sched_bottom = addr;
        rt->asan_sched_size = size;
        pthread_attr_destroy(&attr);
    }
#endif
    rt->run_deadline = deadline_ns;
    rt->run_until = until;
    rt->stop = 0;
    lrt__tick_refresh();
    rt->clock_cache = lrt__tick();
    int rc = 0;
    for (;;) {
        if (until ? until->state == LRT__FINISHED : rt->alive == 0)
            break;
        if (rt->stop) {
            rc = -ETIMEDOUT;
            break;
        }
        struct lrt_task *t = pick_next(rt);
        if (!t) {
            if (rt->stop)
                continue;
            /* pick_next may have finished the last task (or @until) itself, one that
             * never ran: parking now could wait forever on a source that will never
             * fire (a live lrt_handle_t), or report a deadlock that is not one */
            if (until ? until->state == LRT__FINISHED : rt->alive == 0)
                break;
            rc = park(rt);
            if (rc)
                break;
            continue;
        }
        account_switch(rt, NULL, t);
        poll_begin(rt, t);
        LRT__TP_HOT(rt, task_poll_begin, t->id);
        ctx_switch(rt, &rt->sched_sp, t, false);
        /* Back on the scheduler stack: the queue ran dry or block_on's task finished. */
        reap(rt);
    }
    rt->run_deadline = 0;
    rt->run_until = NULL;
    return rc;
}
