/*
 * sync.c — synchronisation between tasks of one runtime: oneshot, notify, async mutex,
 * semaphore (the channel is in chan.c).  Layer: beside io (calls core, waitq.h); runtime
 * thread only, so there is no atomic here.
 *
 * Waiting follows waitq.h: whoever satisfies a waiter *hands the result over directly*
 * (value, notification, lock ownership, permits), unlinks it and wakes it with 0, so the
 * woken task never re-checks or races for the resource, FIFO order is the queue order,
 * and a wait returns 0 exactly when something was handed over (the first wake wins:
 * nothing is ever given back).
 *
 * `handed` counts hand-offs whose receiving task has not run yet; free() answers -EBUSY
 * while it is non-zero, because that task's wait still refers to the object.
 */
#include "sync.h"

#include <stdio.h>
#include <stdlib.h>

int lrt__sync_ctx_slow(struct lrt_task **out, int kind, const void *obj)
{
    int err = lrt__task_ctx(out);
    if (err)
        return err;
    (void)kind;
    (void)obj;
    return lrt__interrupted(*out);
}

/* The shared part of oneshot/notify/mutex/semaphore _new: a zeroed object whose wait
 * queue is at @q_off; NULL with errno (EPERM, ENOMEM). */
static void *sync_new(size_t size, size_t q_off)
{
    int err = lrt__sync_alloc_check();
    if (err) {
        errno = -err;
        return NULL;
    }
    char *o = calloc(1, size);
    if (!o) {
        errno = ENOMEM;
        return NULL;
    }
    lrt__waitq_init((lrt__link *)(o + q_off));
    return o;
}

/* The shared part of every _free: -EPERM off the runtime thread, 0 for NULL, -EBUSY while
 * a task waits on @q or @busy holds, else frees @o. */
static int sync_free(void *o, const lrt__link *q, bool busy)
{
    int err = lrt__sync_alloc_check();
    if (err)
        return err;
    if (o == NULL)
        return 0;
    if (!lrt__waitq_empty(q) || busy)
        return -EBUSY;
    free(o);
    return 0;
}

/* ---- oneshot ---------------------------------------------------------------------- */

enum { OS_EMPTY = 0, OS_FULL, OS_TAKEN };

struct lrt_oneshot {
    struct lrt__sync_head name_; /* first (internal.h) */
    int state;       /* OS_* */
    int closed;
    int sent;        /* a value was ever sent: a second send is -EALREADY */
    unsigned handed;
    void *value;
    lrt__link q;     /* at most one receiver */
};

lrt_oneshot_t *(lrt_oneshot_new)(void)
{
    return sync_new(sizeof(lrt_oneshot_t), offsetof(lrt_oneshot_t, q));
}

int lrt_oneshot_send(lrt_oneshot_t *o, void *value)
{
    int err = lrt__sync_thread_check();
    if (err)
        return err;
    if (o == NULL)
        return -EINVAL;
    if (o->sent)
        return -EALREADY;
    if (o->closed)
        return -EPIPE;
    o->sent = 1;
    lrt__waiter *w = lrt__waitq_first(&o->q);
    if (w) {
        o->state = OS_TAKEN;
        o->handed++;
        lrt__waitq_hand(w, value, 0, LRT__WAKER_TASK);
    } else {
        o->state = OS_FULL;
        o->value = value;
    }
    return 0;
}


static inline __attribute__((always_inline)) int oneshot_recv(lrt_oneshot_t *o, void **value, int64_t ms)
{
    struct lrt_task *t;
    int err = lrt__sync_ctx(&t, LRT__WAIT_ONESHOT, o);
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
    if (lrt__waitq_first(&o->q) != NULL)
        return -EBUSY; /* one receiver */
    if (ms == 0)
        return -ETIMEDOUT;

    lrt__waiter w;
    int r = lrt__waitq_wait(&o->q, &w, t, LRT__WAIT_ONESHOT, o, 0, lrt__wait_deadline(t, ms));
    if (r == 0) {
        o->handed--;
        if (value)
            *value = w.msg;
    }
    return r;
}

