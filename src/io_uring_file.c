/*
 * io_uring_file.c - lrt_pread/lrt_pwrite/lrt_fsync as submitted operations on a
 * completion backend (io_uring): IORING_OP_READ/WRITE/FSYNC on the task's own buffer,
 * the task suspended until the completion, no blocking-pool job (file.c keeps the pool
 * on epoll, where a regular file is always "ready" and a read would block the thread).
 *
 * The same rule as io_uring_ops.c: a task never leaves an operation before its
 * completion (lrt__uop_hold), so an abort, a deadline scope or shutdown asks the kernel
 * to cancel and then waits; a buffered read of a regular file usually cannot be
 * cancelled (it runs inline at submit or in an io-wq worker) and then its real result
 * is returned, the interruption kept for the next suspension point, as file.c does with
 * a pool job that already ran.
 *
 * The fd is not registered in io.c's table: a file call never needed registration
 * (lrt_open + lrt_pread + close(2) stays legal, and a number left registered behind a
 * plain close would make the next socket with that number look always-ready).  The
 * operations in flight are kept on io->fuops instead, for lrt_close (cancel, -EBADF).
 *
 * Layer: beside io_uring_ops.c (file.c and io.c call it; it calls core and the driver).
 * Runtime thread, in a task.
 */
#include "io.h"
#include "osjob.h"
#include "trace.h"

#include <unistd.h>

int lrt__uop_file(struct lrt_task *t, int op, int fd, void *buf, size_t n, uint64_t off,
                  ssize_t *res)
{
    struct lrt__io *io = t->rt->io;
    if (!io || !io->drv->submit)
        return 0; /* epoll: the blocking pool */
    if (op != LRT__IO_FSYNC && lseek(fd, 0, SEEK_CUR) < 0) {
        /* The ring ignores the offset of a file without one (a pipe, a socket, a tty)
         * and reads as read(2) would, waiting for data; pread(2) says ESPIPE there.  One
         * lseek per call keeps that answer (~0.1 us against a pool job's handoff; a
         * cache would need the fd registered, see the top of the file). */
        *res = -errno;
        return 1;
    }
    struct lrt__uop u;
    u.d.op = op;
    u.d.fd = fd;
    u.d.buf = buf;
    /* an SQE carries a 32-bit length: clamp as read(2) does (MAX_RW_COUNT) */
    u.d.len = n > 0x7ffff000u ? 0x7ffff000u : n;
    u.d.off = off;
    u.d.flags = 0;
    u.d.poll_first = false;
    u.d.multishot = false;
    u.d.addr = NULL;
    u.d.addrlen = NULL;
    u.d.addrlen_v = 0;
    u.task = t;
    u.done = false;
    u.closed = false;
    int e = io->drv->submit(io->d, &u.d);
    if (e < 0) {
        *res = e;
        return 1;
    }
    u.start_ns = LRT__TP_ENABLED(io_complete) ? lrt__mono_ns() : lrt__coarse_ns();
    lrt__list_push(&io->fuops, &u.link);
    io->uops++;
    io->waiters++;
    LRT__TP(io_submit, t->id, op, fd, (uint64_t)u.d.len);
    t->wait_aux2 = (uint32_t)op;
    int rc = lrt__suspend(LRT__WAIT_URING, &u, (uint64_t)fd, 0);
    if (LRT__UNLIKELY(!u.done)) {
        io->drv->cancel(io->d, &u.d);
        lrt__uop_hold(t, &u, fd);
    }
    lrt__list_del(&u.link);
    io->uops--;
    io->waiters--;
    if (LRT__UNLIKELY(u.closed))
        *res = -EBADF;
    else if (rc < 0 && u.d.res == -ECANCELED)
        *res = rc; /* interrupted before anything was done: say why */
    else
        *res = u.d.res; /* its real result; an interruption waits for the next point */
    return 1;
}

void lrt__uop_file_close(struct lrt__io *io, int fd)
{
    for (lrt__link *l = io->fuops.next; l != &io->fuops; l = l->next) {
        struct lrt__uop *u = lrt__container_of(l, struct lrt__uop, link);
        if (u->d.fd == fd && !u->done && !u->closed) {
            u->closed = true;
            io->drv->cancel(io->d, &u->d);
        }
    }
}
