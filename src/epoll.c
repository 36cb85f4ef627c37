/*
 * epoll.c - the epoll backend of the driver contract (driver.h).
 *
 * Sleeps with sub-millisecond precision through epoll_pwait2 (Linux >= 5.11), else
 * epoll_wait with the timeout rounded up to the millisecond, so a timer never fires early.
 *
 * Layer: bottom (libc only).  State: struct lrt__driver, the runtime thread's.
 */
#include "driver.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

_Static_assert(sizeof(struct lrt__driver_event) == sizeof(struct epoll_event) &&
                   offsetof(struct lrt__driver_event, key) == offsetof(struct epoll_event, data),
               "epoll events are read straight into the caller's lrt__driver_event array");

struct lrt__driver {
    int epfd;
    int no_pwait2;
};

static int ep_init(struct lrt__driver **out)
{
    struct lrt__driver *d = malloc(sizeof *d);
    if (!d)
        return -ENOMEM;
    d->no_pwait2 = 0;
    d->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (d->epfd < 0) {
        int e = -errno;
        free(d);
        return e;
    }
    *out = d;
    return 0;
}

static void ep_fini(struct lrt__driver *d)
{
    close(d->epfd);
    free(d);
}

static int ep_add(struct lrt__driver *d, int fd, uint64_t key, bool level)
{
    struct epoll_event ev = {
        .events = level ? EPOLLIN : (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET),
        .data.u64 = key,
    };
    if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) == 0)
        return 0;
    /* EEXIST: a previous incarnation of the number closed behind our back while a dup
     * kept it in the set; take it over. */
    if (errno == EEXIST && epoll_ctl(d->epfd, EPOLL_CTL_MOD, fd, &ev) == 0)
        return 0;
    return -errno; /* EPERM: regular files and the like do not poll */
}

static void ep_del(struct lrt__driver *d, int fd)
{
    /* before close: a dup of the fd would keep reporting events (epoll(7)) */
    epoll_ctl(d->epfd, EPOLL_CTL_DEL, fd, NULL);
}

static int ep_wait(struct lrt__driver *d, uint64_t timeout_ns, struct lrt__driver_event *ev, int max)
{
    struct epoll_event *events = (struct epoll_event *)ev;
    int n;
    if (!d->no_pwait2) {
        struct timespec ts, *tsp = NULL;
        if (timeout_ns != UINT64_MAX) {
            ts.tv_sec = (time_t)(timeout_ns / 1000000000u);
            ts.tv_nsec = (long)(timeout_ns % 1000000000u);
            tsp = &ts;
        }
        n = epoll_pwait2(d->epfd, events, max, tsp, NULL);
        if (n >= 0 || errno != ENOSYS)
            goto out;
        d->no_pwait2 = 1; /* kernel before 5.11 */
    }
    int ms;
    if (timeout_ns == UINT64_MAX)
        ms = -1;
    else if (timeout_ns / 1000000u >= INT_MAX)
        ms = INT_MAX;
    else
        ms = (int)((timeout_ns + 999999u) / 1000000u);
    n = epoll_wait(d->epfd, events, max, ms);
out:
    return n >= 0 ? n : errno == EINTR ? 0 : -errno;
}

const struct lrt__driver_ops lrt__driver_epoll = {
    .name = "epoll",
    .init = ep_init,
    .fini = ep_fini,
    .add = ep_add,
    .del = ep_del,
    .wait = ep_wait,
};
