/*
 * The event loop: what runs when no task is runnable or an event interval is over.  It
 * checks every wake-up source (run_sources), parks in the I/O driver, decides deadlock
 * and run deadlines, and drives lrt__run on the stack of lrt_block_on's caller.  It is
 * the only caller of the diagnosis safepoint.
 *
 * While tasks are runnable the driver is polled without blocking only every
 * event_interval polls (never on every yield: Tokio 1.24's yield_now pays an
 * epoll_wait(0) each time).  The cooperative budget (core.c) bounds how many I/O
 * operations a poll may complete without suspending, so an always-ready fd cannot
 * starve others.
 *
 * Layer: the top of the scheduler; calls core, timer, io, notify (the inbox), remote,
 * blocking, stack and task; the diagnosis safepoint runs as the agent's inbox drain.  core.c reaches it only through the hooks installed by
 * lrt__run.  State: the runtime's scheduler fields, runtime thread only.
 */
#include "internal.h"
#include "trace.h"

static void between_polls(struct lrt_runtime *rt);

static const struct lrt__core_hooks loop_hooks = {
    .between_polls = between_polls,
    .flush = lrt__pool_flush,
    .finished = lrt__task_finished,
};

/* Every non-blocking wake-up source but the fds, in one order: due timers, then the
 * inbox of cross-thread sources in registration order (tasks sent from other threads,
 * completed blocking jobs, then a pending lrt-dump request: after the drains, so the
 * snapshot shows the tasks they woke).  The one sequence the loop runs between polls and
 * around a park. */
static void run_sources(struct lrt_runtime *rt)
{
    if (rt->wheel.count)
        lrt__timers_process(rt, lrt__rt_now(rt));
    lrt__inbox_drain(rt);
}

/* Every event interval (and at once on a dump request), on whatever stack is current. */
static void between_polls(struct lrt_runtime *rt)
{
    lrt__trace_refresh(rt); /* a session may have enabled or disabled events */
    lrt__io_poll(rt, 0);
    run_sources(rt);
    if (rt->run_deadline && lrt__mono_ns() >= rt->run_deadline)
        rt->stop = 1;
}

bool lrt__wakeup_sources(struct lrt_runtime *rt)
{
    return lrt__runnable(rt) || rt->wheel.count || lrt__io_waiters(rt) || lrt__pool_pending(rt) ||
           lrt__inbox_pending(rt) || lrt__remote_live_handles(rt);
}

/* ---- park, phase by phase --------------------------------------------------------- */

/* -ETIMEDOUT at the run deadline, -EDEADLK when nothing can ever wake a task, else 0. */
static int nothing_to_wait_for(struct lrt_runtime *rt)
{
    bool sources = lrt__wakeup_sources(rt);
    if (rt->run_deadline && lrt__mono_ns() >= rt->run_deadline)
        return -ETIMEDOUT;
    return sources ? 0 : -EDEADLK;
}

/* Virtual time: take what I/O has to offer, then jump to the next timer unless real
 * work (blocking jobs, other threads) could still arrive.  true when there is something
 * to run or fire without waiting. */
static bool virtual_time_step(struct lrt_runtime *rt)
{
    if (lrt__io_poll(rt, 0) > 0 || lrt__runnable(rt))
        return true;
    uint64_t next = lrt__timers_next(rt);
    if (next == UINT64_MAX || lrt__pool_pending(rt))
        return false;
    if (next > rt->virt_now)
        rt->virt_now = next;
    return true;
}

/* How long the driver may sleep: until the next timer, at most until the run deadline
 * (UINT64_MAX: no limit). */
static uint64_t park_timeout(struct lrt_runtime *rt)
{
    uint64_t timeout = UINT64_MAX;
    if (!rt->paused) {
        uint64_t next = lrt__timers_next(rt);
        uint64_t now = lrt__rt_now(rt);
        if (next != UINT64_MAX)
            timeout = next > now ? next - now : 0;
    }
    if (rt->run_deadline) {
        uint64_t m = lrt__mono_ns();
        uint64_t left = rt->run_deadline > m ? rt->run_deadline - m : 0;
        if (left < timeout)
            timeout = left;
    }
    return timeout;
}

#define LRT__PARK_SPIN_NS 20000u

/* Blocking jobs were just handed to the pool: a short job completes within a few
 * microseconds, and watching for it is cheaper than sleeping in the driver and being
 * woken through the eventfd (docs/performance.md, blocking_pool).  Once per submit
 * burst, at most LRT__PARK_SPIN_NS.  Returns the timeout left for the wait. */
static uint64_t spin_for_jobs(struct lrt_runtime *rt, uint64_t timeout)
{
    if (!rt->pool_spin || !timeout || rt->paused)
        return timeout;
    rt->pool_spin = 0;
    uint64_t until = lrt__mono_ns() + LRT__PARK_SPIN_NS;
    for (unsigned i = 1; !lrt__pool_ready(rt); i++) {
        lrt__cpu_relax();
        if ((i & 63) == 0 && (lrt__mono_ns() >= until || lrt__inbox_pending(rt)))
            break;
    }
    return lrt__pool_ready(rt) || lrt__inbox_pending(rt) ? 0 : timeout;
}

/* Sleep in the driver for at most @timeout ns, then bring the clocks up to date. */
static void wait_for_events(struct lrt_runtime *rt, uint64_t timeout)
{
    rt->m.parks++;
    if (rt->stack_pool_len > 1024 && timeout)
        lrt__stacks_trim(rt); /* idle: a good moment for the syscalls */
    lrt__io_poll(rt, timeout);
    lrt__trace_refresh(rt);         /* a session may have started while we were parked */
    lrt__switch_clock_refresh();    /* the ticker may be backing off while we were idle */
    rt->clock_cache = lrt__switch_clock();
}

/* Nothing is runnable: wait for the next wake-up.  Returns 0, or -EDEADLK when nothing
 * can ever wake a task, or -ETIMEDOUT at the run deadline. */
static int park(struct lrt_runtime *rt)
{
    if (rt->pool_flush)
        lrt__pool_flush(rt); /* jobs submitted outside a task (lrt_spawn_blocking after lrt_enter) */
    rt->polls_since_sources = 0;
    run_sources(rt);
    if (lrt__runnable(rt))
        return 0;
    int rc = nothing_to_wait_for(rt);
    if (rc)
        return rc;
    if (rt->paused && virtual_time_step(rt)) {
        run_sources(rt);
        return 0;
    }
    wait_for_events(rt, spin_for_jobs(rt, park_timeout(rt)));
    run_sources(rt);
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
    rt->hooks = &loop_hooks;
    lrt__switch_clock_refresh();
    rt->clock_cache = lrt__switch_clock();
    int rc = 0;
    for (;;) {
        if (until ? until->state == LRT__FINISHED : rt->alive == 0)
            break;
        if (rt->stop) {
            rc = -ETIMEDOUT;
            break;
        }
        struct lrt_task *t = lrt__pick_next(rt);
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
        /* back when the queue ran dry or block_on's task finished */
        lrt__switch_in(rt, t);
    }
    rt->run_deadline = 0;
    rt->run_until = NULL;
    return rc;
}
