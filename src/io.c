/*
 * io.c - the fd cache and the public I/O calls on top of the driver (driver.h).
 *
 * Every fd is registered once, edge-triggered, for both directions
 * (EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET) and its readiness is cached in its registration.
 * An operation tries the syscall while the cache says "maybe ready" and only on EAGAIN
 * clears that direction and suspends; an edge re-arms it.  So a busy fd costs no
 * epoll_ctl at all, and a task never sleeps on an fd that is ready (edge-triggered epoll
 * reports every transition that happens after the EAGAIN).
 *
 * Registrations live in a table indexed by fd.  The table holds pointers, grown with
 * realloc; the registration records themselves never move (wait-queue heads point into
 * them, and a suspended task's wait_obj names one) and are reused when an fd number comes
 * back, so the hot path allocates nothing.
 *
 * Ownership: the caller owns its fds.  lrt_close() is the only call that closes one; an
 * fd that lrt has seen must be closed with lrt_close() (on the runtime thread), or the
 * stale registration would outlive the number.
 *
 * Layer: calls the driver (driver.h, through the table in struct lrt__io), the inbox's
 * notifier (notify.c), core and clock.  State: rt->io, the runtime thread's.
 */
#include "io.h"
#include "select.h"
#include "trace.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---- waiting ---------------------------------------------------------------------- */

static void waiter_uncount(struct lrt__io *io, struct reg *r, uint32_t interest)
{
    io->waiters--;
    if (interest & (EPOLLIN | EPOLLRDHUP)) {
        r->nreaders--;
        if (interest & EPOLLOUT)
            r->nboth--;
    } else {
        r->nwriters--;
    }
}

/* Wake the waiters of @q (those interested in @need, or all when @need is 0). */
static void wake_queue(struct lrt__io *io, struct reg *r, lrt__link *q, uint32_t need, int result)
{
    lrt__link *l = q->next;
    while (l != q) {
        lrt__link *next = l->next;
        lrt__waiter *w = lrt__container_of(l, lrt__waiter, link);
        uint32_t interest = (uint32_t)w->want;
        if (!need || (interest & need)) {
            lrt__list_del(l); /* the waker unlinks (waitq.h) */
            waiter_uncount(io, r, interest);
            /* lrt_close by a task names that task; readiness comes from the driver */
            if (result == -EBADF)
                lrt__wake(w->task, result, LRT__WAKER_TASK);
            else /* an OS wait names its own waker above the interest (lrt__io_wait_as) */
                lrt__wake_by(w->task, result, w->want >> 32 ? (int)(w->want >> 32) : LRT__WAKER_IO, 0);
        }
        l = next;
    }
}

/* The listener's queue got a connection: poll(2) cannot tell, its backlog is empty */
static void listener_readable(struct lrt__io *io, struct reg *r)
{
    r->ready |= EPOLLIN;
    r->tick++;
    wake_queue(io, r, &r->readers, 0, 0);
}

/* Suspend the running task until @r has an event for @interest, the deadline passes
 * (-ETIMEDOUT), the task is cancelled (-ECANCELED) or the fd is closed (-EBADF). */
static inline __attribute__((always_inline)) int wait_on_as(struct lrt__io *io, struct reg *r,
        struct lrt_task *t, uint32_t interest, uint64_t deadline, int kind, const void *obj,
        uint64_t aux, int waker)
{
    /* interest also in t->wait_aux2, where dumps read it; the waker above it */
    lrt__waiter w = {.want = interest | (uint64_t)(unsigned)waker << 32};
    if (io->drv->arm) { /* a backend that watches lazily (io_uring) */
        int e = io->drv->arm(io->d, r->fd, reg_key(r));
        if (e < 0)
            return e;
    }
    lrt__link *q = &r->writers;
    if (interest & (EPOLLIN | EPOLLRDHUP)) {
        q = &r->readers;
        r->nreaders++;
        if (interest & EPOLLOUT)
            r->nboth++;
    } else {
        r->nwriters++;
    }
    io->waiters++;
    if (kind == LRT__WAIT_FD)
        t->wait_aux2 = interest;
    int rc = lrt__waitq_suspend(q, &w, t, kind, obj, aux, deadline);
    if (lrt__waitq_leave(&w, rc))
        waiter_uncount(io, r, interest);
    return rc;
}

