/*
 * history.h - each task's recent history: a ring of its last LRT__HIST_LEN events
 * (spawned, each poll's end with what ended it, each wake-up) that lrt-dump -e, the
 * snapshot ("history", "max_poll_ns"), the stall report and the deadlock report show.
 *
 * Where it lives: at the top of the task's own stack, above its first frame (stack.c
 * reserves LRT__HIST_BYTES in every stack's cache colour), in the page the first frame
 * touched anyway: no allocation, no growth of the task record's hot lines.  The next
 * slot is one byte of the join header's first line (t->hist_pos, padding before); the
 * ring's address is t->hist, in the record's cold part, set when the task gets its
 * stack (core.c prepare).  A task that never ran has no ring: its history is its spawn
 * (state_since).  The ring goes with the stack when the task finishes.
 *
 * Cost: an event is a few plain stores with the switch clock core.c loads anyway (no
 * clock read); measured in docs/performance.md.  Compiled out with -DLRT_HISTORY=0
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

#define LRT__HIST_LEN 16 /* a power of two, <= 64 (t->hist_pos keeps a wrapped bit above) */

enum {
    LRT__HEV_EMPTY = 0,
    LRT__HEV_SPAWNED, /* arg: parent task id */
    LRT__HEV_POLLED,  /* sub: the wait kind that ended it (YIELD, NONE = finished); arg: us */
    LRT__HEV_WOKEN,   /* sub: waker kind; sub2: the wait it left; arg: waker task id */
};

/* 16 bytes: the switch clock (coarse monotonic ns), a kind, two small payloads, and a
 * 32-bit argument (task ids truncated to their low 32 bits, durations in microseconds). */
struct lrt__hev {
    uint64_t at;
    uint8_t kind, sub, sub2, pad_;
    uint32_t arg;
};

struct lrt__hist {
    struct lrt__hev ev[LRT__HIST_LEN];
    uint64_t max_poll_ns; /* the longest poll so far */
};

/* What every stack keeps free at its top for the ring (a multiple of 64: the colour
 * steps stay whole cache lines). */
#define LRT__HIST_BYTES ((sizeof(struct lrt__hist) + 63) & ~(size_t)63)

static inline void lrt__hist_put(struct lrt_task *t, uint64_t at, unsigned kind, unsigned sub, unsigned sub2,
                                 uint32_t arg)
{
#if LRT_HISTORY
    unsigned p = t->hist_pos;
    struct lrt__hev *e = &t->hist->ev[p & (LRT__HIST_LEN - 1)];
    e->at = at;
    e->kind = (uint8_t)kind;
    e->sub = (uint8_t)sub;
    e->sub2 = (uint8_t)sub2;
    e->arg = arg;
    /* low bits: next slot; the LRT__HIST_LEN bit, once set, stays: the ring is full */
    t->hist_pos = (uint8_t)(((p + 1) | (p & LRT__HIST_LEN)) & (2 * LRT__HIST_LEN - 1));
#else
    (void)t, (void)at, (void)kind, (void)sub, (void)sub2, (void)arg;
#endif
}

/* A stack given to a task that never ran (core.c prepare): start its ring with its
 * spawn. */
static inline void lrt__hist_start(struct lrt_task *t)
{
#if LRT_HISTORY
    lrt__stack *s = t->stack;
    t->hist = (struct lrt__hist *)((char *)s->base + s->size - LRT__HIST_BYTES);
    t->hist->max_poll_ns = 0;
    t->hist_pos = 0;
    lrt__hist_put(t, t->state_since, LRT__HEV_SPAWNED, 0, 0, (uint32_t)t->parent_id);
#else
    (void)t;
#endif
}

/* The running task's poll ends at @now (switch clock), @d after it began. */
static inline void lrt__hist_poll_end(struct lrt_task *t, uint64_t now, uint64_t d)
{
#if LRT_HISTORY
    uint32_t us = 0;
    if (LRT__UNLIKELY(d != 0)) { /* most polls end within the clock tick they began in */
        us = d / 1000 < UINT32_MAX ? (uint32_t)(d / 1000) : UINT32_MAX;
        if (d > t->hist->max_poll_ns)
            t->hist->max_poll_ns = d;
    }
    lrt__hist_put(t, now, LRT__HEV_POLLED, t->state == LRT__FINISHED ? LRT__WAIT_NONE : t->wait_kind, 0, us);
#else
    (void)t, (void)now, (void)d;
#endif
}

/* Does @t have a ring to read (it ran and still has its stack)? */
static inline bool lrt__hist_valid(const struct lrt_task *t)
{
    return LRT_HISTORY && (t->flags & LRT__TF_STARTED) && t->stack && t->hist;
}
#endif
