/*
 * io_uring_accept.c - lrt_accept on a listener of a completion backend: one multishot
 * accept (IORING_ACCEPT_MULTISHOT) per listener feeds a queue of accepted connections
 * that lrt_accept takes from.
 *
 * Why: a single-shot accept operation takes one connection per submission, so a burst
 * of n connections cost n loop iterations before the last one was even accepted (1000
 * clients connecting at once waited up to 2.2 s, docs/performance.md).  The multishot
 * operation accepts every connection of the backlog as soon as it is there.
 *
 * The operation is started by the first lrt_accept that finds the queue empty, and is
 * the listener's, not a task's: its record lives on the heap (not on a stack), so an
 * acceptor that is aborted, times out or leaves through a select simply stops waiting;
 * nothing needs cancelling and no connection is lost: the next lrt_accept gets it.
 * The queue is bounded: at MACC_HIGH unclaimed connections the operation is cancelled
 * and the rest waits in the kernel's backlog as it does on epoll; the next acceptor
 * that finds the queue empty starts it again.  lrt_close of the listener closes the
 * unclaimed connections (as closing a listener drops its backlog), wakes its acceptors
 * with -EBADF and cancels the operation; the record is freed when its end arrives.
 *
 * The kernel gives no peer address with a multishot accept (each one would write the
 * same buffer), so an acceptor that asks for it gets it from getpeername(2): one system
 * call the epoll backend does not make, only for callers that want the address, and
 * instead of the accept4 the epoll backend makes for every connection.  A peer that
 * already reset the connection has no address left: *len is then 0.
 *
 * Layer: beside io_uring_ops.c (io.c and io_uring_ops.c call it; it calls core and the
 * driver through io->drv).  Runtime thread.
 */
#include "io.h"
#include "trace.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MACC_LAND 256 /* connections the backend may hand over per wait (more[]) */
#define MACC_HIGH 128 /* unclaimed connections at which accepting stops for now */

struct lrt__macc {
    struct lrt__driver_op d; /* first: the backend reports its address */
    struct reg *r;           /* the listener; NULL once lrt_close dropped the record */
    lrt__link waiters;       /* struct macc_waiter, first come first served */
    lrt__link link;          /* in io->maccs */
    int *q;                  /* accepted, unclaimed: q[head..len) */
    size_t head, len, cap;
    int err;                 /* the operation ended with it: the next acceptor's result */
    bool armed;              /* submitted, its end not yet seen */
    bool cancelled;          /* cancel asked (paused or closed): not again */
    int32_t land[MACC_LAND]; /* the backend's more[] */
};

struct macc_waiter {
    lrt__link link; /* in waiters until it runs again: lrt_close must find it even once
                       woken, for the record may be freed before it runs */
    struct lrt_task *task;
    uint64_t start_ns;
    bool woken;  /* for a connection or an error: the next waker passes it over */
    bool closed; /* lrt_close woke it: the record is gone */
};

static int arm(struct lrt__io *io, struct lrt__macc *m)
{
    memset(&m->d, 0, sizeof m->d);
    m->d.op = LRT__IO_ACCEPT;
    m->d.fd = m->r->iofd;
    m->d.multishot = true;
    m->d.more = m->land;
    m->d.maxmore = MACC_LAND;
    int e = io->drv->submit(io->d, &m->d);
    if (e < 0)
        return e;
    m->armed = true;
    m->cancelled = false;
    return 0;
}

static void stop(struct lrt__io *io, struct lrt__macc *m)
{
    if (m->armed && !m->cancelled) {
        m->cancelled = true;
        io->drv->cancel(io->d, &m->d);
    }
}

/* Wake up to @k waiters not woken yet, first come first served: each takes its own from
 * the queue.  The woken stay listed until they run (lrt_close marks them closed). */
static void wake_waiters(struct lrt__macc *m, size_t k)
{
    for (lrt__link *l = m->waiters.next; k && l != &m->waiters; l = l->next) {
        struct macc_waiter *w = lrt__container_of(l, struct macc_waiter, link);
        if (w->woken)
            continue;
        w->woken = true;
        lrt__wake_by(w->task, 0, LRT__WAKER_IO, 0);
        k--;
    }
}

static void release(struct lrt__macc *m)
{
    for (size_t i = m->head; i < m->len; i++)
        close(m->q[i]); /* nobody will ever accept it: the peer sees a reset */
    lrt__list_del(&m->link);
    free(m->q);
    free(m);
}