static inline __attribute__((always_inline)) int wait_on(struct lrt__io *io, struct reg *r,
        struct lrt_task *t, uint32_t interest, uint64_t deadline)
{
    return wait_on_as(io, r, t, interest, deadline, LRT__WAIT_FD, r, (uint64_t)r->fd, 0);
}

/* The not-ready path shared by every I/O call: -ETIMEDOUT for a zero timeout, else wait
 * for an edge (the deadline is fixed at the first wait, in *@deadline); -EBADF when the
 * fd was closed (and maybe its number reused) while the task waited or was runnable. */
static int wait_edge(struct lrt__io *io, struct reg *r, struct lrt_task *t, uint32_t interest,
                     uint32_t gen, int64_t timeout_ms, uint64_t *deadline)
{
    if (timeout_ms == 0)
        return -ETIMEDOUT;
    if (!*deadline && timeout_ms > 0)
        *deadline = lrt__wait_deadline(t, timeout_ms);
    int rc = wait_on(io, r, t, interest, *deadline);
    if (rc < 0)
        return rc;
    if (!(r->flags & REG_ACTIVE) || r->gen != gen)
        return -EBADF;
    return 0;
}

/* ---- syscalls --------------------------------------------------------------------- */

/*
 * The system calls of an I/O attempt.  glibc's recv/send/read/write/accept4 are thread
 * cancellation points: each wraps the call in pthread_enable/disable_asynccancel, 3 % of
 * the echo server's profile at 1000 connections, and a runtime thread must not be a
 * cancellation point anyway (cancellation would unwind the scheduler from inside a
 * task's stack).  syscall(2) is neither.  Sanitizer builds keep the libc calls, whose
 * interceptors check the caller's buffers.
 */
#ifdef LRT__ASAN
#define sys_recv(fd, buf, n, fl) recv(fd, buf, n, fl)
#define sys_send(fd, buf, n, fl) send(fd, buf, n, fl)
#define sys_read(fd, buf, n) read(fd, buf, n)
#define sys_write(fd, buf, n) write(fd, buf, n)
#define sys_accept4(fd, sa, len, fl) accept4(fd, sa, len, fl)
#else
#define sys_recv(fd, buf, n, fl) syscall(SYS_recvfrom, fd, buf, n, fl, NULL, NULL)
#define sys_send(fd, buf, n, fl) syscall(SYS_sendto, fd, buf, n, fl, NULL, 0)
#define sys_read(fd, buf, n) syscall(SYS_read, fd, buf, n)
#define sys_write(fd, buf, n) syscall(SYS_write, fd, buf, n)
#define sys_accept4(fd, sa, len, fl) (int)syscall(SYS_accept4, fd, sa, len, fl)
#endif

/* write() to a non-socket with SIGPIPE blocked, consuming the SIGPIPE it raised, so a
 * closed pipe gives EPIPE instead of killing the process (libuv / OpenSSL). */
