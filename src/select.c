/*
 * select.c — lrt_select: wait for the first of several cases (channel receive or send,
 * fd readable or writable, join, notify, oneshot); exactly one takes effect.
 * Layer: beside io (calls core, waitq.h, the hooks of chan.c/sync.c in sync.h and of io.c
 * in select.h); runtime thread only.
 *
 * The waiting protocol is waitq.h's, with one waiter per case on the select's stack,
 * linked into several queues at once.  The claim is the task's state: the first wake
 * that takes effect makes the task runnable, and from then on every other waiter of the
 * select is stale (lrt__waitq_first drops it, as it drops a cancelled one), so no second
 * message, permit or value is handed over.  A waker that hands something over records
 * which waiter it was in the select's winner slot (the waiter's `claim`); plain waiters
 * have no claim, so their hot path is one untaken branch.
 *
 * Cases that hand nothing over (fd readiness, join, close) are not recorded: the select
 * polls every case again after such a wake, so readiness is taken from the object itself
 * and a case whose object only became ready (a task finished, a message arrived after the
 * select was woken by something else) is left alone unless it wins that poll.
 *
 * Fairness: the poll starts at a rotating index, so when several cases are ready each
 * wins in turn rather than always the first.
 */
#include "select.h"
#include "sync.h"

#include <sys/epoll.h>

#define SEL_MAX 64 /* the waiters live on the caller's stack (task stacks are small) */

static lrt_sel_t sel_case(int kind, void *obj, int fd, void *msg, void **out)
{
    return (lrt_sel_t){.kind = kind, .obj = obj, .fd = fd, .msg = msg, .out = out, .res = 0};
}

lrt_sel_t lrt_sel_recv(lrt_chan_t *c, void **out) { return sel_case(LRT_SEL_RECV, c, -1, NULL, out); }
lrt_sel_t lrt_sel_send(lrt_chan_t *c, void *msg) { return sel_case(LRT_SEL_SEND, c, -1, msg, NULL); }
lrt_sel_t lrt_sel_readable(int fd) { return sel_case(LRT_SEL_READABLE, NULL, fd, NULL, NULL); }
lrt_sel_t lrt_sel_writable(int fd) { return sel_case(LRT_SEL_WRITABLE, NULL, fd, NULL, NULL); }
lrt_sel_t lrt_sel_join(lrt_task_t *t, void **out) { return sel_case(LRT_SEL_JOIN, t, -1, NULL, out); }
lrt_sel_t lrt_sel_notify(lrt_notify_t *n) { return sel_case(LRT_SEL_NOTIFY, n, -1, NULL, NULL); }
lrt_sel_t lrt_sel_oneshot(lrt_oneshot_t *o, void **out) { return sel_case(LRT_SEL_ONESHOT, o, -1, NULL, out); }

static int sel_check(struct lrt_task *cur, const lrt_sel_t *c)
{
    switch (c->kind) {
    case LRT_SEL_RECV:
    case LRT_SEL_SEND:
    case LRT_SEL_NOTIFY:
    case LRT_SEL_ONESHOT:
        return c->obj ? 0 : -EINVAL;
    case LRT_SEL_READABLE:
    case LRT_SEL_WRITABLE:
        return c->fd >= 0 ? 0 : -EBADF;
    case LRT_SEL_JOIN: {
        struct lrt__join *j = lrt__join_of(c->obj);
        /* a group keeps its members' handles: only lrt_group_join_next joins them */
        if (!c->obj || !lrt__handle_valid(c->obj, j) || j == &cur->join || j->rt != cur->rt ||
            (j->joiner && j->joiner != cur) || lrt__join_grouped(j))
            return -EINVAL;
        return 0;
    }
    }
    return -EINVAL;
}

static uint32_t fd_events(const lrt_sel_t *c)
{
    return c->kind == LRT_SEL_READABLE ? EPOLLIN | EPOLLRDHUP : EPOLLOUT;
}

/* Complete @c now if it can: 0 done (c->res set), 1 not ready.  With @w, a case that is
 * not ready links @w (fd cases link inside their poll; the rest are linked by the
 * caller, so that the poll of every case runs before any waiter is linked). */
static int sel_poll(struct lrt_task *cur, lrt_sel_t *c, lrt__waiter *w)
{
    int r;
    void *msg = NULL;
    switch (c->kind) {
    case LRT_SEL_RECV:
        r = lrt__chan_sel_poll(c->obj, false, &msg);
        if (r == 0 && c->out)
            *c->out = msg;
        break;
    case LRT_SEL_SEND:
        msg = c->msg;
        r = lrt__chan_sel_poll(c->obj, true, &msg);
        break;
    case LRT_SEL_ONESHOT:
        r = lrt__oneshot_sel_poll(c->obj, &msg);
        if (r == 0 && c->out)
            *c->out = msg;
        break;
    case LRT_SEL_NOTIFY:
        r = lrt__notify_sel_poll(c->obj);
        break;
    case LRT_SEL_JOIN: {
        struct lrt__join *j = lrt__join_of(c->obj);
        if (j->state != LRT__FINISHED)
            return 1;
        if (j->joiner == cur)
            j->joiner = NULL;
        r = lrt_join_timeout(c->obj, c->out, 0);
        break;
    }
    default: /* fd */
        r = lrt__io_sel_poll(cur, c->fd, fd_events(c), w);
        if (r == 0)
            return 1;
        c->res = r; /* ready events: may be 1 (EPOLLIN) */
        return 0;
    }
    if (r == 1)
        return 1;
    c->res = r;
    return 0;
}

