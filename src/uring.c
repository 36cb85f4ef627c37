/*
 * uring.c - the io_uring backend of the driver contract (driver.h): one ring per runtime,
 * completion-based operations on the caller's memory, and lazy edge-triggered readiness
 * through multishot poll requests.
 *
 * Built on liburing (Debian's liburing-dev): its inline helpers are what a hand-written
 * ring would be (SQE preparation, the CQ walk, the barriers) and it knows the kernel's
 * ABI history (EXT_ARG waits, feature probes); the only calls that leave the process are
 * io_uring_enter, as with raw syscalls.
 *
 * One system call per loop iteration: the queued submissions go with the wait for
 * completions (io_uring_submit_and_wait_timeout: IORING_ENTER_GETEVENTS + EXT_ARG
 * timeout), a non-blocking look with anything in flight is one io_uring_enter without
 * waiting (the epoll backend's epoll_pwait2(0)), nothing in flight and nothing queued is
 * none.  The ring is IORING_SETUP_SINGLE_ISSUER | DEFER_TASKRUN where the kernel has them
 * (6.1): completions are run at our enter, on the runtime thread, not by task work
 * interrupting it; COOP_TASKRUN elsewhere.
 *
 * user_data: an operation's address (8-aligned: bit 0 clear), or (key << 1) | 1 for a
 * poll (io_reg.c keeps the generation in the key below bit 63), or 0 for our own
 * cancellations and poll removals, whose completions say nothing to the caller.
 *
 * Layer: bottom (libc and liburing only).  State: struct lrt__driver, the runtime
 * thread's (the thread that created the ring: SINGLE_ISSUER).
 */
#include "driver.h"

#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#define URING_ENTRIES 1024u /* SQ; the CQ is 4x (CQSIZE): completions can pile up while
                               tasks run, and a full CQ makes the kernel keep an overflow
                               list (FEAT_NODROP) that costs more */

#define URING_LIKELY(x) __builtin_expect(!!(x), 1)

struct lrt__driver {
    struct io_uring ring;
    uint64_t *armed; /* per fd: the key its multishot poll reports, 0 = none */
    size_t narmed;
    size_t polls;    /* multishot polls armed */
    size_t inflight; /* operations submitted and not yet completed */
    int level_fd;    /* the fd added "level" (the notifier): re-armed if its poll ends */
    bool poll_first; /* IORING_RECVSEND_POLL_FIRST (5.19): implied by DEFER_TASKRUN (6.1) */
    uint64_t level_key;
};

static int ring_init(struct io_uring *ring, bool *defer)
{
    /* newest flags first; EINVAL: a kernel without some of them */
    static const unsigned flags[] = {
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
        IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
        0,
    };
    int e = -EINVAL;
    for (size_t i = 0; i < sizeof flags / sizeof flags[0] && e == -EINVAL; i++) {
        struct io_uring_params p;
        memset(&p, 0, sizeof p);
        p.flags = flags[i] | IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
        p.cq_entries = 4 * URING_ENTRIES;
        e = io_uring_queue_init_params(URING_ENTRIES, ring, &p);
        *defer = i == 0;
        if (e == 0 && !(p.features & IORING_FEAT_EXT_ARG)) {
            /* before 5.11: a timed wait would cost a timeout request per park */
            io_uring_queue_exit(ring);
            e = -ENOSYS;
        }
    }
    return e;
}

int lrt__uring_probe(void)
{
    struct io_uring ring;
    bool defer;
    int e = ring_init(&ring, &defer);
    if (e == 0)
        io_uring_queue_exit(&ring);
    return e;
}

static int ur_init(struct lrt__driver **out)
{
    struct lrt__driver *d = calloc(1, sizeof *d);
    if (!d)
        return -ENOMEM;
    int e = ring_init(&d->ring, &d->poll_first);
    if (e < 0) {
        free(d);
        return e;
    }
    d->level_fd = -1;
    *out = d;
    return 0;
}