static ssize_t write_nosigpipe(struct lrt__io *io, int fd, const void *buf, size_t n)
{
    sigset_t old;
    pthread_sigmask(SIG_BLOCK, &io->pipe_set, &old);
    ssize_t k;
    do
        k = sys_write(fd, buf, n);
    while (k < 0 && errno == EINTR);
    int e = errno;
    if (!sigismember(&old, SIGPIPE)) {
        /* SIGPIPE was not blocked before, so a pending one is ours */
        if (k < 0 && e == EPIPE) {
            static const struct timespec zero = {0, 0};
            while (sigtimedwait(&io->pipe_set, NULL, &zero) < 0 && errno == EINTR) {
            }
        }
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    return k < 0 ? -e : k;
}

/* A read or write of a pipe or terminal with O_NONBLOCK on the shared description for
 * just this attempt (REG_TOGGLE, io_reg.c's top comment).  Out of line: never a socket. */
static __attribute__((noinline)) ssize_t rw_toggled(struct lrt__io *io, struct reg *r, int op,
                                                    struct op_args *a)
{
    int fl = lrt__io_nb_begin(r);
    if (fl < 0)
        return fl;
    ssize_t k;
    if (op == OP_READ) {
        do
            k = sys_read(r->fd, a->buf, a->n);
        while (k < 0 && errno == EINTR);
        k = k < 0 ? -errno : k;
    } else {
        k = write_nosigpipe(io, r->fd, a->buf, a->n);
    }
    lrt__io_nb_end(r, fl);
    return k;
}

/* One non-blocking attempt: the result or -errno (-EAGAIN: not ready). */
static inline ssize_t op_try(struct lrt__io *io, struct reg *r, int op, struct op_args *a)
{
    int fd = r->iofd;
    ssize_t k;
    switch (op) {
    case OP_READ:
        if (r->flags & REG_SOCK) {
            do
                k = sys_recv(fd, a->buf, a->n, MSG_DONTWAIT);
            while (k < 0 && errno == EINTR);
            if (k >= 0 || errno != ENOTSOCK)
                return k < 0 ? -errno : k;
            r->flags &= ~REG_SOCK;
        }
        if (LRT__UNLIKELY(r->flags & REG_TOGGLE))
            return rw_toggled(io, r, op, a);
        do
            k = sys_read(fd, a->buf, a->n);
        while (k < 0 && errno == EINTR);
        return k < 0 ? -errno : k;
    case OP_WRITE:
        if (r->flags & REG_SOCK) {
            do
                k = sys_send(fd, a->buf, a->n, MSG_NOSIGNAL | MSG_DONTWAIT);
            while (k < 0 && errno == EINTR);
            if (k >= 0 || errno != ENOTSOCK)
                return k < 0 ? -errno : k;
            r->flags &= ~REG_SOCK;
        }
        if (r->flags & REG_PLAIN) {
            do
                k = sys_write(fd, a->buf, a->n);
            while (k < 0 && errno == EINTR);
            return k < 0 ? -errno : k;
        }
        if (LRT__UNLIKELY(r->flags & REG_TOGGLE))
            return rw_toggled(io, r, op, a);
        return write_nosigpipe(io, fd, a->buf, a->n);
    case OP_ACCEPT:
        if (LRT__UNLIKELY(r->flags & REG_NEEDNB) && (k = lrt__io_set_nonblock(r)) < 0)
            return k;
        for (;;) {
            k = sys_accept4(fd, a->sa, a->len, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (k >= 0)
                return k;
            /* a connection that died in the backlog is not the listener's error */
            if (errno != EINTR && errno != ECONNABORTED)
                return -errno;
        }
    case OP_CALL:
        return a->fn(fd, a->ctx);
    }
    return -EINVAL;
}

/* The calling task and @fd's registration (registered on first use); NULL with *err
 * (-EPERM outside a task, -EBADF, ...). */
static struct reg *task_reg(int fd, struct lrt_task **t, int *err)
{
    *err = lrt__task_ctx(t);
    return *err ? NULL : reg_get((*t)->rt->io, fd, err);
}

/*
 * The shape of every I/O call: try while the cache says maybe-ready; on EAGAIN clear
 * the direction (unless an event arrived meanwhile: the tick check) and wait for an edge.
 */
static ssize_t io_run(int fd, uint32_t interest, int op, struct op_args *a, int64_t timeout_ms)
{
    struct lrt_task *t;
    int err;
    struct reg *r = task_reg(fd, &t, &err);
    if (!r)
        return err;
    struct lrt__io *io = t->rt->io;
    /* timeout 0 too for an accept: connections its multishot took wait in its queue */
    if ((r->flags & REG_COMPL) && op != OP_CALL && (timeout_ms != 0 || r->macc)) {
        ssize_t k = lrt__uop_io(io, r, t, op, a, timeout_ms); /* io_uring_ops.c */
        if (LRT__LIKELY(k != -EAGAIN))
            return k;
    }
    uint32_t gen = r->gen;
    uint32_t mask = interest == EPOLLIN ? READ_READY : WRITE_READY;
    uint32_t clear = interest == EPOLLIN ? (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR | EPOLLPRI)
                                         : (EPOLLOUT | EPOLLHUP | EPOLLERR);
    uint64_t deadline = 0;
    bool suspended = false;
    for (;;) {
        if (timeout_ms == 0 || (r->ready & mask)) {
            uint32_t tick = r->tick;
            ssize_t k = op_try(io, r, op, a);
            if (k != -EAGAIN || (r->flags & REG_NOEPOLL)) {
                /* A short read from a stream socket or a pipe drained it (Tokio does the
                 * same): the next read waits for an edge instead of paying a recv that
                 * would fail with EAGAIN.  Only if no event arrived meanwhile. */
                if (op == OP_READ && k > 0 && (size_t)k < a->n && (r->flags & REG_STREAM) &&
                    r->tick == tick)
                    r->ready &= ~(uint32_t)EPOLLIN;
                /* A completed op counts against the budget; a cancellation noticed
                 * here must not lose the bytes just moved: the next suspension point
                 * reports it. */
                if (!suspended)
                    (void)lrt__budget_spend();
                return k;
            }
            if (r->tick == tick)
                r->ready &= ~clear;
            if (r->ready & mask)
                continue;
        }
        int rc = wait_edge(io, r, t, interest, gen, timeout_ms, &deadline);
        if (rc < 0)
            return rc;
        suspended = true;
    }
}

/* ---- public I/O calls ------------------------------------------------------------- */

ssize_t lrt_read_timeout(int fd, void *buf, size_t n, int64_t timeout_ms)
{
    struct op_args a = {.buf = buf, .n = n};
    return io_run(fd, EPOLLIN, OP_READ, &a, timeout_ms);
}

ssize_t lrt_write_timeout(int fd, const void *buf, size_t n, int64_t timeout_ms)
{
    struct op_args a = {.buf = (void *)buf, .n = n};
    return io_run(fd, EPOLLOUT, OP_WRITE, &a, timeout_ms);
}

ssize_t lrt_read(int fd, void *buf, size_t n) { return LRT__NOTAIL(lrt_read_timeout(fd, buf, n, -1)); }

ssize_t lrt_write(int fd, const void *buf, size_t n) { return LRT__NOTAIL(lrt_write_timeout(fd, buf, n, -1)); }

ssize_t lrt_write_all(int fd, const void *buf, size_t n)
{
    size_t done = 0;
    do {
        ssize_t k = lrt_write_timeout(fd, (const char *)buf + done, n - done, -1);
        if (k < 0)
            return k;
        done += (size_t)k;
    } while (done < n);
    return (ssize_t)n;
}

ssize_t lrt__io_run(int fd, uint32_t interest, lrt__io_try_fn *fn, void *ctx, int64_t timeout_ms)
{
    struct op_args a = {.fn = fn, .ctx = ctx};
    return io_run(fd, interest, OP_CALL, &a, timeout_ms);
}

int lrt_accept_timeout(int fd, struct sockaddr *sa, socklen_t *len, int64_t timeout_ms)
{
    struct op_args a = {.sa = sa, .len = len};
    return (int)io_run(fd, EPOLLIN, OP_ACCEPT, &a, timeout_ms);
}

int lrt_accept(int fd, struct sockaddr *sa, socklen_t *len)
{
    return LRT__NOTAIL(lrt_accept_timeout(fd, sa, len, -1));
}

int lrt_connect_timeout(int fd, const struct sockaddr *sa, socklen_t len, int64_t timeout_ms)
{
    /* io_uring: IORING_OP_CONNECT on the caller's address (io_uring_ops.c) */
    ssize_t k = lrt__io_submitted(fd, LRT__IO_CONNECT, (void *)sa, len, timeout_ms);
    if (k != -EAGAIN)
        return (int)k;
    struct lrt_task *t;
    int err;
    struct reg *r = task_reg(fd, &t, &err);
    if (!r)
        return err;
    struct lrt__io *io = t->rt->io;
    uint32_t gen = r->gen;
    if ((r->flags & REG_NEEDNB) && (err = lrt__io_set_nonblock(r)) < 0)
        return err;
    int rc = connect(fd, sa, len);
    int e = rc < 0 ? errno : 0;
    if (e == EINTR)
        e = EINPROGRESS; /* the handshake goes on asynchronously */
    if (e != EINPROGRESS) {
        (void)lrt__budget_spend();
        return -e;
    }
    /* In progress: whatever the cache says about writability predates the connection
     * (an unconnected TCP socket polls as EPOLLOUT|EPOLLHUP). */
    r->ready &= ~(uint32_t)(EPOLLOUT | EPOLLHUP | EPOLLERR);
    if (timeout_ms == 0)
        return -ETIMEDOUT;
    uint64_t deadline = lrt__wait_deadline(t, timeout_ms);
    for (;;) {
        rc = wait_on(io, r, t, EPOLLOUT, deadline);
        if (rc < 0)
            return rc;
        if (!(r->flags & REG_ACTIVE) || r->gen != gen)
            return -EBADF;
        uint32_t tick = r->tick;
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
            return -errno;
        if (soerr)
            return -soerr;
        struct sockaddr_storage peer;
        socklen_t pl = sizeof peer;
        if (getpeername(fd, (struct sockaddr *)&peer, &pl) == 0)
            return 0;
        if (errno != ENOTCONN)
            return -errno;
        /* woken before the handshake finished: wait for the next edge */
        if (r->tick == tick)
            r->ready &= ~(uint32_t)(EPOLLOUT | EPOLLHUP | EPOLLERR);
    }
}

int lrt_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
    return LRT__NOTAIL(lrt_connect_timeout(fd, sa, len, -1));
}

/*
 * lrt_wait_fd asks the kernel (poll, timeout 0) rather than the cache: its caller does
 * its own I/O, and an EAGAIN it saw never reached our cache.
 */
int lrt_wait_fd(int fd, uint32_t events, int64_t timeout_ms)
{
    struct lrt_task *t;
    int err = lrt__task_ctx(&t);
    if (err)
        return err;
    events &= EPOLLIN | EPOLLOUT | EPOLLRDHUP;
    if (!events)
        return -EINVAL;
    struct lrt__io *io = t->rt->io;
    struct reg *r = reg_get(io, fd, &err);
    if (!r)
        return err;
    uint32_t gen = r->gen;
    /* bits a waiter on @events cares about (EPOLLHUP/ERR are always reported) */
    uint32_t clear = events | EPOLLHUP | EPOLLERR | ((events & EPOLLIN) ? EPOLLRDHUP : 0);
    uint64_t deadline = 0;
    bool suspended = false;
    for (;;) {
        if ((events & EPOLLIN) && LRT__UNLIKELY(r->macc) && lrt__macc_readable(r)) {
            if (!suspended)
                (void)lrt__budget_spend();
            return EPOLLIN; /* a connection in the listener's queue (io_uring_accept.c) */
        }
        /* POLLIN/POLLOUT/POLLRDHUP/POLLERR/POLLHUP equal their EPOLL* twins on Linux */
        struct pollfd p = {.fd = fd, .events = (short)events};
        uint32_t tick = r->tick;
        int k = poll(&p, 1, 0);
        if (k < 0 && errno != EINTR)
            return -errno;
        if (k > 0) {
            if (p.revents & POLLNVAL)
                return -EBADF;
            if (!suspended)
                (void)lrt__budget_spend();
            return (int)(uint16_t)p.revents;
        }
        if (r->tick == tick)
            r->ready &= ~clear;
        int rc = wait_edge(io, r, t, events, gen, timeout_ms, &deadline);
        if (rc < 0)
            return rc;
        suspended = true;
    }
}

/*
 * An OS wait (signal.c, process.c): until @fd is readable, shown in the dump as (@kind,
 * @obj, @aux) and woken by @waker rather than "io".  Asks the kernel like lrt_wait_fd.
 * Returns 0 once readable, -ETIMEDOUT, -ECANCELED, -EBADF (closed while waiting) or
 * another negative errno.  Runtime thread, from a task.
 */
int lrt__io_wait_as(int fd, int kind, const void *obj, uint64_t aux, int waker, int64_t timeout_ms)
{
    struct lrt_task *t;
    int err = lrt__task_ctx(&t);
    if (err)
        return err;
    struct lrt__io *io = t->rt->io;
    struct reg *r = reg_get(io, fd, &err);
    if (!r)
        return err;
    uint32_t gen = r->gen;
    uint64_t deadline = 0;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        uint32_t tick = r->tick;
        int k = poll(&p, 1, 0);
        if (k < 0 && errno != EINTR)
            return -errno;
        if (k > 0)
            return (p.revents & POLLNVAL) ? -EBADF : 0;
        if (r->tick == tick)
            r->ready &= ~(uint32_t)(EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR);
        if (timeout_ms == 0)
            return -ETIMEDOUT;
        if (!deadline && timeout_ms > 0)
            deadline = lrt__wait_deadline(t, timeout_ms);
        int rc = wait_on_as(io, r, t, EPOLLIN, deadline, kind, obj, aux, waker);
        if (rc < 0)
            return rc;
        if (!(r->flags & REG_ACTIVE) || r->gen != gen)
            return -EBADF;
    }
}

