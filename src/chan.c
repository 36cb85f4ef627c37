/*
 * chan.c — the channel: a FIFO ring of void * between the tasks of one runtime, bounded
 * or not.  Layer: beside io (calls core, waitq.h and sync.h's entry checks); runtime
 * thread only, no atomics.
 *
 * Waiting follows waitq.h: a receiver waits only on an empty ring and is handed its
 * message directly (the sender never touches the ring then), a sender waits only on a
 * full one and its message is moved into the ring by the receiver that made room.  So
 * FIFO order is the queue order, and a wait returns 0 exactly when the message moved.
 *
 * `handed` counts messages handed to receivers that have not run yet; free() answers
 * -EBUSY while it is non-zero (the receiver's wait still refers to the channel).
 */
#include "sync.h"

#include <stdlib.h>
#include <string.h>

/* Ring buffer of void *: `len` messages from `head`, size mask+1 (a power of two).
 * Bounded rings are sized for their capacity up front (nothing is ever given back, so no
 * spare slot: waitq.h); very large bounds and unbounded rings double on demand.  The steady state never allocates. */
struct lrt_chan {
    struct lrt__sync_head name_; /* first: the dump names the object through it */
    void **buf;
    size_t mask;
    size_t head;
    size_t len;
    size_t cap;        /* SIZE_MAX = unbounded */
    unsigned handed;   /* messages handed to receivers that have not run yet */
    int closed;
    uint64_t last_sender;   /* task ids of the latest send and receive (0: none): the */
    uint64_t last_receiver; /* wait-for graph's guess at who would unblock a waiter */
    lrt__link recvq;   /* waiting receivers (the ring is then empty) */
    lrt__link sendq;   /* waiting senders (the ring is then full) */
};

#define CHAN_INITIAL 16
#define CHAN_PREALLOC_MAX 4096

static size_t pow2_at_least(size_t n)
{
    size_t p = 1;
    while (p < n)
        p <<= 1;
    return p;
}

static int chan_grow(lrt_chan_t *c)
{
    size_t size = c->mask + 1;
    if (size > SIZE_MAX / 2 / sizeof(void *))
        return -ENOMEM;
    void **nb = malloc(2 * size * sizeof(void *));
    if (!nb)
        return -ENOMEM;
    /* unwrap: the oldest message goes to index 0 */
    size_t first = size - c->head;
    if (first > c->len)
        first = c->len;
    memcpy(nb, c->buf + c->head, first * sizeof(void *));
    memcpy(nb + first, c->buf, (c->len - first) * sizeof(void *));
    free(c->buf);
    c->buf = nb;
    c->head = 0;
    c->mask = 2 * size - 1;
    return 0;
}

static inline int chan_push(lrt_chan_t *c, void *msg)
{
    if (LRT__UNLIKELY(c->len > c->mask)) {
        int err = chan_grow(c);
        if (err)
            return err;
    }
    c->buf[(c->head + c->len) & c->mask] = msg;
    c->len++;
    return 0;
}

static inline void *chan_pop(lrt_chan_t *c)
{
    void *msg = c->buf[c->head];
    c->head = (c->head + 1) & c->mask;
    c->len--;
    return msg;
}

/* After a message left the ring: move the first waiting sender's message in. */
static inline void chan_refill(lrt_chan_t *c)
{
    if (LRT__LIKELY(lrt__waitq_empty(&c->sendq)) || c->len >= c->cap)
        return;
    lrt__waiter *w = lrt__waitq_first(&c->sendq);
    if (w) {
        c->buf[(c->head + c->len) & c->mask] = w->msg; /* len < cap <= size */
        c->len++;
        lrt__waitq_hand(w, w->msg, 0, LRT__WAKER_TASK);
    }
}

