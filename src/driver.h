/*
 * driver.h - the I/O driver contract: what io.c needs from a backend (readiness, and
 * completions for a backend that can run operations: io_uring).
 *
 * A backend is a table of functions (struct lrt__driver_ops) over its own opaque
 * state; io.c calls nothing else.  Every fd is watched for both directions and reported
 * with the caller's 64-bit key; events are EPOLL* bits (EPOLLIN, EPOLLOUT, EPOLLRDHUP,
 * EPOLLPRI, EPOLLERR, EPOLLHUP), which a non-epoll backend translates to.  Edge-triggered
 * watches report each transition after the caller saw EAGAIN (io.c caches readiness
 * and relies on that); level-triggered ones (the notifier's eventfd) report while ready.
 * Waking a parked runtime from another thread is not the backend's job: the notifier's
 * eventfd (notify.c) is watched like any fd, so it outlives the backend and any backend
 * that can watch an fd can be woken.
 *
 * A table rather than link-time lrt__driver_* functions: two backends can be built into
 * one library and picked at lrt__io_init (io_uring where the kernel allows it, epoll
 * elsewhere).  The indirect calls are not on the I/O attempt path (a ready fd never
 * reaches the driver): one per wait, and events come back in the caller's array rather
 * than through a callback per event, which cost 16 instructions per event in the echo
 * server (docs/performance.md, "issue 9: one inbox and the driver contract").
 *
 * Layer: bottom (a backend calls libc only).  State: the runtime thread's.
 */
#ifndef LRT_DRIVER_H
#define LRT_DRIVER_H

#include "names.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct lrt__driver; /* a backend's state */

/* One event.  The layout of Linux's struct epoll_event on x86-64 (packed), so the epoll
 * backend reads events straight into the caller's array; another backend fills it. */
struct lrt__driver_event {
    uint32_t events;
    uint64_t key;
} __attribute__((packed));

/* events bit of a completion (never an EPOLL* bit): key is the lrt__driver_op's address */
#define LRT__DRV_DONE (1u << 26)
/* with LRT__DRV_DONE: a multishot operation stored results in more[] and goes on */
#define LRT__DRV_MORE (1u << 27)

/*
 * A completion-based operation (backends with .submit).  The caller owns the record and
 * the memory it names (buf, addr, msg: usually on the calling task's stack) and must keep
 * them valid until the operation's completion came back through .wait, even after it
 * asked for .cancel: a cancelled operation still completes (with -ECANCELED, or with its
 * real result when it won the race).  The backend writes only @res, at completion.
 */
struct lrt__driver_op {
    int op;            /* enum lrt__io_op (names.h): RECV, SEND, READ, WRITE, ACCEPT, ... */
    int fd;
    void *buf;         /* READ/WRITE/RECV/SEND/PREAD/PWRITE; RECVMSG/SENDMSG: the msghdr */
    size_t len;
    uint64_t off;      /* PREAD/PWRITE */
    int flags;         /* MSG_* (RECV/SEND/RECVMSG/SENDMSG) */
    bool poll_first;   /* RECV: the socket was just found empty: wait for data before the
                          first attempt (a hint; ignored where the kernel lacks it) */
    bool multishot;    /* ACCEPT: keep accepting until cancelled (below); -EOPNOTSUPP from
                          .submit where the backend cannot */
    struct sockaddr *addr; /* ACCEPT/CONNECT */
    socklen_t *addrlen;    /* ACCEPT; CONNECT: addrlen_v */
    socklen_t addrlen_v;
    int32_t res;       /* written by the backend: the result or -errno */
    /* multishot: each accepted fd goes to more[nmore++] (the caller's array of maxmore),
     * and a .wait that stored any reports {LRT__DRV_DONE | LRT__DRV_MORE, key = op} once;
     * the caller empties more[] (nmore = 0) before the next .wait.  With more[] full the
     * rest stays queued in the backend for the next .wait.  The end comes as a plain
     * {LRT__DRV_DONE}: @res says why (-ECANCELED after .cancel, another -errno, or 0),
     * and only after it may the caller free the record. */
    int32_t *more;
    uint32_t nmore, maxmore;
};

struct lrt__driver_ops {
    const char *name;
    /* New backend state in *@out; 0 or -errno. */
    int (*init)(struct lrt__driver **out);
    void (*fini)(struct lrt__driver *d);
    /* Watch @fd (edge-triggered unless @level) reporting @key; re-adding an fd the
     * backend still watches replaces its key.  -EPERM: @fd cannot be watched (regular
     * files: always ready); else 0 or -errno. */
    int (*add)(struct lrt__driver *d, int fd, uint64_t key, bool level);
    /* Stop watching @fd; must be called before the fd is closed. */
    void (*del)(struct lrt__driver *d, int fd);
    /* Sleep up to @timeout_ns (0: do not sleep, UINT64_MAX: no limit) until events come,
     * store up to @max of them in @ev; returns how many, 0 on EINTR, or -errno. */
    int (*wait)(struct lrt__driver *d, uint64_t timeout_ns, struct lrt__driver_event *ev, int max);
    /*
     * The rest is optional (NULL in the epoll backend).
     *
     * arm: a task is about to wait for readiness of @fd (reported with @key): a backend
     * that watches fds lazily starts watching it now, edge-triggered, reporting the
     * current readiness once (as epoll does at add).  Cheap when already watching; called
     * before every readiness wait.  io_uring watches lazily because a socket that only
     * ever runs completion-based operations would pay a poll completion per packet.
     *
     * submit: queue @op (not yet sent to the kernel: the next .wait sends every queued
     * operation together with its wait, in one system call).  0 or -errno.  Its
     * completion comes back from .wait as an event {LRT__DRV_DONE, key = @op}, @op->res
     * set.
     *
     * cancel: ask the kernel to cancel @op (queued like a submit); @op still completes.
     *
     * flush: send what is queued now and let the kernel finish what it can at once,
     * without reporting anything (completions still come from .wait).  lrt_close calls it
     * after cancelling an fd's operations and before close(2): an operation in flight
     * holds the fd's file open, so without it a closed listener would go on accepting
     * until the next wait, and a closed socket's peer would see its FIN that late.
     */
    int (*arm)(struct lrt__driver *d, int fd, uint64_t key);
    int (*submit)(struct lrt__driver *d, struct lrt__driver_op *op);
    void (*cancel)(struct lrt__driver *d, struct lrt__driver_op *op);
    void (*flush)(struct lrt__driver *d);
};

extern const struct lrt__driver_ops lrt__driver_epoll; /* epoll.c */
extern const struct lrt__driver_ops lrt__driver_uring; /* uring.c */
/* uring.c: io_uring_setup's verdict on this machine: 0, or -errno (-EPERM, -ENOSYS...) */
int lrt__uring_probe(void);

#endif