static bool push(struct lrt__macc *m, int fd)
{
    if (m->len == m->cap) {
        if (m->head > 0) { /* slide the unclaimed ones to the front */
            memmove(m->q, m->q + m->head, (m->len - m->head) * sizeof *m->q);
            m->len -= m->head;
            m->head = 0;
        }
        if (m->len == m->cap) {
            size_t cap = m->cap ? 2 * m->cap : 2 * MACC_HIGH;
            int *q = realloc(m->q, cap * sizeof *q);
            if (!q)
                return false;
            m->q = q;
            m->cap = cap;
        }
    }
    m->q[m->len++] = fd;
    return true;
}

size_t lrt__macc_queued(const struct lrt__macc *m) { return m->len - m->head; }

bool lrt__macc_readable(const struct reg *r)
{
    return r->macc && (r->macc->head < r->macc->len || r->macc->err);
}

struct reg *lrt__macc_event(struct lrt__io *io, struct lrt__driver_op *op, uint32_t ev)
{
    struct lrt__macc *m = (struct lrt__macc *)op;
    size_t got = 0;
    for (uint32_t i = 0; i < op->nmore; i++) {
        if (m->r && push(m, op->more[i]))
            got++;
        else
            close(op->more[i]); /* a closed listener's, or no memory: the peer sees a reset */
    }
    op->nmore = 0;
    if (!(ev & LRT__DRV_MORE)) { /* the end */
        m->armed = false;
        if (!m->r) {
            release(m);
            return NULL;
        }
        int res = op->res;
        /* cancelled (paused) or a connection that died in the backlog: start again on
         * demand; anything else (EMFILE, EINVAL: not listening) is an acceptor's answer */
        if (res < 0 && res != -ECANCELED && res != -ECONNABORTED && res != -EINTR) {
            m->err = res;
            got++;
        } else if (!m->cancelled && !lrt__list_empty(&m->waiters) && m->head == m->len) {
            /* ended by itself (CQ overflow) with acceptors waiting: they start it again */
            got = (size_t)-1;
        }
    }
    if (m->len - m->head >= MACC_HIGH)
        stop(io, m);
    wake_waiters(m, got);
    return m->r && lrt__macc_readable(m->r) ? m->r : NULL;
}

static int take(struct lrt__macc *m, struct op_args *a)
{
    int fd = m->q[m->head++];
    if (m->head == m->len)
        m->head = m->len = 0;
    if (a->sa && a->len && getpeername(fd, a->sa, a->len) < 0)
        *a->len = 0; /* reset already (the top of the file) */
    return fd;
}

static ssize_t macc_accept(struct lrt__io *io, struct reg *r, struct lrt_task *t,
                           struct op_args *a, int64_t timeout_ms, uint64_t *waited_since);

/* The trace sees the acceptor's operation, not the listener's: an lrt_accept that waits
 * is one io_submit (when it starts waiting) and one io_complete (result: the new fd or
 * -errno, latency: its wait), as a single-shot accept was; one that takes a queued
 * connection at once emits nothing, as an accept4 that succeeds at once on epoll. */
ssize_t lrt__macc_accept(struct lrt__io *io, struct reg *r, struct lrt_task *t,
                         struct op_args *a, int64_t timeout_ms)
{
    uint64_t since = 0;
    int fd = r->fd;
    ssize_t rc = macc_accept(io, r, t, a, timeout_ms, &since);
    if (since && LRT__TP_ENABLED(io_complete)) {
        uint64_t now = lrt__mono_ns();
        /* since is 1 when the event was off at the submit: no latency known */
        LRT__TP_DO(io_complete, t->id, LRT__IO_ACCEPT, fd, (int64_t)rc, since > 1 && now > since ? now - since : 0);
    }
    return rc;
}