/* Link @w for the not-ready case @c (fd cases linked themselves in sel_poll). */
static void sel_link(struct lrt_task *cur, lrt_sel_t *c, lrt__waiter *w, lrt__waiter **winner)
{
    lrt__link *q;
    if (c->kind == LRT_SEL_READABLE || c->kind == LRT_SEL_WRITABLE)
        return; /* linked by its poll, with the registration in w->msg */
    w->task = cur;
    w->claim = winner;
    w->msg = NULL;
    switch (c->kind) {
    case LRT_SEL_RECV:
        q = lrt__chan_sel_queue(c->obj, false);
        break;
    case LRT_SEL_SEND:
        w->msg = c->msg;
        q = lrt__chan_sel_queue(c->obj, true);
        break;
    case LRT_SEL_ONESHOT:
        /* one receiver: a second select case on the same oneshot would be refused */
        q = lrt__oneshot_sel_queue(c->obj);
        break;
    case LRT_SEL_NOTIFY:
        q = lrt__notify_sel_queue(c->obj, w);
        break;
    case LRT_SEL_JOIN:
        lrt__join_of(c->obj)->joiner = cur; /* the one-slot queue */
        return;
    default:
        return;
    }
    lrt__list_push(q, &w->link);
}

static void sel_leave(struct lrt_task *cur, lrt_sel_t *c, lrt__waiter *w)
{
    switch (c->kind) {
    case LRT_SEL_READABLE:
    case LRT_SEL_WRITABLE:
        lrt__io_sel_leave(cur, w);
        return;
    case LRT_SEL_JOIN: {
        struct lrt__join *j = lrt__join_of(c->obj);
        if (j->joiner == cur)
            j->joiner = NULL;
        return;
    }
    default:
        if (lrt__linked(&w->link))
            lrt__list_del(&w->link);
    }
}

/* The winner @w of @c was handed something (woken with 0): settle the hand-over. */
static void sel_won(lrt_sel_t *c, lrt__waiter *w)
{
    switch (c->kind) {
    case LRT_SEL_RECV:
        lrt__chan_sel_won(c->obj, false);
        if (c->out)
            *c->out = w->msg;
        break;
    case LRT_SEL_ONESHOT:
        lrt__oneshot_sel_won(c->obj);
        if (c->out)
            *c->out = w->msg;
        break;
    case LRT_SEL_NOTIFY:
        lrt__notify_sel_won(c->obj, w);
        break;
    default:
        break;
    }
}

static __thread unsigned sel_rotor; /* the rotating start, per runtime thread */

int lrt_select(lrt_sel_t *cases, size_t n, int64_t timeout_ms)
{
    struct lrt_task *cur;
    int err = lrt__sync_ctx(&cur, LRT__WAIT_SELECT, cases);
    if (LRT__UNLIKELY(err))
        return err;
    if (!cases || n == 0 || n > SEL_MAX)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        cases[i].res = 0;
        if ((err = sel_check(cur, &cases[i])) != 0)
            return err;
    }
    lrt__waiter ws[n]; /* bounded by SEL_MAX: 48 bytes a case, not 3 KB for every select */
    size_t start = sel_rotor++ % n;
    uint64_t deadline = 0;
    for (;;) {
        /* poll every case from the rotating start; fd cases link as they go */
        for (size_t k = 0, i = start; k < n; k++, i = i + 1 == n ? 0 : i + 1) {
            ws[i].link.next = ws[i].link.prev = NULL;
            if (sel_poll(cur, &cases[i], &ws[i]) == 0) {
                for (size_t m = 0, x = start; m < k; m++, x = x + 1 == n ? 0 : x + 1)
                    sel_leave(cur, &cases[x], &ws[x]);
                return (int)i;
            }
        }
        if (timeout_ms == 0) {
            for (size_t i = 0; i < n; i++)
                sel_leave(cur, &cases[i], &ws[i]);
            return -ETIMEDOUT;
        }
        if (!deadline && timeout_ms > 0)
            deadline = lrt__wait_deadline(cur, timeout_ms);
        lrt__waiter *winner = NULL;
        for (size_t i = 0; i < n; i++)
            sel_link(cur, &cases[i], &ws[i], &winner);
        int r = lrt__suspend(LRT__WAIT_SELECT, cases, n, deadline);
        for (size_t i = 0; i < n; i++)
            sel_leave(cur, &cases[i], &ws[i]);
        if (winner) {
            size_t i = (size_t)(winner - ws);
            cases[i].res = r;
            if (r == 0)
                sel_won(&cases[i], winner);
            return (int)i;
        }
        if (r == -ETIMEDOUT || r == -ECANCELED)
            return r;
        /* a readiness wake (fd, join, close): poll again, from the next start */
        start = start + 1 == n ? 0 : start + 1;
    }
}