/* ---- select (select.c) ----------------------------------------------------------- */

/* Like lrt_wait_fd's loop body: the kernel's answer, not the cache. */
int lrt__io_sel_poll(struct lrt_task *t, int fd, uint32_t events, lrt__waiter *w)
{
    int err;
    struct lrt__io *io = t->rt->io;
    struct reg *r = reg_get(io, fd, &err);
    if (!r)
        return err;
    uint32_t clear = events | EPOLLHUP | EPOLLERR | ((events & EPOLLIN) ? EPOLLRDHUP : 0);
    if ((events & EPOLLIN) && LRT__UNLIKELY(r->macc) && lrt__macc_readable(r))
        return EPOLLIN; /* a connection in the listener's queue (io_uring_accept.c) */
    struct pollfd p = {.fd = fd, .events = (short)events};
    uint32_t tick = r->tick;
    int k = poll(&p, 1, 0);
    if (k < 0 && errno != EINTR)
        return -errno;
    if (k > 0)
        return (p.revents & POLLNVAL) ? -EBADF : (int)(uint16_t)p.revents;
    if (r->tick == tick)
        r->ready &= ~clear;
    if (!w)
        return 0;
    if (io->drv->arm && (k = io->drv->arm(io->d, r->fd, reg_key(r))) < 0)
        return k;
    lrt__link *q = &r->writers;
    if (events & (EPOLLIN | EPOLLRDHUP)) {
        q = &r->readers;
        r->nreaders++;
    } else {
        r->nwriters++;
    }
    io->waiters++;
    w->want = events;
    w->msg = r;
    w->task = t;
    lrt__list_push(q, &w->link);
    return 0;
}

