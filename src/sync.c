/*
 * Synchronisation between tasks of one runtime: channel, oneshot, notify, async mutex,
 * semaphore.  Everything runs on the runtime thread, so there is no atomic here.
 *
 * Waiting: a task that must wait puts a `waiter` on its own stack (it stays valid while
 * the task is suspended) and links it to the object's FIFO queue.  Whoever satisfies it
 * *hands the result over directly* (message, lock ownership, permits), unlinks the waiter
 * and wakes the task with 0.  The woken task never has to re-check or race for the
 * resource, and FIFO order is exactly the queue order.
 *
 * Cancellation and timeouts: lrt_abort() or a timer makes the task runnable while its
 * waiter is still linked ("stale").  Wakers skip stale waiters (their task is no longer
 * LRT__SUSPENDED) and drop them from the queue, so nothing is handed to a task that will
 * not take it.  If the task was handed something *and then* aborted before it ran (the
 * suspension returns an error although w.done is set), it gives the thing back: the
 * message to the next receiver or the front of the buffer, the lock to the next waiter,
 * the permits to the semaphore, the notification to the next waiter.  A sender whose
 * message already went into the buffer returns 0: the send happened.
 * (sched.c today keeps the result of a task already woken: lrt_abort() on a runnable
 * task only sets the flag for its next suspension point, so the give-back paths are a
 * safety net, not the common case.)
 *
 * `handed` counts hand-offs whose receiving task has not run yet; free() answers -EBUSY
 * while it is non-zero, because a give-back would touch the object.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct waiter {
    lrt__link link;
    struct lrt_task *task;
    void *msg;  /* channel/oneshot: the message handed over; send: the message to send */
    size_t n;   /* semaphore: permits wanted */
    int done;   /* set by the waker: something was handed over (notify: 1 one, 2 all) */
} waiter;

/* ---- helpers ---------------------------------------------------------------------- */

/* Cancelled task, or none: -EPERM off the runtime thread or outside a task; a cancelled
 * task goes through the scheduler once (like every suspension point, so a loop that
 * ignores -ECANCELED cannot monopolise the thread) and gets -ECANCELED, even when the
 * call would not have had to wait. */
static int task_ctx_slow(struct lrt_task **out, int kind, const void *obj)
{
    int err = lrt__task_ctx(out);
    if (err)
        return err;
    if (!((*out)->flags & LRT__TF_CANCELLED))
        return 0;
    err = lrt__suspend(kind, obj, 0, 0);
    return err ? err : -ECANCELED;
}

/* The running task, or the error a suspension point must return.  The common case is
 * inline. */
static inline int task_ctx(struct lrt_task **out, int kind, const void *obj)
{
    struct lrt_task *t = lrt__current();
    if (LRT__LIKELY(t != NULL && !(t->flags & LRT__TF_CANCELLED))) {
        *out = t;
        return 0;
    }
    return task_ctx_slow(out, kind, obj);
}

/* Non-suspending calls that may wake tasks: the runtime thread, a runtime current. */
static inline int thread_check(void)
{
    int err = 0;
    if (LRT__UNLIKELY(lrt__rt_check(NULL, &err) == NULL))
        return -EPERM;
    return 0;
}

/* new/free touch no runtime state: allowed on any thread with no runtime current (before
 * lrt_block_on, after it returned), refused only on a thread whose runtime is not current
 * (which lrt_enter prevents) */
static inline int alloc_check(void)
{
    return lrt__tls_rt == NULL ? 0 : thread_check();
}

/* The shared part of oneshot/notify/mutex/semaphore _new: a zeroed object whose wait
 * queue is at @q_off; NULL with errno (EPERM, ENOMEM). */
static void *sync_new(size_t size, size_t q_off)
{
    int err = alloc_check();
    if (err) {
        errno = -err;
        return NULL;
    }
    char *o = calloc(1, size);
    if (!o) {
        errno = ENOMEM;
        return NULL;
    }
    lrt__list_init((lrt__link *)(o + q_off));
    return o;
}

/* The shared part of every _free: -EPERM off the runtime thread, 0 for NULL, -EBUSY while
 * a task waits on @q or @busy holds, else frees @o. */
static int sync_free(void *o, const lrt__link *q, bool busy)
{
    int err = alloc_check();
    if (err)
        return err;
    if (o == NULL)
        return 0;
    if (!lrt__list_empty(q) || busy)
        return -EBUSY;
    free(o);
    return 0;
}

/* First waiter whose task still waits; stale waiters (task already woken by cancel or
 * timeout) are dropped on the way.  The caller unlinks the one returned. */