int lrt_oneshot_recv(lrt_oneshot_t *o, void **value)
{
    return oneshot_recv(o, value, -1);
}

int lrt_oneshot_recv_timeout(lrt_oneshot_t *o, void **value, int64_t timeout_ms)
{
    return oneshot_recv(o, value, timeout_ms);
}

void lrt_oneshot_close(lrt_oneshot_t *o)
{
    if (o == NULL || lrt__sync_thread_check() != 0 || o->closed)
        return;
    o->closed = 1;
    lrt__waitq_wake_all(&o->q, -EPIPE, LRT__WAKER_TASK); /* a waiter: nothing was sent */
}

int lrt_oneshot_free(lrt_oneshot_t *o)
{
    return sync_free(o, o ? &o->q : NULL, o && o->handed);
}

/* ---- notify ----------------------------------------------------------------------- */

struct lrt_notify {
    struct lrt__sync_head name_; /* first (internal.h) */
    int permit;      /* stored by notify_one when nobody waited (at most one) */
    int closed;
    unsigned handed;
    lrt__link q;
};

/* in the waiter's `want`, written by the waker: notify_one counts in `handed` */
enum { NOTIFIED_ALL = 0, NOTIFIED_ONE = 1 };

lrt_notify_t *(lrt_notify_new)(void)
{
    return sync_new(sizeof(lrt_notify_t), offsetof(lrt_notify_t, q));
}

static void notify_one(lrt_notify_t *n)
{
    lrt__waiter *w = lrt__waitq_first(&n->q);
    if (w) {
        n->handed++;
        w->want = NOTIFIED_ONE;
        lrt__waitq_hand(w, NULL, 0, LRT__WAKER_TASK);
    } else {
        n->permit = 1;
    }
}

static inline __attribute__((always_inline)) int notify_wait(lrt_notify_t *n, int64_t ms)
{
    struct lrt_task *t;
    int err = lrt__sync_ctx(&t, LRT__WAIT_NOTIFY, n);
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
    if (ms == 0)
        return -ETIMEDOUT;
    lrt__waiter w = {.want = NOTIFIED_ALL};
    int r = lrt__waitq_wait(&n->q, &w, t, LRT__WAIT_NOTIFY, n, 0, lrt__wait_deadline(t, ms));
    if (r == 0 && w.want == NOTIFIED_ONE)
        n->handed--;
    return r;
}

int lrt_notify_wait(lrt_notify_t *n)
{
    return notify_wait(n, -1);
}

int lrt_notify_wait_timeout(lrt_notify_t *n, int64_t timeout_ms)
{
    return notify_wait(n, timeout_ms);
}

void lrt_notify_one(lrt_notify_t *n)
{
    if (n == NULL || lrt__sync_thread_check() != 0 || n->closed)
        return;
    notify_one(n);
}

void lrt_notify_all(lrt_notify_t *n)
{
    if (n == NULL || lrt__sync_thread_check() != 0 || n->closed)
        return;
    lrt__waitq_wake_all(&n->q, 0, LRT__WAKER_TASK);
}

void lrt_notify_close(lrt_notify_t *n)
{
    if (n == NULL || lrt__sync_thread_check() != 0 || n->closed)
        return;
    n->closed = 1;
    n->permit = 0;
    lrt__waitq_wake_all(&n->q, -EPIPE, LRT__WAKER_TASK);
}

int lrt_notify_free(lrt_notify_t *n)
{
    return sync_free(n, n ? &n->q : NULL, n && n->handed);
}

/* ---- mutex ------------------------------------------------------------------------ */

struct lrt_mutex {
    struct lrt__sync_head name_; /* first (internal.h) */
    struct lrt_task *owner;
    lrt__link q;
};

lrt_mutex_t *(lrt_mutex_new)(void)
{
    return sync_new(sizeof(lrt_mutex_t), offsetof(lrt_mutex_t, q));
}

