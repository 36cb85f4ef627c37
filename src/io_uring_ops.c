/*
 * io_uring_ops.c - completion-based I/O for stackful tasks (a backend with .submit:
 * io_uring).  lrt_read/lrt_write/lrt_accept/lrt_connect and the datagram calls
 * (dgram.c, as RECVMSG/SENDMSG) on a socket submit one operation on the task's own
 * memory and suspend until its completion: no readiness wait, no EAGAIN
 * round trip; the operations queued by every task during one loop iteration reach the
 * kernel in the one io_uring_enter that also waits for completions (uring.c).
 *
 * The record (struct lrt__uop, io.h) and the buffer it names live on the task's stack,
 * so the kernel may write there until the completion has arrived.  Hence the rule that
 * makes cancellation safe: **a task never leaves an operation before its completion**.
 * An abort, a deadline (lrt_read_timeout, a deadline scope), a select's other case or
 * shutdown wakes the task; it then asks the kernel to cancel (IORING_OP_ASYNC_CANCEL)
 * and waits, holding off further interruptions, until the completion comes (the
 * cancellation's -ECANCELED, or the real result when the operation won the race: that
 * result is returned, so no byte read and no accepted connection is lost; the
 * interruption stays pending for the next suspension point, the first wake wins as in
 * src/waitq.h).  The stack is given back only when the task returns, so it is never
 * reused while the kernel may still write into it; nothing in stack.c or task.c needs to
 * know (a deferred release in stack.c would have had to keep the task record's stack
 * alive past the task's end; waiting here keeps the rule in one place).  Cancelling a
 * socket operation takes effect at the next io_uring_enter, so the hold lasts one loop
 * iteration.  lrt_close() cancels the operations in flight on its fd and their tasks get
 * -EBADF.
 *
 * Layer: beside io.c (its public calls dispatch here for REG_COMPL fds), calls core and
 * the driver through io->drv.  Runtime thread, in a task.
 */
#include "io.h"
#include "trace.h"

#include <unistd.h>

/* Wait until @u's completion came, whatever else wakes the task: abort, shutdown and
 * deadline scopes are set aside during the hold and seen by the next suspension point
 * (as file.c's held jobs, task.c's lrt__join_wait_as). */
void lrt__uop_hold(struct lrt_task *t, struct lrt__uop *u, int fd)
{
    const uint32_t aside = LRT__TF_CANCELLED | LRT__TF_DEADLINE;
    uint32_t saved = t->flags & (aside | LRT__TF_CANCEL_SEEN);
    while (!u->done) {
        t->flags &= ~aside;
        (void)lrt__suspend(LRT__WAIT_URING, u, (uint64_t)fd, 0);
        saved |= t->flags & LRT__TF_CANCELLED; /* aborted while held: kept for later */
    }
    t->flags = (t->flags & ~(aside | LRT__TF_CANCEL_SEEN)) | saved;
}