static inline waiter *first_live(lrt__link *q)
{
    while (!lrt__list_empty(q)) {
        waiter *w = lrt__container_of(q->next, waiter, link);
        if (LRT__LIKELY(w->task->state == LRT__SUSPENDED))
            return w;
        lrt__list_del(&w->link);
    }
    return NULL;
}

static inline void hand(waiter *w, void *msg, int done)
{
    lrt__list_del(&w->link);
    w->msg = msg;
    w->done = done;
    lrt__wake(w->task, 0, LRT__WAKER_TASK);
}

static void wake_all(lrt__link *q, int result)
{
    while (!lrt__list_empty(q)) {
        waiter *w = lrt__container_of(q->next, waiter, link);
        lrt__list_del(&w->link);
        lrt__wake(w->task, result, LRT__WAKER_TASK); /* no-op for stale waiters */
    }
}

static inline void unlink_self(waiter *w)
{
    if (lrt__linked(&w->link))
        lrt__list_del(&w->link);
}

/* ---- channel ---------------------------------------------------------------------- */

/* Ring buffer of void *: `len` messages from `head`, size mask+1 (a power of two).
 * Bounded rings are sized for capacity + 1 up front (the extra slot takes a message
 * given back by a cancelled receiver); very large bounds and unbounded rings double on
 * demand.  The steady state never allocates. */
struct lrt_chan {
    void **buf;
    size_t mask;
    size_t head;
    size_t len;
    size_t cap;        /* SIZE_MAX = unbounded */
    unsigned handed;   /* messages handed to receivers that have not run yet */
    int closed;
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
    if (LRT__LIKELY(lrt__list_empty(&c->sendq)) || c->len >= c->cap)
        return;
    waiter *w = first_live(&c->sendq);
    if (w) {
        c->buf[(c->head + c->len) & c->mask] = w->msg; /* len < cap < size */
        c->len++;
        hand(w, w->msg, 1);
    }
}

/* A receiver was handed @msg but was cancelled before it ran: pass the message to the
 * next waiting receiver (the ring is then empty, so order holds), else put it back at
 * the front of the ring.  Returns -ENOMEM if the ring cannot take it. */
static int chan_give_back(lrt_chan_t *c, void *msg)
{
    waiter *w = first_live(&c->recvq);
    if (w) {
        c->handed++;
        hand(w, msg, 1);
        return 0;
    }
    if (c->len > c->mask) {
        int err = chan_grow(c);
        if (err)
            return err;
    }
    c->head = (c->head - 1) & c->mask;
    c->buf[c->head] = msg;
    c->len++;
    return 0;
}

lrt_chan_t *lrt_chan_new(size_t capacity)
{
    int err = alloc_check();
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
        size = pow2_at_least(capacity < CHAN_PREALLOC_MAX ? capacity + 1 : CHAN_PREALLOC_MAX);
    }
    c->buf = malloc(size * sizeof(void *));
    if (!c->buf)
        goto err_free_chan;
    c->mask = size - 1;
    lrt__list_init(&c->recvq);
    lrt__list_init(&c->sendq);
    return c;

err_free_chan:
    free(c);
err_nomem:
    errno = ENOMEM;
    return NULL;
}

int lrt_chan_send(lrt_chan_t *c, void *msg)
{
    struct lrt_task *t;
    int err = task_ctx(&t, LRT__WAIT_CHAN_SEND, c);
    if (LRT__UNLIKELY(err))
        return err;
    if (LRT__UNLIKELY(c == NULL))
        return -EINVAL;
    if (LRT__UNLIKELY(c->closed))
        return -EPIPE;
    if (!lrt__list_empty(&c->recvq)) {
        waiter *r = first_live(&c->recvq);
        if (LRT__LIKELY(r != NULL)) {
            c->handed++;
            hand(r, msg, 1);
            return 0;
        }
    }
    if (LRT__LIKELY(c->len < c->cap))
        return chan_push(c, msg);

    waiter w = {.task = t, .msg = msg};
    lrt__list_push(&c->sendq, &w.link);
    int r = lrt__suspend(LRT__WAIT_CHAN_SEND, c, c->len, 0);
    if (LRT__LIKELY(w.done))
        return 0; /* the message is in the ring: sent, even if we were cancelled since */
    unlink_self(&w);
    return r < 0 ? r : -EPIPE;
}