void lrt__io_sel_leave(struct lrt_task *t, lrt__waiter *w)
{
    if (!lrt__linked(&w->link))
        return; /* the waker unlinked and uncounted it */
    lrt__list_del(&w->link);
    waiter_uncount(t->rt->io, w->msg, (uint32_t)w->want);
}

/*
 * lrt_close works in a task (even a cancelled one: cleanup must be able to close) and
 * outside tasks on the runtime thread while the runtime is current.
 */
int lrt_close(int fd)
{
    struct lrt_runtime *rt = lrt__tls_rt;
    if (!rt || !rt->io || !pthread_equal(rt->thread, pthread_self()))
        return -EPERM;
    if (fd < 0)
        return -EBADF;
    struct lrt__io *io = rt->io;
    if ((size_t)fd < io->cap && io->regs[fd] && (io->regs[fd]->flags & REG_ACTIVE)) {
        struct reg *r = io->regs[fd];
        if (!(r->flags & REG_NOEPOLL))
            io->drv->del(io->d, fd); /* before close */
        /* before close: a description shared with other processes outlives our fd */
        lrt__io_reg_release(r);
        r->flags = 0;
        r->ready = 0;
        io->registered--;
        LRT__TP(io_deregister, fd, (uint32_t)IO_INTEREST);
        wake_queue(io, r, &r->readers, 0, -EBADF);
        wake_queue(io, r, &r->writers, 0, -EBADF);
        bool busy = !lrt__list_empty(&r->uops) || r->macc;
        lrt__uop_close(io, r);  /* in flight: cancelled, -EBADF once they complete */
        lrt__macc_close(io, r); /* its unclaimed connections closed, acceptors -EBADF */
        if (busy && io->drv->flush)
            io->drv->flush(io->d); /* the cancelled operations let go of the file now */
    }
    if (!lrt__list_empty(&io->fuops))
        lrt__uop_file_close(io, fd); /* file calls: never registered (io_uring_file.c) */
    if (close(fd) < 0 && errno != EINTR) /* Linux closes the fd even on EINTR */
        return -errno;
    return 0;
}