static void ur_fini(struct lrt__driver *d)
{
    /* Operations still in flight belong to tasks that outlived a shutdown: their stacks
     * are leaked with them (runtime.c), so whatever the kernel still writes lands in
     * mapped memory; closing the ring cancels the rest. */
    io_uring_queue_exit(&d->ring);
    free(d->armed);
    free(d);
}

/* A free SQE, sending the full queue to the kernel first if needed; NULL only if even
 * that failed (the kernel refused the submissions: -EBUSY with a full CQ...). */
static struct io_uring_sqe *sqe_get(struct lrt__driver *d)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&d->ring);
    if (URING_LIKELY(sqe))
        return sqe;
    io_uring_submit(&d->ring);
    return io_uring_get_sqe(&d->ring);
}

static int arm_poll(struct lrt__driver *d, int fd, uint64_t key)
{
    struct io_uring_sqe *sqe = sqe_get(d);
    if (!sqe)
        return -EBUSY;
    /* multishot, and edge-triggered (no IORING_POLL_ADD_LEVEL): like the epoll set */
    io_uring_prep_poll_multishot(sqe, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP);
    io_uring_sqe_set_data64(sqe, (key << 1) | 1);
    d->armed[fd] = key;
    d->polls++;
    return 0;
}

static int ur_arm(struct lrt__driver *d, int fd, uint64_t key)
{
    if (URING_LIKELY((size_t)fd < d->narmed && d->armed[fd] == key))
        return 0;
    if ((size_t)fd >= d->narmed) {
        size_t n = d->narmed ? d->narmed : 64;
        while (n <= (size_t)fd)
            n *= 2;
        uint64_t *a = realloc(d->armed, n * sizeof *a);
        if (!a)
            return -ENOMEM;
        memset(a + d->narmed, 0, (n - d->narmed) * sizeof *a);
        d->armed = a;
        d->narmed = n;
    }
    if (d->armed[fd]) { /* another key (a new registration of the number): replace it */
        struct io_uring_sqe *sqe = sqe_get(d);
        if (!sqe)
            return -EBUSY;
        io_uring_prep_poll_remove(sqe, (d->armed[fd] << 1) | 1);
        io_uring_sqe_set_data64(sqe, 0);
        d->armed[fd] = 0;
        d->polls--;
    }
    return arm_poll(d, fd, key);
}

static int ur_add(struct lrt__driver *d, int fd, uint64_t key, bool level)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode) || S_ISDIR(st.st_mode))
        return -EPERM; /* always ready (the epoll backend's EPERM) */
    if (S_ISCHR(st.st_mode)) {
        /* a device without a poll method (/dev/null, /dev/zero): ask epoll, which says
         * EPERM for exactly those; registration only, not a hot path */
        int ep = epoll_create1(EPOLL_CLOEXEC);
        if (ep < 0)
            return -errno;
        struct epoll_event ev = {.events = EPOLLIN};
        int rc = epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
        close(ep);
        if (rc == -EPERM)
            return rc;
    }
    if (!level)
        return 0; /* watched from the first readiness wait on (ur_arm) */
    d->level_fd = fd;
    d->level_key = key;
    return ur_arm(d, fd, key);
}

static void ur_del(struct lrt__driver *d, int fd)
{
    if ((size_t)fd >= d->narmed || !d->armed[fd])
        return;
    struct io_uring_sqe *sqe = sqe_get(d);
    if (sqe) {
        io_uring_prep_poll_remove(sqe, (d->armed[fd] << 1) | 1);
        io_uring_sqe_set_data64(sqe, 0);
    }
    d->armed[fd] = 0;
    d->polls--;
    if (fd == d->level_fd)
        d->level_fd = -1;
}