static inline __attribute__((always_inline)) int chan_wait_recv(lrt_chan_t *c, struct lrt_task *t, void **msg, uint64_t deadline)
{
    waiter w = {.task = t};
    lrt__list_push(&c->recvq, &w.link);
    int r = lrt__suspend(LRT__WAIT_CHAN_RECV, c, 0, deadline);
    if (LRT__LIKELY(w.done)) {
        c->handed--;
        if (LRT__LIKELY(r == 0) || chan_give_back(c, w.msg) != 0) {
            if (msg)
                *msg = w.msg;
            return 0;
        }
        return r;
    }
    unlink_self(&w);
    return r < 0 ? r : -EPIPE;
}

int lrt_chan_recv(lrt_chan_t *c, void **msg)
{
    struct lrt_task *t;
    int err = task_ctx(&t, LRT__WAIT_CHAN_RECV, c);
    if (LRT__UNLIKELY(err))
        return err;
    if (LRT__UNLIKELY(c == NULL))
        return -EINVAL;
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
    int err = task_ctx(&t, LRT__WAIT_CHAN_RECV, c);
    if (err)
        return err;
    if (c == NULL)
        return -EINVAL;
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
    return chan_wait_recv(c, t, msg, lrt__deadline_in_ms(lrt__rt_now(t->rt), timeout_ms));
}

int lrt_chan_try_send(lrt_chan_t *c, void *msg)
{
    int err = thread_check();
    if (err)
        return err;
    if (c == NULL)
        return -EINVAL;
    if (c->closed)
        return -EPIPE;
    waiter *r = first_live(&c->recvq);
    if (r) {
        c->handed++;
        hand(r, msg, 1);
        return 0;
    }
    if (c->len >= c->cap)
        return -EAGAIN;
    return chan_push(c, msg);
}

int lrt_chan_try_recv(lrt_chan_t *c, void **msg)
{
    int err = thread_check();
    if (err)
        return err;
    if (c == NULL)
        return -EINVAL;
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
    if (c == NULL || thread_check() != 0 || c->closed)
        return;
    c->closed = 1;
    wake_all(&c->sendq, -EPIPE);
    /* live receivers wait only on an empty ring: nothing is left for them */
    wake_all(&c->recvq, -EPIPE);
}

size_t lrt_chan_len(const lrt_chan_t *c)
{
    return c ? c->len : 0;
}

int lrt_chan_free(lrt_chan_t *c)
{
    int err = alloc_check();
    if (err)
        return err;
    if (c == NULL)
        return 0;
    if (!lrt__list_empty(&c->recvq) || !lrt__list_empty(&c->sendq) || c->handed)
        return -EBUSY;
    free(c->buf);
    free(c);
    return 0;
}

/* ---- oneshot ---------------------------------------------------------------------- */

enum { OS_EMPTY = 0, OS_FULL, OS_TAKEN };

struct lrt_oneshot {
    int state;       /* OS_* */
    int closed;
    int sent;        /* a value was ever sent: a second send is -EALREADY */
    unsigned handed;
    void *value;
    lrt__link q;     /* at most one receiver */
};

lrt_oneshot_t *lrt_oneshot_new(void)
{
    return sync_new(sizeof(lrt_oneshot_t), offsetof(lrt_oneshot_t, q));
}

int lrt_oneshot_send(lrt_oneshot_t *o, void *value)
{
    int err = thread_check();
    if (err)
        return err;
    if (o == NULL)
        return -EINVAL;
    if (o->sent)
        return -EALREADY;
    if (o->closed)
        return -EPIPE;
    o->sent = 1;
    waiter *w = first_live(&o->q);
    if (w) {
        o->state = OS_TAKEN;
        o->handed++;
        hand(w, value, 1);
    } else {
        o->state = OS_FULL;
        o->value = value;
    }
    return 0;
}

int lrt_oneshot_recv(lrt_oneshot_t *o, void **value)
{
    struct lrt_task *t;
    int err = task_ctx(&t, LRT__WAIT_ONESHOT, o);
    if (err)
        return err;
    if (o == NULL)
        return -EINVAL;
    if (o->state == OS_FULL) {
        o->state = OS_TAKEN;
        if (value)
            *value = o->value;
        o->value = NULL;
        return 0;
    }
    if (o->state == OS_TAKEN)
        return -EALREADY;
    if (o->closed)
        return -EPIPE;
    if (first_live(&o->q) != NULL)
        return -EBUSY; /* one receiver */

    waiter w = {.task = t};
    lrt__list_push(&o->q, &w.link);
    int r = lrt__suspend(LRT__WAIT_ONESHOT, o, 0, 0);
    if (w.done) {
        o->handed--;
        if (r == 0) {
            if (value)
                *value = w.msg;
            return 0;
        }
        o->state = OS_FULL; /* cancelled after the hand-off: keep the value for later */
        o->value = w.msg;
        return r;
    }
    unlink_self(&w);
    return r < 0 ? r : -EPIPE;
}