ssize_t lrt__uop_io(struct lrt__io *io, struct reg *r, struct lrt_task *t, int op,
                    struct op_args *a, int64_t timeout_ms)
{
    if ((op == OP_READ || op == OP_WRITE) && a->n == 0)
        return -EAGAIN; /* nothing to move: io.c's attempt answers at once, as recv(2) */
    if (op == OP_ACCEPT && !io->macc_off) {
        ssize_t k = lrt__macc_accept(io, r, t, a, timeout_ms); /* io_uring_accept.c */
        if (!io->macc_off)
            return k; /* else the backend cannot: one accept per operation, below */
    }
    if (timeout_ms == 0)
        return -EAGAIN; /* one attempt: io.c's */
    struct lrt__uop u;
    u.d.fd = r->iofd;
    u.d.buf = a->buf;
    /* an SQE carries a 32-bit length: clamp as read(2) does (MAX_RW_COUNT), never let
     * 4 GiB wrap to a 0-byte read that looks like EOF */
    u.d.len = a->n > 0x7ffff000u ? 0x7ffff000u : a->n;
    u.d.off = 0;
    u.d.flags = 0;
    u.d.poll_first = (r->flags & REG_DRAINED) != 0;
    u.d.multishot = false;
    u.d.addr = NULL;
    u.d.addrlen = NULL;
    u.d.addrlen_v = 0;
    switch (op) {
    case OP_READ:
        u.d.op = LRT__IO_RECV;
        break;
    case OP_WRITE:
        u.d.op = LRT__IO_SEND;
        u.d.flags = MSG_NOSIGNAL;
        break;
    case OP_RECVMSG: /* a datagram of 0 bytes is one: no n == 0 shortcut */
    case OP_SENDMSG:
        u.d.op = op == OP_RECVMSG ? LRT__IO_RECVMSG : LRT__IO_SENDMSG;
        u.d.len = 0;
        u.d.flags = (int)a->n | (op == OP_SENDMSG ? MSG_NOSIGNAL : 0);
        u.d.poll_first = false;
        break;
    case OP_CONNECT:
        u.d.op = LRT__IO_CONNECT;
        u.d.buf = NULL;
        u.d.len = 0;
        u.d.poll_first = false;
        u.d.addr = a->sa;
        u.d.addrlen_v = (socklen_t)a->n;
        break;
    default: /* OP_ACCEPT */
        u.d.op = LRT__IO_ACCEPT;
        u.d.buf = NULL;
        u.d.len = 0;
        u.d.addr = a->sa;
        u.d.addrlen = a->len;
        break;
    }
    uint64_t deadline = timeout_ms > 0 ? lrt__wait_deadline(t, timeout_ms) : 0;
    u.task = t;
    for (;;) {
        u.done = false;
        u.closed = false;
        int e = io->drv->submit(io->d, &u.d);
        if (e < 0)
            return e;
        u.start_ns = LRT__TP_ENABLED(io_complete) ? lrt__mono_ns() : lrt__coarse_ns();
        lrt__list_push(&r->uops, &u.link);
        io->uops++;
        io->waiters++;
        LRT__TP(io_submit, t->id, u.d.op, r->fd, (uint64_t)u.d.len);
        t->wait_aux2 = (uint32_t)u.d.op;
        int rc = lrt__suspend(LRT__WAIT_URING, &u, (uint64_t)r->fd, deadline);
        if (LRT__UNLIKELY(!u.done)) {
            io->drv->cancel(io->d, &u.d);
            lrt__uop_hold(t, &u, r->fd);
        }
        lrt__list_del(&u.link);
        io->uops--;
        io->waiters--;
        ssize_t res = u.d.res;
        if (LRT__UNLIKELY(u.closed)) {
            if (op == OP_ACCEPT && res >= 0)
                close((int)res); /* nobody will ever see it */
            return -EBADF;
        }
        if (LRT__LIKELY(res >= 0)) {
            if (op == OP_READ) /* a short read drained it (io.c's rule for epoll) */
                r->flags = (size_t)res < u.d.len ? r->flags | REG_DRAINED : r->flags & ~(uint32_t)REG_DRAINED;
            return res;
        }
        /* interrupted: say why (-ECANCELED, -ETIMEDOUT) unless the operation failed on
         * its own; a connection that died in the backlog is not the listener's error,
         * nor EINTR of an operation an io-wq worker ran: try again */
        bool again = res == -ECONNABORTED || res == -EINTR;
        if (rc < 0)
            return res == -ECANCELED || again ? rc : res;
        if (again)
            continue;
        return res; /* -EAGAIN: io.c falls back to a readiness wait */
    }
}

ssize_t lrt__io_submitted(int fd, int op, void *obj, size_t arg, int64_t timeout_ms)
{
    struct lrt_task *t;
    int err = lrt__task_ctx(&t);
    if (err)
        return err;
    struct reg *r = reg_get(t->rt->io, fd, &err);
    if (!r)
        return err;
    if (!(r->flags & REG_COMPL) || timeout_ms == 0)
        return -EAGAIN; /* readiness (epoll, a pipe) or one attempt: the caller's path */
    struct op_args a = {.buf = obj, .n = arg};
    int o = op == LRT__IO_RECVMSG ? OP_RECVMSG : op == LRT__IO_SENDMSG ? OP_SENDMSG : OP_CONNECT;
    if (o == OP_CONNECT)
        a.sa = obj;
    return lrt__uop_io(t->rt->io, r, t, o, &a, timeout_ms);
}

void lrt__uop_done(struct lrt__io *io, struct lrt__uop *u)
{
    (void)io;
    u->done = true;
    if (LRT__TP_ENABLED(io_complete)) {
        /* submitted before the session began: start_ns is the coarse clock, maybe ahead */
        uint64_t now = lrt__mono_ns();
        (void)now; /* TRACE=0: the tracepoint is compiled out */
        LRT__TP_DO(io_complete, u->task->id, u->d.op, u->d.fd, (int64_t)u->d.res,
                   now > u->start_ns ? now - u->start_ns : 0);
    }
    /* a no-op when the task was already woken by an interruption (it waits in its hold) */
    lrt__wake_by(u->task, 0, LRT__WAKER_IO, 0);
}

void lrt__uop_close(struct lrt__io *io, struct reg *r)
{
    for (lrt__link *l = r->uops.next; l != &r->uops; l = l->next) {
        struct lrt__uop *u = lrt__container_of(l, struct lrt__uop, link);
        if (!u->done && !u->closed) {
            u->closed = true;
            io->drv->cancel(io->d, &u->d);
        }
    }
}