/* Hand @msg to the first waiting receiver, if any. */
static inline bool chan_hand(lrt_chan_t *c, void *msg)
{
    lrt__waiter *r = lrt__waitq_first(&c->recvq);
    if (LRT__LIKELY(r != NULL)) {
        c->handed++;
        lrt__waitq_hand(r, msg, 0, LRT__WAKER_TASK);
        return true;
    }
    return false;
}

lrt_chan_t *(lrt_chan_new)(size_t capacity)
{
    int err = lrt__sync_alloc_check();
    if (err) {
        errno = -err;
        return NULL;
    }
    lrt_chan_t *c = calloc(1, sizeof *c);
    if (!c)
        goto err_nomem;
    size_t size = CHAN_INITIAL;
    if (capacity == 0 || capacity == SIZE_MAX) {
        c->cap = SIZE_MAX;
    } else {
        c->cap = capacity;
        size = pow2_at_least(capacity < CHAN_PREALLOC_MAX ? capacity : CHAN_PREALLOC_MAX);
    }
    c->buf = malloc(size * sizeof(void *));
    if (!c->buf)
        goto err_free_chan;
    c->mask = size - 1;
    lrt__waitq_init(&c->recvq);
    lrt__waitq_init(&c->sendq);
    return c;

err_free_chan:
    free(c);
err_nomem:
    errno = ENOMEM;
    return NULL;
}

static inline __attribute__((always_inline)) int chan_send(lrt_chan_t *c, void *msg, int64_t ms)
{
    struct lrt_task *t;
    int err = lrt__sync_ctx(&t, LRT__WAIT_CHAN_SEND, c);
    if (LRT__UNLIKELY(err))
        return err;
    if (LRT__UNLIKELY(c == NULL))
        return -EINVAL;
    if (LRT__UNLIKELY(c->closed))
        return -EPIPE;
    c->last_sender = t->id;
    if (!lrt__waitq_empty(&c->recvq) && chan_hand(c, msg))
        return 0;
    if (LRT__LIKELY(c->len < c->cap))
        return chan_push(c, msg);
    if (ms == 0)
        return -ETIMEDOUT;

    /* 0: a receiver moved the message into the ring; otherwise it stays the caller's */
    lrt__waiter w = {.msg = msg};
    return lrt__waitq_wait(&c->sendq, &w, t, LRT__WAIT_CHAN_SEND, c, c->len,
                           lrt__wait_deadline(t, ms));
}

int lrt_chan_send(lrt_chan_t *c, void *msg)
{
    return chan_send(c, msg, -1);
}

int lrt_chan_send_timeout(lrt_chan_t *c, void *msg, int64_t timeout_ms)
{
    return chan_send(c, msg, timeout_ms);
}

static inline __attribute__((always_inline)) int chan_wait_recv(lrt_chan_t *c, struct lrt_task *t, void **msg, uint64_t deadline)
{
    lrt__waiter w;
    int r = lrt__waitq_wait(&c->recvq, &w, t, LRT__WAIT_CHAN_RECV, c, 0, deadline);
    if (LRT__LIKELY(r == 0)) {
        c->handed--;
        if (msg)
            *msg = w.msg;
    }
    return r;
}

int lrt_chan_recv(lrt_chan_t *c, void **msg)
{
    struct lrt_task *t;
    int err = lrt__sync_ctx(&t, LRT__WAIT_CHAN_RECV, c);
    if (LRT__UNLIKELY(err))
        return err;
    if (LRT__UNLIKELY(c == NULL))
        return -EINVAL;
    c->last_receiver = t->id;
    if (LRT__LIKELY(c->len != 0)) {
        void *m = chan_pop(c);
        if (msg)
            *msg = m;
        chan_refill(c);
        return 0;
    }
    if (c->closed)
        return -EPIPE;
    return chan_wait_recv(c, t, msg, 0);
}