void lrt_oneshot_close(lrt_oneshot_t *o)
{
    if (o == NULL || thread_check() != 0 || o->closed)
        return;
    o->closed = 1;
    wake_all(&o->q, -EPIPE); /* a waiting receiver means nothing was sent */
}

int lrt_oneshot_free(lrt_oneshot_t *o)
{
    return sync_free(o, o ? &o->q : NULL, o && o->handed);
}

/* ---- notify ----------------------------------------------------------------------- */

struct lrt_notify {
    int permit;      /* stored by notify_one when nobody waited (at most one) */
    int closed;
    unsigned handed;
    lrt__link q;
};

enum { NOTIFIED_ONE = 1, NOTIFIED_ALL = 2 };

lrt_notify_t *lrt_notify_new(void)
{
    return sync_new(sizeof(lrt_notify_t), offsetof(lrt_notify_t, q));
}

static void notify_one(lrt_notify_t *n)
{
    waiter *w = first_live(&n->q);
    if (w) {
        n->handed++;
        hand(w, NULL, NOTIFIED_ONE);
    } else {
        n->permit = 1;
    }
}

int lrt_notify_wait(lrt_notify_t *n)
{
    struct lrt_task *t;
    int err = task_ctx(&t, LRT__WAIT_NOTIFY, n);
    if (err)
        return err;
    if (n == NULL)
        return -EINVAL;
    if (n->closed)
        return -EPIPE;
    if (n->permit) {
        n->permit = 0;
        return 0;
    }
    waiter w = {.task = t};
    lrt__list_push(&n->q, &w.link);
    int r = lrt__suspend(LRT__WAIT_NOTIFY, n, 0, 0);
    if (w.done) {
        if (w.done == NOTIFIED_ONE) {
            n->handed--;
            if (r != 0 && !n->closed)
                notify_one(n); /* cancelled after being picked: pass it on */
        }
        return r;
    }
    unlink_self(&w);
    return r < 0 ? r : -EPIPE;
}

void lrt_notify_one(lrt_notify_t *n)
{
    if (n == NULL || thread_check() != 0 || n->closed)
        return;
    notify_one(n);
}

void lrt_notify_all(lrt_notify_t *n)
{
    if (n == NULL || thread_check() != 0 || n->closed)
        return;
    /* Only the tasks waiting now: waking never switches, so none can re-queue meanwhile. */
    while (!lrt__list_empty(&n->q)) {
        waiter *w = lrt__container_of(n->q.next, waiter, link);
        if (w->task->state == LRT__SUSPENDED)
            hand(w, NULL, NOTIFIED_ALL);
        else
            lrt__list_del(&w->link);
    }
}

void lrt_notify_close(lrt_notify_t *n)
{
    if (n == NULL || thread_check() != 0 || n->closed)
        return;
    n->closed = 1;
    n->permit = 0;
    wake_all(&n->q, -EPIPE);
}

int lrt_notify_free(lrt_notify_t *n)
{
    return sync_free(n, n ? &n->q : NULL, n && n->handed);
}

/* ---- mutex ------------------------------------------------------------------------ */

struct lrt_mutex {
    struct lrt_task *owner;
    lrt__link q;
};

lrt_mutex_t *lrt_mutex_new(void)
{
    return sync_new(sizeof(lrt_mutex_t), offsetof(lrt_mutex_t, q));
}

/* Ownership goes straight to the first waiter: no barging, no thundering herd. */
static void mutex_pass(lrt_mutex_t *m)
{
    waiter *w = first_live(&m->q);
    if (w) {
        m->owner = w->task;
        hand(w, NULL, 1);
    } else {
        m->owner = NULL;
    }
}

int lrt_mutex_lock(lrt_mutex_t *m)
{
    struct lrt_task *t;
    int err = task_ctx(&t, LRT__WAIT_MUTEX, m);
    if (LRT__UNLIKELY(err))
        return err;
    if (LRT__UNLIKELY(m == NULL))
        return -EINVAL;
    if (LRT__LIKELY(m->owner == NULL)) {
        m->owner = t;
        return 0;
    }
    if (m->owner == t)
        return -EDEADLK;
    waiter w = {.task = t};
    lrt__list_push(&m->q, &w.link);
    int r = lrt__suspend(LRT__WAIT_MUTEX, m, m->owner->id, 0);
    if (LRT__LIKELY(w.done)) {
        if (LRT__UNLIKELY(r != 0))
            mutex_pass(m); /* owned since the hand-off, but cancelled: pass it on */
        return r;
    }
    unlink_self(&w);
    return r < 0 ? r : -EPIPE;
}