static ssize_t macc_accept(struct lrt__io *io, struct reg *r, struct lrt_task *t,
                           struct op_args *a, int64_t timeout_ms, uint64_t *waited_since)
{
    struct lrt__macc *m = r->macc;
    if (!m) {
        if (timeout_ms == 0)
            return -EAGAIN; /* one attempt: io.c's accept4 */
        m = calloc(1, sizeof *m);
        if (!m)
            return -ENOMEM;
        m->r = r;
        lrt__list_init(&m->waiters);
        lrt__list_push(&io->maccs, &m->link);
        r->macc = m;
    }
    uint64_t deadline = timeout_ms > 0 ? lrt__wait_deadline(t, timeout_ms) : 0;
    for (;;) {
        if (m->head < m->len) {
            (void)lrt__budget_spend();
            return take(m, a);
        }
        if (m->err) {
            int e = m->err;
            m->err = 0;
            return e;
        }
        if (timeout_ms == 0)
            return -EAGAIN;
        if (!m->armed) {
            int e = arm(io, m);
            if (e == -EOPNOTSUPP) {
                io->macc_off = true; /* the kernel cannot: one accept per operation */
                r->macc = NULL;
                release(m);
                return e; /* the caller sees macc_off */
            }
            if (e < 0)
                return e;
        }
        struct macc_waiter w = {.task = t, .start_ns = lrt__coarse_ns()};
        if (!*waited_since) {
            LRT__TP(io_submit, t->id, LRT__IO_ACCEPT, r->fd, 0);
            *waited_since = LRT__TP_ENABLED(io_complete) ? lrt__mono_ns() : 1;
        }
        lrt__list_push(&m->waiters, &w.link);
        io->waiters++;
        t->wait_aux2 = LRT__IO_ACCEPT;
        int rc = lrt__suspend(LRT__WAIT_URING, &w, (uint64_t)r->fd, deadline);
        io->waiters--;
        if (w.closed)
            return -EBADF; /* lrt_close: m and r are not ours to touch any more */
        lrt__list_del(&w.link);
        if (rc < 0) {
            /* woken for a connection but interrupted too: the next acceptor takes it */
            if (m->head < m->len || m->err)
                wake_waiters(m, 1);
            return rc;
        }
    }
}

void lrt__macc_close(struct lrt__io *io, struct reg *r)
{
    struct lrt__macc *m = r->macc;
    if (!m)
        return;
    r->macc = NULL;
    m->r = NULL;
    while (!lrt__list_empty(&m->waiters)) { /* woken ones too: they have not run yet */
        struct macc_waiter *w = lrt__container_of(m->waiters.next, struct macc_waiter, link);
        lrt__list_del(&w->link);
        w->closed = true;
        lrt__wake(w->task, -EBADF, LRT__WAKER_TASK); /* a no-op for the woken */
    }
    for (size_t i = m->head; i < m->len; i++)
        close(m->q[i]);
    m->head = m->len = 0;
    if (m->armed)
        stop(io, m); /* freed when its end arrives (lrt__macc_event) */
    else
        release(m);
}

void lrt__io_accepts_foreach(struct lrt__io *io, int fd,
                             void (*fn)(int op, uint64_t task_id, uint64_t start_ns, void *ctx), void *ctx)
{
    struct reg *r = io->regs[fd];
    if (!r->macc)
        return;
    for (lrt__link *l = r->macc->waiters.next; l != &r->macc->waiters; l = l->next) {
        struct macc_waiter *w = lrt__container_of(l, struct macc_waiter, link);
        fn(LRT__IO_ACCEPT, w->task->id, w->start_ns, ctx);
    }
}

void lrt__macc_fini(struct lrt__io *io)
{
    /* Cancel every operation and take what it accepted meanwhile: a connection the
     * kernel handed over but nobody read from the ring would stay open in this process.
     * A socket operation's cancellation takes effect at the next enter: a few looks. */
    bool left = false;
    for (lrt__link *l = io->maccs.next; l != &io->maccs; l = l->next) {
        struct lrt__macc *m = lrt__container_of(l, struct lrt__macc, link);
        if (m->r) {
            m->r->macc = NULL;
            m->r = NULL;
        }
        stop(io, m);
        left |= m->armed;
    }
    for (int tries = 0; left && tries < 100; tries++) {
        int n = io->drv->wait(io->d, tries < 2 ? 0 : 1000000, io->events, IO_BATCH);
        for (int i = 0; i < n; i++) {
            struct lrt__driver_op *op = (struct lrt__driver_op *)(uintptr_t)io->events[i].key;
            /* only the accepts: the other operations' tasks are never resumed */
            if ((io->events[i].events & LRT__DRV_DONE) && op->multishot)
                lrt__macc_event(io, op, io->events[i].events);
        }
        left = false;
        for (lrt__link *l = io->maccs.next; l != &io->maccs && !left; l = l->next)
            left = lrt__container_of(l, struct lrt__macc, link)->armed;
    }
}

void lrt__macc_free(struct lrt__io *io)
{
    while (!lrt__list_empty(&io->maccs))
        release(lrt__container_of(io->maccs.next, struct lrt__macc, link));
}