int lrt_chan_recv_timeout(lrt_chan_t *c, void **msg, int64_t timeout_ms)
{
    struct lrt_task *t;
    int err = lrt__sync_ctx(&t, LRT__WAIT_CHAN_RECV, c);
    if (err)
        return err;
    if (c == NULL)
        return -EINVAL;
    c->last_receiver = t->id;
    if (c->len != 0) {
        void *m = chan_pop(c);
        if (msg)
            *msg = m;
        chan_refill(c);
        return 0;
    }
    if (c->closed)
        return -EPIPE;
    if (timeout_ms == 0)
        return -ETIMEDOUT;
    return chan_wait_recv(c, t, msg, lrt__wait_deadline(t, timeout_ms));
}

int lrt_chan_try_send(lrt_chan_t *c, void *msg)
{
    int err = lrt__sync_thread_check();
    if (err)
        return err;
    if (c == NULL)
        return -EINVAL;
    if (c->closed)
        return -EPIPE;
    struct lrt_task *self = lrt__current();
    if (self)
        c->last_sender = self->id;
    if (chan_hand(c, msg))
        return 0;
    if (c->len >= c->cap)
        return -EAGAIN;
    return chan_push(c, msg);
}

int lrt_chan_try_recv(lrt_chan_t *c, void **msg)
{
    int err = lrt__sync_thread_check();
    if (err)
        return err;
    if (c == NULL)
        return -EINVAL;
    struct lrt_task *self = lrt__current();
    if (self)
        c->last_receiver = self->id;
    if (c->len == 0)
        return c->closed ? -EPIPE : -EAGAIN;
    void *m = chan_pop(c);
    if (msg)
        *msg = m;
    chan_refill(c);
    return 0;
}

void lrt_chan_close(lrt_chan_t *c)
{
    if (c == NULL || lrt__sync_thread_check() != 0 || c->closed)
        return;
    c->closed = 1;
    lrt__waitq_wake_all(&c->sendq, -EPIPE, LRT__WAKER_TASK);
    /* live receivers wait only on an empty ring: nothing is left for them */
    lrt__waitq_wake_all(&c->recvq, -EPIPE, LRT__WAKER_TASK);
}

size_t lrt_chan_len(const lrt_chan_t *c)
{
    return c ? c->len : 0;
}

int lrt_chan_free(lrt_chan_t *c)
{
    int err = lrt__sync_alloc_check();
    if (err)
        return err;
    if (c == NULL)
        return 0;
    if (!lrt__waitq_empty(&c->recvq) || !lrt__waitq_empty(&c->sendq) || c->handed)
        return -EBUSY;
    free(c->buf);
    free(c);
    return 0;
}

/* ---- select (select.c) ------------------------------------------------------------ */

int lrt__chan_sel_poll(lrt_chan_t *c, bool send, void **msg)
{
    struct lrt_task *t = lrt__current();
    if (t) { /* select's own task: always a task */
        if (send)
            c->last_sender = t->id;
        else
            c->last_receiver = t->id;
    }
    if (send) {
        if (c->closed)
            return -EPIPE;
        if (chan_hand(c, *msg))
            return 0;
        return c->len < c->cap ? chan_push(c, *msg) : 1;
    }
    if (c->len != 0) {
        *msg = chan_pop(c);
        chan_refill(c);
        return 0;
    }
    return c->closed ? -EPIPE : 1;
}

lrt__link *lrt__chan_sel_queue(lrt_chan_t *c, bool send)
{
    return send ? &c->sendq : &c->recvq;
}

void lrt__chan_sel_won(lrt_chan_t *c, bool send)
{
    if (!send)
        c->handed--;
}

/* ---- the dump's view (diag/waitgraph.c): read between polls or with the thread frozen */
void lrt__chan_info(const lrt_chan_t *c, struct lrt__chan_info *out)
{
    out->len = c->len;
    out->cap = c->cap;
    out->closed = c->closed != 0;
    out->last_sender = c->last_sender;
    out->last_receiver = c->last_receiver;
}