int lrt_mutex_trylock(lrt_mutex_t *m)
{
    struct lrt_task *t = lrt__current(); /* owner is a task: needs one, cancelled or not */
    if (t == NULL)
        return -EPERM;
    if (m == NULL)
        return -EINVAL;
    if (m->owner == t)
        return -EDEADLK;
    if (m->owner != NULL)
        return -EAGAIN;
    m->owner = t;
    return 0;
}

int lrt_mutex_unlock(lrt_mutex_t *m)
{
    struct lrt_task *t = lrt__current();
    if (LRT__UNLIKELY(m == NULL))
        return -EINVAL;
    if (LRT__UNLIKELY(t == NULL || m->owner != t))
        return -EPERM;
    if (LRT__LIKELY(lrt__list_empty(&m->q)))
        m->owner = NULL;
    else
        mutex_pass(m);
    return 0;
}

int lrt_mutex_free(lrt_mutex_t *m)
{
    return sync_free(m, m ? &m->q : NULL, m && m->owner != NULL);
}

/* ---- semaphore -------------------------------------------------------------------- */

#define SEM_MAX (SIZE_MAX >> 3) /* like Tokio's MAX_PERMITS */

struct lrt_sem {
    size_t permits;
    int closed;
    unsigned handed;
    lrt__link q;
};

lrt_sem_t *lrt_sem_new(size_t permits)
{
    if (permits > SEM_MAX) {
        errno = EINVAL;
        return NULL;
    }
    lrt_sem_t *s = sync_new(sizeof *s, offsetof(lrt_sem_t, q));
    if (s)
        s->permits = permits;
    return s;
}

/* Serve waiters in order while the head can be satisfied; a large request at the head
 * holds back the smaller ones behind it. */
static void sem_dispatch(lrt_sem_t *s)
{
    waiter *w;
    while ((w = first_live(&s->q)) != NULL && s->permits >= w->n) {
        s->permits -= w->n;
        s->handed++;
        hand(w, NULL, 1);
    }
}

static void sem_add(lrt_sem_t *s, size_t n)
{
    s->permits = n > SEM_MAX - s->permits ? SEM_MAX : s->permits + n;
    if (!s->closed)
        sem_dispatch(s);
}

int lrt_sem_acquire(lrt_sem_t *s, size_t n)
{
    struct lrt_task *t;
    int err = task_ctx(&t, LRT__WAIT_SEM, s);
    if (LRT__UNLIKELY(err))
        return err;
    if (LRT__UNLIKELY(s == NULL || n == 0 || n > SEM_MAX))
        return -EINVAL;
    if (LRT__UNLIKELY(s->closed))
        return -EPIPE;
    if (LRT__LIKELY(s->permits >= n) && first_live(&s->q) == NULL) {
        s->permits -= n;
        return 0;
    }
    waiter w = {.task = t, .n = n};
    lrt__list_push(&s->q, &w.link);
    int r = lrt__suspend(LRT__WAIT_SEM, s, n, 0);
    if (LRT__LIKELY(w.done)) {
        s->handed--;
        if (LRT__UNLIKELY(r != 0))
            sem_add(s, n); /* granted, then cancelled: give the permits back */
        return r;
    }
    /* Still linked: we may have been the large request holding smaller ones back.  (If
     * a waker dropped us as stale it went on serving; @s may even be freed by now.) */
    if (lrt__linked(&w.link)) {
        lrt__list_del(&w.link);
        if (!s->closed)
            sem_dispatch(s);
    }
    return r < 0 ? r : -EPIPE;
}

int lrt_sem_try_acquire(lrt_sem_t *s, size_t n)
{
    int err = thread_check();
    if (err)
        return err;
    if (s == NULL || n == 0 || n > SEM_MAX)
        return -EINVAL;
    if (s->closed)
        return -EPIPE;
    if (s->permits < n || first_live(&s->q) != NULL)
        return -EAGAIN;
    s->permits -= n;
    return 0;
}

void lrt_sem_release(lrt_sem_t *s, size_t n)
{
    if (s == NULL || n == 0 || thread_check() != 0)
        return;
    sem_add(s, n);
}

size_t lrt_sem_available(const lrt_sem_t *s)
{
    return s ? s->permits : 0;
}

void lrt_sem_close(lrt_sem_t *s)
{
    if (s == NULL || thread_check() != 0 || s->closed)
        return;
    s->closed = 1;
    wake_all(&s->q, -EPIPE);
}

int lrt_sem_free(lrt_sem_t *s)
{
    return sync_free(s, s ? &s->q : NULL, s && s->handed);
}