const struct lrt_task *lrt__mutex_owner(const lrt_mutex_t *m)
{
    return m->owner;
}

/* Ownership goes straight to the first waiter: no barging, no thundering herd. */
static void mutex_pass(lrt_mutex_t *m)
{
    lrt__waiter *w = lrt__waitq_first(&m->q);
    if (w) {
        m->owner = w->task;
        lrt__waitq_hand(w, NULL, 0, LRT__WAKER_TASK);
    } else {
        m->owner = NULL;
    }
}

static inline __attribute__((always_inline)) int mutex_lock(lrt_mutex_t *m, int64_t ms)
{
    struct lrt_task *t;
    int err = lrt__sync_ctx(&t, LRT__WAIT_MUTEX, m);
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
    if (ms == 0)
        return -ETIMEDOUT;
    /* 0: the unlocker made us the owner */
    lrt__waiter w;
    return lrt__waitq_wait(&m->q, &w, t, LRT__WAIT_MUTEX, m, m->owner->id, lrt__wait_deadline(t, ms));
}

int lrt_mutex_lock(lrt_mutex_t *m)
{
    return mutex_lock(m, -1);
}

int lrt_mutex_lock_timeout(lrt_mutex_t *m, int64_t timeout_ms)
{
    return mutex_lock(m, timeout_ms);
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
    if (LRT__LIKELY(lrt__waitq_empty(&m->q)))
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
    struct lrt__sync_head name_; /* first (internal.h) */
    size_t permits;
    int closed;
    unsigned handed;
    lrt__link q;
};

lrt_sem_t *(lrt_sem_new)(size_t permits)
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
    lrt__waiter *w;
    while ((w = lrt__waitq_first(&s->q)) != NULL && s->permits >= w->want) {
        s->permits -= w->want;
        s->handed++;
        lrt__waitq_hand(w, NULL, 0, LRT__WAKER_TASK);
    }
}

static void sem_add(lrt_sem_t *s, size_t n)
{
    s->permits = n > SEM_MAX - s->permits ? SEM_MAX : s->permits + n;
    if (!s->closed)
        sem_dispatch(s);
}

static inline __attribute__((always_inline)) int sem_acquire(lrt_sem_t *s, size_t n, int64_t ms)
{
    struct lrt_task *t;
    int err = lrt__sync_ctx(&t, LRT__WAIT_SEM, s);
    if (LRT__UNLIKELY(err))
        return err;
    if (LRT__UNLIKELY(s == NULL || n == 0 || n > SEM_MAX))
        return -EINVAL;
    if (LRT__UNLIKELY(s->closed))
        return -EPIPE;
    if (LRT__LIKELY(s->permits >= n) && lrt__waitq_first(&s->q) == NULL) {
        s->permits -= n;
        return 0;
    }
    if (ms == 0)
        return -ETIMEDOUT;
    lrt__waiter w = {.want = n};
    int r = lrt__waitq_suspend(&s->q, &w, t, LRT__WAIT_SEM, s, n, lrt__wait_deadline(t, ms));
    if (LRT__LIKELY(r == 0)) { /* granted */
        s->handed--;
        return 0;
    }
    /* Still linked: we may have been the large request holding smaller ones back.  (If
     * a waker dropped us as stale it went on serving; @s may even be freed by now.) */
    if (lrt__waitq_leave(&w, r) && !s->closed)
        sem_dispatch(s);
    return r;
}

int lrt_sem_acquire(lrt_sem_t *s, size_t n)
{
    return sem_acquire(s, n, -1);
}

int lrt_sem_acquire_timeout(lrt_sem_t *s, size_t n, int64_t timeout_ms)
{
    return sem_acquire(s, n, timeout_ms);
}

