/*
 * history.h - each task's recent history: a ring of its last LRT__HIST_LEN entries (its
 * spawn, then one per poll: when it ended, what ended it, who had woken it for it) that
 * lrt-dump -e, the snapshot ("history", "max_poll_ns"), the stall report and the
 * deadlock report show as events (diag/history.c).
 *
 * Where it lives: at the top of the task's own stack, above its first frame (stack.c
 * reserves LRT__HIST_BYTES in every stack's cache colour), in the page the first frame
 * touched anyway: no allocation, no growth of the task record's hot lines.  The next
 * slot is one byte of the join header's first line (t->hist_pos, padding before); the
 * ring's address is t->hist, in the record's cold part, set when the task gets its
 * stack (core.c prepare).  A task that never ran has no ring: its history is its spawn
 * (state_since).  The ring goes with the stack when the task finishes.
 *
 * Cost: an entry is a few plain stores with the switch clock core.c loads anyway (no
 * clock read, nothing at the wake); measured in docs/performance.md (ping_pong +2.5 %).  Compiled out with -DLRT_HISTORY=0
 * (also implied by LRT_BOOKKEEPING=0: poll durations come from the same clock).
 * Runtime thread only writes; diag reads it between polls or with the thread frozen.
 */
#ifndef LRT_HISTORY_H
#define LRT_HISTORY_H

#include "internal.h"

#ifndef LRT_BOOKKEEPING
#define LRT_BOOKKEEPING 1
#endif
#ifndef LRT_HISTORY
#define LRT_HISTORY LRT_BOOKKEEPING
#endif

#define LRT__HIST_LEN 16 /* a power of two, <= 16 (t->hist_pos keeps a "full" bit above) */

/*
 * One entry per poll, written when the poll ends (16 bytes, three plain stores): when it
 * ended, what ended it (the wait kind it suspended on, LRT__WAIT_YIELD, or NONE when the
 * task finished), and who had woken it for this poll (t->last_waker, t->last_waker_id:
 * set by lrt__wake_by, so the wake itself costs nothing more).  The poll's duration is
 * filled in only when the switch clock moved during it (account_switch's slow branch);
 * most polls end within the tick they began in and keep 0.  The renderer (diag/history.c)
 * turns entries back into events: woken (from the entry before: the wait it left; at the
 * poll's start), polled, then suspended / yielded / finished.  The first entry of a
 * ring is the spawn (wait = LRT__HEV_SPAWNED, waker_id = the parent).
 */
#define LRT__HEV_SPAWNED 0xffu

struct lrt__hev {
    uint64_t at;        /* switch clock (coarse monotonic ns) when the poll ended */
    uint8_t wait;       /* t->wait_kind at the end, or LRT__HEV_SPAWNED */
    uint8_t waker;      /* t->last_waker: what woke it for this poll */
    uint16_t dur;       /* the poll's duration: ms, or 0x8000 | s from 32.768 s on */
    uint32_t waker_id;  /* t->last_waker_id, low 32 bits (the parent for the spawn) */
};

struct lrt__hist {
    struct lrt__hev ev[LRT__HIST_LEN];
    uint64_t max_poll_ns; /* the longest poll so far */
};

/* What every stack keeps free at its top for the ring (a multiple of 64: the colour
 * steps stay whole cache lines). */
#define LRT__HIST_BYTES ((sizeof(struct lrt__hist) + 63) & ~(size_t)63)

static inline void lrt__hist_advance(struct lrt_task *t, unsigned p)
{
    /* low bits: the next slot; the LRT__HIST_LEN bit, once set, stays (the ring is full):
     * a byte store truncates 255 + 1 to 0 | 16 */
    t->hist_pos = (uint8_t)((p + 1) | (p & LRT__HIST_LEN));
}

/* A stack given to a task that never ran (core.c prepare): start its ring with its
 * spawn (state_since is still the spawn time). */
static inline void lrt__hist_start(struct lrt_task *t)
{
#if LRT_HISTORY
    lrt__stack *s = t->stack;
    struct lrt__hist *h = (struct lrt__hist *)((char *)s->base + s->size - LRT__HIST_BYTES);
    t->hist = h;
    h->max_poll_ns = 0;
    /* block_on's task is spawned before the runtime's clock_cache was ever set */
    uint64_t at = t->state_since ? t->state_since : lrt__switch_clock();
    h->ev[0] = (struct lrt__hev){.at = at, .wait = LRT__HEV_SPAWNED, .waker = LRT__WAKER_SPAWN,
                                 .waker_id = (uint32_t)t->parent_id};
    t->hist_pos = 1;
#else
    (void)t;
#endif
}

/* The running task's poll ends at @now (switch clock); its state, wait kind and waker
 * are final.  The duration is 0 here: lrt__hist_poll_took() fills it in when not. */
static inline __attribute__((always_inline)) void lrt__hist_poll_end(struct lrt_task *t, uint64_t now)
{
#if LRT_HISTORY
    unsigned p = t->hist_pos;
    struct lrt__hev *e = &t->hist->ev[p & (LRT__HIST_LEN - 1)];
    e->at = now;
    /* byte by byte: wait_kind was just stored, and a wider load spanning it and
     * last_waker would miss store-to-load forwarding (a stall of ~a dozen cycles) */
    e->wait = __atomic_load_n(&t->wait_kind, __ATOMIC_RELAXED); /* relaxed: never merged */
    e->waker = __atomic_load_n(&t->last_waker, __ATOMIC_RELAXED);
    e->dur = 0;
    e->waker_id = (uint32_t)t->last_waker_id;
    lrt__hist_advance(t, p);
#else
    (void)t, (void)now;
#endif
}

/* The poll whose end was just recorded took @d ns (> 0): the clock ticked during it.
 * Off the usual path (account_switch's slow branch). */
static __attribute__((noinline, cold, unused)) void lrt__hist_poll_took(struct lrt_task *t, uint64_t d)
{
#if LRT_HISTORY
    struct lrt__hev *e = &t->hist->ev[(t->hist_pos - 1u) & (LRT__HIST_LEN - 1)];
    uint64_t ms = d / 1000000u;
    e->dur = ms < 0x8000 ? (uint16_t)ms : (uint16_t)(0x8000u | (d / 1000000000u < 0x7fff ? d / 1000000000u : 0x7fff));
    if (d > t->hist->max_poll_ns)
        t->hist->max_poll_ns = d;
#else
    (void)t, (void)d;
#endif
}

static inline uint64_t lrt__hist_dur_ns(uint16_t dur)
{
    return dur & 0x8000 ? (uint64_t)(dur & 0x7fff) * 1000000000u : (uint64_t)dur * 1000000u;
}

/* Does @t have a ring to read (it ran and still has its stack)? */
static inline bool lrt__hist_valid(const struct lrt_task *t)
{
    return LRT_HISTORY && (t->flags & LRT__TF_STARTED) && t->stack && t->hist;
}
#endif
