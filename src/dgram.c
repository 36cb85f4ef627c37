/*
 * dgram.c - lrt_recvfrom/sendto/recvmsg/sendmsg: the socket calls that carry addresses,
 * datagram boundaries and ancillary data, run through io.c's loop (lrt__io_run) exactly
 * like lrt_read/lrt_write: try while the fd cache says maybe-ready, suspend on EAGAIN
 * until an edge.  So a datagram socket needs no extra state: a pending socket error
 * (ECONNREFUSED from an ICMP port unreachable on a connected UDP socket) raises EPOLLERR,
 * which wakes readers and writers, and the retried call returns it.
 *
 * Every attempt adds MSG_DONTWAIT (the socket's own description is never made
 * non-blocking, io_reg.c) and sends add MSG_NOSIGNAL (a stream or seqpacket peer that
 * went away gives -EPIPE, never SIGPIPE).  A caller's own MSG_DONTWAIT means "do not
 * suspend": one attempt, -EAGAIN when not ready.
 *
 * On io_uring each call is one submitted IORING_OP_RECVMSG/SENDMSG instead (dg_submit;
 * recvfrom/sendto as a one-iovec msghdr), unless the caller said MSG_DONTWAIT or a zero
 * timeout (one attempt, as above).
 *
 * Layer: io.c (lrt__io_run), io_uring_ops.c (lrt__io_submitted) and libc.  Runtime thread, from a task.
 */
#include "internal.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

/* syscall(2), not glibc's wrappers: those are thread cancellation points (io.c says why
 * that matters); sanitizer builds keep the wrappers, whose interceptors check buffers. */
#ifdef LRT__ASAN
#define sys_recvfrom(fd, b, n, fl, sa, l) recvfrom(fd, b, n, fl, sa, l)
#define sys_sendto(fd, b, n, fl, sa, l) sendto(fd, b, n, fl, sa, l)
#define sys_recvmsg(fd, m, fl) recvmsg(fd, m, fl)
#define sys_sendmsg(fd, m, fl) sendmsg(fd, m, fl)
#else
#define sys_recvfrom(fd, b, n, fl, sa, l) syscall(SYS_recvfrom, fd, b, n, fl, sa, l)
#define sys_sendto(fd, b, n, fl, sa, l) syscall(SYS_sendto, fd, b, n, fl, sa, l)
#define sys_recvmsg(fd, m, fl) syscall(SYS_recvmsg, fd, m, fl)
#define sys_sendmsg(fd, m, fl) syscall(SYS_sendmsg, fd, m, fl)
#endif

enum { DG_RECVFROM, DG_SENDTO, DG_RECVMSG, DG_SENDMSG };

struct dg {
    int op;
    int flags; /* the caller's, plus MSG_DONTWAIT (and MSG_NOSIGNAL for sends) */
    void *buf;
    size_t n;
    struct sockaddr *sa;      /* recvfrom: out; sendto: in (const) */
    socklen_t *lenp;          /* recvfrom */
    socklen_t len;            /* sendto */
    struct msghdr *m;         /* recvmsg: in/out; sendmsg: in (const) */
    bool eagain;              /* the last attempt found the socket not ready */
};

static ssize_t dg_try(int fd, void *ctx)
{
    struct dg *d = ctx;
    ssize_t k;
    do {
        switch (d->op) {
        case DG_RECVFROM:
            k = sys_recvfrom(fd, d->buf, d->n, d->flags, d->sa, d->lenp);
            break;
        case DG_SENDTO:
            k = sys_sendto(fd, d->buf, d->n, d->flags, d->sa, d->len);
            break;
        case DG_RECVMSG:
            k = sys_recvmsg(fd, d->m, d->flags);
            break;
        default:
            k = sys_sendmsg(fd, d->m, d->flags);
            break;
        }
    } while (k < 0 && errno == EINTR);
    if (k >= 0)
        return k;
    int e = errno;
    d->eagain = e == EAGAIN;
    return -e;
}

/* io_uring: one submitted IORING_OP_RECVMSG/SENDMSG on the caller's memory (a
 * recvfrom/sendto as a msghdr of one iovec on this frame, valid until the completion:
 * io_uring_ops.c holds the task until then); -EAGAIN: not here, use readiness. */
