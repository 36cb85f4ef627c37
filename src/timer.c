/*
 * Timers above the scheduler: firing due timers (which wakes their tasks), the virtual
 * clock's lrt_time_advance, and the sleeps.  The wheel itself is wheel.c.
 * Layer: calls core.c (wake, suspend, yield), wheel.c, clock.c.  State: the runtime's
 * wheel and virtual clock, runtime thread only.
 */
#include "internal.h"
#include "trace.h"

/* The virtual clock saturates halfway to the deadline horizon, so timers armed after an
 * lrt_time_advance(UINT64_MAX) still get finite deadlines. */
#define VIRT_MAX (LRT__DEADLINE_MAX / 2)

static void fire(struct lrt_runtime *rt, struct lrt_task *t, uint64_t now_ns)
{
    (void)now_ns; /* only traced */
    t->flags &= ~LRT__TF_TIMER;
    t->timer_deadline = 0;
    rt->m.timers_fired++;
    LRT__TP(timer_fire, t->id, t->timer->deadline_ns, now_ns - t->timer->deadline_ns);
    /* the timer, not whichever task happens to be running, woke it */
    lrt__wake_by(t, t->wait_kind == LRT__WAIT_SLEEP ? 0 : -ETIMEDOUT, LRT__WAKER_TIMER, 0);
}

size_t lrt__timers_process(struct lrt_runtime *rt, uint64_t now_ns)
{
    size_t fired = 0;
    /* in expiry order: the wake queue sees the same order as when the wheel fired them */
    for (lrt__link *n = lrt__wheel_expire(&rt->wheel, now_ns); n; fired++) {
        lrt__timer *tm = lrt__container_of(n, lrt__timer, link);
        n = n->next;
        tm->link.next = NULL;
        fire(rt, tm->task, now_ns);
    }
    return fired;
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