static int ur_submit(struct lrt__driver *d, struct lrt__driver_op *op)
{
    struct io_uring_sqe *sqe = sqe_get(d);
    if (!sqe)
        return -EBUSY;
    switch (op->op) {
    case LRT__IO_RECV:
        io_uring_prep_recv(sqe, op->fd, op->buf, op->len, op->flags);
        /* An empty socket: skip the attempt that would fail and arm the wait at once
         * (the echo pattern: the next request is not there yet when the reply is sent;
         * about a tenth of the kernel time per request at 1000 connections). */
        if (op->poll_first && d->poll_first)
            sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
        break;
    case LRT__IO_SEND:
        io_uring_prep_send(sqe, op->fd, op->buf, op->len, op->flags);
        break;
    case LRT__IO_READ: /* -1: the file position, as read(2) */
        io_uring_prep_read(sqe, op->fd, op->buf, (unsigned)op->len, (uint64_t)-1);
        break;
    case LRT__IO_WRITE:
        io_uring_prep_write(sqe, op->fd, op->buf, (unsigned)op->len, (uint64_t)-1);
        break;
    case LRT__IO_PREAD:
        io_uring_prep_read(sqe, op->fd, op->buf, (unsigned)op->len, op->off);
        break;
    case LRT__IO_PWRITE:
        io_uring_prep_write(sqe, op->fd, op->buf, (unsigned)op->len, op->off);
        break;
    case LRT__IO_FSYNC:
        io_uring_prep_fsync(sqe, op->fd, 0);
        break;
    case LRT__IO_ACCEPT:
        if (op->multishot) {
            /* 5.19; every ring with DEFER_TASKRUN (6.1) has it, the others are not asked */
            if (!d->poll_first) {
                io_uring_prep_nop(sqe);
                io_uring_sqe_set_data64(sqe, 0);
                return -EOPNOTSUPP;
            }
            /* no address: every accept would write the same one; the caller asks
             * getpeername for the ones it wants */
            io_uring_prep_multishot_accept(sqe, op->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
            break;
        }
        io_uring_prep_accept(sqe, op->fd, op->addr, op->addrlen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        break;
    case LRT__IO_CONNECT:
        io_uring_prep_connect(sqe, op->fd, op->addr, op->addrlen_v);
        break;
    case LRT__IO_RECVMSG:
        io_uring_prep_recvmsg(sqe, op->fd, op->buf, (unsigned)op->flags);
        break;
    case LRT__IO_SENDMSG:
        io_uring_prep_sendmsg(sqe, op->fd, op->buf, (unsigned)op->flags);
        break;
    default:
        /* give the SQE back as a no-op: nothing else may be reported for it */
        io_uring_prep_nop(sqe);
        io_uring_sqe_set_data64(sqe, 0);
        return -EINVAL;
    }
    io_uring_sqe_set_data(sqe, op);
    d->inflight++;
    return 0;
}

static void ur_cancel(struct lrt__driver *d, struct lrt__driver_op *op)
{
    struct io_uring_sqe *sqe = sqe_get(d);
    if (!sqe)
        return; /* the operation completes anyway (it may take until its fd is ready) */
    io_uring_prep_cancel(sqe, op, 0);
    io_uring_sqe_set_data64(sqe, 0);
}

static void ur_flush(struct lrt__driver *d)
{
    /* a cancellation of a socket operation runs inside the enter; the cancelled
     * operation's end is task work, run by GETEVENTS, and drops its file reference */
    (void)io_uring_submit_and_get_events(&d->ring);
}

/* A multishot operation's completion: its fd into more[], the end as a plain DONE.
 * Returns the events it reported (0..2), or -1 if more[] is full: leave the CQE for the
 * next wait (the caller empties more[] in between). */
static int multishot_cqe(struct lrt__driver *d, struct lrt__driver_op *op,
                         const struct io_uring_cqe *cqe, struct lrt__driver_event *ev)
{
    int n = 0;
    if (cqe->res >= 0) {
        if (op->nmore == op->maxmore)
            return -1;
        if (op->nmore == 0) {
            ev[n].events = LRT__DRV_DONE | LRT__DRV_MORE;
            ev[n].key = (uint64_t)(uintptr_t)op;
            n++;
        }
        op->more[op->nmore++] = cqe->res;
    }
    if (!(cqe->flags & IORING_CQE_F_MORE)) { /* ended: never touched again */
        op->res = cqe->res < 0 ? cqe->res : 0;
        d->inflight--;
        ev[n].events = LRT__DRV_DONE;
        ev[n].key = (uint64_t)(uintptr_t)op;
        n++;
    }
    return n;
}

/* Completions into @ev (at most @max); the rest stay in the CQ for the next wait. */
static int harvest(struct lrt__driver *d, struct lrt__driver_event *ev, int max)
{
    struct io_uring_cqe *cqe;
    unsigned head, seen = 0;
    int n = 0;
    bool rearm = false;
    io_uring_for_each_cqe(&d->ring, head, cqe)
    {
        if (n > max - 2) /* room for a multishot's two */
            break;
        uint64_t ud = cqe->user_data;
        if (!ud) {
            seen++;
            continue; /* our cancellations and poll removals */
        }
        if (!(ud & 1)) {
            struct lrt__driver_op *op = (struct lrt__driver_op *)(uintptr_t)ud;
            if (URING_LIKELY(!op->multishot)) {
                op->res = cqe->res;
                d->inflight--;
                ev[n].events = LRT__DRV_DONE;
                ev[n].key = ud;
                n++;
            } else {
                int k = multishot_cqe(d, op, cqe, ev + n);
                if (k < 0)
                    break;
                n += k;
            }
            seen++;
            continue;
        }
        seen++;
        uint64_t key = ud >> 1;
        int fd = (int)(uint32_t)key;
        if (!(cqe->flags & IORING_CQE_F_MORE) && (size_t)fd < d->narmed && d->armed[fd] == key) {
            /* the poll ended (error, CQ overflow): the next readiness wait re-arms it;
             * the notifier's cannot wait for that */
            d->armed[fd] = 0;
            d->polls--;
            if (fd == d->level_fd && key == d->level_key)
                rearm = true;
        }
        if (cqe->res <= 0)
            continue;
        ev[n].events = (uint32_t)cqe->res;
        ev[n].key = key;
        n++;
    }
    io_uring_cq_advance(&d->ring, seen);
    if (rearm)
        arm_poll(d, d->level_fd, d->level_key);
    return n;
}

static int ur_wait(struct lrt__driver *d, uint64_t timeout_ns, struct lrt__driver_event *ev, int max)
{
    int rc = 0;
    if (timeout_ns == 0) {
        /* DEFER_TASKRUN: completions are only run inside an enter */
        if (io_uring_sq_ready(&d->ring) || d->inflight || d->polls)
            rc = io_uring_submit_and_get_events(&d->ring);
    } else {
        struct __kernel_timespec ts, *tsp = NULL;
        if (timeout_ns != UINT64_MAX) {
            ts.tv_sec = (long long)(timeout_ns / 1000000000u);
            ts.tv_nsec = (long long)(timeout_ns % 1000000000u);
            tsp = &ts;
        }
        struct io_uring_cqe *cqe;
        rc = io_uring_submit_and_wait_timeout(&d->ring, &cqe, 1, tsp, NULL);
        if (rc == -ETIME)
            rc = 0;
    }
    if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY)
        return rc;
    return harvest(d, ev, max);
}

const struct lrt__driver_ops lrt__driver_uring = {
    .name = "io_uring",
    .init = ur_init,
    .fini = ur_fini,
    .add = ur_add,
    .del = ur_del,
    .wait = ur_wait,
    .arm = ur_arm,
    .submit = ur_submit,
    .cancel = ur_cancel,
    .flush = ur_flush,
};