static ssize_t dg_submit(int fd, struct dg *d, int64_t timeout_ms)
{
    struct iovec iov = {.iov_base = d->buf, .iov_len = d->n};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    switch (d->op) {
    case DG_RECVFROM:
        mh.msg_name = d->lenp ? d->sa : NULL;
        mh.msg_namelen = d->lenp && d->sa ? *d->lenp : 0;
        break;
    case DG_SENDTO:
        mh.msg_name = d->sa;
        mh.msg_namelen = d->sa ? d->len : 0;
        break;
    default:
        return LRT__NOTAIL(lrt__io_submitted(fd, d->op == DG_RECVMSG ? LRT__IO_RECVMSG : LRT__IO_SENDMSG, d->m,
                                             (size_t)(unsigned)d->flags, timeout_ms));
    }
    ssize_t k = lrt__io_submitted(fd, d->op == DG_RECVFROM ? LRT__IO_RECVMSG : LRT__IO_SENDMSG, &mh,
                                  (size_t)(unsigned)d->flags, timeout_ms);
    if (k >= 0 && d->op == DG_RECVFROM && d->lenp && d->sa)
        *d->lenp = mh.msg_namelen; /* the sender's real length, as recvfrom(2) */
    return k;
}

static ssize_t dg_run(int fd, uint32_t interest, struct dg *d, int64_t timeout_ms)
{
    bool dontwait = d->flags & MSG_DONTWAIT;
    if (!dontwait && timeout_ms != 0) {
        ssize_t k = dg_submit(fd, d, timeout_ms);
        if (k != -EAGAIN)
            return k;
    }
    d->flags |= MSG_DONTWAIT;
    if (interest == EPOLLOUT)
        d->flags |= MSG_NOSIGNAL;
    d->eagain = false;
    ssize_t k = lrt__io_run(fd, interest, dg_try, d, dontwait ? 0 : timeout_ms);
    /* the caller's MSG_DONTWAIT: the attempt's own answer, not the "timeout" of waiting 0 ms */
    if (dontwait && k == -ETIMEDOUT && d->eagain)
        return -EAGAIN;
    return k;
}

ssize_t lrt_recvfrom_timeout(int fd, void *buf, size_t n, int flags, struct sockaddr *sa,
                             socklen_t *len, int64_t timeout_ms)
{
    struct dg d = {.op = DG_RECVFROM, .flags = flags, .buf = buf, .n = n, .sa = sa, .lenp = len};
    return dg_run(fd, EPOLLIN, &d, timeout_ms);
}

ssize_t lrt_sendto_timeout(int fd, const void *buf, size_t n, int flags, const struct sockaddr *sa,
                           socklen_t len, int64_t timeout_ms)
{
    struct dg d = {.op = DG_SENDTO, .flags = flags, .buf = (void *)buf, .n = n,
                   .sa = (struct sockaddr *)sa, .len = len};
    return dg_run(fd, EPOLLOUT, &d, timeout_ms);
}

ssize_t lrt_recvmsg_timeout(int fd, struct msghdr *m, int flags, int64_t timeout_ms)
{
    if (!m)
        return -EFAULT;
    struct dg d = {.op = DG_RECVMSG, .flags = flags, .m = m};
    return dg_run(fd, EPOLLIN, &d, timeout_ms);
}

ssize_t lrt_sendmsg_timeout(int fd, const struct msghdr *m, int flags, int64_t timeout_ms)
{
    if (!m)
        return -EFAULT;
    struct dg d = {.op = DG_SENDMSG, .flags = flags, .m = (struct msghdr *)m};
    return dg_run(fd, EPOLLOUT, &d, timeout_ms);
}

ssize_t lrt_recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *sa, socklen_t *len)
{
    return LRT__NOTAIL(lrt_recvfrom_timeout(fd, buf, n, flags, sa, len, -1));
}

ssize_t lrt_sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *sa, socklen_t len)
{
    return LRT__NOTAIL(lrt_sendto_timeout(fd, buf, n, flags, sa, len, -1));
}

ssize_t lrt_recvmsg(int fd, struct msghdr *m, int flags)
{
    return LRT__NOTAIL(lrt_recvmsg_timeout(fd, m, flags, -1));
}

ssize_t lrt_sendmsg(int fd, const struct msghdr *m, int flags)
{
    return LRT__NOTAIL(lrt_sendmsg_timeout(fd, m, flags, -1));
}