/* ---- the driver -------------------------------------------------------------------- */

int lrt__io_init(struct lrt_runtime *rt)
{
    int e;
    struct lrt__io *io = calloc(1, sizeof *io);
    if (!io)
        return -ENOMEM;
    if ((e = lrt__notify_init(rt)) < 0)
        goto err_free_io;
    if ((e = lrt__io_driver_open(io, rt->opts.driver)) < 0) /* io_reg.c */
        goto err_notify;
    /* level-triggered: each wake-up is consumed by one read */
    if ((e = io->drv->add(io->d, rt->notifier->efd, NOTIFY_KEY, true)) < 0)
        goto err_driver;
    sigemptyset(&io->pipe_set);
    sigaddset(&io->pipe_set, SIGPIPE);
    io->notifier = rt->notifier;
    lrt__list_init(&io->fuops);
    lrt__list_init(&io->maccs);
    rt->io = io;
    return 0;

err_driver:
    io->drv->fini(io->d);
err_notify:
    lrt__notify_fini(rt);
err_free_io:
    free(io);
    return e;
}

void lrt__io_fini(struct lrt_runtime *rt)
{
    struct lrt__io *io = rt->io;
    if (!io)
        return;
    lrt__macc_fini(io); /* connections accepted for nobody: closed */
    io->drv->fini(io->d); /* user fds stay open: they belong to the user */
    lrt__macc_free(io);
    for (size_t i = 0; i < io->cap; i++) {
        if (io->regs[i] && (io->regs[i]->flags & REG_ACTIVE))
            lrt__io_reg_release(io->regs[i]); /* ... as lrt found them */
        free(io->regs[i]);
    }
    free(io->regs);
    lrt__notify_fini(rt);
    free(io);
    rt->io = NULL;
}

