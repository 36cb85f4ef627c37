/*
 * driver.h - the I/O driver contract: what io.c needs from a readiness backend.
 *
 * A backend is a table of five functions (struct lrt__driver_ops) over its own opaque
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

#include <stdbool.h>
#include <stdint.h>

struct lrt__driver; /* a backend's state */

/* One event.  The layout of Linux's struct epoll_event on x86-64 (packed), so the epoll
 * backend reads events straight into the caller's array; another backend fills it. */
struct lrt__driver_event {
    uint32_t events;
    uint64_t key;
} __attribute__((packed));

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
};

extern const struct lrt__driver_ops lrt__driver_epoll; /* epoll.c */

#endif
