/*
 * The core of the scheduler: the run and wake queues, lrt__wake, lrt__suspend, yield,
 * the budget, and the switch from one task to the next.
 *
 * A "poll" is one resume of a task until it yields, suspends or returns.  When a task
 * gives up the CPU it runs the scheduling step itself, on its own stack: it picks the
 * next runnable task and switches to it directly (one context switch per poll instead
 * of two through a scheduler stack); if the next task is itself (it yielded and nothing
 * else is runnable) no switch is needed at all.  Only when the run queue is empty, or a
 * task finished (its stack must be released from another stack), does control return
 * to the scheduler context (loop.c, on the stack of lrt_block_on's caller), which parks
 * in the I/O driver until a timer, an fd, a blocking job or another thread makes work.
 *
 * Layer: calls clock.c, ticker.c (the switch clock), stack.c, wheel.c (arming a
 * suspension's timer) and nothing above.  What lives above (checking the wake-up
 * sources every event interval, publishing blocking jobs, releasing a finished task) is
 * reached through rt->hooks, installed by loop.c, and only off the hot path: switching
 * to the next runnable task is inline code with no call but the switch itself.
 * State: the runtime's scheduler fields, runtime thread only (current, poll_seq and
 * poll_start are also sampled by the diagnosis threads, with atomics).
 *
 * Bookkeeping that is always on (for lrt-dump) stays off the syscall path: poll counts,
 * states and wait reasons are plain stores; time is one load of the 1 ms switch clock
 * (ticker.c) per switch between different tasks.  Busy time is therefore a sampled
 * estimate for sub-millisecond polls and exact at that resolution for long polls.
 */
#include "internal.h"
#include "history.h"
#include "trace.h"

#include <stdio.h>
#include <stdlib.h>

#ifdef LRT__ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

/* ---- queues ----------------------------------------------------------------------- *
 * Two FIFO queues.  The run queue holds tasks that never ran and tasks that yielded; the
 * wake queue holds tasks woken by an event (fd, timer, another task, a job).  Woken tasks
 * are served first: a timer that fires during a burst of 100k spawns must not wait
 * behind all of them (docs/performance.md, timers: the wake queue).  So that new tasks
 * cannot starve behind a steady stream of wake-ups, the run queue gets a turn once every
 * event interval (rq_turn).  A yield goes to the run queue's tail: every other runnable
 * task runs before the yielder runs again. */

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

/* The run queue's turn (see rq_turn) first, else a woken task, else the run queue. */
static inline struct lrt_task *rq_pop(struct lrt_runtime *rt)
{
    if (LRT__UNLIKELY(rt->rq_left)) {
        struct lrt_task *t = q_pop(&rt->rq_head, &rt->rq_tail);
        if (!t || t == rt->rq_last || --rt->rq_left == 0)
            rt->rq_left = 0;
        if (t)
            return t;
    }
    struct lrt_task *t = q_pop(&rt->wk_head, &rt->wk_tail);
    return t ? t : q_pop(&rt->rq_head, &rt->rq_tail);
}

/* Every event interval the run queue gets a turn: the tasks queued in it at that moment
 * (new ones, yielders), up to half an interval of picks, before woken tasks again.  One
 * pick per interval was not enough: 1000 tasks spawned while others kept waking each
 * other (an echo server accepting connections while the first ones already talk) took
 * 61,000 polls to all start (p999 0.6-2 s at the start of echo c1000).  Now the run
 * queue gets about half of the picks when both queues are busy; woken tasks wait at
 * most half an interval longer; a yielder still runs after every task queued before it. */