int lrt_sem_try_acquire(lrt_sem_t *s, size_t n)
{
    int err = lrt__sync_thread_check();
    if (err)
        return err;
    if (s == NULL || n == 0 || n > SEM_MAX)
        return -EINVAL;
    if (s->closed)
        return -EPIPE;
    if (s->permits < n || lrt__waitq_first(&s->q) != NULL)
        return -EAGAIN;
    s->permits -= n;
    return 0;
}

void lrt_sem_release(lrt_sem_t *s, size_t n)
{
    if (s == NULL || n == 0 || lrt__sync_thread_check() != 0)
        return;
    sem_add(s, n);
}

size_t lrt_sem_available(const lrt_sem_t *s)
{
    return s ? s->permits : 0;
}

void lrt_sem_close(lrt_sem_t *s)
{
    if (s == NULL || lrt__sync_thread_check() != 0 || s->closed)
        return;
    s->closed = 1;
    lrt__waitq_wake_all(&s->q, -EPIPE, LRT__WAKER_TASK);
}

int lrt_sem_free(lrt_sem_t *s)
{
    return sync_free(s, s ? &s->q : NULL, s && s->handed);
}

/* ---- select (select.c): the waiting halves above, split at the suspension --------- */

int lrt__oneshot_sel_poll(lrt_oneshot_t *o, void **value)
{
    if (o->state == OS_FULL) {
        o->state = OS_TAKEN;
        *value = o->value;
        o->value = NULL;
        return 0;
    }
    if (o->state == OS_TAKEN)
        return -EALREADY;
    if (o->closed)
        return -EPIPE;
    return lrt__waitq_first(&o->q) != NULL ? -EBUSY : 1;
}

lrt__link *lrt__oneshot_sel_queue(lrt_oneshot_t *o)
{
    return &o->q;
}

void lrt__oneshot_sel_won(lrt_oneshot_t *o)
{
    o->handed--;
}

int lrt__notify_sel_poll(lrt_notify_t *n)
{
    if (n->closed)
        return -EPIPE;
    if (n->permit) {
        n->permit = 0;
        return 0;
    }
    return 1;
}

lrt__link *lrt__notify_sel_queue(lrt_notify_t *n, lrt__waiter *w)
{
    w->want = NOTIFIED_ALL;
    return &n->q;
}

void lrt__notify_sel_won(lrt_notify_t *n, const lrt__waiter *w)
{
    if (w->want == NOTIFIED_ONE)
        n->handed--;
}

/* ---- names (shown in the dump) ------------------------------------------------------ */

int lrt__sync_set_name(void *obj, const char *name)
{
    if (!obj)
        return -EINVAL;
    int err = lrt__sync_alloc_check(); /* runtime thread only, like the objects */
    if (err)
        return err;
    struct lrt__sync_head *h = obj;
    snprintf(h->name, sizeof h->name, "%s", name ? name : "");
    return 0;
}

void *lrt_sync_created_at(void *obj, const char *file, int line)
{
    if (obj) { /* NULL: the constructor failed, errno stays its own */
        struct lrt__sync_head *h = obj;
        h->file = file;
        h->line = line;
    }
    return obj;
}

int lrt_chan_set_name(lrt_chan_t *c, const char *name) { return lrt__sync_set_name(c, name); }
int lrt_oneshot_set_name(lrt_oneshot_t *o, const char *name) { return lrt__sync_set_name(o, name); }
int lrt_notify_set_name(lrt_notify_t *n, const char *name) { return lrt__sync_set_name(n, name); }
int lrt_mutex_set_name(lrt_mutex_t *m, const char *name) { return lrt__sync_set_name(m, name); }
int lrt_sem_set_name(lrt_sem_t *s, const char *name) { return lrt__sync_set_name(s, name); }
int lrt_rwlock_set_name(lrt_rwlock_t *l, const char *name) { return lrt__sync_set_name(l, name); }
int lrt_watch_set_name(lrt_watch_t *w, const char *name) { return lrt__sync_set_name(w, name); }
int lrt_barrier_set_name(lrt_barrier_t *b, const char *name) { return lrt__sync_set_name(b, name); }
