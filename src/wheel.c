/*
 * The timer wheel, a pure data structure: insert, remove, next deadline, and "take the
 * due timers".  It wakes nobody: timer.c fires what lrt__wheel_expire returns.  That
 * keeps arming and cancelling (lrt__suspend's path, in core.c) below the scheduler.
 * Layer: calls only the list helpers of internal.h.  State: struct lrt_runtime.wheel,
 * runtime thread only.
 *
 * 6 levels x 64 slots; a level-0 slot is one grain of 2^LRT__WHEEL_GRAIN_SHIFT ns
 * (32.8 us), a level-l slot 64^l grains; 6 levels span 2^51 ns (26 days), farther
 * deadlines wait in the top level and cascade down.  Insert and cancel are O(1)
 * (intrusive lists plus an occupancy bitmap per level).  A timer's grain is
 * ceil(deadline / grain), so it never fires early; on an idle runtime it fires at most
 * one grain plus the wake-up latency late, because the driver parks with ns precision
 * (epoll_pwait2) until that grain begins.
 */
#include "internal.h"

#define SLOT_MASK (LRT__WHEEL_SLOTS - 1)
#define GRAIN_NS (1ull << LRT__WHEEL_GRAIN_SHIFT)

void lrt__wheel_init(lrt__wheel *w, uint64_t now_ns)
{
    w->elapsed = now_ns >> LRT__WHEEL_GRAIN_SHIFT;
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
     * re-inserted when it comes (each pass moves them at least 2^35 grains closer). */
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
    tm->when = (deadline_ns + GRAIN_NS - 1) >> LRT__WHEEL_GRAIN_SHIFT;
    t->flags |= LRT__TF_TIMER;
    rt->wheel.count++;
    if (!wheel_insert(&rt->wheel, tm)) {
        /* Due at the current grain already: keep it at level 0's current slot so the
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

lrt__link *lrt__wheel_expire(lrt__wheel *w, uint64_t now_ns)
{
    lrt__link *due = NULL, **tail = &due;
    if (w->count == 0) {
        w->elapsed = now_ns >> LRT__WHEEL_GRAIN_SHIFT;
        return NULL;
    }
    /* Round up: a slot whose grain has begun is examined; each timer in it still
     * fires only once its exact deadline has passed. */
    uint64_t now_grain = (now_ns + GRAIN_NS - 1) >> LRT__WHEEL_GRAIN_SHIFT;
    for (;;) {
        unsigned l, s;
        uint64_t start = wheel_next(w, &l, &s);
        if (start == UINT64_MAX || start > now_grain)
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
            if (tm->deadline_ns <= now_ns) {
                *tail = &tm->link; /* a NULL-terminated chain through link.next */
                tail = &tm->link.next;
                w->count--;
            } else if (!wheel_insert(w, tm)) {
                /* Its grain has begun but the exact deadline is still ahead (armed late
                 * in the current grain): keep it for the next round. */
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
    if (now_grain > w->elapsed && (w->count == 0 || wheel_next(w, &(unsigned){0}, &(unsigned){0}) > now_grain))
        w->elapsed = now_grain;
    *tail = NULL;
    return due;
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
    /* A higher-level slot starting at grain k holds deadlines above (k-1) grains: wake
     * just after that, cascade, and fire each timer at its exact deadline. */
    return start ? ((start - 1) << LRT__WHEEL_GRAIN_SHIFT) + 1 : 0;
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