static inline void rq_turn(struct lrt_runtime *rt)
{
    rt->rq_last = rt->rq_tail;
    rt->rq_left = rt->rq_tail ? (rt->event_interval + 1) / 2 : 0;
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
    /* last, so that with tracing off this stays a leaf (no stack frame) and the
     * enabled case is a tail call */
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

/* The switch clock as the bookkeeping reads it: one load per switch. */
static inline uint64_t switch_now(void)
{
#if LRT_BOOKKEEPING
    return lrt__switch_clock();
#else
    return 0;
#endif
}

/* @from stops running (may be NULL), @to starts (may be NULL), at @now (switch_now()). */
static inline __attribute__((always_inline)) void account_switch(struct lrt_runtime *rt, struct lrt_task *from,
                                                                 struct lrt_task *to, uint64_t now)
{
#if !LRT_BOOKKEEPING
    (void)rt;
    (void)from;
    (void)to;
    (void)now;
    return;
#endif
    if (from) /* its poll ends now: its history entry (the duration, below, when not 0) */
        lrt__hist_poll_end(from, now);
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
        if (d)
            lrt__hist_poll_took(from, d);
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
    lrt__hist_start(t);
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
    rt->hooks->finished(t);
}

static inline struct lrt_task *pick_next(struct lrt_runtime *rt)
{
    /* a pending lrt-dump request is answered at the next switch, not 61 polls later */
    if (LRT__UNLIKELY(++rt->polls_since_sources >= rt->event_interval ||
                      atomic_load_explicit(&rt->dump_request, memory_order_relaxed))) {
        rt->polls_since_sources = 0;
        rq_turn(rt);
        rt->hooks->between_polls(rt);
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

struct lrt_task *lrt__pick_next(struct lrt_runtime *rt)
{
    return pick_next(rt);
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
        /* through d, not rt: only d lives across the call */
        d->rt->hooks->finished(d);
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
        rt->hooks->flush(rt);
    poll_end(rt);
    if (traced)
        LRT__TP_POLL_END(t);
    bool dying = t->state == LRT__FINISHED;
    struct lrt_task *next = NULL;
    if (LRT__LIKELY(!dying) || t != rt->run_until) {
        next = pick_next(rt);
        if (next == t) { /* yielded and alone: the scheduler picks it again */
#if LRT_HISTORY
            uint64_t now = switch_now();
            lrt__hist_poll_end(t, now);
            if (LRT__UNLIKELY(now != rt->poll_start)) {
                /* no account_switch on this path: start the next poll's clock here (the
                 * time so far is busy time), so one poll's duration is one poll's */
                uint64_t d = now - rt->poll_start;
                t->busy_ns += d;
                lrt__hist_poll_took(t, d);
                rt->clock_cache = now;
                __atomic_store_n(&rt->poll_start, now, __ATOMIC_RELAXED);
            }
#endif
            poll_begin(rt, t);
            if (traced)
                LRT__TP_POLL_BEGIN(t);
            return;
        }
    }
    account_switch(rt, t, next, switch_now());
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

/* From the scheduler stack (loop.c): run @t, and the tasks it switches to directly,
 * until the queues run dry or block_on's task finishes. */
void lrt__switch_in(struct lrt_runtime *rt, struct lrt_task *t)
{
    account_switch(rt, NULL, t, switch_now());
    poll_begin(rt, t);
    LRT__TP_HOT(rt, task_poll_begin, t->id);
    ctx_switch(rt, &rt->sched_sp, t, false);
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
    if (LRT__UNLIKELY(t->tls != NULL)) /* still running: a destructor may use the runtime */
        lrt__tls_run_dtors(t);
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
 * loop that ignores -ECANCELED cannot monopolise the thread or hang a shutdown.  A task
 * past its scope deadline does the same with -ETIMEDOUT. */
static __attribute__((noinline)) int interrupt_yield(struct lrt_runtime *rt, struct lrt_task *t, int err)
{
    if (err == -ECANCELED)
        t->flags |= LRT__TF_CANCEL_SEEN;
    t->state = LRT__RUNNABLE;
    t->wait_kind = LRT__WAIT_YIELD;
    rq_push(rt, t);
    schedule(rt, t);
    t->wait_kind = LRT__WAIT_NONE;
    return err;
}

int lrt__interrupted(struct lrt_task *t)
{
    struct lrt_runtime *rt = t->rt;
    if (t->flags & LRT__TF_CANCELLED)
        return interrupt_yield(rt, t, -ECANCELED);
    if ((t->flags & LRT__TF_DEADLINE) && lrt__rt_now(rt) >= t->scopes->deadline)
        return interrupt_yield(rt, t, -ETIMEDOUT);
    return 0;
}

void lrt__cancel(struct lrt_task *t)
{
    /* A shielded task keeps waiting: the abort waits in CANCEL_PENDING until its last
     * shield is popped (scope.c), so its cleanup I/O is not cut short. */
    if ((t->flags & (LRT__TF_SHIELD | LRT__TF_UNSHIELDED)) == LRT__TF_SHIELD) {
        t->flags |= LRT__TF_CANCEL_PENDING;
        return;
    }
    t->flags |= LRT__TF_CANCELLED;
    if (t->state == LRT__SUSPENDED) {
        t->flags |= LRT__TF_CANCEL_SEEN;
        lrt__wake(t, -ECANCELED, LRT__WAKER_CANCEL);
    }
}

static inline __attribute__((always_inline)) int suspend_in(struct lrt_runtime *rt, struct lrt_task *t, int kind,
                                                            const void *obj, uint64_t aux, uint64_t deadline_ns)
{
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

/* A cancelled task, or one under a deadline scope: the effective deadline is the earlier
 * of the call's and the scope's, and a wait ended by the scope's timer returns
 * -ETIMEDOUT whatever the call (a sleep would say 0 for its own deadline).  The wait
 * protocol is unchanged: the timer wakes without unlinking, like a call's own deadline
 * (waitq.h rule 3), so the first wake still wins. */
static __attribute__((noinline)) int suspend_slow(struct lrt_runtime *rt, struct lrt_task *t, int kind,
                                                  const void *obj, uint64_t aux, uint64_t deadline_ns)
{
    int r = lrt__interrupted(t);
    if (r)
        return r;
    uint64_t own = deadline_ns - 1 < LRT__DEADLINE_MAX - 1 ? deadline_ns : UINT64_MAX;
    uint64_t scope = (t->flags & LRT__TF_DEADLINE) ? t->scopes->deadline : UINT64_MAX;
    if (scope > own)
        return suspend_in(rt, t, kind, obj, aux, deadline_ns);
    r = suspend_in(rt, t, kind, obj, aux, scope);
    return t->last_waker == LRT__WAKER_TIMER ? -ETIMEDOUT : r;
}

int lrt__suspend(int kind, const void *obj, uint64_t aux, uint64_t deadline_ns)
{
    struct lrt_runtime *rt = lrt__tls_rt;
    struct lrt_task *t = rt->current;
    if (LRT__UNLIKELY(t->flags & LRT__TF_INTERRUPT))
        return suspend_slow(rt, t, kind, obj, aux, deadline_ns);
    return suspend_in(rt, t, kind, obj, aux, deadline_ns);
}

static inline __attribute__((always_inline)) int yield_in(struct lrt_runtime *rt, struct lrt_task *t)
{
    t->state = LRT__RUNNABLE;
    t->wait_kind = LRT__WAIT_YIELD;
    rq_push(rt, t);
    schedule(rt, t);
    t->wait_kind = LRT__WAIT_NONE;
    return 0;
}

/* Out of line so that the fast path keeps nothing live across a call. */
static __attribute__((noinline)) int yield_slow(struct lrt_task *t)
{
    int err = lrt__interrupted(t);
    return err ? err : yield_in(t->rt, t);
}

int lrt_yield(void)
{
    struct lrt_task *t;
    int err = lrt__task_ctx(&t);
    if (err)
        return err;
    if (LRT__UNLIKELY(t->flags & LRT__TF_INTERRUPT))
        return yield_slow(t);
    return yield_in(t->rt, t);
}

int lrt__budget_spend(void)
{
    struct lrt_runtime *rt = lrt__tls_rt;
    if (LRT__LIKELY(--rt->budget_left > 0))
        return 0;
    rt->m.forced_yields++;
    return lrt_yield();
}