int lrt__io_poll(struct lrt_runtime *rt, uint64_t timeout_ns)
{
    struct lrt__io *io = rt->io;
    /* Park before the last look at the inbox: a poster that flagged its work before this
     * sees parked=0 and does not write the eventfd, but then its flag is seen here. */
    if (timeout_ns != 0 && lrt__notifier_park(io->notifier))
        timeout_ns = 0;
    if (timeout_ns != 0)
        LRT__TP(driver_park_begin, timeout_ns == UINT64_MAX ? (int64_t)-1 : (int64_t)timeout_ns);
    int n = io->drv->wait(io->d, timeout_ns, io->events, IO_BATCH);
    lrt__notifier_unpark(io->notifier);
    if (timeout_ns != 0)
        LRT__TP(driver_park_end, timeout_ns == UINT64_MAX ? (int64_t)-1 : (int64_t)timeout_ns,
                n < 0 ? 0 : n);
    for (int i = 0; i < n; i++) {
        struct reg *r;
        uint64_t key = io->events[i].key;
        uint32_t ev = io->events[i].events;
        uint32_t fd = (uint32_t)key;
        if (ev & LRT__DRV_DONE) { /* a completion (io_uring_ops.c) */
            struct lrt__driver_op *op = (struct lrt__driver_op *)(uintptr_t)key;
            if (LRT__LIKELY(!op->multishot))
                lrt__uop_done(io, (struct lrt__uop *)op);
            else if ((r = lrt__macc_event(io, op, ev)) != NULL) /* io_uring_accept.c */
                listener_readable(io, r);
            continue;
        }
        if (fd == NOTIFY_KEY) {
            lrt__notifier_clear(io->notifier);
            continue;
        }
        r = fd < io->cap ? io->regs[fd] : NULL;
        if (!r || !(r->flags & REG_ACTIVE) || r->gen != (uint32_t)(key >> 32))
            continue; /* an earlier incarnation of the number */
        LRT__TP(io_ready, (int)fd, ev);
        rt->m.io_ready++;
        r->ready |= ev;
        r->tick++;
        if (ev & READ_READY)
            wake_queue(io, r, &r->readers, 0, 0);
        else if (r->nboth && (ev & EPOLLOUT))
            wake_queue(io, r, &r->readers, EPOLLOUT, 0);
        if (ev & WRITE_READY)
            wake_queue(io, r, &r->writers, 0, 0);
    }
    return n;
}

size_t lrt__io_waiters(struct lrt_runtime *rt) { return rt->io ? rt->io->waiters : 0; }
